//! The Taskcluster flow of a coverage run against a mock Taskcluster serving recorded task-group
//! pages (with a continuation token), a failed task, a missing artifact and a corrupt zip, and
//! the real API; the pushlog of hg.mozilla.org served by a mock answering `json-pushes` ranges.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_coverage::run::{RunConfig, RunContext, run};
use shipit_coverage::taskcluster::Taskcluster;
use shipit_shared::api_client::ApiClient;
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use wiremock::matchers::{method, path, path_regex, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const REVISION: &str = "b2a9a4bb5c94de179ae7a3f52fde58c0e2897498";
const GROUP: &str = "aPt9FbIdQwmhwDIPDYLuaw";
const WINDOWS_TASKS: [&str; 4] =
    ["B01idIjXQeaplR_wQlTlUw", "B2Y1bH84TIagH-8-VQNyFA", "BfqdIMyyTkG98ZHBICTWow", "CC_yLjokTOSzuFgobRGSyQ"];
const CORRUPT_TASK: &str = "C9YeEPxRR6eQgls3qlU6sw";
const NO_ARTIFACT_TASK: &str = "CMPEhuEDSH-1UgpVWTWzBg";
const FAILED_TASK: &str = "AN1M9SW0QY6DZT6suL3zlQ";
const GRCOV_ZIP: &str = "public/test_info/code-coverage-grcov.zip";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/coverage").join(name)).unwrap()
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn zip_of(files: &[&str]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for file in files {
        writer
            .start_file(
                *file,
                zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
            )
            .unwrap();
        writer.write_all(fixture(&format!("upstream/{file}")).as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn artifact_path(task: &str, artifact: &str) -> String {
    format!("/api/queue/v1/task/{task}/artifacts/{artifact}")
}

async fn taskcluster() -> MockServer {
    let server = MockServer::start().await;
    let linux_route =
        format!("/api/index/v1/task/gecko.v2.mozilla-central.revision.{REVISION}.firefox.linux64-ccov-opt");
    Mock::given(method("GET"))
        .and(path(linux_route))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"taskId": "BUILD"})))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/api/index/v1/task/"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json_fixture("taskcluster/task_not_found.json")))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(path("/api/queue/v1/task/BUILD"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json_fixture("taskcluster/linux_task.json")))
        .mount(&server)
        .await;
    let group = json_fixture("taskcluster/task-group_1.json");
    let token = group["continuationToken"].as_str().unwrap().to_owned();
    Mock::given(path(format!("/api/queue/v1/task-group/{GROUP}/list")))
        .and(query_param("continuationToken", token.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json_fixture("taskcluster/task-group_2.json")))
        .mount(&server)
        .await;
    Mock::given(path(format!("/api/queue/v1/task-group/{GROUP}/list")))
        .and(query_param_is_missing("continuationToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(group))
        .mount(&server)
        .await;
    for task in WINDOWS_TASKS {
        let zip = zip_of(&["grcov_existing_file.info"]);
        Mock::given(path(artifact_path(task, GRCOV_ZIP)))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(zip))
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(path(artifact_path(CORRUPT_TASK, GRCOV_ZIP)))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"PK\x03\x04 this is not a zip".to_vec()))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path(artifact_path(NO_ARTIFACT_TASK, GRCOV_ZIP)))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path_regex(r"/artifacts/public/test_info/code-coverage-grcov\.zip$"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(zip_of(&["grcov.info", "grcov_uncovered_file.info"])))
        .with_priority(5)
        .mount(&server)
        .await;
    Mock::given(path_regex(r"/artifacts/public/test_info/code-coverage-jsvm\.zip$"))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(5)
        .mount(&server)
        .await;
    server
}

/// The pushes of the mock pushlog: id, date and the files of each changeset. The uncovered file
/// is changed in 2016 and twice in 2017, and again after the report's push (33546).
fn pushes(uncovered: &str) -> Vec<(i64, i64, Vec<Vec<String>>)> {
    let files = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>();
    vec![
        (100, 1_451_995_200, vec![files(&[uncovered, "other/file.c"])]),
        (20_000, 1_496_318_400, vec![files(&[uncovered]), files(&[uncovered, "js/src/jit/BitSet.cpp"])]),
        (33_546, 1_519_989_549, vec![files(&["js/src/jit/BitSet.cpp"])]),
        (33_590, 1_520_500_000, vec![files(&[uncovered])]),
    ]
}

/// `json-pushes?version=2&full=1&startID=A&endID=B`, as hg.mozilla.org answers it: the pushes
/// with an id above A and at most B, each changeset with its node, description and files.
struct PushlogRange(Vec<(i64, i64, Vec<Vec<String>>)>);

