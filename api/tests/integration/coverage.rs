//! Coverage reports: upload (compressed, replaced atomically), and every read.

use std::io::Write;

use chrono::{DateTime, Duration, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::coverage::{
    CoverageFilters, HistoryPoint, LatestReport, PathCoverage, ZeroCoverageReport,
};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::problem;

/// grcov's own covdir output for a small C project (see fixtures/coverage).
fn c_project() -> Value {
    let text = include_str!("../../../fixtures/coverage/expected/c-project.covdir.json");
    serde_json::from_str(text).unwrap()
}

fn revision(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

fn date(push: i64) -> DateTime<Utc> {
    "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::days(push)
}

fn upload(push: i64, suite: &str, platform: &str, covdir: Value) -> Value {
    json!({
        "repository": "mozilla-central",
        "revision": revision(push as u8),
        "push_id": push,
        "push_date": date(push),
        "suite": suite,
        "platform": platform,
        "covdir": covdir,
        "zero_coverage": [{"name": "c-project/unused.c", "funcs": 2, "uncovered_funcs": 2, "size": 10}],
    })
}

fn gzip(body: &Value) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&serde_json::to_vec(body).unwrap()).unwrap();
    encoder.finish().unwrap()
}

async fn send(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/coverage/reports"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(body))
        .send()
        .await
        .unwrap()
}

async fn get<T: serde::de::DeserializeOwned>(app: &TestApp, path_and_query: &str) -> T {
    let response = app.client.get(app.url(path_and_query)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path_and_query}");
    response.json().await.unwrap()
}

async fn coverage_app() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:coverage/manage"]).await;
    (app, token)
}

#[tokio::test]
async fn an_upload_is_read_back_by_directory_and_by_file() {
    let (app, token) = coverage_app().await;
    let response = send(&app, &token, &upload(1, "all", "all", c_project())).await;
    assert_eq!(response.status(), 201);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["paths"], 4);

    let root: PathCoverage = get(&app, "/coverage/path?repository=mozilla-central").await;
    assert_eq!((root.kind.as_str(), root.changeset.as_str()), ("directory", revision(1).as_str()));
    assert_eq!(root.lines_total, c_project()["linesTotal"].as_u64().unwrap());
    let children = root.children.unwrap();
    assert_eq!(children.keys().collect::<Vec<_>>(), ["c-project"]);
    assert_eq!(children["c-project"].children, Some(2), "grandchildren are only counted");

    let directory: PathCoverage = get(&app, "/coverage/path?repository=mozilla-central&path=c-project/").await;
    assert_eq!(directory.children.unwrap().keys().collect::<Vec<_>>(), ["main.c", "stats.c"]);

    let file: PathCoverage = get(&app, "/coverage/path?repository=mozilla-central&path=c-project/main.c").await;
    let expected = &c_project()["children"]["c-project"]["children"]["main.c"];
    assert_eq!(file.kind, "file");
    assert_eq!(json!(file.coverage.unwrap()), expected["coverage"]);
    assert_eq!(file.coverage_percent, expected["coveragePercent"].as_f64().unwrap());
    assert!(file.children.is_none());

    let missing =
        app.client.get(app.url("/coverage/path?repository=mozilla-central&path=nope.c")).send().await.unwrap();
    problem(missing, 404).await;
}

