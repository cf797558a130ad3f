//! What a careless or hostile caller tries: reserved parameters, NUL characters, oversized runs,
//! metric floods, scopes checked after the body, and the answers every route owes them.

use serde_json::{Value, json};
use shipit_api::testing::TestApp;

const ALL_SCOPES: &str = "project:shipit:*";

fn bot_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("coverage-bot");
    std::fs::write(&script, "#!/bin/sh\nsleep 5\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

#[tokio::test]
async fn a_rerun_refuses_parameters_that_would_set_the_run_id_or_any_shipit_variable() {
    let dir = bot_dir();
    let app = TestApp::builder().local_runner(dir.path()).spawn().await;
    let token = app.token(&["project:shipit:runs/trigger"]).await;
    let (status, run) =
        app.post("/runs", Some(&app.token(&[ALL_SCOPES]).await), &json!({"bot": "uplift", "trigger": "manual"})).await;
    assert_eq!(status, 201);

    for name in ["SHIPIT_RUN_ID", "shipit_run_id", "SHIPIT_API__TOKEN", "SHIPIT_API_URL"] {
        let parameters = json!({"REPOSITORY": "mozilla-central", name: run["id"].to_string()});
        let (status, problem) =
            app.post("/runs/trigger", Some(&token), &json!({"bot": "coverage", "parameters": parameters})).await;
        assert_eq!(status, 400, "{name}: {problem}");
        assert_eq!(problem["field"], format!("parameters.{name}"), "{problem}");
    }
    // Nothing was started, and the other run is untouched.
    let (_, runs) = app.get("/runs", None).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    let (status, _) =
        app.post("/runs/trigger", Some(&token), &json!({"bot": "coverage", "parameters": {"REPOSITORY": "x"}})).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn a_nul_character_is_a_400_naming_the_field_on_every_kind_of_input() {
    let app = TestApp::spawn().await;
    let token = app.token(&[ALL_SCOPES]).await;
    let (_, run) = app.post("/runs", Some(&token), &json!({"bot": "coverage", "trigger": "manual"})).await;
    let id = run["id"].as_i64().unwrap();

    let reads = [
        ("/runs?bot=%00", "bot"),
        ("/coverage/latest?repository=a%00", "repository"),
        ("/coverage/path?repository=mozilla-central&path=%00", "path"),
        ("/coverage/history?repository=mozilla-central&suite=%00", "suite"),
        ("/coverage/filters?repository=%00", "repository"),
        ("/coverage/zero?repository=mozilla-central&changeset=%00", "changeset"),
        ("/static-analysis/checks?repository=%00", "repository"),
        ("/static-analysis/issues/known?repository=a&path=%00", "path"),
        ("/uplift/channels/%00/bugs", "channel"),
        ("/events/%00/key", "source"),
    ];
    for (path, field) in reads {
        let (status, problem) = app.get(path, None).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)), "{path}: {problem}");
    }
    let writes = [
        (
            "/runs".to_owned(),
            json!({"bot": "coverage", "trigger": "manual", "parameters": {"A": "x\u{0}"}}),
            "parameters.A",
        ),
        (format!("/runs/{id}"), json!({"message": "\u{0}"}), "message"),
        (format!("/runs/{id}"), json!({"counts": {"nested": {"deep": ["ok", "\u{0}"]}}}), "counts.nested.deep[1]"),
        (format!("/runs/{id}/finish"), json!({"status": "failed", "error_summary": "a\u{0}b"}), "error_summary"),
        ("/uplift/channels/beta".to_owned(), json!({"branch": "\u{0}"}), "branch"),
    ];
    for (path, body, field) in writes {
        let method = if path.ends_with(&format!("/{id}")) {
            reqwest::Method::PATCH
        } else if path.starts_with("/uplift") {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let (status, problem) = app.request(method, &path, Some(&token), Some(&body)).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)), "{path}: {problem}");
    }
    // The run is still open and unchanged.
    let (_, run) = app.get(&format!("/runs/{id}"), None).await;
    assert_eq!((run["status"].as_str(), &run["message"]), (Some("running"), &Value::Null));
}

