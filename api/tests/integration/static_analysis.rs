//! Static-analysis routes: issues posted per diff (idempotent by hash), read back per diff, per
//! revision, per check, and as known issues of a repository.

use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::static_analysis::{
    CheckStats, DiffIssues, IssueBatchResult, KnownIssues, RevisionSummary,
};

use crate::problem;

const SCOPE: &str = "project:shipit:static-analysis/manage";

fn issue(hash: &str, line: i32, level: &str, publishable: bool, is_new: bool) -> Value {
    json!({
        "analyzer": "clang-tidy", "path": "src/a.c", "line": line, "nb_lines": 1, "column": 3,
        "level": level, "check": "clang-analyzer-deadcode.DeadStores", "message": "value stored is never read",
        "hash": hash, "in_patch": true, "is_new": is_new, "publishable": publishable,
    })
}

async fn post(app: &TestApp, token: &str, diff: i64, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/static-analysis/diffs/{diff}/issues")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get<T: serde::de::DeserializeOwned>(app: &TestApp, path: &str) -> T {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn issues_fixed_since_the_last_batch_are_removed() {
    let app = TestApp::spawn().await;
    let token = app.token(&[SCOPE]).await;
    let batch = |issues: Vec<Value>| json!({"revision_id": 60, "repository": "mozilla-central", "issues": issues});
    let first = batch(vec![issue("aa01", 3, "warning", true, true), issue("bb02", 9, "error", true, false)]);
    assert_eq!(post(&app, &token, 70, &first).await.status(), 200);
    let other_diff = batch(vec![issue("bb02", 9, "error", true, false)]);
    assert_eq!(post(&app, &token, 71, &other_diff).await.status(), 200);

    let fixed = batch(vec![issue("aa01", 4, "warning", true, true), issue("cc03", 1, "warning", true, true)]);
    let result: IssueBatchResult = post(&app, &token, 70, &fixed).await.json().await.unwrap();

    assert_eq!(result, IssueBatchResult { diff_id: 70, inserted: 1, updated: 1, removed: 1 });
    let diff: DiffIssues = get(&app, "/static-analysis/diffs/70/issues").await;
    let hashes: Vec<&str> = diff.issues.iter().map(|stored| stored.issue.hash.as_str()).collect();
    assert_eq!(hashes, ["cc03", "aa01"]);
    let untouched: DiffIssues = get(&app, "/static-analysis/diffs/71/issues").await;
    assert_eq!(untouched.issues.len(), 1, "other diffs keep their issues");
    let emptied: IssueBatchResult = post(&app, &token, 70, &batch(vec![])).await.json().await.unwrap();
    assert_eq!((emptied.inserted, emptied.removed), (0, 2), "an empty batch: every issue was fixed");
}

#[tokio::test]
async fn issues_are_recorded_once_per_hash_and_read_back() {
    let app = TestApp::spawn().await;
    let token = app.token(&[SCOPE]).await;
    let batch = json!({
        "revision_id": 51, "repository": "mozilla-central", "base": "abc", "head": "def",
        "issues": [issue("aa01", 3, "warning", true, true), issue("bb02", 9, "error", true, false), issue("aa01", 12, "warning", true, true)],
    });

    let first: IssueBatchResult = post(&app, &token, 42, &batch).await.json().await.unwrap();
    assert_eq!(first, IssueBatchResult { diff_id: 42, inserted: 2, updated: 0, removed: 0 });
    let again: IssueBatchResult = post(&app, &token, 42, &batch).await.json().await.unwrap();
    assert_eq!(
        again,
        IssueBatchResult { diff_id: 42, inserted: 0, updated: 2, removed: 0 },
        "a rerun duplicates nothing"
    );

    let diff: DiffIssues = get(&app, "/static-analysis/diffs/42/issues").await;
    assert_eq!((diff.revision_id, diff.repository.as_str()), (51, "mozilla-central"));
    let lines: Vec<(i32, &str)> =
        diff.issues.iter().map(|stored| (stored.issue.line, stored.issue.hash.as_str())).collect();
    assert_eq!(lines, [(3, "aa01"), (9, "bb02")]);

    let second_diff = json!({"revision_id": 51, "repository": "mozilla-central", "issues": [issue("cc03", 1, "warning", false, true)]});
    assert_eq!(post(&app, &token, 43, &second_diff).await.status(), 200);
    let revision: RevisionSummary = get(&app, "/static-analysis/revisions/51").await;
    let counts: Vec<(i64, i64, i64, i64)> =
        revision.diffs.iter().map(|diff| (diff.id, diff.issues, diff.publishable, diff.errors)).collect();
    assert_eq!(counts, [(42, 2, 2, 1), (43, 1, 0, 0)]);
    assert_eq!(revision.diffs[0].base.as_deref(), Some("abc"));

    let stats: CheckStats = get(&app, "/static-analysis/checks?repository=mozilla-central").await;
    assert_eq!(stats.checks.len(), 1);
    assert_eq!((stats.checks[0].issues, stats.checks[0].publishable), (3, 2));
    assert_eq!(stats.checks[0].day, chrono::Utc::now().date_naive());
    let none: CheckStats = get(&app, "/static-analysis/checks?analyzer=flake8").await;
    assert!(none.checks.is_empty());

    let known: KnownIssues = get(&app, "/static-analysis/issues/known?repository=mozilla-central&path=src/a.c").await;
    let hashes: Vec<&str> = known.issues.iter().map(|issue| issue.hash.as_str()).collect();
    assert_eq!(hashes, ["bb02"], "only issues present at base are known");
    let elsewhere: KnownIssues = get(&app, "/static-analysis/issues/known?repository=mozilla-central&path=b.c").await;
    assert!(elsewhere.issues.is_empty());
}

#[tokio::test]
async fn writes_need_the_scope_and_a_valid_batch() {
    let app = TestApp::spawn().await;
    let batch = json!({"revision_id": 1, "repository": "r", "issues": [issue("aa", 1, "warning", true, true)]});
    let response = app.client.post(app.url("/static-analysis/diffs/1/issues")).json(&batch).send().await.unwrap();
    problem(response, 401).await;
    let reader = app.token(&["project:shipit:runs/manage"]).await;
    problem(post(&app, &reader, 1, &batch).await, 403).await;

    let token = app.token(&["project:shipit:*"]).await;
    let bad_hash = json!({"revision_id": 1, "repository": "r", "issues": [issue("not hex", 1, "warning", true, true)]});
    let bad = problem(post(&app, &token, 1, &bad_hash).await, 400).await;
    assert_eq!(bad.field.as_deref(), Some("issues[0].hash"));
    let bad_level = json!({"revision_id": 1, "repository": "r", "issues": [issue("aa", 1, "fatal", true, true)]});
    let bad = problem(post(&app, &token, 1, &bad_level).await, 400).await;
    assert_eq!(bad.field.as_deref(), Some("issues[0].level"));

    assert_eq!(post(&app, &token, 1, &batch).await.status(), 200);
    let other_revision = json!({"revision_id": 2, "repository": "r", "issues": []});
    let conflict = problem(post(&app, &token, 1, &other_revision).await, 409).await;
    assert!(conflict.detail.contains("revision 1"), "{}", conflict.detail);

    problem(app.client.get(app.url("/static-analysis/diffs/999/issues")).send().await.unwrap(), 404).await;
    problem(app.client.get(app.url("/static-analysis/revisions/999")).send().await.unwrap(), 404).await;
    let missing = problem(app.client.get(app.url("/static-analysis/issues/known")).send().await.unwrap(), 400).await;
    assert!(missing.detail.contains("repository"), "{}", missing.detail);
}