#[tokio::test]
async fn a_path_held_by_the_client_is_answered_304_until_its_report_is_replaced() {
    let (app, token) = coverage_app().await;
    send(&app, &token, &upload(1, "all", "all", c_project())).await;
    let by_changeset = format!("/coverage/path?repository=mozilla-central&path=c-project&changeset={}", revision(1));
    let first = app.client.get(app.url(&by_changeset)).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.headers()["cache-control"], "public, max-age=300");
    let held = |path: String, tag: String| {
        let app = &app;
        async move { app.client.get(app.url(&path)).header("if-none-match", tag).send().await.unwrap() }
    };
    let again = held(by_changeset.clone(), etag.clone()).await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    // Another path of the same report has another tag; the newest report is revalidated each time.
    let other = held("/coverage/path?repository=mozilla-central&path=c-project/main.c".into(), etag.clone()).await;
    assert_eq!(other.status(), 200);
    let newest =
        app.client.get(app.url("/coverage/path?repository=mozilla-central&path=c-project")).send().await.unwrap();
    assert_eq!(newest.headers()["cache-control"], "public, no-cache");
    assert_eq!(newest.headers()["etag"].to_str().unwrap(), etag, "the same report and path");

    // A replaced report is a new version: the old tag no longer matches.
    send(&app, &token, &upload(1, "all", "all", c_project())).await;
    let replaced = held(by_changeset, etag.clone()).await;
    assert_eq!(replaced.status(), 200);
    assert_ne!(replaced.headers()["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn another_replica_sees_an_upload_once_its_lookup_expires_and_at_once_without_a_lookup_cache() {
    let (app, token) = coverage_app().await;
    send(&app, &token, &upload(1, "all", "all", c_project())).await;
    let replica = |ttl: f64| {
        TestApp::builder()
            .sharing_database_of(&app)
            .configure(move |config| config.coverage_lookup_ttl_secs = ttl)
            .spawn()
    };
    let (cached, uncached) = (replica(0.5).await, replica(0.0).await);
    let newest = "/coverage/path?repository=mozilla-central&path=c-project";
    for reader in [&app, &cached, &uncached] {
        assert_eq!(get::<PathCoverage>(reader, newest).await.changeset, revision(1));
    }

    send(&app, &token, &upload(2, "all", "all", c_project())).await;
    assert_eq!(get::<PathCoverage>(&app, newest).await.changeset, revision(2), "the uploading process forgets at once");
    assert_eq!(get::<PathCoverage>(&uncached, newest).await.changeset, revision(2));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(get::<PathCoverage>(&cached, newest).await.changeset, revision(2), "the lookup expired");
    // The first report's nodes are still its own, and still served by changeset.
    let old = format!("{newest}&changeset={}", revision(1));
    assert_eq!(get::<PathCoverage>(&cached, &old).await.changeset, revision(1));
}

#[tokio::test]
async fn a_second_upload_of_the_same_key_replaces_the_first_entirely() {
    let (app, token) = coverage_app().await;
    send(&app, &token, &upload(1, "all", "all", c_project())).await;
    let mut smaller = c_project();
    smaller["children"]["c-project"]["children"].as_object_mut().unwrap().remove("stats.c");
    let main = smaller["children"]["c-project"]["children"]["main.c"].clone();
    for key in ["linesTotal", "linesCovered", "linesMissed", "coveragePercent"] {
        smaller[key] = main[key].clone();
        smaller["children"]["c-project"][key] = main[key].clone();
    }

    assert_eq!(send(&app, &token, &upload(1, "all", "all", smaller)).await.status(), 201);

    let directory: PathCoverage = get(&app, "/coverage/path?repository=mozilla-central&path=c-project").await;
    assert_eq!(directory.children.unwrap().keys().collect::<Vec<_>>(), ["main.c"]);
    let gone = app
        .client
        .get(app.url("/coverage/path?repository=mozilla-central&path=c-project/stats.c"))
        .send()
        .await
        .unwrap();
    problem(gone, 404).await;
    let client = app.state.pool.get().await.unwrap();
    let reports: i64 = client.query_one("SELECT count(*) FROM coverage_reports", &[]).await.unwrap().get(0);
    let paths: i64 = client.query_one("SELECT count(*) FROM coverage_paths", &[]).await.unwrap().get(0);
    assert_eq!((reports, paths), (1, 3));
}

#[tokio::test]
async fn uploads_need_the_coverage_scope_and_a_consistent_report() {
    let (app, token) = coverage_app().await;
    let body = upload(1, "all", "all", c_project());
    let anonymous = app.client.post(app.url("/coverage/reports")).json(&body).send().await.unwrap();
    problem(anonymous, 401).await;
    let runs_only = app.token(&["project:shipit:runs/manage"]).await;
    problem(send(&app, &runs_only, &body).await, 403).await;

    let mut inconsistent = body.clone();
    inconsistent["covdir"]["children"]["c-project"]["linesMissed"] = json!(999);
    let error = problem(send(&app, &token, &inconsistent).await, 400).await;
    assert_eq!(error.field.as_deref(), Some("covdir.children.c-project"));
    let mut short_revision = body.clone();
    short_revision["revision"] = json!("abc");
    assert_eq!(problem(send(&app, &token, &short_revision).await, 400).await.field.as_deref(), Some("revision"));
    let mut bad_type = body;
    bad_type["push_id"] = json!("yesterday");
    assert_eq!(problem(send(&app, &token, &bad_type).await, 400).await.field.as_deref(), Some("push_id"));

    let stored: i64 = app
        .state
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM coverage_reports", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0, "a refused upload stores nothing");
}

#[tokio::test]
async fn an_upload_over_the_limit_once_decompressed_is_413() {
    let app = TestApp::builder().configure(|config| config.coverage_upload_limit_bytes = 4096).spawn().await;
    let token = app.token(&["project:shipit:coverage/*"]).await;
    let mut body = upload(1, "all", "all", c_project());
    body["zero_coverage"] = json!(
        (0..200)
            .map(|n| json!({"name": format!("f{n}.c"), "funcs": 1, "uncovered_funcs": 1, "size": 1}))
            .collect::<Vec<_>>()
    );
    assert!(gzip(&body).len() < 4096, "the compressed body alone is under the limit");

    problem(send(&app, &token, &body).await, 413).await;
}

#[tokio::test]
async fn latest_filters_history_and_zero_coverage() {
    let (app, token) = coverage_app().await;
    for push in [3, 1, 2] {
        send(&app, &token, &upload(push, "all", "all", c_project())).await;
    }
    send(&app, &token, &upload(3, "mochitest", "all", c_project())).await;
    send(&app, &token, &upload(3, "all", "linux", c_project())).await;

    let latest: Vec<LatestReport> = get(&app, "/coverage/latest?repository=mozilla-central").await;
    assert_eq!(latest.iter().map(|report| report.push).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(latest[0].date, date(3));

    let filters: CoverageFilters = get(&app, "/coverage/filters?repository=mozilla-central").await;
    assert_eq!((filters.suites, filters.platforms), (vec!["mochitest".to_owned()], vec!["linux".to_owned()]));

    let history: Vec<HistoryPoint> = get(
        &app,
        &format!(
            "/coverage/history?repository=mozilla-central&path=c-project/stats.c&start={}",
            date(2).to_rfc3339().replace('+', "%2B")
        ),
    )
    .await;
    assert_eq!(history.iter().map(|point| point.push).collect::<Vec<_>>(), [2, 3]);
    let stats = &c_project()["children"]["c-project"]["children"]["stats.c"];
    assert_eq!(history[0].coverage, stats["coveragePercent"].as_f64().unwrap());

    let zero: ZeroCoverageReport =
        get(&app, &format!("/coverage/zero?repository=mozilla-central&changeset={}", revision(2))).await;
    assert_eq!((zero.push, zero.files.len()), (2, 1));
    assert_eq!(zero.files[0].name, "c-project/unused.c");

    let suite: PathCoverage = get(&app, "/coverage/path?repository=mozilla-central&suite=mochitest").await;
    assert_eq!(suite.changeset, revision(3));
    let none =
        app.client.get(app.url("/coverage/path?repository=mozilla-central&suite=xpcshell")).send().await.unwrap();
    problem(none, 404).await;
}

#[tokio::test]
async fn a_changeset_without_a_report_resolves_to_the_next_report_after_its_push() {
    let pushlog = MockServer::start().await;
    let unknown = "ab".repeat(20);
    Mock::given(method("GET"))
        .and(path("/mozilla-central/json-pushes"))
        .and(query_param("changeset", unknown.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "lastpushid": 9,
            "pushes": {"2": {"changesets": [unknown], "date": 1_700_000_000, "user": "someone@mozilla.com"}}
        })))
        .mount(&pushlog)
        .await;
    Mock::given(method("GET"))
        .and(path("/mozilla-central/json-pushes"))
        .respond_with(ResponseTemplate::new(404).set_body_string("unknown revision"))
        .mount(&pushlog)
        .await;
    let app = TestApp::builder().configure(|config| config.hgmo_url = pushlog.uri()).spawn().await;
    let token = app.token(&["project:shipit:coverage/manage"]).await;
    for push in [1, 3, 5] {
        send(&app, &token, &upload(push, "all", "all", c_project())).await;
    }

    let resolved: PathCoverage =
        get(&app, &format!("/coverage/path?repository=mozilla-central&changeset={unknown}")).await;
    assert_eq!(resolved.changeset, revision(3));
    let exact: PathCoverage =
        get(&app, &format!("/coverage/path?repository=mozilla-central&changeset={}", &revision(5)[..12])).await;
    assert_eq!(exact.changeset, revision(5), "12-digit prefixes name a revision");

    let unknown_to_hgmo = app
        .client
        .get(app.url(&format!("/coverage/path?repository=mozilla-central&changeset={}", "cd".repeat(20))))
        .send()
        .await
        .unwrap();
    problem(unknown_to_hgmo, 404).await;
    let not_hex =
        app.client.get(app.url("/coverage/path?repository=mozilla-central&changeset=tip")).send().await.unwrap();
    assert_eq!(problem(not_hex, 400).await.field.as_deref(), Some("changeset"));
}