#[tokio::test]
async fn a_run_is_bounded_and_a_page_of_runs_stays_small() {
    use shipit_shared::api_types::run_limits::*;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let (_, run) = app.post("/runs", Some(&token), &json!({"bot": "coverage", "trigger": "manual"})).await;
    let run = format!("/runs/{}", run["id"]);

    let long_key = "k".repeat(MAX_COUNT_KEY_BYTES + 1);
    let refused = [
        (json!({"message": "m".repeat(MAX_MESSAGE_CHARS + 1)}), "message".to_owned()),
        (json!({"counts": {"big": "v".repeat(MAX_COUNT_VALUE_BYTES)}}), "counts.big".to_owned()),
        (json!({"counts": {long_key.clone(): 1}}), format!("counts.{long_key}")),
        (
            json!({"counts": (0..=MAX_COUNTS).map(|n| (format!("c{n}"), json!(n))).collect::<serde_json::Map<_, _>>()}),
            "counts".to_owned(),
        ),
    ];
    for (body, field) in refused {
        let (status, problem) = app.patch(&run, Some(&token), &body).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field.as_str())), "{problem}");
    }
    // Keys add up across reports: the merge is bounded too.
    let half = |from: usize| {
        (from..from + MAX_COUNTS / 2 + 1).map(|n| (format!("c{n}"), json!(n))).collect::<serde_json::Map<_, _>>()
    };
    assert_eq!(app.patch(&run, Some(&token), &json!({"counts": half(0)})).await.0, 200);
    let (status, problem) = app.patch(&run, Some(&token), &json!({"counts": half(100)})).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("counts")), "{problem}");
    let (status, _) = app
        .post(
            &format!("{run}/finish"),
            Some(&token),
            &json!({"status": "failed", "error_summary": "e".repeat(MAX_ERROR_SUMMARY_CHARS + 1)}),
        )
        .await;
    assert_eq!(status, 400);
    let big = json!({"parameters": {"P": "p".repeat(MAX_PARAMETERS_BYTES)}, "bot": "coverage", "trigger": "manual"});
    assert_eq!(app.post("/runs", Some(&token), &big).await.0, 400);

    // The largest run there may be: a page carries only the start of its error summary.
    let summary = "e".repeat(MAX_ERROR_SUMMARY_CHARS);
    let (status, closed) =
        app.post(&format!("{run}/finish"), Some(&token), &json!({"status": "failed", "error_summary": summary})).await;
    assert_eq!(status, 200);
    assert_eq!(closed["error_summary"].as_str().unwrap().len(), MAX_ERROR_SUMMARY_CHARS);
    let page = app.client.get(app.url("/runs")).send().await.unwrap().bytes().await.unwrap();
    let listed: Value = serde_json::from_slice(&page).unwrap();
    assert_eq!(listed["runs"][0]["error_summary"].as_str().unwrap().len(), LISTED_ERROR_SUMMARY_CHARS);
    assert!(page.len() < 4 * 1024, "a page of one run is {} bytes", page.len());
}

