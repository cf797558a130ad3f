//! A rerun of every bot through `POST /runs/trigger` and the local runner starts the real bot
//! binary with a configuration it accepts: each reaches its upstreams (a mock answering 404 to
//! everything) and ends for an upstream reason, never for a setting it could not read.

use serde_json::json;
use shipit_api::testing::TestApp;
use shipit_shared::api_types::Run;
use shipit_system_tests::workspace_root;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::bot_setup::{closed_run, first_upstream_path, install_bot, is_configuration_error, reruns};

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_of_every_bot_starts_it_with_a_configuration_it_accepts() {
    let upstream = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(404)).mount(&upstream).await;
    let bin_dir = tempfile::tempdir().unwrap();
    let repository = std::process::Command::new("bash")
        .arg(workspace_root().join("fixtures/sample/make-repository.sh"))
        .arg(bin_dir.path().join("repository"))
        .status();
    assert!(repository.unwrap().success());
    for (bot, _) in reruns() {
        install_bot(bin_dir.path(), bot, &upstream.uri());
    }
    let app = TestApp::builder().local_runner(bin_dir.path()).spawn().await;
    let token = app.token(&["project:shipit:runs/trigger"]).await;

    for (bot, parameters) in reruns() {
        let answer = app
            .client
            .post(app.url("/runs/trigger"))
            .bearer_auth(&token)
            .json(&json!({"bot": bot, "parameters": parameters}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202, "{bot}: {}", answer.text().await.unwrap());
        let run = closed_run(&app, answer.json::<Run>().await.unwrap().id).await;

        let summary = run.error_summary.clone().unwrap_or_default();
        assert!(!is_configuration_error(&summary), "{bot} failed on its configuration: {summary}");
        assert_ne!(run.status.as_str(), "running", "{bot}");
    }
    let asked: Vec<String> =
        upstream.received_requests().await.unwrap().iter().map(|r| r.url.path().to_owned()).collect();
    for (bot, _) in reruns() {
        let expected = first_upstream_path(bot);
        assert!(asked.iter().any(|path| path.starts_with(expected)), "nobody asked {expected}: {asked:?}");
    }
}