impl Respond for PushlogRange {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let parameter = |name: &str| {
            request.url.query_pairs().find(|(key, _)| key == name).and_then(|(_, value)| value.parse::<i64>().ok())
        };
        let (Some(start), Some(end)) = (parameter("startID"), parameter("endID")) else {
            return ResponseTemplate::new(400);
        };
        let mut pushes = serde_json::Map::new();
        for (id, date, changesets) in self.0.iter().filter(|(id, _, _)| *id > start && *id <= end) {
            let changesets: Vec<Value> = changesets
                .iter()
                .enumerate()
                .map(|(index, files)| {
                    json!({"node": format!("{id:020}{index:020}"), "author": "A <a@example.com>",
                           "desc": "Bug 1 - a change r=b", "branch": "default", "tags": [], "parents": [],
                           "files": files})
                })
                .collect();
            pushes.insert(id.to_string(), json!({"user": "a@example.com", "date": date, "changesets": changesets}));
        }
        ResponseTemplate::new(200).set_body_json(json!({"lastpushid": 33600, "pushes": pushes}))
    }
}

/// The push of `REVISION`: 33546.
async fn mount_push_of(server: &MockServer) {
    Mock::given(path("/mozilla-central/json-pushes"))
        .and(query_param("changeset", REVISION))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"lastpushid": 33600, "pushes": {"33546": {"date": 1_519_989_549, "changesets": [REVISION]}}}),
        ))
        .mount(server)
        .await;
}

/// The ranges of the full pushlog, from [`pushes`].
async fn mount_pushlog_ranges(server: &MockServer) {
    Mock::given(path("/mozilla-central/json-pushes"))
        .and(query_param("full", "1"))
        .respond_with(PushlogRange(pushes(uncovered_path())))
        .mount(server)
        .await;
}

async fn pushlog() -> MockServer {
    let server = MockServer::start().await;
    mount_push_of(&server).await;
    mount_pushlog_ranges(&server).await;
    server
}

/// The API client (with a token that may upload coverage) and the Taskcluster client of a run.
async fn clients(app: &TestApp, taskcluster_server: &MockServer) -> (ApiClient, Taskcluster) {
    let token = app.token(&["project:shipit:coverage/manage"]).await;
    let api = ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), Some(SecretString::from(token)), http());
    let taskcluster = Taskcluster::new(format!("{}/", taskcluster_server.uri()).parse().unwrap(), http());
    (api, taskcluster)
}

fn uncovered_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        fixture("upstream/grcov_uncovered_file.info")
            .lines()
            .find_map(|line| line.strip_prefix("SF:"))
            .unwrap()
            .to_owned()
    })
}

fn pushlog_reads(requests: &[Request]) -> usize {
    requests.iter().filter(|request| request.url.query_pairs().any(|(key, _)| key == "full")).count()
}

fn http() -> UpstreamClient {
    let retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    };
    UpstreamClient::new(Duration::from_secs(10), retry).unwrap()
}

fn downloads_of(requests: &[Request], task: &str) -> usize {
    requests.iter().filter(|request| request.url.path() == artifact_path(task, GRCOV_ZIP)).count()
}

#[tokio::test]
async fn a_run_merges_the_best_tasks_uploads_every_report_and_lists_what_is_missing() {
    let (taskcluster_server, pushlog_server, app) = (taskcluster().await, pushlog().await, TestApp::spawn().await);
    let cache = tempfile::tempdir().unwrap();
    let config = RunConfig {
        hgmo_url: format!("{}/", pushlog_server.uri()).parse().unwrap(),
        cache_dir: cache.path().to_owned(),
        download_concurrency: 4,
        pushlog_page: 10_000,
        ..RunConfig::default()
    };
    let (api, taskcluster) = clients(&app, &taskcluster_server).await;
    let context = RunContext { config: &config, taskcluster: &taskcluster, http: &http(), api: &api };

    let summary = run(&context, "mozilla-central", Some(REVISION)).await.unwrap();

    assert_eq!(summary.push_id, 33546);
    let missing = summary.missing.join("\n");
    for expected in ["win64-ccov-opt", FAILED_TASK, CORRUPT_TASK, NO_ARTIFACT_TASK] {
        assert!(missing.contains(expected), "{expected} not listed as missing in:\n{missing}");
    }
    assert_eq!(summary.missing.len(), 4, "{missing}");
    for key in [("all", "all"), ("xpcshell", "all"), ("all", "linux64-ccov"), ("all", "windows10-64-ccov")] {
        assert!(summary.reports.contains(&(key.0.to_owned(), key.1.to_owned())), "no report {key:?}");
    }
    assert!(!summary.reports.iter().any(|(suite, _)| suite == "jittest"), "jittest had only the corrupt artifact");

    // Linux tasks other than the corrupt and empty ones got the default archive: its file was
    // hit 42 times per line in each.
    let requests = taskcluster_server.received_requests().await.unwrap();
    let linux_with_coverage = requests
        .iter()
        .filter(|request| request.url.path().ends_with(GRCOV_ZIP))
        .filter(|request| {
            ![CORRUPT_TASK, NO_ARTIFACT_TASK]
                .iter()
                .chain(WINDOWS_TASKS.iter())
                .any(|task| request.url.path().contains(task))
        })
        .count() as i64;
    let file: Value = app
        .get_json(&format!("/coverage/path?repository=mozilla-central&changeset={REVISION}&path=js/src/jit/BitSet.cpp"))
        .await;
    assert_eq!(file["coverage"], json!([42 * linux_with_coverage, 42 * linux_with_coverage]));
    let windows: Value = app
        .get_json("/coverage/path?repository=mozilla-central&platform=windows10-64-ccov&path=js/src/jit/BitSet.cpp")
        .await;
    assert_eq!(windows["status"], 404, "windows tasks covered other files");
    let filters: Value = app.get_json("/coverage/filters?repository=mozilla-central").await;
    assert_eq!(filters["platforms"], json!(["linux64-ccov", "linux64-jsdcov", "windows10-64-ccov"]));
    let zero: Value = app.get_json("/coverage/zero?repository=mozilla-central").await;
    let uncovered = zero["files"].as_array().unwrap().iter().find(|file| file["name"] == uncovered_path());
    // The pushes up to the report's push count; the later one does not.
    let uncovered = uncovered.unwrap_or_else(|| panic!("{zero}"));
    assert_eq!(uncovered["first_push_date"], "2016-01-05", "{uncovered}");
    assert_eq!(uncovered["last_push_date"], "2017-06-01", "{uncovered}");
    assert_eq!(uncovered["commits"], 3, "{uncovered}");
    // Pushes 1 to 33546 in pages of 10,000.
    assert_eq!(pushlog_reads(&pushlog_server.received_requests().await.unwrap()), 4);

    // A rerun takes the artifacts from the cache, and the push history too.
    let before = downloads_of(&requests, "AMhPZboeTSa_lax-wl36IA");
    run(&context, "mozilla-central", Some(REVISION)).await.unwrap();
    let after = downloads_of(&taskcluster_server.received_requests().await.unwrap(), "AMhPZboeTSa_lax-wl36IA");
    assert_eq!((before, after), (1, 1));
    assert_eq!(pushlog_reads(&pushlog_server.received_requests().await.unwrap()), 4);
    let zero: Value = app.get_json("/coverage/zero?repository=mozilla-central").await;
    let again = zero["files"].as_array().unwrap().iter().find(|file| file["name"] == uncovered_path()).unwrap();
    assert_eq!(again["commits"], 3, "a rerun counts no push twice: {again}");
}

