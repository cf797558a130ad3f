//! Starting bot runs through Taskcluster hooks (a mock Taskcluster) and locally (a fake bot).

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Map, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::{RunStatus, RunTrigger};
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::runner::{LocalRunnerConfig, Runner, RunnerError, TaskclusterRunnerConfig, TriggerRequest};
use wiremock::matchers::{body_partial_json, header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn http() -> UpstreamClient {
    let retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    };
    UpstreamClient::new(Duration::from_secs(5), retry).unwrap()
}

async fn api_client(app: &TestApp) -> ApiClient {
    let token = app.token(&["project:shipit:runs/manage"]).await;
    ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), Some(SecretString::from(token)), http())
}

fn request(bot: &str) -> TriggerRequest {
    let parameters: Map<_, _> =
        json!({"repository": "mozilla-central", "revision": "a".repeat(40)}).as_object().cloned().unwrap();
    TriggerRequest { bot: bot.into(), trigger: RunTrigger::Pulse, parameters }
}

fn taskcluster_runner(taskcluster: &MockServer, api: ApiClient) -> Runner {
    let config = TaskclusterRunnerConfig {
        root_url: format!("{}/", taskcluster.uri()).parse().unwrap(),
        client_id: "project/relman/shipit".into(),
        access_token: SecretString::from("secret-token"),
        hook_group: "project-relman".into(),
        hook_prefix: "shipit-".into(),
    };
    Runner::taskcluster(config, http(), api)
}