/// Sends the head of a `POST /coverage/reports` announcing a large body, and only its first
/// bytes: the answer the API gives without waiting for the rest.
async fn post_head_only(app: &TestApp, authorization: Option<&str>) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let authorization = authorization.map(|value| format!("authorization: {value}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /coverage/reports HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n{authorization}content-length: 1000000000\r\n\r\n{{\"covdir\": "
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer)).await;
    let read = read.expect("the API answered before the body was sent").unwrap();
    (stream, String::from_utf8_lossy(&answer[..read]).into_owned())
}

#[tokio::test]
async fn an_upload_is_refused_before_a_byte_of_its_body_is_read_without_the_scope() {
    let app = TestApp::spawn().await;
    let reader = app.token(&["project:shipit:read", "project:shipit:runs/manage"]).await;

    let (_, without_token) = post_head_only(&app, None).await;
    let (_, without_scope) = post_head_only(&app, Some(&format!("Bearer {reader}"))).await;

    assert!(without_token.starts_with("HTTP/1.1 401"), "{without_token}");
    assert!(without_scope.starts_with("HTTP/1.1 403"), "{without_scope}");
    assert!(without_scope.contains("project:shipit:coverage/manage"), "{without_scope}");
}

#[tokio::test]
async fn uploads_beyond_the_concurrency_limit_get_503_with_retry_after_and_text_is_415() {
    let app = TestApp::builder().configure(|config| config.coverage_upload_concurrency = 1).spawn().await;
    let token = app.token(&["project:shipit:coverage/manage"]).await;
    // One upload holds the only permit while its body trickles in.
    let _slow = {
        use tokio::io::AsyncWriteExt;
        let address = app.base_url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /coverage/reports HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\nauthorization: Bearer {token}\r\ncontent-length: 1000000\r\n\r\n{{\"covdir\": "
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let busy = send(&app, &token, &upload(1, "all", "all", c_project())).await;
    assert_eq!(busy.headers()["retry-after"], "30");
    problem(busy, 503).await;

    let text = app
        .client
        .post(app.url("/coverage/reports"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(serde_json::to_vec(&upload(1, "all", "all", c_project())).unwrap())
        .send()
        .await
        .unwrap();
    problem(text, 415).await;
}

#[tokio::test]
async fn totals_must_agree_with_the_lines_they_summarise() {
    let (app, token) = coverage_app().await;
    let mut wrapped = c_project();
    wrapped["linesCovered"] = json!(u64::MAX);
    let mut lying = c_project();
    lying["children"]["c-project"]["linesTotal"] = json!(1000);
    lying["children"]["c-project"]["linesMissed"] = json!(1000 - 29);

    for (covdir, field) in [(wrapped, "covdir"), (lying, "covdir.children.c-project")] {
        let response = send(&app, &token, &upload(1, "all", "all", covdir)).await;
        let problem = problem(response, 400).await;
        assert_eq!(problem.field.as_deref(), Some(field), "{}", problem.detail);
    }
    let (status, latest) = app.get("/coverage/latest?repository=mozilla-central", None).await;
    assert_eq!((status, latest), (200, json!([])));
}

#[tokio::test]
async fn a_repository_is_a_plain_pushlog_path_and_lookups_are_cached_and_bounded() {
    let pushlog = MockServer::start().await;
    let known = "ab".repeat(20);
    Mock::given(method("GET"))
        .and(path("/integration/autoland/json-pushes"))
        .and(query_param("changeset", known.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "lastpushid": 9, "pushes": {"2": {"changesets": [known], "date": 1_700_000_000, "user": "a@b.c"}}
        })))
        .expect(1)
        .mount(&pushlog)
        .await;
    Mock::given(method("GET"))
        .and(path("/integration/autoland/json-pushes"))
        .and(query_param("changeset", "cd".repeat(20).as_str()))
        .respond_with(ResponseTemplate::new(404).set_body_string("unknown revision"))
        .expect(1)
        .mount(&pushlog)
        .await;
    Mock::given(method("GET"))
        .and(path("/integration/autoland/json-pushes"))
        .and(query_param("changeset", "ef".repeat(20).as_str()))
        .respond_with(ResponseTemplate::new(404).set_delay(std::time::Duration::from_secs(2)))
        .mount(&pushlog)
        .await;
    let app = TestApp::builder()
        .configure(|config| {
            config.hgmo_url = pushlog.uri();
            config.pushlog_concurrency = 1;
        })
        .spawn()
        .await;
    let token = app.token(&["project:shipit:coverage/manage"]).await;
    let mut report = upload(3, "all", "all", c_project());
    report["repository"] = json!("integration/autoland");
    assert_eq!(send(&app, &token, &report).await.status(), 201);

    for repository in ["../../x", "a%23frag", "a%3Fx%3D1%26y%3D", "a/../b", "/a"] {
        let (status, problem) =
            app.get(&format!("/coverage/path?repository={repository}&changeset={known}"), None).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some("repository")), "{repository}");
    }
    // Found and not found are each asked once (the mocks expect one call each).
    for _ in 0..3 {
        let (status, found) =
            app.get(&format!("/coverage/path?repository=integration/autoland&changeset={known}"), None).await;
        assert_eq!((status, found["changeset"].as_str()), (200, Some(revision(3).as_str())));
        let unknown = format!("/coverage/path?repository=integration/autoland&changeset={}", "cd".repeat(20));
        assert_eq!(app.get(&unknown, None).await.0, 404);
    }
    // A repository without reports is answered without asking its pushlog (checked below).
    let (status, _) =
        app.get(&format!("/coverage/path?repository=releases/mozilla-beta&changeset={known}"), None).await;
    assert_eq!(status, 404);
    // One lookup at most in flight: a second one meanwhile is told to come back.
    let slow = format!("/coverage/path?repository=integration/autoland&changeset={}", "ef".repeat(20));
    let other = format!("/coverage/path?repository=integration/autoland&changeset={}", "12".repeat(20));
    let (first, second) = tokio::join!(app.get(&slow, None), async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        app.client.get(app.url(&other)).send().await.unwrap()
    });
    assert_eq!(first.0, 404);
    assert!(second.headers().contains_key("retry-after"));
    problem(second, 503).await;
    assert!(
        pushlog
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|request| request.url.path() == "/integration/autoland/json-pushes")
    );
}

