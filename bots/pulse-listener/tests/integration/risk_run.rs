//! The risk rule end to end: a push touching C++ reaches the listener, which claims it and starts
//! the real `risk-bot run` through the local runner with `REPOSITORY` and `REVISIONS`; the bot
//! scores the pushed commit of a git repository with a model trained here, adds the coverage of
//! its changed lines from the API's report of its parent, uploads the assessment and closes its
//! run.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use shipit_risk::features::Row;
use shipit_risk::model::{Model, TrainOptions};
use shipit_shared::api_types::risk::RevisionAssessments;
use shipit_shared::api_types::{Run, RunPage, RunStatus};
use shipit_shared::runner::{LocalRunnerConfig, Runner};
use shipit_shared::testing::git;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::{CENTRAL, Harness, push, pushlog, wait_until};

/// The workspace's `risk-bot` (`cargo test --workspace` builds every binary).
fn risk_bot() -> PathBuf {
    let executable = std::env::current_exe().unwrap();
    let binary = executable.parent().and_then(Path::parent).unwrap().join("risk-bot");
    assert!(binary.is_file(), "{} is missing: run the tests with `cargo test --workspace`", binary.display());
    binary
}

/// A model trained on changes whose risk grows with the lines they add.
fn model(path: &Path) {
    let rows: Vec<Row> = (0..200)
        .map(|i| Row { commit: format!("{i:040x}"), la: f64::from(i % 50), exp: f64::from(i % 7), ..Row::default() })
        .collect();
    let labels: Vec<bool> = (0..200).map(|i| i % 50 > 35 || i % 11 == 0).collect();
    let refs: Vec<&Row> = rows.iter().collect();
    Model::train(&refs, &labels, 1_700_000_000, &TrainOptions::default()).unwrap().save(path).unwrap();
}

/// A repository of two commits: the parent adds `src/a.cpp`, the pushed head changes its lines 2
/// and 4. Answers (parent, head).
fn repository(dir: &Path) -> (String, String) {
    git(dir, &["init", "--quiet"]);
    std::fs::create_dir(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/a.cpp"), "int a;\nint b;\n\nint d;\n").unwrap();
    git(dir, &["add", "src/a.cpp"]);
    git(dir, &["commit", "--quiet", "-m", "Bug 1 - Add a"]);
    let parent = git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("src/a.cpp"), "int a;\nint b = 1;\n\nint d = 2;\n").unwrap();
    git(dir, &["commit", "--quiet", "-am", "Bug 2 - Initialise b and d"]);
    (parent, git(dir, &["rev-parse", "HEAD"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_touching_cpp_runs_the_risk_bot_which_uploads_its_assessment() {
    let harness = Harness::new().await;
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repository");
    std::fs::create_dir(&repo).unwrap();
    let (parent, head) = repository(&repo);
    model(&work.path().join("model.json"));

    // The bot as the hook runs it: `risk-bot run`, its settings from a file.
    let bin_dir = work.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let settings = format!(
        "model = \"{}\"\ncache_dir = \"{}\"\n[[repositories]]\nname = \"{CENTRAL}\"\npath = \"{}\"\n",
        work.path().join("model.json").display(),
        work.path().join("cache").display(),
        repo.display()
    );
    std::fs::write(work.path().join("risk.toml"), settings).unwrap();
    let wrapper = bin_dir.join("risk-bot");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport SHIPIT_CONFIG='{}'\nexec '{}' \"$@\"\n",
            work.path().join("risk.toml").display(),
            risk_bot().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    // The parent's coverage report: line 2 of src/a.cpp never ran, line 4 ran 5 times.
    let coverage_token = harness.app.token(&["project:shipit:coverage/manage"]).await;
    let file = json!({"name": "a.cpp", "linesTotal": 3, "linesCovered": 2, "linesMissed": 1, "coveragePercent": 66.67, "coverage": [1, 0, -1, 5]});
    let directory = json!({"name": "src", "linesTotal": 3, "linesCovered": 2, "linesMissed": 1, "coveragePercent": 66.67, "children": {"a.cpp": file}});
    let report = json!({
        "repository": "mozilla-central", "revision": parent, "push_id": 200, "push_date": "2026-11-01T00:00:00Z",
        "suite": "all", "platform": "all", "zero_coverage": [],
        "covdir": {"name": "", "linesTotal": 3, "linesCovered": 2, "linesMissed": 1, "coveragePercent": 66.67, "children": {"src": directory}},
    });
    let uploaded = harness
        .app
        .client
        .post(harness.app.url("/coverage/reports"))
        .bearer_auth(&coverage_token)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201, "{}", uploaded.text().await.unwrap());

    // The push, and its pushlog.
    let tc = &harness.taskcluster;
    let pushlog_url = format!("{}/mozilla-central/json-pushes?version=2&full=1&startID=200&endID=201", tc.uri());
    Mock::given(method("GET"))
        .and(path("/mozilla-central/json-pushes"))
        .and(query_param("endID", "201"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pushlog(201, &head, &["src/a.cpp"])))
        .mount(tc)
        .await;

    let bot_token = harness.app.token(&["project:shipit:runs/manage", "project:shipit:risk/manage"]).await;
    let runner = Runner::local(
        LocalRunnerConfig {
            bin_dir,
            log_dir: work.path().join("logs"),
            environment: BTreeMap::from([
                ("SHIPIT_API__URL".to_owned(), format!("{}/", harness.app.base_url)),
                ("SHIPIT_API__TOKEN".to_owned(), bot_token),
            ]),
            commands: BTreeMap::new(),
        },
        harness.api(),
    );
    let config = harness.config();
    let listener = harness.start_with(config.clone(), runner).await;
    harness.publish(&harness.push_exchange(), "mozilla-central", &push(CENTRAL, 201, &head, &pushlog_url)).await;

    // The run the listener opened is closed by the bot, successfully.
    let app = &harness.app;
    let closed_run = || async {
        let page: RunPage = app.get_json("/runs?bot=risk").await;
        page.runs.into_iter().next().filter(|run| run.status != RunStatus::Running)
    };
    wait_until("the risk bot closes its run", Duration::from_secs(60), || async { closed_run().await.is_some() }).await;
    let run: Run = closed_run().await.unwrap();
    let logs: Vec<String> = std::fs::read_dir(work.path().join("logs"))
        .map(|entries| {
            entries.filter_map(Result::ok).map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect()
        })
        .unwrap_or_default();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}\n{}", run.error_summary, logs.join("\n"));
    assert_eq!(run.parameters["REPOSITORY"], "mozilla-central", "the listener sends the pushlog path");
    assert_eq!(run.parameters["REVISIONS"], head.as_str());
    assert_eq!(run.counts["assessed"], 1);

    let read: RevisionAssessments = app.get_json(&format!("/risk/revisions/{head}?repository=mozilla-central")).await;
    let assessment = &read.assessments[0].assessment;
    assert_eq!(assessment.parent.as_deref(), Some(parent.as_str()));
    assert!((0.0..=1.0).contains(&assessment.probability));
    assert_eq!(assessment.features["la"], 2.0);
    let coverage = assessment.coverage.as_ref().expect("the parent has a coverage report");
    assert_eq!((coverage.instrumented, coverage.covered), (2, 1), "lines 2 (never run) and 4 (run)");
    assert_eq!(coverage.report_revision, parent);
    assert!(assessment.reasons.iter().all(|reason| !reason.text.is_empty()));

    listener.stop().await;
    harness.cleanup(&config).await;
}
