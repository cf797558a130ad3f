//! A whole pass of the bot against a mock Bugzilla serving recorded-shaped answers, the real API
//! on PostgreSQL, and a git repository made here: analyses uploaded once, grafts tried again only
//! when the branch moves, new failures reported and (only when asked) commented, bugs that fail
//! reported without stopping the others, bugs no longer pending removed.

use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::RunOutcome;
use shipit_shared::api_types::uplift::GraftStatus;
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::testing::git;
use shipit_uplift::bugzilla::{Bugzilla, BugzillaSettings};
use shipit_uplift::config::{ChannelSettings, RepositorySettings, Settings};
use shipit_uplift::report;
use shipit_uplift::run::{self, RunContext, RunOptions, RunSummary};
use wiremock::matchers::{method, path, path_regex, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{fixture, serve_bug};

const BUG: i64 = 1900001;
const BROKEN_BUG: i64 = 1152022;

fn commit(directory: &Path, file: &str, content: &str, message: &str) -> String {
    std::fs::write(directory.join(file), content).unwrap();
    git(directory, &["add", file]);
    git(directory, &["commit", "--quiet", "-m", message]);
    git(directory, &["rev-parse", "HEAD"])
}

/// `main` with the bug's two patches after the release branches forked.
fn repository(directory: &Path) -> Vec<String> {
    git(directory, &["init", "--quiet"]);
    commit(directory, "a.cpp", "one\ntwo\nthree\n", "Import");
    commit(directory, "b.cpp", "four\n", "Bug 1800000 - Another bug. r=someone");
    for branch in ["beta", "release", "esr140"] {
        git(directory, &["branch", branch]);
    }
    let first = commit(directory, "a.cpp", "one\nTWO\nthree\n", "Bug 1900001 - Check for null. r=reviewer");
    let second = commit(directory, "b.cpp", "four\nfive\n", "Bug 1900001 - Test it. r=reviewer");
    vec![first, second]
}

async fn search(server: &MockServer, channel: &str, ids: &[i64]) {
    let bugs: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    Mock::given(method("GET"))
        .and(path("/rest/bug"))
        .and(query_param("v1", format!("approval-mozilla-{channel}?")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "bugs": bugs })))
        .mount(server)
        .await;
}

/// Bug 1900001 from the recorded answers; every page of the other bug answers 500.
async fn serve_bugs(server: &MockServer) {
    serve_bug(server, BUG).await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^/rest/bug/{BROKEN_BUG}(/.*)?$")))
        .respond_with(ResponseTemplate::new(500))
        .mount(server)
        .await;
}

struct Bot {
    settings: Settings,
    bugzilla: Bugzilla,
    api: ApiClient,
    http: UpstreamClient,
}

