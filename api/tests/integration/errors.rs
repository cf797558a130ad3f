//! One problem+json envelope for every error: 400 naming the field, 404, 405, 413, 415, and
//! the request timeout.

use serde_json::json;
use shipit_api::testing::{ProxyMode, TestApp};

use crate::problem;

async fn app_and_writer() -> (TestApp, String) {
    let app = TestApp::builder().configure(|config| config.body_limit_bytes = 1024).spawn().await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    (app, token)
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (app, token) = app_and_writer().await;

    let response = app
        .client
        .post(app.url("/runs"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"bot\": ")
        .send()
        .await
        .unwrap();

    let problem = problem(response, 400).await;
    assert!(problem.detail.contains("invalid JSON body"), "{}", problem.detail);
}

#[tokio::test]
async fn a_wrong_field_is_400_naming_the_field() {
    let (app, token) = app_and_writer().await;
    let cases = [
        (json!({"bot": "coverage", "trigger": "often"}), "trigger"),
        (json!({"bot": 12, "trigger": "manual"}), "bot"),
        (json!({"bot": "coverage", "trigger": "manual", "parameters": []}), "parameters"),
        (json!({"bot": "coverage", "trigger": "manual", "colour": "blue"}), "."),
        (json!({"bot": "Not A Name", "trigger": "manual"}), "bot"),
    ];
    for (body, field) in cases {
        let response = app.client.post(app.url("/runs")).bearer_auth(&token).json(&body).send().await.unwrap();
        let problem = problem(response, 400).await;
        if field == "." {
            assert!(problem.detail.contains("colour"), "{}", problem.detail);
        } else {
            assert_eq!(problem.field.as_deref(), Some(field), "{body}: {}", problem.detail);
        }
    }
}

#[tokio::test]
async fn a_bad_query_parameter_is_400_naming_it() {
    let (app, _) = app_and_writer().await;
    for (query, field) in
        [("limit=many", "limit"), ("status=sleeping", "status"), ("limit=0", "limit"), ("limit=201", "limit")]
    {
        let response = app.client.get(app.url(&format!("/runs?{query}"))).send().await.unwrap();
        let problem = problem(response, 400).await;
        assert_eq!(problem.field.as_deref(), Some(field), "{query}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_nothing_is_stored() {
    let (app, token) = app_and_writer().await;
    let body = json!({"bot": "coverage", "trigger": "manual", "parameters": {"padding": "x".repeat(2048)}});

    let response = app.client.post(app.url("/runs")).bearer_auth(&token).json(&body).send().await.unwrap();

    problem(response, 413).await;
    let page: serde_json::Value = app.client.get(app.url("/runs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["runs"], json!([]));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let (app, token) = app_and_writer().await;
    let response = app.client.post(app.url("/runs")).bearer_auth(&token).body("bot=coverage").send().await.unwrap();
    problem(response, 415).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let (app, _) = app_and_writer().await;

    let problem_404 = problem(app.client.get(app.url("/nothing/here")).send().await.unwrap(), 404).await;
    assert_eq!(problem_404.title, "Not Found");

    problem(app.client.delete(app.url("/runs")).send().await.unwrap(), 405).await;
    problem(app.client.get(app.url("/runs/not-a-number")).send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn a_request_stuck_on_the_database_times_out_with_503() {
    let app = TestApp::builder()
        .configure(|config| {
            config.request_timeout_secs = 1;
            config.db_timeout_secs = 30;
        })
        .through_proxy()
        .spawn()
        .await;
    app.proxy().set_mode(ProxyMode::Stall);

    let started = std::time::Instant::now();
    let response = app.client.get(app.url("/runs")).send().await.unwrap();

    problem(response, 503).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
