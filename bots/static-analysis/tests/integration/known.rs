//! Before/after across runs, against a real ShipIt API: issues that an earlier run recorded as
//! present at base are not published again by a run without `--before-after`.

use std::time::Duration;

use secrecy::SecretString;
use shipit_api::testing::TestApp;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::static_analysis::DiffIssues;
use shipit_shared::bot::Context;
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_static_analysis::analyzers::AnalyzerOverrides;
use shipit_static_analysis::bot::{self, CheckRequest, Source};
use shipit_static_analysis::config::Settings;

use crate::repo::TestRepo;

const MOVED: &str = "def moved():\n    z=3\n    return z\n";
// Longer than the moved function, so that git's diff keeps it in place and moves the other.
const OLD: &str =
    "def old():\n    a = 1\n    b = 2\n    c = 3\n    d = 4\n    e = 5\n    return undefined_a + a + b + c + d + e\n";
const NEW: &str = "\n\ndef new():\n    y=2\n    return y\n";

fn settings(app: Option<(&TestApp, String)>) -> Context<Settings> {
    let mut settings = Settings::default();
    for name in ["clang_tidy", "clang_format", "cppcheck", "shellcheck"] {
        settings.analyzers.insert(name.into(), AnalyzerOverrides { enabled: Some(false), ..Default::default() });
    }
    let http = UpstreamClient::new(Duration::from_secs(30), RetryPolicy::default()).unwrap();
    let api = app.map(|(app, token)| {
        ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), Some(SecretString::from(token)), http.clone())
    });
    Context::unrecorded("static-analysis", settings, http, api)
}

fn request(repo: &TestRepo, base: &str, head: &str, before_after: bool, diff: (i64, i64)) -> CheckRequest {
    request_in(repo, "mozilla-central", base, head, before_after, diff)
}

fn request_in(
    repo: &TestRepo,
    repository: &str,
    base: &str,
    head: &str,
    before_after: bool,
    diff: (i64, i64),
) -> CheckRequest {
    CheckRequest {
        repository: repo.path().to_owned(),
        base: Some(base.to_owned()),
        source: Source::Rev(head.to_owned()),
        before_after,
        jobs: None,
        comment: false,
        diff: Some(diff),
        reproduce: String::new(),
        fetch: None,
        repository_name: Some(repository.to_owned()),
    }
}

/// (line, check) of the published issues.
fn published(outcome: &bot::CheckOutcome) -> Vec<(u32, String)> {
    outcome.analysis.publishable().map(|reported| (reported.issue.line, reported.issue.check.clone())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issues_known_at_base_are_not_published_again() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", &format!("import os\n\n\n{MOVED}\n\n{OLD}"))]);
    // A first diff, analyzed before/after: what it finds at base becomes known.
    let first_head = repo.commit(&[("a.py", &format!("import os\n\n\n{MOVED}\n\n{OLD}{NEW}"))]);
    // A second diff on the same base moves the function with a warning below the one with an
    // error, and adds a new warning.
    repo.commit(&[("a.py", &format!("import os\n\n\n{MOVED}\n\n{OLD}"))]);
    let head_text = format!("import os\n\n\n{OLD}\n\n{MOVED}{NEW}");
    let second_head = repo.commit(&[("a.py", &head_text)]);
    let line_of = |text: &str| head_text.lines().position(|line| line.contains(text)).unwrap() as u32 + 1;
    let (moved, error, new) = (line_of("z=3"), line_of("undefined_a"), line_of("y=2"));

    // Without the API, nothing is known: the error, the moved warning and the new one are published.
    let offline = bot::check(&settings(None), &request(&repo, &base, &second_head, false, (2, 51))).await.unwrap();
    let mut expected = vec![(error, "F821".to_owned()), (moved, "E225".to_owned()), (new, "E225".to_owned())];
    expected.sort();
    assert_eq!(published(&offline), expected);
    assert_eq!(offline.analysis.known, 0);

    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/manage", "project:shipit:static-analysis/manage"]).await;
    let settings = settings(Some((&app, token)));

    // Nothing known yet: the same three issues.
    let unknown = bot::check(&settings, &request(&repo, &base, &second_head, false, (3, 52))).await.unwrap();
    assert_eq!(published(&unknown), expected, "an empty API hides nothing");

    let first = bot::check(&settings, &request(&repo, &base, &first_head, true, (1, 50))).await.unwrap();
    assert_eq!(published(&first).len(), 1, "{:#?}", first.analysis.issues);
    assert_eq!(first.uploaded.unwrap().inserted, 4, "F401, F821, the moved E225 at base, the new E225");

    let second = bot::check(&settings, &request(&repo, &base, &second_head, false, (2, 51))).await.unwrap();

    assert_eq!(published(&second), [(new, "E225".to_owned())], "{:#?}", second.analysis.issues);
    assert_eq!(second.analysis.known, 2, "the error and the moved warning");
    let flake8 = &second.analysis.analyzers[0];
    assert_eq!((flake8.name.as_str(), flake8.publishable), ("flake8", 1));
    let markdown = shipit_static_analysis::report::markdown(&second.analysis, "");
    assert!(markdown.starts_with("## Static analysis: 1 issue in this patch\n\n- 1 issue found by flake8\n\n2 issues already present before this patch are left out.\n"), "{markdown}");

    let recorded: DiffIssues =
        app.client.get(app.url("/static-analysis/diffs/2/issues")).send().await.unwrap().json().await.unwrap();
    let classified: Vec<(i32, &str, bool, bool)> = recorded
        .issues
        .iter()
        .map(|stored| (stored.issue.line, stored.issue.check.as_str(), stored.issue.is_new, stored.issue.publishable))
        .collect();
    let mut expected_rows = vec![
        (1, "F401", false, false),
        (error as i32, "F821", false, false),
        (moved as i32, "E225", false, false),
        (new as i32, "E225", true, true),
    ];
    expected_rows.sort();
    assert_eq!(classified, expected_rows);

    // With --before-after the base checkout decides, and the API is not asked.
    let before_after = bot::check(&settings, &request(&repo, &base, &second_head, true, (4, 53))).await.unwrap();
    assert_eq!(published(&before_after), [(new, "E225".to_owned())]);
    assert_eq!(before_after.analysis.known, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn known_issues_are_per_repository() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", "import os\nprint(undefined_a)\n")]);
    let head = repo.commit(&[("a.py", "import os\nprint(undefined_a)\ny=2\n")]);
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:*"]).await;
    let settings = settings(Some((&app, token)));
    bot::check(&settings, &request(&repo, &base, &head, true, (1, 50))).await.unwrap();

    let same = bot::check(&settings, &request(&repo, &base, &head, false, (2, 51))).await.unwrap();
    let other =
        bot::check(&settings, &request_in(&repo, "another-repository", &base, &head, false, (3, 52))).await.unwrap();

    assert_eq!((published(&same), same.analysis.known), (vec![(3, "E225".to_owned())], 1));
    assert_eq!(published(&other), [(2, "F821".to_owned()), (3, "E225".to_owned())]);
    assert_eq!(other.analysis.known, 0);
}
