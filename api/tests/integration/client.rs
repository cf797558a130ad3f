//! The typed client the bots use, against the real API.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Map, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_client::{ApiClient, ApiClientError};
use shipit_shared::api_types::{NewRun, RunFinish, RunOutcome, RunProgress, RunQuery, RunStatus, RunTrigger};
use shipit_shared::http::{RetryPolicy, UpstreamClient};

fn client(app: &TestApp, token: Option<String>) -> ApiClient {
    let http = UpstreamClient::new(Duration::from_secs(5), RetryPolicy::default()).unwrap();
    ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), token.map(SecretString::from), http)
}

fn new_run() -> NewRun {
    let parameters = json!({"repository": "mozilla-central"}).as_object().cloned().unwrap();
    NewRun { bot: "coverage".into(), trigger: RunTrigger::Pulse, parameters }
}

#[tokio::test]
async fn a_bot_records_its_run_through_the_client() {
    let app = TestApp::spawn().await;
    let bot = client(&app, Some(app.token(&["project:shipit:runs/*"]).await));

    let run = bot.open_run(&new_run()).await.unwrap();
    let progress = RunProgress { done: Some(1), total: Some(2), message: None, counts: Map::new() };
    assert_eq!(bot.report_progress(run.id, &progress).await.unwrap().done, Some(1));
    let finish = RunFinish { status: RunOutcome::Succeeded, error_summary: None, counts: Map::new() };
    assert_eq!(bot.finish_run(run.id, &finish).await.unwrap().status, RunStatus::Succeeded);

    let reader = client(&app, None);
    assert_eq!(reader.run(run.id).await.unwrap().status, RunStatus::Succeeded);
    let page = reader.runs(&RunQuery { bot: Some("coverage".into()), ..RunQuery::default() }).await.unwrap();
    assert_eq!(page.runs.len(), 1);
}

#[tokio::test]
async fn refusals_come_back_as_problems() {
    let app = TestApp::spawn().await;

    let anonymous = client(&app, None).open_run(&new_run()).await.unwrap_err();
    assert_eq!(anonymous.status(), Some(401));
    let unscoped = client(&app, Some(app.token(&["project:shipit:coverage/manage"]).await))
        .open_run(&new_run())
        .await
        .unwrap_err();
    assert!(matches!(unscoped, ApiClientError::Problem(ref problem) if problem.status == 403), "{unscoped:?}");
    let missing = client(&app, None).run(123_456).await.unwrap_err();
    assert_eq!(missing.status(), Some(404));
}

#[tokio::test]
async fn the_coverage_bot_uploads_compressed_reports_through_the_client() {
    let app = TestApp::spawn().await;
    let bot = client(&app, Some(app.token(&["project:shipit:coverage/manage"]).await));
    let covdir =
        serde_json::from_str(include_str!("../../../fixtures/coverage/expected/c-project.covdir.json")).unwrap();
    let upload = shipit_shared::api_types::coverage::CoverageUpload {
        repository: "mozilla-central".into(),
        revision: "a".repeat(40),
        push_id: 7,
        push_date: chrono::Utc::now(),
        suite: "all".into(),
        platform: "all".into(),
        covdir,
        zero_coverage: Vec::new(),
    };

    let stored = bot.upload_coverage(&upload).await.unwrap();

    assert_eq!((stored.paths, stored.push_id), (4, 7));
    assert_eq!(stored.lines_total, upload.covdir.lines_total);
    let refused = client(&app, None).upload_coverage(&upload).await.unwrap_err();
    assert_eq!(refused.status(), Some(401));
}