#[tokio::test]
async fn a_changeset_the_pushlog_does_not_know_is_asked_again_after_its_ttl() {
    let pushlog = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/mozilla-central/json-pushes"))
        .respond_with(ResponseTemplate::new(404).set_body_string("unknown revision"))
        .expect(2)
        .mount(&pushlog)
        .await;
    let app = TestApp::builder()
        .configure(|config| {
            config.hgmo_url = pushlog.uri();
            config.pushlog_not_found_ttl_secs = 0;
        })
        .spawn()
        .await;
    let token = app.token(&["project:shipit:coverage/manage"]).await;
    assert_eq!(send(&app, &token, &upload(3, "all", "all", c_project())).await.status(), 201);
    let unknown = format!("/coverage/path?repository=mozilla-central&changeset={}", "cd".repeat(20));
    for _ in 0..2 {
        assert_eq!(app.get(&unknown, None).await.0, 404);
    }
}

#[tokio::test]
async fn a_files_source_comes_from_hg_once_and_its_failures_are_clear() {
    let hg = MockServer::start().await;
    let main_c = include_str!("../../../fixtures/coverage/c-project/main.c");
    let raw = |file: &str| format!("/mozilla-central/raw-file/{}/c-project/{file}", revision(1));
    Mock::given(method("GET"))
        .and(path(raw("main.c")))
        .respond_with(ResponseTemplate::new(200).set_body_string(main_c))
        .expect(1)
        .mount(&hg)
        .await;
    Mock::given(method("GET"))
        .and(path(raw("stats.c")))
        .respond_with(ResponseTemplate::new(404).set_body_string("not found"))
        .expect(1)
        .mount(&hg)
        .await;
    Mock::given(method("GET"))
        .and(path(raw("huge.c")))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(3 * 1024 * 1024)))
        .mount(&hg)
        .await;
    Mock::given(method("GET")).and(path(raw("broken.c"))).respond_with(ResponseTemplate::new(500)).mount(&hg).await;
    let app = TestApp::builder().configure(|config| config.hgmo_url = hg.uri()).spawn().await;
    let (token, report) = (app.token(&["project:shipit:coverage/manage"]).await, upload(1, "all", "all", c_project()));
    send(&app, &token, &report).await;
    let source = |file: &str, changeset: String| {
        let url = app.url(&format!("/coverage/source?repository=mozilla-central&changeset={changeset}&path={file}"));
        app.client.get(url).send()
    };

    for _ in 0..2 {
        let answer = source("c-project/main.c", revision(1)).await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["cache-control"], "public, max-age=86400, immutable");
        assert_eq!(answer.text().await.unwrap(), main_c, "asked of hg.mozilla.org once (the mock expects one call)");
    }
    for _ in 0..2 {
        problem(source("c-project/stats.c", revision(1)).await.unwrap(), 404).await;
    }
    problem(source("c-project/huge.c", revision(1)).await.unwrap(), 413).await;
    problem(source("c-project/broken.c", revision(1)).await.unwrap(), 502).await;
    problem(source("c-project/../../etc/passwd", revision(1)).await.unwrap(), 400).await;
    problem(source("c-project/main.c", "not-hex".into()).await.unwrap(), 400).await;
    problem(source("", revision(1)).await.unwrap(), 400).await;

    // The file view shows the source beside the hits, or says why it cannot.
    let page = |file: &str| {
        let (client, url) = (&app.client, app.url(&format!("/ui/coverage?repository=mozilla-central&path={file}")));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let shown = page("c-project/main.c").await;
    assert!(shown.contains(r#"<td class="source"><code>int main(int argc, char **argv)</code></td>"#), "{shown}");
    let missing = page("c-project/stats.c").await;
    assert!(missing.contains("Source not shown: hg.mozilla.org has no c-project/stats.c"), "{missing}");
    assert!(!missing.contains(r#"class="source""#));
    hg.verify().await;
}
