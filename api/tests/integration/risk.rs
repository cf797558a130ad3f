//! Risk routes: assessments uploaded (idempotent by repository, revision and model version) with
//! the scope only, read back per revision and riskiest first with filters and pages, and the
//! model versions with their evaluation.

use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::risk::{AssessmentPage, AssessmentUploadResult, RevisionAssessments, RiskModel};

use crate::problem;

const SCOPE: &str = "project:shipit:risk/manage";
const CENTRAL: &str = "https://hg.mozilla.org/mozilla-central";

fn revision(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

fn assessment(n: u8, probability: f64, band: &str, day: u32) -> Value {
    json!({
        "revision": revision(n), "parent": revision(n + 100), "author": "dev@example.com",
        "author_time": format!("2024-03-{day:02}T12:00:00Z"), "subject": format!("Change {n}"),
        "probability": probability, "band": band,
        "reasons": [{"feature": "la", "value": 245.0, "contribution": 0.8, "text": "adds 245 lines (more than 92% of changes); this raises the risk"}],
        "features": {"la": 245.0, "ld": 3.0},
        "functions": [{"path": "src/a.c", "added": ["f"], "modified": ["g"]}],
    })
}

fn upload(model: &str, assessments: Vec<Value>) -> Value {
    json!({
        "repository": CENTRAL,
        "model": {"version": model, "kind": "logistic-regression", "trained_until": "2024-01-01T00:00:00Z",
                  "features": ["la", "ld"], "evaluation": {"model": {"roc_auc": 0.8}}},
        "assessments": assessments,
    })
}

async fn post(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let request = app.client.post(app.url("/risk/assessments")).json(body);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

async fn get<T: serde::de::DeserializeOwned>(app: &TestApp, path: &str) -> T {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn uploads_need_the_risk_scope_and_are_idempotent() {
    let app = TestApp::spawn().await;
    let body = upload("20240101-aaaa", vec![assessment(1, 0.3, "high", 1)]);
    problem(post(&app, None, &body).await, 401).await;
    let coverage_token = app.token(&["project:shipit:coverage/manage"]).await;
    let refused = problem(post(&app, Some(&coverage_token), &body).await, 403).await;
    assert!(refused.detail.contains(SCOPE), "{}", refused.detail);
    // The scope is checked before the body: a bad body without the scope is still a 403.
    problem(post(&app, Some(&coverage_token), &json!({"nonsense": true})).await, 403).await;

    let token = app.token(&[SCOPE]).await;
    let first: AssessmentUploadResult = post(&app, Some(&token), &body).await.json().await.unwrap();
    assert_eq!(first, AssessmentUploadResult { inserted: 1, updated: 0, unchanged: 0 });
    let again: AssessmentUploadResult = post(&app, Some(&token), &body).await.json().await.unwrap();
    assert_eq!(
        again,
        AssessmentUploadResult { inserted: 0, updated: 0, unchanged: 1 },
        "the same upload changes nothing"
    );
    let mut with_coverage = assessment(1, 0.3, "high", 1);
    with_coverage["coverage"] =
        json!({"report_revision": revision(101), "instrumented": 4, "covered": 3, "coverage_percent": 75.0});
    let updated: AssessmentUploadResult =
        post(&app, Some(&token), &upload("20240101-aaaa", vec![with_coverage])).await.json().await.unwrap();
    assert_eq!(updated, AssessmentUploadResult { inserted: 0, updated: 1, unchanged: 0 });
    let other_model: AssessmentUploadResult =
        post(&app, Some(&token), &upload("20240201-bbbb", vec![assessment(1, 0.1, "low", 1)]))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(other_model.inserted, 1, "another model's assessment of the same revision is another row");

    let read: RevisionAssessments =
        get(&app, &format!("/risk/revisions/{}?repository={CENTRAL}", &revision(1)[..12])).await;
    assert_eq!(read.revision, revision(1));
    assert_eq!(read.assessments.len(), 2);
    assert_eq!(read.assessments[0].model_version, "20240201-bbbb", "newest model first");
    let old = &read.assessments[1].assessment;
    assert_eq!(old.coverage.as_ref().unwrap().covered, 3);
    assert_eq!(old.functions[0].modified, ["g"]);
    assert_eq!(old.reasons[0].feature, "la");
}

#[tokio::test]
async fn bad_uploads_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token(&[SCOPE]).await;
    let mut bad_revision = assessment(1, 0.3, "high", 1);
    bad_revision["revision"] = json!("not-a-sha");
    let refused = problem(post(&app, Some(&token), &upload("m", vec![bad_revision])).await, 400).await;
    assert_eq!(refused.field.as_deref(), Some("assessments[0].revision"));
    let out_of_range = assessment(2, 1.5, "high", 1);
    let refused = problem(post(&app, Some(&token), &upload("m", vec![out_of_range])).await, 400).await;
    assert_eq!(refused.field.as_deref(), Some("assessments[0].probability"));
    let twice = vec![assessment(3, 0.1, "low", 1), assessment(3, 0.2, "low", 1)];
    let refused = problem(post(&app, Some(&token), &upload("m", twice)).await, 400).await;
    assert_eq!(refused.field.as_deref(), Some("assessments[1].revision"));
    let mut bad_band = assessment(4, 0.1, "low", 1);
    bad_band["band"] = json!("extreme");
    problem(post(&app, Some(&token), &upload("m", vec![bad_band])).await, 400).await;
}

#[tokio::test]
async fn assessments_are_listed_riskiest_first_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let token = app.token(&[SCOPE]).await;
    let assessments = vec![
        assessment(1, 0.05, "low", 1),
        assessment(2, 0.40, "high", 2),
        assessment(3, 0.15, "medium", 3),
        assessment(4, 0.40, "high", 4),
        assessment(5, 0.25, "high", 5),
    ];
    assert_eq!(post(&app, Some(&token), &upload("20240101-aaaa", assessments)).await.status(), 200);

    let order = |page: &AssessmentPage| -> Vec<String> {
        page.assessments.iter().map(|a| a.assessment.revision[..2].to_owned()).collect()
    };
    let all: AssessmentPage = get(&app, &format!("/risk/assessments?repository={CENTRAL}")).await;
    assert_eq!(order(&all), ["04", "02", "05", "03", "01"], "riskiest first, ties most recent first");
    assert!(all.next.is_none());

    let first: AssessmentPage = get(&app, &format!("/risk/assessments?repository={CENTRAL}&limit=2")).await;
    assert_eq!(order(&first), ["04", "02"]);
    let after = first.next.clone().unwrap();
    let second: AssessmentPage =
        get(&app, &format!("/risk/assessments?repository={CENTRAL}&limit=2&after={after}")).await;
    assert_eq!(order(&second), ["05", "03"]);
    let third: AssessmentPage =
        get(&app, &format!("/risk/assessments?repository={CENTRAL}&limit=2&after={}", second.next.unwrap())).await;
    assert_eq!((order(&third), third.next), (vec!["01".to_owned()], None));

    let high: AssessmentPage =
        get(&app, &format!("/risk/assessments?repository={CENTRAL}&band=high&since=2024-03-03T00:00:00Z")).await;
    assert_eq!(order(&high), ["04", "05"]);
    let scored: AssessmentPage = get(&app, &format!("/risk/assessments?repository={CENTRAL}&min_score=0.2")).await;
    assert_eq!(order(&scored), ["04", "02", "05"]);
    let elsewhere: AssessmentPage = get(&app, "/risk/assessments?repository=try").await;
    assert!(elsewhere.assessments.is_empty());

    problem(
        app.client.get(app.url(&format!("/risk/assessments?repository={CENTRAL}&limit=0"))).send().await.unwrap(),
        400,
    )
    .await;
    problem(
        app.client.get(app.url(&format!("/risk/assessments?repository={CENTRAL}&after=nope"))).send().await.unwrap(),
        400,
    )
    .await;
    problem(
        app.client.get(app.url(&format!("/risk/revisions/{}?repository=try", revision(1)))).send().await.unwrap(),
        404,
    )
    .await;
    problem(app.client.get(app.url(&format!("/risk/revisions/xyz?repository={CENTRAL}"))).send().await.unwrap(), 400)
        .await;

    let models: Vec<RiskModel> = get(&app, "/risk/models").await;
    assert_eq!(models.len(), 1);
    assert_eq!((models[0].model.version.as_str(), models[0].assessments), ("20240101-aaaa", 5));
    assert_eq!(models[0].model.evaluation.as_ref().unwrap()["model"]["roc_auc"], 0.8);
}