#[tokio::test]
async fn a_failing_pushlog_is_listed_and_the_next_run_reads_on_from_where_it_stopped() {
    let (taskcluster_server, app) = (taskcluster().await, TestApp::spawn().await);
    let pushlog_server = MockServer::start().await;
    mount_push_of(&pushlog_server).await;
    // The first page answers; every later one fails until the mock is replaced.
    Mock::given(path("/mozilla-central/json-pushes"))
        .and(query_param("startID", "0"))
        .respond_with(PushlogRange(pushes(uncovered_path())))
        .mount(&pushlog_server)
        .await;
    Mock::given(path("/mozilla-central/json-pushes"))
        .and(query_param("full", "1"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(10)
        .named("failing pushlog")
        .mount(&pushlog_server)
        .await;
    let cache = tempfile::tempdir().unwrap();
    let config = RunConfig {
        hgmo_url: format!("{}/", pushlog_server.uri()).parse().unwrap(),
        cache_dir: cache.path().to_owned(),
        pushlog_page: 10_000,
        ..RunConfig::default()
    };
    let (api, taskcluster) = clients(&app, &taskcluster_server).await;
    let context = RunContext { config: &config, taskcluster: &taskcluster, http: &http(), api: &api };

    let summary = run(&context, "mozilla-central", Some(REVISION)).await.unwrap();
    let missing = summary.missing.join("\n");
    assert!(missing.contains("pushlog after push 10000"), "{missing}");
    let zero: Value = app.get_json("/coverage/zero?repository=mozilla-central").await;
    let uncovered = zero["files"].as_array().unwrap().iter().find(|file| file["name"] == uncovered_path()).unwrap();
    assert_eq!((&uncovered["last_push_date"], &uncovered["commits"]), (&json!("2016-01-05"), &json!(1)));

    // hg.mozilla.org is back: the next run asks only for the pushes after 10000.
    pushlog_server.reset().await;
    mount_push_of(&pushlog_server).await;
    mount_pushlog_ranges(&pushlog_server).await;
    let summary = run(&context, "mozilla-central", Some(REVISION)).await.unwrap();
    assert!(!summary.missing.join("\n").contains("pushlog"), "{:?}", summary.missing);
    let requests = pushlog_server.received_requests().await.unwrap();
    let starts: Vec<String> = requests
        .iter()
        .filter_map(|request| {
            request.url.query_pairs().find(|(key, _)| key == "startID").map(|(_, value)| value.into_owned())
        })
        .collect();
    assert_eq!(starts, ["10000", "20000", "30000"]);
    let zero: Value = app.get_json("/coverage/zero?repository=mozilla-central").await;
    let uncovered = zero["files"].as_array().unwrap().iter().find(|file| file["name"] == uncovered_path()).unwrap();
    assert_eq!((&uncovered["last_push_date"], &uncovered["commits"]), (&json!("2017-06-01"), &json!(3)));
}
