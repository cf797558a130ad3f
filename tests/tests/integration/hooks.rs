//! Each hook's task, rendered as Taskcluster renders it (JSON-e on the trigger payload), starts
//! the real bot with a configuration it accepts: the command and environment the hook gives, the
//! secret it names read through a mock taskcluster proxy, and nothing else.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::Run;
use shipit_system_tests::{binary, workspace_root};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::bot_setup::{closed_run, first_upstream_path, is_configuration_error, reruns, upstream_settings};

/// The hook's task with the trigger payload, as the Hooks service renders it.
fn render_task(bot: &str, run_id: i64, parameters: &Value) -> Value {
    let file = workspace_root().join(format!("hooks/{bot}.json"));
    let hook: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let context = json!({
        "payload": {"run_id": run_id.to_string(), "parameters": parameters},
        "firedBy": "triggerHook",
        "taskId": "fUAmLZHbTXatJqXhkpnuCw",
    });
    json_e::render(&hook["task"], &context).unwrap_or_else(|error| panic!("hooks/{bot}.json: {error}"))
}

/// An absolute path of the task's image, inside `root`, where the test keeps that image's files.
fn in_image(value: &str, root: &Path) -> String {
    match value.strip_prefix('/') {
        Some(relative) => root.join(relative).display().to_string(),
        None => value.to_owned(),
    }
}

/// The task's environment: every value a string, as docker-worker requires.
fn environment(bot: &str, task: &Value) -> Map<String, Value> {
    let env = task["payload"]["env"].as_object().cloned().unwrap_or_default();
    for (name, value) in &env {
        assert!(value.is_string(), "hooks/{bot}.json renders {name} as {value}, not a string");
    }
    env
}

/// The task's git reaches its repositories (GitHub) through the user's git configuration,
/// which sends them to a local repository made by `fixtures/sample/make-repository.sh`.
fn serve_repositories(home: &Path) {
    let served = home.join("served/firefox");
    let made = std::process::Command::new("bash")
        .arg(workspace_root().join("fixtures/sample/make-repository.sh"))
        .arg(&served)
        .status()
        .unwrap();
    assert!(made.success());
    let rewrite =
        format!("[url \"file://{}\"]\n\tinsteadOf = https://github.com/mozilla-firefox/firefox\n", served.display());
    std::fs::write(home.join(".gitconfig"), rewrite).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_hook_task_starts_its_bot_with_a_configuration_it_accepts() {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:*"]).await;
    let upstream = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(404)).mount(&upstream).await;

    for (bot, parameters) in reruns() {
        let image = tempfile::tempdir().unwrap();
        serve_repositories(image.path());
        let (status, run) =
            app.post("/runs", Some(&token), &json!({"bot": bot, "trigger": "manual", "parameters": parameters})).await;
        assert_eq!(status, 201, "{run}");
        let run_id = run["id"].as_i64().unwrap();

        let task = render_task(bot, run_id, &parameters);
        let env = environment(bot, &task);
        assert_eq!(env["SHIPIT_RUN_ID"], run_id.to_string(), "{bot}: the run id reaches the task");
        let secret = env["SHIPIT_TASKCLUSTER__SECRET"].as_str().expect("every hook names its secret").to_owned();
        let proxy = MockServer::start().await;
        let mut section = upstream_settings(bot, &upstream.uri());
        section["upstream"] = json!({"timeout_secs": 5});
        Mock::given(method("GET"))
            .and(path(format!("/api/secrets/v1/secret/{}", secret.replace('/', "%2F"))))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "secret": {"common": {"api": {"url": app.url("/"), "token": token}}, bot: section}
            })))
            .expect(1)
            .mount(&proxy)
            .await;

        let command: Vec<&str> =
            task["payload"]["command"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let mut process = tokio::process::Command::new(binary(command[0]));
        process
            .args(command[1..].iter().map(|argument| in_image(argument, image.path())))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", image.path())
            .env("TASK_ID", "fUAmLZHbTXatJqXhkpnuCw")
            .env("TASKCLUSTER_PROXY_URL", proxy.uri())
            .envs(env.iter().map(|(name, value)| (name, in_image(value.as_str().unwrap(), image.path()))))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let output = tokio::time::timeout(Duration::from_secs(120), process.output()).await.unwrap().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);

        assert_ne!(output.status.code(), Some(2), "{bot} refused its configuration: {stderr}");
        let run: Run = closed_run(&app, run_id).await;
        let summary = run.error_summary.clone().unwrap_or_default();
        assert!(!is_configuration_error(&summary), "{bot} failed on its configuration: {summary}");
        let asked = upstream.received_requests().await.unwrap();
        let expected = first_upstream_path(bot);
        assert!(
            asked.iter().any(|request| request.url.path().starts_with(expected)),
            "{bot} never asked {expected}: {summary}; {stderr}"
        );
        proxy.verify().await;
    }
}