#[tokio::test]
async fn a_hook_is_triggered_with_a_signed_request_carrying_the_parameters_and_the_run() {
    let app = TestApp::spawn().await;
    let taskcluster = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-relman/shipit-coverage/trigger"))
        .and(header_regex("authorization", r#"^Hawk id="project/relman/shipit", ts="\d+", nonce="[^"]+", mac="[^"]+""#))
        .and(body_partial_json(json!({"run_id": "1", "parameters": {"repository": "mozilla-central"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": {"taskId": "fUAD7WGYSIuKXZMOYDz9Lg"}})))
        .expect(1)
        .mount(&taskcluster)
        .await;
    let runner = taskcluster_runner(&taskcluster, api_client(&app).await);

    let started = runner.start(&request("coverage")).await.unwrap();

    assert_eq!((started.run_id, started.reference.as_str()), (1, "fUAD7WGYSIuKXZMOYDz9Lg"));
    let run = shipit_api::db::runs::get(&app.state.pool, started.run_id).await.unwrap().unwrap();
    assert_eq!((run.status, run.trigger), (RunStatus::Running, RunTrigger::Pulse));
    assert_eq!(run.parameters["revision"], "a".repeat(40));
}

#[tokio::test]
async fn a_refused_or_failing_trigger_closes_the_run_and_says_whether_to_retry() {
    let app = TestApp::spawn().await;
    let taskcluster = MockServer::start().await;
    Mock::given(path("/api/hooks/v1/hooks/project-relman/shipit-coverage/trigger"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&taskcluster)
        .await;
    Mock::given(path("/api/hooks/v1/hooks/project-relman/shipit-risk/trigger"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"code": "InsufficientScopes"})))
        .mount(&taskcluster)
        .await;
    let runner = taskcluster_runner(&taskcluster, api_client(&app).await);

    let outage = runner.start(&request("coverage")).await.unwrap_err();
    let refusal = runner.start(&request("risk")).await.unwrap_err();

    assert!(outage.is_transient(), "{outage}");
    assert!(!refusal.is_transient(), "{refusal}");
    for id in [1, 2] {
        let run = shipit_api::db::runs::get(&app.state.pool, id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert!(run.error_summary.unwrap().contains("cannot trigger the hook"));
    }
}

#[tokio::test]
async fn a_local_bot_gets_its_parameters_and_run_and_a_crash_closes_the_run_with_its_log() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    std::fs::write(
        dir.path().join("coverage-bot"),
        format!("#!/bin/sh\necho \"$1 $REVISION $SHIPIT_RUN_ID $SHIPIT_API__URL\" > {}\necho 'merging chunk 3'\necho 'panicked: corrupt zip' >&2\nexit 3\n", seen.display()),
    )
    .unwrap();
    let script = dir.path().join("coverage-bot");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = LocalRunnerConfig {
        bin_dir: dir.path().to_owned(),
        log_dir: dir.path().join("logs"),
        environment: BTreeMap::from([("SHIPIT_API__URL".to_owned(), app.base_url.clone())]),
        commands: BTreeMap::new(),
    };
    let runner = Runner::local(config, api_client(&app).await);

    let started = runner.start(&request("coverage")).await.unwrap();

    let mut run = None;
    for _ in 0..50 {
        let current = shipit_api::db::runs::get(&app.state.pool, started.run_id).await.unwrap().unwrap();
        if current.status != RunStatus::Running {
            run = Some(current);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = run.expect("the crashed bot's run was not closed");
    assert_eq!(run.status, RunStatus::Failed);
    let summary = run.error_summary.unwrap();
    assert!(summary.contains("exit status: 3") && summary.contains("panicked: corrupt zip"), "{summary}");
    let seen = std::fs::read_to_string(seen).unwrap();
    assert_eq!(seen.trim(), format!("run {} {} {}", "a".repeat(40), started.run_id, app.base_url));
}

#[tokio::test]
async fn a_missing_bot_binary_is_a_clear_error_and_closes_the_run() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = LocalRunnerConfig {
        bin_dir: dir.path().to_owned(),
        log_dir: dir.path().to_owned(),
        environment: BTreeMap::new(),
        commands: BTreeMap::from([("risk".to_owned(), vec!["risk-score".to_owned(), "evaluate".to_owned()])]),
    };
    let runner = Runner::local(config, api_client(&app).await);

    let error = runner.start(&request("uplift")).await.unwrap_err();
    let configured = runner.start(&request("risk")).await.unwrap_err();

    assert!(error.to_string().contains("uplift-bot"), "{error}");
    assert!(configured.to_string().contains("risk-score"), "the bot's own command is used: {configured}");
    let run = shipit_api::db::runs::get(&app.state.pool, 1).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
}

#[tokio::test]
async fn a_parameter_can_never_set_the_runners_own_variables_with_either_backend() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = LocalRunnerConfig {
        bin_dir: dir.path().to_owned(),
        log_dir: dir.path().to_owned(),
        environment: BTreeMap::from([("API_ENDPOINT".to_owned(), app.base_url.clone())]),
        commands: BTreeMap::new(),
    };
    let local = Runner::local(config, api_client(&app).await);
    let taskcluster = MockServer::start().await;
    let hook = taskcluster_runner(&taskcluster, api_client(&app).await);
    let with = |name: &str| {
        let mut request = request("coverage");
        request.parameters.insert(name.to_owned(), "7".into());
        request
    };

    for name in ["SHIPIT_RUN_ID", "shipit_run_id", "SHIPIT_API__TOKEN", "SHIPIT_API_URL", "LD_PRELOAD", "PATH", "A=B"] {
        for runner in [&local, &hook] {
            let error = runner.start(&with(name)).await.unwrap_err();
            assert!(
                matches!(&error, RunnerError::Parameter { name: refused, .. } if refused == name),
                "{name}: {error}"
            );
        }
    }
    // A variable the local runner sets itself cannot come from a parameter either.
    let error = local.start(&with("api_endpoint")).await.unwrap_err();
    assert!(matches!(error, RunnerError::Parameter { .. }), "{error}");
    // Nothing reached Taskcluster, and every refused run is closed as failed.
    assert!(taskcluster.received_requests().await.unwrap().is_empty());
    let runs: shipit_shared::api_types::RunPage = app.get_json("/runs?limit=200").await;
    assert_eq!(runs.runs.len(), 15);
    assert!(runs.runs.iter().all(|run| run.status == RunStatus::Failed));
}
