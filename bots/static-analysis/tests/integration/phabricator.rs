//! The whole bot against a mock Conduit serving the recorded answers and a real ShipIt API: the
//! diff is fetched and analyzed, the issues recorded, the comments posted once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::RunPage;
use shipit_shared::api_types::static_analysis::DiffIssues;
use shipit_shared::bot::{Context, Exit, execute};
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_static_analysis::analyzers::AnalyzerOverrides;
use shipit_static_analysis::bot::{self, CheckRequest, Source, StaticAnalysisBot};
use shipit_static_analysis::config::Settings;
use shipit_static_analysis::phabricator::DiffReference;
use shipit_static_analysis::report::Format;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fixture;
use crate::repo::TestRepo;

const BOT_PHID: &str = "PHID-USER-test1234";

/// Conduit as the bot sees it: the recorded search answers, a raw diff, and inline comments that
/// are drafts until a comment attaches them, as in Phabricator.
#[derive(Clone)]
struct Conduit {
    raw_diff: String,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    drafts: Vec<(String, String)>,
    published: Vec<(String, String)>,
    calls: HashMap<String, usize>,
}

impl Respond for Conduit {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let method = request.url.path().trim_start_matches("/api/").to_owned();
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        let mut state = self.state.lock().unwrap();
        *state.calls.entry(method.clone()).or_default() += 1;
        if form.get("api.token").map(String::as_str) != Some("api-secret") {
            return conduit_error("ERR-INVALID-AUTH", "API token is invalid");
        }
        let body: Value = match method.as_str() {
            "differential.diff.search" => {
                let by_id = form.get("constraints[ids][0]").is_some_and(|id| id == "42");
                let by_phid = form.get("constraints[phids][0]").is_some_and(|phid| phid == "PHID-DIFF-testABcd12");
                assert!(by_id || by_phid, "diff 42 is asked by id or PHID: {form:?}");
                serde_json::from_str(&fixture("phabricator_diff_search.json")).unwrap()
            }
            "differential.revision.search" => {
                assert_eq!(form["constraints[phids][0]"], "PHID-DREV-zzzzz");
                serde_json::from_str(&fixture("phabricator_revision_search.json")).unwrap()
            }
            "user.whoami" => serde_json::from_str(&fixture("phabricator_auth.json")).unwrap(),
            "differential.getrawdiff" => {
                assert_eq!(form["diffID"], "42");
                json!({"result": self.raw_diff, "error_code": null, "error_info": null})
            }
            "differential.createinline" => {
                assert_eq!((form["diffID"].as_str(), form["isNewFile"].as_str()), ("42", "1"));
                state.drafts.push((form["filePath"].clone(), form["content"].clone()));
                json!({"result": {"id": 1}, "error_code": null, "error_info": null})
            }
            "differential.createcomment" => {
                assert_eq!((form["revision_id"].as_str(), form["attach_inlines"].as_str()), ("51", "1"));
                let drafts = std::mem::take(&mut state.drafts);
                state.published.extend(drafts);
                json!({"result": {"object": {"id": 51}}, "error_code": null, "error_info": null})
            }
            "transaction.search" => {
                assert_eq!(form["objectIdentifier"], "PHID-DREV-zzzzz");
                let data: Vec<Value> = state
                    .published
                    .iter()
                    .map(|(path, text)| {
                        json!({"type": "inline", "authorPHID": BOT_PHID, "objectPHID": "PHID-DREV-zzzzz",
                               "comments": [{"content": {"raw": text}}],
                               "fields": {"diff": {"id": 42}, "path": path, "line": 1, "length": 0}})
                    })
                    .chain([
                        json!({"type": "comment", "authorPHID": "PHID-USER-someone", "comments": [], "fields": {}}),
                    ])
                    .collect();
                json!({"result": {"data": data, "cursor": {"after": null}}, "error_code": null, "error_info": null})
            }
            other => return conduit_error("ERR-CONDUIT-CALL", &format!("no method {other}")),
        };
        ResponseTemplate::new(200).set_body_json(body)
    }
}

