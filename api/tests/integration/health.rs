//! Dockerflow endpoints and metrics, with the database up, down, and back.

use std::time::Duration;

use serde_json::Value;
use shipit_api::testing::{ProxyMode, TestApp};

use crate::problem;

async fn heartbeat(app: &TestApp) -> (u16, Value) {
    let response = app.client.get(app.url("/__heartbeat__")).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn health_endpoints_answer_when_everything_works() {
    let app = TestApp::spawn().await;

    let (status, body) = heartbeat(&app).await;
    assert_eq!((status, body["checks"]["database"].as_str()), (200, Some("ok")));
    assert_eq!(app.client.get(app.url("/__lbheartbeat__")).send().await.unwrap().status(), 200);
    let version: Value = app.client.get(app.url("/__version__")).send().await.unwrap().json().await.unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    for key in ["source", "commit", "build"] {
        assert!(version[key].is_string(), "{key} missing from {version}");
    }
}

#[tokio::test]
async fn with_the_database_down_the_heartbeat_is_503_the_process_stays_up_and_recovers() {
    let app = TestApp::builder().configure(|config| config.db_timeout_secs = 2).through_proxy().spawn().await;
    assert_eq!(heartbeat(&app).await.0, 200);

    app.proxy().set_mode(ProxyMode::Refuse);
    let (status, body) = heartbeat(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "error");
    assert_ne!(body["checks"]["database"], "ok");
    assert_eq!(app.client.get(app.url("/__lbheartbeat__")).send().await.unwrap().status(), 200);
    let runs = app.client.get(app.url("/runs")).send().await.unwrap();
    let unavailable = problem(runs, 503).await;
    assert!(unavailable.detail.contains("database"), "{}", unavailable.detail);

    app.proxy().set_mode(ProxyMode::Forward);
    let mut recovered = false;
    for _ in 0..50 {
        if heartbeat(&app).await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the heartbeat did not recover");
    assert_eq!(app.client.get(app.url("/runs")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.client.get(app.url("/runs/424242")).send().await.unwrap();

    let text = metrics_text(&app).await;

    assert!(requests_counted(&text, "/runs/{id}", "404") >= 1.0, "no counter for the 404 in:\n{text}");
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn a_request_refused_before_routing_is_counted() {
    let app = TestApp::spawn().await;
    // The recorder belongs to the process, which other tests share: count the difference.
    let before = requests_counted(&metrics_text(&app).await, "unmatched", "414");
    let long = format!("/runs?q={}", "a".repeat(shipit_api::router::MAX_URI_BYTES));
    assert_eq!(app.client.get(app.url(&long)).send().await.unwrap().status(), 414);

    let after = requests_counted(&metrics_text(&app).await, "unmatched", "414");

    assert!(after >= before + 1.0, "the 414 was not counted ({before} then {after})");
}

async fn metrics_text(app: &TestApp) -> String {
    app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

/// The requests to `route` answered `status` in a `/metrics` text; 0 when it has no such line.
fn requests_counted(text: &str, route: &str, status: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.starts_with("http_requests_total")
                && line.contains(&format!("route=\"{route}\""))
                && line.contains(&format!("status=\"{status}\""))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}
