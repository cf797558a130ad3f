//! On-demand reruns and local schedules: parameters checked against the bot's trigger schema,
//! runs started through the local runner, and no two runs of a bot overlapping.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use shipit_api::bots::BotDefinition;
use shipit_api::db::runs::{OpenOutcome, Overlap};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::{NewRun, Run, RunStatus, RunTrigger};

use crate::problem;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"REVISION": {"type": "string", "pattern": "^[0-9a-f]{40}$"}},
        "additionalProperties": false
    })
}

/// A fake `<bot>-bot` that records how it was started, then works for `seconds`.
fn fake_bot(dir: &Path, bot: &str, seconds: u32) {
    let script = dir.join(format!("{bot}-bot"));
    let record = dir.join(format!("{bot}.started"));
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$SHIPIT_RUN_ID $REVISION\" >> {}\nsleep {seconds}\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

fn started(dir: &Path, bot: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{bot}.started"))).unwrap_or_default().lines().map(str::to_owned).collect()
}

async fn trigger(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url("/runs/trigger")).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn wait_for(mut condition: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..100 {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_rerun_starts_the_bot_with_its_parameters_and_refuses_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    fake_bot(dir.path(), "coverage", 30);
    let bots = vec![BotDefinition::new("coverage", vec![], &schema()).unwrap()];
    let app = TestApp::builder().bots(bots).local_runner(dir.path()).spawn().await;
    let token = app.token(&["project:shipit:runs/trigger"]).await;
    let revision = "f".repeat(40);

    let response = trigger(&app, &token, json!({"bot": "coverage", "parameters": {"REVISION": revision}})).await;
    assert_eq!(response.status(), 202);
    let run: Run = response.json().await.unwrap();
    assert_eq!((run.status, run.trigger), (RunStatus::Running, RunTrigger::Manual));
    assert!(wait_for(async || !started(dir.path(), "coverage").is_empty()).await, "the bot never started");
    assert_eq!(started(dir.path(), "coverage"), [format!("{} {revision}", run.id)]);

    let duplicate = trigger(&app, &token, json!({"bot": "coverage", "parameters": {"REVISION": revision}})).await;
    assert_eq!(problem(duplicate, 409).await.run_id, Some(run.id));
    let other = trigger(&app, &token, json!({"bot": "coverage", "parameters": {"REVISION": "e".repeat(40)}})).await;
    assert_eq!(other.status(), 202, "other parameters are other work");
}

#[tokio::test]
async fn a_rerun_is_checked_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let bots = vec![BotDefinition::new("coverage", vec![], &schema()).unwrap()];
    let app = TestApp::builder().bots(bots).local_runner(dir.path()).spawn().await;
    let token = app.token(&["project:shipit:runs/trigger"]).await;

    let unknown = problem(trigger(&app, &token, json!({"bot": "nope"})).await, 400).await;
    assert_eq!(unknown.field.as_deref(), Some("bot"));
    assert!(unknown.detail.contains("coverage"), "{}", unknown.detail);
    let bad =
        problem(trigger(&app, &token, json!({"bot": "coverage", "parameters": {"REVISION": "tip"}})).await, 400).await;
    assert_eq!(bad.field.as_deref(), Some("parameters.REVISION"));
    let extra =
        problem(trigger(&app, &token, json!({"bot": "coverage", "parameters": {"BRANCH": "x"}})).await, 400).await;
    assert_eq!(extra.field.as_deref(), Some("parameters"));
    let writer = app.token(&["project:shipit:runs/manage"]).await;
    problem(trigger(&app, &writer, json!({"bot": "coverage"})).await, 403).await;
    let no_binary = trigger(&app, &token, json!({"bot": "coverage"})).await;
    let failed = problem(no_binary, 502).await;
    assert!(failed.detail.contains("coverage-bot"), "{}", failed.detail);

    let runs = shipit_api::db::runs::list(&app.state.pool, &Default::default(), 10).await.unwrap();
    assert_eq!(runs.len(), 1, "only the run that reached the runner is recorded");
    assert_eq!(runs[0].status, RunStatus::Failed);
}

#[tokio::test]
async fn an_api_without_a_runner_answers_503() {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/trigger"]).await;
    let bot = app.state.bots.first().expect("hooks/ defines at least one bot").name.clone();
    let parameters = if bot == "coverage" { json!({"REPOSITORY": "mozilla-central"}) } else { json!({}) };
    problem(trigger(&app, &token, json!({"bot": bot, "parameters": parameters})).await, 503).await;
}

#[tokio::test]
async fn a_schedule_fires_never_overlaps_itself_and_blocks_a_rerun_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    fake_bot(dir.path(), "uplift", 4);
    let bots = vec![BotDefinition::new("uplift", vec!["*/1 * * * * *".into()], &json!({"type": "object"})).unwrap()];
    let app = TestApp::builder().bots(bots).local_runner(dir.path()).with_scheduler().spawn().await;

    assert!(wait_for(async || !started(dir.path(), "uplift").is_empty()).await, "the schedule never fired");
    // The schedule ticks every second while the first run works for 4 s.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(started(dir.path(), "uplift").len(), 1, "a scheduled run overlapped the previous one");
    let runs = shipit_api::db::runs::list(&app.state.pool, &Default::default(), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].trigger, runs[0].status), (RunTrigger::Schedule, RunStatus::Running));

    let token = app.token(&["project:shipit:runs/trigger"]).await;
    let rerun = trigger(&app, &token, json!({"bot": "uplift"})).await;
    assert_eq!(problem(rerun, 409).await.run_id, Some(runs[0].id));
}

#[tokio::test]
async fn concurrent_starts_of_one_bot_open_a_single_run() {
    let app = TestApp::spawn().await;
    let run = NewRun { bot: "risk".into(), trigger: RunTrigger::Schedule, parameters: Default::default() };
    let attempts = (0..8).map(|_| shipit_api::db::runs::open_exclusive(&app.state.pool, &run, Overlap::AnyRun));

    let outcomes = futures::future::join_all(attempts).await;

    let opened = outcomes.iter().filter(|outcome| matches!(outcome, Ok(OpenOutcome::Opened(_)))).count();
    let busy = outcomes.iter().filter(|outcome| matches!(outcome, Ok(OpenOutcome::Busy(_)))).count();
    assert_eq!((opened, busy), (1, 7));
}