fn conduit_error(code: &str, info: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"result": null, "error_code": code, "error_info": info}))
}

async fn conduit(raw_diff: String) -> (MockServer, Conduit) {
    let server = MockServer::start().await;
    let conduit = Conduit { raw_diff, state: Arc::default() };
    Mock::given(method("POST")).respond_with(conduit.clone()).mount(&server).await;
    (server, conduit)
}

fn settings(server: &MockServer, app: &TestApp, token: String) -> Context<Settings> {
    let mut settings = Settings::default();
    for name in ["clang_tidy", "clang_format", "cppcheck", "shellcheck"] {
        settings.analyzers.insert(name.into(), AnalyzerOverrides { enabled: Some(false), ..Default::default() });
    }
    settings.phabricator.url = Some(format!("{}/api/", server.uri()).parse().unwrap());
    settings.phabricator.api_token = Some(SecretString::from("api-secret"));
    let http = UpstreamClient::new(Duration::from_secs(30), RetryPolicy::default()).unwrap();
    let api =
        ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), Some(SecretString::from(token)), http.clone());
    Context::unrecorded("static-analysis", settings, http, Some(api))
}

/// The same settings as a configuration file, for the bot kit.
fn config_file(directory: &Path, server: &MockServer, app: &TestApp, token: &str) -> std::path::PathBuf {
    let mut text = String::new();
    for name in ["clang_tidy", "clang_format", "cppcheck", "shellcheck"] {
        text.push_str(&format!("[analyzers.{name}]\nenabled = false\n"));
    }
    text.push_str(&format!("[phabricator]\nurl = \"{}/api/\"\napi_token = \"api-secret\"\n", server.uri()));
    text.push_str(&format!("[api]\nurl = \"{}/\"\ntoken = \"{token}\"\n", app.base_url));
    let path = directory.join("shipit.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn request(repo: &TestRepo, base: &str) -> CheckRequest {
    CheckRequest {
        repository: repo.path().to_owned(),
        base: Some(base.to_owned()),
        source: Source::Phabricator(DiffReference::Id(42)),
        before_after: false,
        jobs: None,
        comment: true,
        diff: None,
        reproduce: "static-analysis-bot check --phabricator-diff 42".into(),
        fetch: None,
        repository_name: Some("mozilla-central".into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_diff_is_analyzed_recorded_and_commented_once() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", "import os\n\n\ndef old():\n    return undefined_a\n")]);
    let head = repo.commit(&[(
        "a.py",
        "import os\n\n\ndef old():\n    return undefined_a\n\n\ndef new():\n    y=2\n    return y\n",
    )]);
    let patch = String::from_utf8(repo.diff(&base, &head)).unwrap();
    let (server, conduit) = conduit(patch.trim_end().to_owned()).await;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/manage", "project:shipit:static-analysis/manage"]).await;
    let settings = settings(&server, &app, token);

    let first = bot::check(&settings, &request(&repo, &base)).await.unwrap();

    let published = first.published.unwrap();
    assert_eq!((published.created, published.skipped, published.summary), (2, 0, true));
    let uploaded = first.uploaded.unwrap();
    assert_eq!((uploaded.diff_id, uploaded.inserted), (42, 3));
    {
        let state = conduit.state.lock().unwrap();
        let comments: Vec<&str> = state.published.iter().map(|(_, text)| text.as_str()).collect();
        assert_eq!(
            comments,
            [
                "Error: Undefined name 'undefined_a' [flake8: F821]",
                "Warning: Missing whitespace around operator [flake8: E225]"
            ]
        );
    }

    let second = bot::check(&settings, &request(&repo, &base)).await.unwrap();

    let published = second.published.unwrap();
    assert_eq!((published.created, published.skipped, published.summary), (0, 2, false), "no duplicate comment");
    assert_eq!(second.uploaded.unwrap().inserted, 0, "no duplicate issue in the API");
    {
        let state = conduit.state.lock().unwrap();
        assert_eq!(state.calls["differential.createcomment"], 1);
        assert_eq!(state.calls["differential.createinline"], 2);
        assert_eq!(state.published.len(), 2);
    }

    let issues: DiffIssues =
        app.client.get(app.url("/static-analysis/diffs/42/issues")).send().await.unwrap().json().await.unwrap();
    assert_eq!((issues.revision_id, issues.repository.as_str(), issues.issues.len()), (51, "mozilla-central", 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bot_records_its_run_and_writes_its_report() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", "import os\n")]);
    let head = repo.commit(&[("a.py", "import os\ny=2\n")]);
    let patch = String::from_utf8(repo.diff(&base, &head)).unwrap();
    let (server, _conduit) = conduit(patch.trim_end().to_owned()).await;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/manage", "project:shipit:static-analysis/manage"]).await;
    let work = tempfile::tempdir().unwrap();
    let output = work.path().join("report.json");
    // The code-review workflow's try tasks name the diff by its PHID.
    let request = CheckRequest {
        source: Source::Phabricator(DiffReference::Phid("PHID-DIFF-testABcd12".into())),
        ..request(&repo, &base)
    };
    let bot = StaticAnalysisBot { request, format: Format::Json, output: Some(output.clone()) };

    let exit = execute(bot, Some(&config_file(work.path(), &server, &app, &token)), None).await;

    assert_eq!(exit, Exit::Succeeded);
    let report: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(report["files"], json!(["a.py"]));
    let runs: RunPage =
        app.client.get(app.url("/runs?bot=static-analysis")).send().await.unwrap().json().await.unwrap();
    let statuses: Vec<(&str, &str)> = runs.runs.iter().map(|run| (run.status.as_str(), run.trigger.as_str())).collect();
    assert_eq!(statuses, [("succeeded", "pulse")]);
    assert_eq!(runs.runs[0].counts["publishable"], 1);
    assert_eq!(runs.runs[0].parameters["phabricator_diff"], "PHID-DIFF-testABcd12");
    let issues: DiffIssues =
        app.client.get(app.url("/static-analysis/diffs/42/issues")).send().await.unwrap().json().await.unwrap();
    assert_eq!(issues.revision_id, 51, "the issues are recorded under the diff's id");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recorded_diff_applies_and_without_issues_nothing_is_posted() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("test.txt", "Hello World\n")]);
    let recorded: Value = serde_json::from_str(&fixture("phabricator_diff_raw.json")).unwrap();
    let (server, conduit) = conduit(recorded["result"].as_str().unwrap().to_owned()).await;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:*"]).await;

    let outcome = bot::check(&settings(&server, &app, token), &request(&repo, &base)).await.unwrap();

    assert_eq!(outcome.analysis.files, ["test.txt"]);
    assert!(outcome.analysis.issues.is_empty());
    assert_eq!(outcome.published.unwrap(), Default::default());
    assert!(!conduit.state.lock().unwrap().calls.contains_key("differential.createcomment"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_analysis_closes_its_run_as_failed() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("other.txt", "nothing to patch here\n")]);
    let recorded: Value = serde_json::from_str(&fixture("phabricator_diff_raw.json")).unwrap();
    let (server, _conduit) = conduit(recorded["result"].as_str().unwrap().to_owned()).await;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:*"]).await;
    let work = tempfile::tempdir().unwrap();
    let bot = StaticAnalysisBot { request: request(&repo, &base), format: Format::Json, output: None };

    let exit = execute(bot, Some(&config_file(work.path(), &server, &app, &token)), None).await;

    assert_eq!(exit, Exit::Failed);
    let runs: RunPage =
        app.client.get(app.url("/runs?bot=static-analysis")).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs.runs[0].status.as_str(), "failed");
    assert!(runs.runs[0].error_summary.as_deref().unwrap().starts_with("the patch does not apply"));
}