impl Bot {
    fn new(repository: &Path, bugzilla: &MockServer, app: &TestApp, token: String) -> Self {
        let retry = RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
        };
        let http = UpstreamClient::new(Duration::from_secs(5), retry).unwrap();
        let channel = |name: &str| ChannelSettings { name: name.into(), branch: name.into(), version: Some(140) };
        let settings = Settings {
            channels: vec![channel("beta"), channel("release"), channel("esr140")],
            repository: RepositorySettings { path: repository.to_owned(), url: None, main_branch: "main".into() },
            bugzilla: BugzillaSettings { url: bugzilla.uri().parse().unwrap(), ..BugzillaSettings::default() },
            bug_concurrency: 2,
            ..Settings::default()
        };
        let bugzilla = Bugzilla::new(&settings.bugzilla, http.clone());
        let api = ApiClient::new(app.url("/").parse().unwrap(), Some(SecretString::from(token)), http.clone());
        Self { settings, bugzilla, api, http }
    }

    async fn run(&self, options: &RunOptions) -> RunSummary {
        let context =
            RunContext { settings: &self.settings, bugzilla: &self.bugzilla, api: &self.api, http: &self.http };
        run::run(&context, options).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_uploads_grafts_reports_and_removes() {
    let work = tempfile::tempdir().unwrap();
    let patches = repository(work.path());
    let bugzilla = MockServer::start().await;
    search(&bugzilla, "beta", &[]).await;
    search(&bugzilla, "release", &[]).await;
    search(&bugzilla, "esr140", &[BROKEN_BUG, BUG]).await;
    serve_bugs(&bugzilla).await;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:uplift/manage"]).await;
    let bot = Bot::new(work.path(), &bugzilla, &app, token);

    // First pass: the bug is analysed, uploaded and grafted onto esr140 (its only pending
    // request: beta is granted, release denied, esr128 on an obsolete attachment); the broken bug
    // is reported and the run is partial.
    let first = bot.run(&RunOptions::default()).await;
    assert_eq!((first.pending, first.uploaded, first.unchanged, first.grafted), (1, 1, 0, 1), "{first:?}");
    assert_eq!(first.failed.len(), 1);
    assert_eq!(first.failed[0].0, BROKEN_BUG);
    assert!(first.failed[0].1.contains("500"), "{:?}", first.failed);
    assert_eq!(first.outcome(), RunOutcome::Partial);
    assert!(first.new_failures.is_empty());

    let stored = bot.api.uplift_bug(BUG).await.unwrap();
    assert_eq!(stored.channels, ["esr140"]);
    assert_eq!(stored.analysis["commits"], json!(patches));
    assert_eq!(stored.grafts.len(), 1);
    let graft = &stored.grafts[0];
    assert!(graft.success);
    assert_eq!(graft.branch_tip, git(work.path(), &["rev-parse", "esr140"]));
    let grafted: Vec<(&str, GraftStatus)> = graft.commits.iter().map(|c| (c.commit.as_str(), c.status)).collect();
    assert_eq!(grafted, [(patches[0].as_str(), GraftStatus::Merged), (patches[1].as_str(), GraftStatus::Merged)]);
    let channels = bot.api.uplift_channels().await.unwrap();
    let esr = channels.iter().find(|channel| channel.name == "esr140").unwrap();
    assert_eq!((esr.bug_count, esr.version), (1, Some(140)));
    assert_eq!(git(work.path(), &["status", "--porcelain"]), "", "the repository is left untouched");

    // Nothing changed: nothing is sent again and no graft is tried again.
    let second = bot.run(&RunOptions::default()).await;
    assert_eq!((second.uploaded, second.unchanged, second.grafted, second.grafts_reused), (0, 1, 0, 1));
    assert_eq!(bot.api.uplift_grafts(BUG).await.unwrap().len(), 1);

    // The branch moves under the first patch: the graft is tried again and fails, a new failure.
    git(work.path(), &["checkout", "--quiet", "esr140"]);
    commit(work.path(), "a.cpp", "one\nzwei\nthree\n", "Bug 1700000 - Local change on esr140. r=release");
    git(work.path(), &["checkout", "--quiet", "main"]);
    let options = RunOptions { comment: true, dry_run: true, ..RunOptions::default() };
    let third = bot.run(&options).await;
    assert_eq!((third.uploaded, third.grafted), (0, 1));
    assert_eq!(third.new_failures.len(), 1);
    let failure = &third.new_failures[0];
    assert_eq!((failure.bug_id, failure.channel.as_str()), (BUG, "esr140"));
    let statuses: Vec<GraftStatus> = failure.commits.iter().map(|commit| commit.status).collect();
    assert_eq!(statuses, [GraftStatus::Failed, GraftStatus::Skipped]);
    assert_eq!(failure.commits[0].conflicts, ["a.cpp"]);
    let markdown = report::markdown(&third.new_failures, "https://bugzilla.mozilla.org/show_bug.cgi?id=");
    assert!(markdown.contains("## esr140 (1 bug)"), "{markdown}");
    assert!(markdown.contains("conflicts in `a.cpp`"), "{markdown}");
    assert_eq!(third.comments.len(), 1, "the dry run lists the comment");
    assert!(third.comments[0].1.contains("could not apply the patches of this bug onto esr140"));
    let posted = bugzilla.received_requests().await.unwrap();
    assert!(posted.iter().all(|request| request.method.as_str() == "GET"), "a dry run posts nothing");
    assert_eq!(bot.api.uplift_grafts(BUG).await.unwrap().len(), 2, "the history of grafts is kept");

    // Still failing on the same tip: not tried again, and not a new failure.
    let fourth = bot.run(&options).await;
    assert_eq!((fourth.grafted, fourth.new_failures.len(), fourth.comments.len()), (0, 0, 0));

    // No request pending any more: the bug is removed.
    bugzilla.reset().await;
    for channel in ["beta", "release", "esr140"] {
        search(&bugzilla, channel, &[]).await;
    }
    let fifth = bot.run(&RunOptions::default()).await;
    assert_eq!((fifth.pending, fifth.removed), (0, 1));
    assert_eq!(fifth.outcome(), RunOutcome::Succeeded);
    assert!(bot.api.uplift_bugs().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn comments_are_posted_on_new_failures_only_when_asked() {
    let work = tempfile::tempdir().unwrap();
    repository(work.path());
    git(work.path(), &["checkout", "--quiet", "esr140"]);
    commit(work.path(), "a.cpp", "one\nzwei\nthree\n", "Local change on esr140");
    git(work.path(), &["checkout", "--quiet", "main"]);
    let bugzilla = MockServer::start().await;
    search(&bugzilla, "beta", &[]).await;
    search(&bugzilla, "release", &[]).await;
    search(&bugzilla, "esr140", &[BUG]).await;
    serve_bugs(&bugzilla).await;
    Mock::given(method("POST"))
        .and(path(format!("/rest/bug/{BUG}/comment")))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture("comment_created.json")))
        .expect(1)
        .mount(&bugzilla)
        .await;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:uplift/manage"]).await;
    let bot = Bot::new(work.path(), &bugzilla, &app, token);

    let summary = bot.run(&RunOptions { comment: true, ..RunOptions::default() }).await;

    assert_eq!(summary.new_failures.len(), 1);
    assert_eq!(summary.comments.len(), 1);
    assert_eq!(summary.outcome(), RunOutcome::Succeeded);
    // The mock checks on drop that exactly one comment was posted.
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_branch_stops_the_run_before_any_upload() {
    let work = tempfile::tempdir().unwrap();
    repository(work.path());
    let bugzilla = MockServer::start().await;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:uplift/manage"]).await;
    let mut bot = Bot::new(work.path(), &bugzilla, &app, token);
    bot.settings.channels[0].branch = "no-such-branch".into();

    let context = RunContext { settings: &bot.settings, bugzilla: &bot.bugzilla, api: &bot.api, http: &bot.http };
    let error = run::run(&context, &RunOptions::default()).await.unwrap_err();

    assert!(error.to_string().contains("branch `no-such-branch` of channel beta"), "{error}");
    assert!(bugzilla.received_requests().await.unwrap().is_empty());
    assert!(bot.api.uplift_channels().await.unwrap().is_empty());
}

/// Answers Bugzilla's user search for `:<nickname>` with `users`, once.
async fn serve_user_search(server: &MockServer, nickname: &str, users: Value) {
    Mock::given(method("GET"))
        .and(path("/rest/user"))
        .and(query_param("match", format!(":{nickname}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "users": users })))
        .with_priority(1)
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reviewer_nicknames_map_to_bugzilla_users_and_are_kept_between_runs() {
    let work = tempfile::tempdir().unwrap();
    git(work.path(), &["init", "--quiet"]);
    commit(work.path(), "a.cpp", "one\n", "Import");
    for branch in ["beta", "release", "esr140"] {
        git(work.path(), &["branch", branch]);
    }
    let first = commit(work.path(), "a.cpp", "one\ntwo\n", "Bug 1900001 - Check for null. r=dev,jdoe,#build");
    commit(work.path(), "b.cpp", "three\n", "Bug 1900001 - Test it. r=ghost");
    let bugzilla = MockServer::start().await;
    let serve = || async {
        for (channel, ids) in [("beta", &[][..]), ("release", &[]), ("esr140", &[BUG])] {
            search(&bugzilla, channel, ids).await;
        }
        serve_bug(&bugzilla, BUG).await;
    };
    serve().await;
    // Logged out, bugzilla.mozilla.org refuses user searches (error 505): asked once, then no more.
    let logged_out = json!({ "error": true, "code": 505, "message": "Logged-out users cannot use the \"ids\" or \"match\" arguments to this function." });
    Mock::given(method("GET"))
        .and(path("/rest/user"))
        .and(query_param_is_missing("names"))
        .respond_with(ResponseTemplate::new(401).set_body_json(logged_out))
        .with_priority(1)
        .expect(1)
        .mount(&bugzilla)
        .await;
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:uplift/manage"]).await;
    let mut bot = Bot::new(work.path(), &bugzilla, &app, token);
    let directory = work.path().join("nicknames.json");
    bot.settings.bugzilla.nickname_directory = Some(directory.clone());

    let refused = bot.run(&RunOptions::default()).await;
    assert_eq!(refused.outcome(), RunOutcome::Succeeded, "a refused search fails no bug");
    let analysis = bot.api.uplift_bug(BUG).await.unwrap().analysis;
    // `dev` is a user of the bug ("Dev Eloper [:dev]"): found without a search.
    assert_eq!(analysis["patches"][&first]["reviewer_users"], json!({ "dev": "dev@example.com" }));
    assert_eq!(analysis["unmapped_reviewers"], json!(["ghost", "jdoe"]));
    assert!(!directory.exists(), "nothing was learnt, so nothing is kept");
    bugzilla.verify().await;

    bugzilla.reset().await;
    serve().await;
    let jane = json!({ "id": 700, "name": "jdoe@example.com", "real_name": "Jane Doe [:jdoe]" });
    let namesake = json!({ "id": 701, "name": "jdoe2@example.com", "real_name": "J. Doe [:jdoe2]" });
    serve_user_search(&bugzilla, "jdoe", json!([jane, namesake])).await;
    serve_user_search(&bugzilla, "ghost", json!([])).await;

    let mapped = bot.run(&RunOptions::default()).await;
    assert_eq!(mapped.uploaded, 1, "the mapped reviewers change the analysis");
    let analysis = bot.api.uplift_bug(BUG).await.unwrap().analysis;
    let reviewers = json!({ "dev": "dev@example.com", "jdoe": "jdoe@example.com" });
    assert_eq!(analysis["patches"][&first]["reviewer_users"], reviewers);
    assert_eq!(analysis["unmapped_reviewers"], json!(["ghost"]));
    let users = analysis["users"].as_array().unwrap();
    let jane = users.iter().find(|user| user["bugzilla_id"] == 700).expect("the reviewer is a user of the bug");
    assert_eq!(jane["roles"], json!(["reviewer"]));
    let dev = users.iter().find(|user| user["bugzilla_id"] == 900001).unwrap();
    assert!(dev["roles"].as_array().unwrap().contains(&json!("reviewer")), "{dev}");

    // The answers are kept: a third run asks Bugzilla's search nothing (each search expects one call).
    let again = bot.run(&RunOptions::default()).await;
    assert_eq!((again.uploaded, again.unchanged), (0, 1));
    assert!(directory.exists());
    bugzilla.verify().await;
}
