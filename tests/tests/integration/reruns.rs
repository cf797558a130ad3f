//! A rerun of every bot through `POST /runs/trigger` and the local runner starts the real bot
//! binary with a configuration it accepts: each reaches its upstreams (a mock answering 404 to
//! everything) and ends for an upstream reason, never for a setting it could not read.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::Run;
use shipit_system_tests::{binary, workspace_root};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The parameters of a rerun of each bot that has a hook.
fn reruns() -> Vec<(&'static str, Value)> {
    vec![
        ("coverage", json!({"REPOSITORY": "mozilla-central", "REVISION": "b2a9a4bb5c94de179ae7a3f52fde58c0e2897498"})),
        ("uplift", json!({"BUG_ID": "1139560"})),
        ("static-analysis", json!({"PHABRICATOR_DIFF": "42"})),
        (
            "risk",
            json!({"REPOSITORY": "https://hg.mozilla.org/mozilla-central", "REVISIONS": "b2a9a4bb5c94de179ae7a3f52fde58c0e2897498"}),
        ),
    ]
}

/// `<bot>-bot` in `bin_dir`: the real binary, with a configuration file pointing every upstream
/// at `upstream` (what `shipit.toml` or the Taskcluster secret gives in production).
fn install_bot(bin_dir: &Path, bot: &str, upstream: &str) {
    let settings = match bot {
        "coverage" => format!("hgmo_url = \"{upstream}/\"\n[taskcluster]\nroot_url = \"{upstream}/\"\n"),
        "uplift" => format!(
            "channels = [{{ name = \"beta\", branch = \"beta\" }}]\n[bugzilla]\nurl = \"{upstream}\"\n[repository]\npath = \"{}\"\n",
            bin_dir.join("repository").display()
        ),
        "static-analysis" => format!("[phabricator]\nurl = \"{upstream}/api/\"\napi_token = \"api-secret\"\n"),
        "risk" => format!(
            "model = \"{}\"\ncache_dir = \"{}\"\n[[repositories]]\nname = \"https://hg.mozilla.org/mozilla-central\"\nurl = \"{upstream}/firefox.git\"\n",
            bin_dir.join("risk-model.json").display(),
            bin_dir.join("risk-cache").display()
        ),
        other => panic!("no settings for {other}"),
    };
    let config = bin_dir.join(format!("{bot}.toml"));
    std::fs::write(&config, format!("{settings}\n[upstream]\ntimeout_secs = 5\n")).unwrap();
    let wrapper = bin_dir.join(format!("{bot}-bot"));
    let real = binary(&format!("{bot}-bot"));
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexport SHIPIT_CONFIG='{}'\nexec '{}' \"$@\"\n", config.display(), real.display()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
}

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
        for configuration_error in ["configuration", "is not set", "unknown field", "is required", "missing field"] {
            assert!(!summary.contains(configuration_error), "{bot} failed on its configuration: {summary}");
        }
        assert_ne!(run.status.as_str(), "running", "{bot}");
    }
    let asked: Vec<String> =
        upstream.received_requests().await.unwrap().iter().map(|r| r.url.path().to_owned()).collect();
    for expected in ["/mozilla-central/json-pushes", "/rest/bug", "/api/differential.diff.search", "/firefox.git"] {
        assert!(asked.iter().any(|path| path.starts_with(expected)), "nobody asked {expected}: {asked:?}");
    }
}

/// The run once its bot closed it.
async fn closed_run(app: &TestApp, id: i64) -> Run {
    for _ in 0..300 {
        let run: Run = app.client.get(app.url(&format!("/runs/{id}"))).send().await.unwrap().json().await.unwrap();
        if run.status.as_str() != "running" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {id} was never closed");
}
