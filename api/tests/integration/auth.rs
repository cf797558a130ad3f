//! Bearer tokens and scopes: 401 without a valid token, 403 without the scope.

use chrono::{Duration, Utc};
use serde_json::json;
use shipit_api::testing::TestApp;
use shipit_api::{admin, db};

use crate::problem;

fn new_run() -> serde_json::Value {
    json!({"bot": "coverage", "trigger": "manual", "parameters": {}})
}

#[tokio::test]
async fn a_write_without_a_token_is_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;

    let response = app.client.post(app.url("/runs")).json(&new_run()).send().await.unwrap();

    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let problem = problem(response, 401).await;
    assert!(problem.detail.contains("bearer token is required"), "{}", problem.detail);
}

#[tokio::test]
async fn an_unknown_or_malformed_token_is_401() {
    let app = TestApp::spawn().await;
    for header in ["Bearer shipit_0000", "Basic dXNlcjpwYXNz", "Bearer not-a-shipit-token"] {
        let response =
            app.client.post(app.url("/runs")).header("authorization", header).json(&new_run()).send().await.unwrap();
        problem(response, 401).await;
    }
}

#[tokio::test]
async fn a_token_without_the_scope_is_403() {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:coverage/manage", "project:shipit:runs/manager"]).await;

    let response = app.client.post(app.url("/runs")).bearer_auth(&token).json(&new_run()).send().await.unwrap();

    let problem = problem(response, 403).await;
    assert!(problem.detail.contains("project:shipit:runs/manage"), "{}", problem.detail);
}

#[tokio::test]
async fn exact_and_wildcard_scopes_grant_writes() {
    let app = TestApp::spawn().await;
    for scope in ["project:shipit:runs/manage", "project:shipit:runs/*", "project:shipit:*", "*"] {
        let token = app.token(&[scope]).await;
        let response = app.client.post(app.url("/runs")).bearer_auth(&token).json(&new_run()).send().await.unwrap();
        assert_eq!(response.status(), 201, "scope {scope}");
    }
}

#[tokio::test]
async fn a_revoked_token_is_401() {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let id = admin::list_tokens(&app.state.pool).await.unwrap()[0].id;
    admin::revoke_token(&app.state.pool, id).await.unwrap();

    let response = app.client.post(app.url("/runs")).bearer_auth(&token).json(&new_run()).send().await.unwrap();

    let problem = problem(response, 401).await;
    assert!(problem.detail.contains("revoked"), "{}", problem.detail);
    assert!(admin::revoke_token(&app.state.pool, id).await.is_err(), "revoking twice is an error");
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = TestApp::spawn().await;
    let scopes = ["project:shipit:runs/manage".to_owned()];
    let expired =
        admin::create_token(&app.state.pool, "old", &scopes, Some(Utc::now() - Duration::seconds(1))).await.unwrap();
    let valid =
        admin::create_token(&app.state.pool, "new", &scopes, Some(Utc::now() + Duration::hours(1))).await.unwrap();

    let response = app.client.post(app.url("/runs")).bearer_auth(&expired).json(&new_run()).send().await.unwrap();
    let problem = problem(response, 401).await;
    assert!(problem.detail.contains("expired"), "{}", problem.detail);

    let response = app.client.post(app.url("/runs")).bearer_auth(&valid).json(&new_run()).send().await.unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn tokens_are_stored_as_digests_only_and_names_are_unique_among_active_tokens() {
    let app = TestApp::spawn().await;
    let scopes = ["project:shipit:runs/manage".to_owned()];
    let token = admin::create_token(&app.state.pool, "bot", &scopes, None).await.unwrap();

    let client = app.state.pool.get().await.unwrap();
    let stored: Vec<u8> = client.query_one("SELECT token_sha256 FROM api_tokens", &[]).await.unwrap().get(0);
    assert_eq!(stored, shipit_api::auth::digest(&token));
    let everything: String =
        client.query_one("SELECT row_to_json(t)::text FROM api_tokens t", &[]).await.unwrap().get(0);
    assert!(!everything.contains(&token));

    let again = admin::create_token(&app.state.pool, "bot", &scopes, None).await;
    assert!(matches!(again, Err(admin::AdminError::NameTaken(_))));
    let id = db::tokens::list(&app.state.pool).await.unwrap()[0].id;
    admin::revoke_token(&app.state.pool, id).await.unwrap();
    assert!(admin::create_token(&app.state.pool, "bot", &scopes, None).await.is_ok());
}

#[tokio::test]
async fn reads_are_public_by_default_and_need_the_read_scope_when_configured() {
    let public = TestApp::spawn().await;
    assert_eq!(public.client.get(public.url("/runs")).send().await.unwrap().status(), 200);

    let private = TestApp::builder().configure(|config| config.public_reads = false).spawn().await;
    let response = private.client.get(private.url("/runs")).send().await.unwrap();
    problem(response, 401).await;
    let writer = private.token(&["project:shipit:runs/manage"]).await;
    let response = private.client.get(private.url("/runs")).bearer_auth(&writer).send().await.unwrap();
    problem(response, 403).await;
    let reader = private.token(&["project:shipit:read"]).await;
    let response = private.client.get(private.url("/runs")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Health endpoints stay public: load balancers carry no token.
    assert_eq!(private.client.get(private.url("/__lbheartbeat__")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn token_names_refuse_control_characters() {
    let app = TestApp::spawn().await;
    let scopes = ["project:shipit:read".to_owned()];
    for name in ["bot\nID  NAME  active", "a\u{0}b", "tab\there", "", &"n".repeat(101)] {
        let refused = admin::create_token(&app.state.pool, name, &scopes, None).await;
        assert!(matches!(refused, Err(admin::AdminError::InvalidName(_))), "{name:?}: {refused:?}");
    }
    assert!(admin::create_token(&app.state.pool, "coverage-bot (prod)", &scopes, None).await.is_ok());
}

#[tokio::test]
async fn the_local_runners_token_stays_valid_across_restarts_of_the_api() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shipit/local-runner.token");

    let first = admin::local_runner_token(&app.state.pool, &file).await.unwrap();
    let after_restart = admin::local_runner_token(&app.state.pool, &file).await.unwrap();

    assert_eq!(first, after_restart);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (status, _) = app.post("/runs", Some(&first), &new_run()).await;
    assert_eq!(status, 201, "a bot started before the restart still reports");

    // A token that is no longer valid (revoked, or another token's) is replaced, and the file
    // follows.
    let id =
        admin::list_tokens(&app.state.pool).await.unwrap().into_iter().find(|t| t.name == "local-runner").unwrap().id;
    admin::revoke_token(&app.state.pool, id).await.unwrap();
    let replaced = admin::local_runner_token(&app.state.pool, &file).await.unwrap();
    assert_ne!(replaced, first);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), replaced);
    assert_eq!(app.post("/runs", Some(&replaced), &new_run()).await.0, 201);
    assert_eq!(app.post("/runs", Some(&first), &new_run()).await.0, 401);
}
