//! The first run a new user sees: `scripts/sample.sh` runs the real bot binaries on the sample
//! inputs against an API, which then holds a succeeded run of each, the Pulse event that started
//! the coverage run, and data on every read route; a second load adds nothing.

use std::process::Command;

use serde_json::Value;
use shipit_api::testing::TestApp;
use shipit_system_tests::{binary_dir, workspace_root};

/// Loads the sample data into `app` with `scripts/sample.sh`, keeping its files in `work`.
pub(crate) fn load(app: &TestApp, token: &str, work: &std::path::Path) {
    let output = Command::new("bash")
        .arg(workspace_root().join("scripts/sample.sh"))
        .args([&app.base_url, token, &binary_dir().display().to_string()])
        .env("SHIPIT_SAMPLE_DIR", work)
        .env("SHIPIT_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sample.sh failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sample_data_is_a_real_run_of_each_bot_loaded_once() {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:*"]).await;
    let work = tempfile::tempdir().unwrap();

    let (app_ref, token_ref, work_path) = (&app, token.clone(), work.path().to_owned());
    tokio::task::block_in_place(|| load(app_ref, &token_ref, &work_path));

    let runs = get(&app, "/runs").await;
    let mut seen: Vec<(String, String, String)> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            let bot = run["bot"].as_str().unwrap().to_owned();
            if bot == "coverage" {
                assert_eq!(run["parameters"]["REPOSITORY"], "mozilla-central", "the Pulse event's parameters: {run}");
            } else {
                assert_eq!(run["parameters"]["SAMPLE"], "recorded upstream answers", "{run}");
            }
            if !run["total"].is_null() {
                assert_eq!(run["done"], run["total"], "a run that succeeded dealt with all it counted: {run}");
            }
            (bot, run["trigger"].as_str().unwrap().to_owned(), run["status"].as_str().unwrap().to_owned())
        })
        .collect();
    seen.sort();
    let expected: Vec<(String, String, String)> = [
        ("coverage", "pulse"),
        ("pulse-listener", "manual"),
        ("risk", "manual"),
        ("static-analysis", "manual"),
        ("uplift", "manual"),
    ]
    .iter()
    .map(|(bot, trigger)| ((*bot).to_owned(), (*trigger).to_owned(), "succeeded".to_owned()))
    .collect();
    assert_eq!(seen, expected, "{runs}");
    let listener = runs["runs"].as_array().unwrap().iter().find(|run| run["bot"] == "pulse-listener").unwrap();
    let counts = &listener["counts"];
    assert_eq!((counts["messages"].as_u64(), counts["triggered"].as_u64()), (Some(3), Some(1)), "{listener}");
    assert_eq!((counts["duplicate"].as_u64(), counts["unbound"].as_u64()), (Some(1), Some(1)), "{listener}");
    assert_eq!(counts["runs_succeeded"].as_u64(), Some(1), "{listener}");
    let event = get(&app, "/events/code-coverage/aPt9FbIdQwmhwDIPDYLuaw").await;
    let coverage = runs["runs"].as_array().unwrap().iter().find(|run| run["bot"] == "coverage").unwrap();
    assert_eq!((&event["handled"], &event["run_id"]), (&Value::Bool(true), &coverage["id"]), "{event}");

    // Every commit of the sample repository is scored, with the reasons of its score.
    let count = Command::new("git")
        .arg("-C")
        .arg(work.path().join("repository"))
        .args(["rev-list", "--no-merges", "--count", "main"])
        .output()
        .unwrap();
    let commits = String::from_utf8(count.stdout).unwrap().trim().to_owned();
    let assessments = get(&app, "/risk/assessments?repository=sample&limit=500").await;
    let assessments = assessments["assessments"].as_array().unwrap();
    assert_eq!(assessments.len().to_string(), commits, "{assessments:?}");
    assert!(assessments.iter().all(|one| one["reasons"].as_array().is_some_and(|reasons| !reasons.is_empty())));

    let latest = get(&app, "/coverage/latest?repository=mozilla-central").await;
    assert_eq!(latest[0]["revision"], "b2a9a4bb5c94de179ae7a3f52fde58c0e2897498", "{latest}");
    let filters = get(&app, "/coverage/filters?repository=mozilla-central").await;
    assert_eq!(filters["suites"].as_array().unwrap().len(), 3, "{filters}");
    let root =
        get(&app, "/coverage/path?repository=mozilla-central&changeset=b2a9a4bb5c94de179ae7a3f52fde58c0e2897498&path=")
            .await;
    assert!(root["linesTotal"].as_u64().unwrap() > 0, "{root}");
    let channels = get(&app, "/uplift/channels").await;
    let counts: Vec<(&str, i64, i64)> = channels
        .as_array()
        .unwrap()
        .iter()
        .map(|channel| {
            let (name, bugs) = (channel["name"].as_str().unwrap(), channel["bug_count"].as_i64().unwrap());
            (name, channel["version"].as_i64().unwrap_or_default(), bugs)
        })
        .collect();
    assert_eq!(counts, [("beta", 141, 2), ("esr140", 140, 1), ("release", 140, 1)]);
    let bugs = get(&app, "/uplift/bugs").await;
    let grafts: Vec<bool> = bugs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|bug| bug["grafts"].as_array().unwrap().iter().map(|graft| graft["success"].as_bool().unwrap()))
        .collect();
    assert_eq!(grafts.iter().filter(|success| !**success).count(), 1, "the esr140 conflict: {bugs}");
    let issues = get(&app, "/static-analysis/diffs/1/issues").await;
    assert_eq!(issues["issues"].as_array().unwrap().len(), 4, "{issues}");
    // The release pipeline waits for its first sign-off, created by the engine.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let pipeline = get(&app, "/pipelines/firefox-99.0b1").await;
        let states: Vec<&str> =
            pipeline["steps"].as_array().unwrap().iter().map(|step| step["state"].as_str().unwrap()).collect();
        if states == ["in_progress", "pending"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pipeline}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let signoff = get(&app, "/steps/signoff/firefox-99.0b1.S").await;
    assert_eq!(signoff["signoff"]["may_sign"], serde_json::json!(["releng", "relman"]), "{signoff}");

    tokio::task::block_in_place(|| load(&app, &token, work.path()));

    let again = get(&app, "/runs").await;
    assert_eq!(again["runs"].as_array().unwrap().len(), expected.len(), "a second load adds nothing");
}
