//! Handled events: recorded once, read back, refused without the scope or with a bad key; and
//! the typed client's view of them.

use std::time::Duration;

use serde_json::json;
use shipit_api::testing::TestApp;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::events::{EventRecord, NewEvent};
use shipit_shared::http::{RetryPolicy, UpstreamClient};

use crate::problem;

const SCOPE: &str = "project:shipit:events/manage";

#[tokio::test]
async fn an_event_is_recorded_once_and_the_first_record_wins() {
    let app = TestApp::spawn().await;
    let token = app.token(&[SCOPE]).await;
    let url = app.url("/events/code-coverage/RS0UwZahQ_qAcdZzEb_Y9g");

    let missing = app.client.get(&url).send().await.unwrap();
    problem(missing, 404).await;

    let first = app.client.put(&url).bearer_auth(&token).json(&json!({"details": {"task": "a"}})).send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: EventRecord = first.json().await.unwrap();
    assert_eq!((first.source.as_str(), first.key.as_str()), ("code-coverage", "RS0UwZahQ_qAcdZzEb_Y9g"));
    assert_eq!(first.details["task"], "a");

    let again = app.client.put(&url).bearer_auth(&token).json(&json!({"details": {"task": "b"}})).send().await.unwrap();
    assert_eq!(again.status(), 200);
    let again: EventRecord = again.json().await.unwrap();
    assert_eq!(again, first, "recording again keeps the first record");

    let read: EventRecord = app.client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, first);
}

#[tokio::test]
async fn writes_need_the_scope_and_keys_are_checked() {
    let app = TestApp::spawn().await;
    let url = app.url("/events/risk/mozilla-central:1");

    problem(app.client.put(&url).json(&json!({})).send().await.unwrap(), 401).await;
    let runs_only = app.token(&["project:shipit:runs/manage"]).await;
    problem(app.client.put(&url).bearer_auth(&runs_only).json(&json!({})).send().await.unwrap(), 403).await;

    let token = app.token(&["project:shipit:*"]).await;
    let bad_source = app.client.put(app.url("/events/Risk/1")).bearer_auth(&token).json(&json!({})).send().await;
    assert_eq!(problem(bad_source.unwrap(), 400).await.field.as_deref(), Some("source"));
    let bad_key = app.client.put(app.url("/events/risk/a%20b")).bearer_auth(&token).json(&json!({})).send().await;
    assert_eq!(problem(bad_key.unwrap(), 400).await.field.as_deref(), Some("key"));
    let unknown_field = app.client.put(&url).bearer_auth(&token).json(&json!({"surprise": 1})).send().await.unwrap();
    problem(unknown_field, 400).await;
    let no_run = app.client.put(&url).bearer_auth(&token).json(&json!({"run_id": 999_999})).send().await.unwrap();
    assert_eq!(problem(no_run, 400).await.field.as_deref(), Some("run_id"));
}

#[tokio::test]
async fn the_client_reads_and_records_events() {
    let app = TestApp::spawn().await;
    let token = app.token(&[SCOPE]).await;
    let http = UpstreamClient::new(
        Duration::from_secs(5),
        RetryPolicy { max_attempts: 1, initial_backoff: Duration::ZERO, max_backoff: Duration::ZERO },
    )
    .unwrap();
    let client = ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), Some(token.into()), http);

    assert_eq!(client.event("static-analysis", "abc:0").await.unwrap(), None);
    let event = NewEvent { run_id: None, details: json!({"bot": "static-analysis"}).as_object().unwrap().clone() };
    let (record, created) = client.record_event("static-analysis", "abc:0", &event).await.unwrap();
    assert!(created);
    let (again, created) = client.record_event("static-analysis", "abc:0", &NewEvent::default()).await.unwrap();
    assert!(!created);
    assert_eq!(again, record);
    assert_eq!(client.event("static-analysis", "abc:0").await.unwrap(), Some(record));
}
