//! The Taskcluster flow of a coverage run against a mock Taskcluster serving recorded task-group
//! pages (with a continuation token), a failed task, a missing artifact and a corrupt zip, and
//! the real API.

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
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

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

async fn pushlog() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/mozilla-central/json-pushes"))
        .and(query_param("changeset", REVISION))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"lastpushid": 33600, "pushes": {"33546": {"date": 1_519_989_549, "changesets": [REVISION]}}}),
        ))
        .mount(&server)
        .await;
    server
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
        ..RunConfig::default()
    };
    let token = app.token(&["project:shipit:coverage/manage"]).await;
    let api = ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), Some(SecretString::from(token)), http());
    let taskcluster = Taskcluster::new(format!("{}/", taskcluster_server.uri()).parse().unwrap(), http());
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
    let uncovered = fixture("upstream/grcov_uncovered_file.info");
    let uncovered_path = uncovered.lines().find_map(|line| line.strip_prefix("SF:")).unwrap();
    assert!(zero["files"].as_array().unwrap().iter().any(|file| file["name"] == uncovered_path), "{zero}");

    // A rerun takes the artifacts from the cache.
    let before = downloads_of(&requests, "AMhPZboeTSa_lax-wl36IA");
    run(&context, "mozilla-central", Some(REVISION)).await.unwrap();
    let after = downloads_of(&taskcluster_server.received_requests().await.unwrap(), "AMhPZboeTSa_lax-wl36IA");
    assert_eq!((before, after), (1, 1));
}
