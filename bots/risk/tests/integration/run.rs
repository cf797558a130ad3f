//! `risk-bot run` on the kit against a real API: a pushed revision is scored and uploaded, a
//! revision the repository does not hold makes the run partial (named in its summary), and a
//! second run of the same push changes nothing.

use shipit_api::testing::TestApp;
use shipit_risk::bot::RiskBot;
use shipit_risk::features::Row;
use shipit_risk::model::{Model, TrainOptions};
use shipit_shared::api_types::risk::AssessmentPage;
use shipit_shared::api_types::{RunPage, RunStatus};
use shipit_shared::bot::{Exit, execute};

use crate::common::{commit, init, lines};

const REPOSITORY: &str = "https://hg.mozilla.org/mozilla-central";

fn model(path: &std::path::Path) {
    let rows: Vec<Row> =
        (0..300).map(|i| Row { la: f64::from(i % 60), nf: f64::from(1 + i % 3), ..Row::default() }).collect();
    let labels: Vec<bool> = (0..300).map(|i| i % 60 > 40 || i % 13 == 0).collect();
    let refs: Vec<&Row> = rows.iter().collect();
    Model::train(&refs, &labels, 1_700_000_000, &TrainOptions::default()).unwrap().save(path).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_is_scored_and_uploaded_once_and_unknown_revisions_make_the_run_partial() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    init(&repo);
    commit(&repo, "Alice", "2024-01-01T00:00:00Z", "Add a", &[("src/a.c", Some(&lines("a", 30)))]);
    let pushed = commit(&repo, "Bob", "2024-01-02T00:00:00Z", "Grow a", &[("src/a.c", Some(&lines("a", 80)))]);
    model(&dir.path().join("model.json"));
    let token = app.token(&["project:shipit:runs/manage", "project:shipit:risk/manage"]).await;
    let config = dir.path().join("risk.toml");
    std::fs::write(
        &config,
        format!(
            "model = \"{}\"\ncache_dir = \"{}\"\ncoverage = false\n[api]\nurl = \"{}/\"\ntoken = \"{token}\"\n[[repositories]]\nname = \"{REPOSITORY}\"\npath = \"{}\"\n",
            dir.path().join("model.json").display(),
            dir.path().join("cache").display(),
            app.base_url,
            repo.display()
        ),
    )
    .unwrap();

    let bot = RiskBot { repository: REPOSITORY.to_owned(), revisions: vec![pushed.clone(), "0badc0ffee".to_owned()] };
    assert_eq!(execute(bot.clone(), Some(&config), None).await, Exit::Partial);
    let runs: RunPage = app.get_json("/runs?bot=risk").await;
    assert_eq!(runs.runs[0].status, RunStatus::Partial);
    assert!(
        runs.runs[0].error_summary.as_deref().unwrap().starts_with("0badc0ffee: "),
        "{:?}",
        runs.runs[0].error_summary
    );
    assert_eq!(runs.runs[0].counts["inserted"], 1);
    assert_eq!((runs.runs[0].done, runs.runs[0].total), (Some(2), Some(2)), "both revisions were dealt with");

    let only_known = RiskBot { revisions: vec![pushed.clone()], ..bot };
    assert_eq!(execute(only_known, Some(&config), None).await, Exit::Succeeded);
    let runs: RunPage = app.get_json("/runs?bot=risk").await;
    assert_eq!((runs.runs[0].counts["inserted"].as_i64(), runs.runs[0].counts["updated"].as_i64()), (Some(0), Some(0)));

    let page: AssessmentPage = app.get_json(&format!("/risk/assessments?repository={REPOSITORY}")).await;
    assert_eq!(page.assessments.len(), 1);
    let assessment = &page.assessments[0].assessment;
    assert_eq!(assessment.revision, pushed);
    assert_eq!(assessment.features["la"], 50.0);
    assert!(assessment.reasons.iter().any(|reason| reason.feature == "la" && reason.text.starts_with("adds 50 lines")));
}