#[tokio::test]
async fn metrics_labels_come_from_a_closed_set_whatever_the_requests() {
    let app = TestApp::spawn().await;
    for n in 0..30 {
        let method = reqwest::Method::from_bytes(format!("FLOOD{n}").as_bytes()).unwrap();
        app.client.request(method, app.url(&format!("/runs/{n}"))).send().await.unwrap();
        app.client.get(app.url(&format!("/no/such/route/{n}"))).send().await.unwrap();
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("FLOOD"), "a method name became a label");
    assert!(!metrics.contains("/no/such"), "a raw path became a label");
    assert!(metrics.contains(r#"method="other""#) && metrics.contains(r#"route="/runs/{id}""#), "{metrics}");
    assert!(metrics.contains(r#"route="unmatched""#));
}

/// A request to every write route with a token lacking its scope, and a body that would be
/// refused (not JSON, too large, malformed path): the scope comes first.
#[tokio::test]
async fn scopes_are_checked_before_the_path_and_the_body_on_every_write_route() {
    let app = TestApp::builder().configure(|config| config.body_limit_bytes = 1024).spawn().await;
    let reader = app.token(&["project:shipit:read"]).await;
    let writes = [
        ("POST", "/runs"),
        ("PATCH", "/runs/not-a-number"),
        ("POST", "/runs/not-a-number/finish"),
        ("POST", "/runs/trigger"),
        ("POST", "/coverage/reports"),
        ("POST", "/events/claims"),
        ("POST", "/events/handled"),
        ("POST", "/static-analysis/diffs/x/issues"),
        ("PUT", "/uplift/channels/beta"),
        ("POST", "/uplift/bugs"),
        ("DELETE", "/uplift/bugs/x"),
        ("POST", "/uplift/bugs/x/grafts"),
        ("PUT", "/uplift/contributors/x"),
    ];
    for (method, path) in writes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for (content_type, body) in [("text/plain", vec![b'x'; 10]), ("application/json", vec![b'{'; 4096])] {
            let send = |token: Option<&str>| {
                let mut request = app
                    .client
                    .request(method.clone(), app.url(path))
                    .header("content-type", content_type)
                    .body(body.clone());
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                request.send()
            };
            assert_eq!(send(None).await.unwrap().status(), 401, "{method} {path} without a token");
            let response = send(Some(&reader)).await.unwrap();
            assert_eq!(response.status(), 403, "{method} {path} ({content_type}) with a token lacking the scope");
        }
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = app
            .client
            .post(app.url("/runs"))
            .header("authorization", format!("{scheme} {token}"))
            .json(&json!({"bot": "coverage", "trigger": "manual"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{scheme}");
    }
}

#[tokio::test]
async fn every_answer_says_nosniff_and_framework_errors_are_problem_json() {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let long = format!("/runs?bot={}", "a".repeat(20_000));
    let cases = [
        (app.client.get(app.url("/runs")), 200),
        (app.client.get(app.url(&long)), 414),
        (app.client.get(app.url("/nope")), 404),
        (app.client.delete(app.url("/runs")), 405),
        (
            app.client
                .post(app.url("/runs"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .header("content-encoding", "br")
                .body("{}"),
            415,
        ),
    ];
    for (request, status) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        if status >= 400 {
            assert_eq!(response.headers()["content-type"], "application/problem+json", "{status}");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["status"], status);
        }
    }
}

#[tokio::test]
async fn an_event_claim_lease_is_at_most_an_hour() {
    let app = TestApp::spawn().await;
    let token = app.token(&[ALL_SCOPES]).await;
    let claim = |lease: u64| {
        json!({"claims": [{"source": "code-coverage", "key": "k", "lease_secs": lease,
            "run": {"bot": "coverage", "trigger": "pulse", "parameters": {}}}]})
    };
    let (status, problem) = app.post("/events/claims", Some(&token), &claim(4_294_967_295)).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("claims[0].lease_secs")), "{problem}");
    assert_eq!(app.post("/events/claims", Some(&token), &claim(3_600)).await.0, 200);
}

/// The routes for people: a bot's token is 403 before anything, and the sign-in reads its body
/// as every route does (415, 413, 400 naming the field, NUL characters refused).
#[tokio::test]
async fn person_routes_refuse_bot_tokens_and_the_sign_in_reads_its_body_like_every_route() {
    let app = TestApp::builder().configure(|config| config.body_limit_bytes = 2048).spawn().await;
    let bot = app.token(&["*"]).await;
    assert_eq!(app.get("/auth/whoami", None).await.0, 401);
    assert_eq!(app.get("/auth/whoami", Some(&bot)).await.0, 403);

    let send = |content_type: &'static str, body: Vec<u8>| {
        app.client.post(app.url("/auth/sessions")).header("content-type", content_type).body(body).send()
    };
    assert_eq!(send("text/plain", b"{}".to_vec()).await.unwrap().status(), 415);
    assert_eq!(send("application/json", vec![b' '; 4096]).await.unwrap().status(), 413);
    let cases = [
        (json!({"email": "a\u{0}@example.com", "password": "p", "totp": "123456"}), Some("email")),
        (json!({"email": "a@example.com", "password": 1, "totp": "123456"}), Some("password")),
        (json!({"email": "a@example.com", "password": "p", "totp": "123456", "extra": 1}), Some("extra")),
        (json!({"email": "a@example.com", "password": "p"}), None),
        (json!({"email": "a@example.com", "password": "p".repeat(1025), "totp": "123456"}), Some("password")),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post("/auth/sessions", None, &body).await;
        assert_eq!((status, problem["field"].as_str()), (400, field), "{body}: {problem}");
    }
}
