//! The analysis against a mock Bugzilla serving recorded-shaped answers (fixtures/uplift), and
//! the git history of a small repository made here.
//!
//! The three real bugs (1139560, 1152022, 1306465) reproduce these stored fields of the original
//! payloads: `users` (creator, assignee, uplift author, reviewer), `blocks`, `depends_on`,
//! `comments`, `in-testsuite`, `r-ed_patches`, the uplift versions (`"aurora +"`, `"beta ?"` and
//! their attachments), `uplift_comment` (id, author, time, text) and the aurora landing date.
//! Not reproduced: the patch metrics, `backout_num` and the nightly landing date, which libmozdata
//! computed from hg.mozilla.org (json-rev, raw-rev, json-filelog) that a git history replaces,
//! and `release_delta`, which needed the release calendar; the stored `html` is not compared
//! either, since it came from the backend's `html.unescape()` of libmozdata's rendering.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use git2::{Repository, Signature, Time};
use secrecy::SecretString;
use serde_json::Value;
use shipit_shared::http::{HttpError, RetryPolicy, UpstreamClient};
use shipit_uplift::Error;
use shipit_uplift::analysis::{self, Analysis, RequestStatus};
use shipit_uplift::bugzilla::{BugData, Bugzilla, BugzillaSettings};
use shipit_uplift::form;
use shipit_uplift::history::{self, History, HistorySettings};
use shipit_uplift::landing::{self, Landings, Repositories};
use shipit_uplift::nickname::Reviewers;
use shipit_uplift::release::ReleaseCalendar;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::{fixture, serve_bug};

/// A payload the original bot stored.
fn stored(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/uplift/stored").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn client(server: &MockServer, timeout: Duration) -> Bugzilla {
    let retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    };
    let settings = BugzillaSettings {
        url: server.uri().parse().unwrap(),
        api_key: Some(SecretString::from("bz-key")),
        ..BugzillaSettings::default()
    };
    Bugzilla::new(&settings, UpstreamClient::new(timeout, retry).unwrap())
}

async fn analyze(id: i64) -> Analysis {
    let server = MockServer::start().await;
    serve_bug(&server, id).await;
    analyze_on(&server, id).await
}

/// The analysis of a bug with no history, release calendar or mapped reviewers.
fn analyze_alone(data: &BugData, landings: &Landings) -> Analysis {
    analysis::analyze(
        data,
        landings,
        &History::default(),
        &HistorySettings::default(),
        &ReleaseCalendar::default(),
        &Reviewers::default(),
    )
}

async fn analyze_on(server: &MockServer, id: i64) -> Analysis {
    let data = client(server, Duration::from_secs(5)).bug_data(id).await.unwrap();
    let landings = landing::find(&data.comments, &Repositories::default());
    analyze_alone(&data, &landings)
}

fn roles(analysis: &Analysis, email: &str) -> Vec<String> {
    analysis.users.iter().find(|user| user.email == email).map(|user| user.roles.clone()).unwrap_or_default()
}

#[tokio::test]
async fn bug_1139560_reproduces_the_stored_payload() {
    let stored = stored("bug_1139560.json");
    let analysis = analyze(1139560).await;

    assert_eq!(analysis.blocks, 3);
    assert_eq!(analysis.depends_on, 1);
    assert_eq!(analysis.comments, stored["analysis"]["comments"].as_u64().unwrap() as usize);
    assert_eq!(analysis.in_testsuite, "+");
    assert_eq!(analysis.r_ed_patches, 0);
    assert_eq!(analysis.flags_status["firefox38"], "affected");
    assert_eq!(analysis.flags_tracking["firefox_esr38"], "---");
    assert!(!analysis.flags_status.contains_key("b2g_2_2"), "only Firefox flags, like the original serializer");

    // Stored `versions`: {"aurora +": [8590815], "beta ?": [8590815]}.
    let aurora = &analysis.requests["aurora"];
    assert_eq!((aurora.status, aurora.attachments.as_slice()), (RequestStatus::Granted, &[8590815][..]));
    assert!(aurora.accepted);
    assert_eq!(aurora.reviewer.as_deref(), Some("lhenry@mozilla.com"));
    assert_eq!(aurora.requester.as_deref(), Some("josh@joshmatthews.net"), "from the history");
    assert_eq!(aurora.response_delta, Some(3 * 3600 + 26 * 60 + 10));
    let beta = &analysis.requests["beta"];
    assert_eq!((beta.status, beta.attachments.as_slice()), (RequestStatus::Pending, &[8590815][..]));
    assert_eq!(beta.requester.as_deref(), Some("josh@joshmatthews.net"));
    assert_eq!((beta.accepted, beta.reviewer.as_deref(), beta.response_delta), (false, None, None));
    assert_eq!(analysis.pending_channels(), ["beta"]);

    // Stored `uplift_comment`.
    let comment = &stored["analysis"]["uplift_comment"];
    assert_eq!(beta.form, comment["id"].as_i64());
    let form = &analysis.forms[&beta.form.unwrap()];
    assert_eq!(form.author, comment["author"].as_str().unwrap());
    assert_eq!(form.text, comment["text"].as_str().unwrap());
    let time = form.time.unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(time, comment["time"].as_str().unwrap());
    assert_eq!(form.title, "Approval Request Comment");
    let titles: Vec<_> = form.sections.iter().filter_map(|section| section.title.as_deref()).collect();
    assert_eq!(
        titles,
        [
            "Feature/regressing bug #",
            "User impact if declined",
            "Describe test coverage new/current, TreeHerder",
            "Risks and why",
            "String/UUID change made/needed"
        ]
    );
    assert!(form.sections.iter().all(|section| !section.risky), "low risk, tests, no string change");
    assert!(form.html.contains("doesn&#39;t appear"), "{}", form.html);

    // Stored `users`: creator, assignee + uplift_author, reviewer.
    assert_eq!(roles(&analysis, "mat@matmarquis.com"), ["creator"]);
    assert_eq!(roles(&analysis, "josh@joshmatthews.net"), ["assignee", "uplift_author"]);
    assert_eq!(roles(&analysis, "jst@mozilla.org"), ["reviewer"]);
    assert_eq!(roles(&analysis, "lhenry@mozilla.com"), ["uplift_reviewer"]);
    let josh = analysis.users.iter().find(|user| user.email == "josh@joshmatthews.net").unwrap();
    assert_eq!((josh.bugzilla_id, josh.name.as_str()), (241497, "Josh Matthews [:jdm]"));

    // Stored `landings.aurora`: "Fri, 10 Apr 2015 23:42:04 GMT".
    assert_eq!(analysis.landings["aurora"][0].time.unwrap().to_rfc2822(), "Fri, 10 Apr 2015 23:42:04 +0000");
    assert_eq!(
        beta.landing_delta,
        Some((13 * 3600 + 48 * 60 + 29) - 15 * 3600 + 24 * 3600),
        "from the inbound landing"
    );
}

#[tokio::test]
async fn bug_1152022_reproduces_the_stored_payload() {
    let stored = stored("bug_1152022.json");
    let analysis = analyze(1152022).await;

    assert_eq!((analysis.blocks, analysis.depends_on, analysis.comments), (1, 1, 6));
    assert_eq!(analysis.in_testsuite, "");
    assert_eq!(analysis.keywords, ["leave-open", "meta"]);
    assert_eq!(analysis.pending_channels(), ["aurora", "beta"]);
    assert_eq!(analysis.requests["beta"].attachments, [8590945]);
    let form = &analysis.forms[&analysis.requests["beta"].form.unwrap()];
    assert_eq!(form.comment_id, stored["analysis"]["uplift_comment"]["id"].as_i64().unwrap());
    assert_eq!(form.text, stored["analysis"]["uplift_comment"]["text"].as_str().unwrap());
    assert_eq!(analysis.requests["aurora"].form, analysis.requests["beta"].form, "one form for both requests");
    let stored_roles: Vec<String> = serde_json::from_value(stored["users"][0]["roles"].clone()).unwrap();
    let mut stored_roles = stored_roles;
    stored_roles.sort();
    assert_eq!(roles(&analysis, "gijskruitbosch+bugs@gmail.com"), stored_roles);
    assert_eq!(analysis.users.len(), 1);
    assert!(analysis.landings.is_empty(), "stored landings are all null");
}

#[tokio::test]
async fn bug_1306465_reproduces_the_stored_payload() {
    let stored = stored("bug_1306465.json");
    let analysis = analyze(1306465).await;

    assert_eq!((analysis.blocks, analysis.depends_on, analysis.comments), (2, 0, 12));
    assert_eq!(analysis.status, "REOPENED");
    let release = &analysis.requests["release"];
    assert_eq!(release.status, RequestStatus::Pending);
    let form = &analysis.forms[&release.form.unwrap()];
    assert_eq!(form.comment_id, stored["analysis"]["uplift_comment"]["id"].as_i64().unwrap());
    assert_eq!(form.author, "gwright@mozilla.com");
    let beta = &analysis.requests["beta"];
    assert_eq!((beta.status, beta.reviewer.as_deref()), (RequestStatus::Granted, Some("rkothari@mozilla.com")));
    assert_eq!(roles(&analysis, "gwright@mozilla.com"), ["assignee", "author", "creator", "uplift_author"]);
    assert_eq!(roles(&analysis, "milan@mozilla.com"), ["reviewer"]);
}

#[tokio::test]
async fn channels_are_analysed_each_with_its_own_flags_form_and_deltas() {
    let analysis = analyze(1900001).await;

    assert_eq!(analysis.requests.keys().collect::<Vec<_>>(), ["beta", "esr140", "release"], "esr128 is obsolete");
    let beta = &analysis.requests["beta"];
    assert_eq!((beta.status, beta.accepted), (RequestStatus::Granted, true));
    assert_eq!(beta.requester.as_deref(), Some("dev@example.com"));
    assert_eq!(beta.response_delta, Some(23 * 3600));
    assert_eq!(beta.landing_delta, Some(2 * 24 * 3600 + 16 * 3600), "from the autoland landing");
    let release = &analysis.requests["release"];
    assert_eq!((release.status, release.accepted), (RequestStatus::Denied, false));
    assert_eq!(release.reviewer.as_deref(), Some("relman@mozilla.com"));
    let esr = &analysis.requests["esr140"];
    assert_eq!((esr.status, esr.requester.as_deref()), (RequestStatus::Pending, Some("dev@example.com")));
    assert_eq!(analysis.pending_channels(), ["esr140"]);

    assert_eq!(beta.form, Some(19000003));
    assert_eq!(release.form, Some(19000003));
    assert_eq!(esr.form, Some(19000007), "Lando's form names its channel");
    assert_eq!(analysis.forms[&19000007].title, "firefox-esr140 Uplift Approval Request");
    assert_eq!(analysis.r_ed_patches, 1);
    assert_eq!(analysis.in_testsuite, "?");
    assert_eq!(analysis.flags_status.keys().collect::<Vec<_>>(), ["firefox139", "firefox140", "firefox_esr140"]);

    let channels: Vec<_> = analysis.landings.keys().collect();
    assert_eq!(channels, ["beta", "nightly", "unknown"], "the backout comment is no landing");
    assert_eq!(analysis.landings["nightly"].len(), 2);
    assert_eq!(roles(&analysis, "dev@example.com"), ["assignee", "author", "creator", "uplift_author"]);
    assert_eq!(roles(&analysis, "relman@mozilla.com"), ["uplift_reviewer"]);
    assert_eq!(roles(&analysis, "reviewer@mozilla.com"), ["reviewer"]);
}

#[tokio::test]
async fn html_in_a_form_is_escaped_and_risky_answers_are_marked() {
    let analysis = analyze(1900001).await;
    let form = &analysis.forms[&19000003];

    assert!(!form.html.contains("<script") && !form.html.contains("<b>"), "{}", form.html);
    assert!(form.html.contains("Crash &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more"), "{}", form.html);
    assert!(form.html.contains("show_bug.cgi?id=1899999"), "bug numbers are linked: {}", form.html);
    assert!(form.text.contains("<script>"), "the text is kept as written");
    let risky: Vec<_> =
        form.sections.iter().filter(|section| section.risky).filter_map(|section| section.title.as_deref()).collect();
    assert_eq!(risky, ["Is this code covered by automated tests?", "Risk to taking this patch"]);
    let why = form.sections.iter().find(|section| section.key.starts_with("why-is-the-change")).unwrap();
    assert_eq!(why.text, "A null check.\nSecond line <b>bold</b>.", "answers span lines");
    assert!(form.html.contains("<h1 class=\"risk-to-taking-this-patch risky\">"), "{}", form.html);
}

#[tokio::test]
async fn the_hash_is_stable_and_follows_changes() {
    let server = MockServer::start().await;
    serve_bug(&server, 1900001).await;
    let first = analyze_on(&server, 1900001).await;
    let second = analyze_on(&server, 1900001).await;
    assert_eq!(first.hash(), second.hash());
    let json = serde_json::to_string(&first).unwrap();
    let round_trip: Analysis = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&round_trip).unwrap(), json);
    assert_eq!(round_trip.hash(), first.hash());
    let mut changed = first.clone();
    changed.requests.get_mut("esr140").unwrap().status = RequestStatus::Granted;
    assert_ne!(changed.hash(), first.hash());
    assert_eq!(first.hash().len(), 64);
}

#[test]
fn forms_are_found_whatever_their_wording() {
    for title in [
        "Approval Request Comment",
        "[Approval Request Comment]",
        "[Beta/Release Uplift Approval Request]",
        "[ESR Uplift Approval Request]",
        "### Beta/Release Uplift Approval Request",
        "# Uplift Approval Request",
        "### firefox-beta Uplift Approval Request",
    ] {
        assert!(
            form::title(&format!("Comment on attachment 1\n\n{title}\nUser impact if declined: none")).is_some(),
            "{title}"
        );
    }
    assert_eq!(form::title("Please consider this an approval request for all patches."), None);
    assert_eq!(form::title("We need an approval request comment here, thanks"), None);
}

#[test]
fn the_2018_plain_form_is_split_into_its_questions() {
    // The wording that broke the original bot (release-services#1698).
    let text = "Comment on attachment 9020000\nBug 1500000 - Fix it.\n\n[Beta/Release Uplift Approval Request]\n\
                Feature/Bug causing the regression: Bug 1490000\nUser impact if declined: Crashes.\n\
                Is this code covered by automated tests?: Yes\nHas the fix been verified in Nightly?: Yes\n\
                Needs manual test from QE?: No\nIf yes, steps to reproduce: \nList of other uplifts needed: None\n\
                Risk to taking this patch: High\nWhy is the change risky/not risky?: Big change.\n\
                See: https://example.com/x?a=1&b=2\nString changes made/needed: Yes, two strings";
    let comment: shipit_uplift::bugzilla::Comment = serde_json::from_value(serde_json::json!({
        "id": 1, "count": 3, "author": "dev@example.com", "time": "2018-11-05T10:00:00Z", "text": text
    }))
    .unwrap();
    let parsed = form::parse(&comment, "https://bugzilla.mozilla.org");
    assert_eq!(parsed.title, "Beta/Release Uplift Approval Request");
    let titles: Vec<_> = parsed.sections.iter().map(|section| section.title.as_deref().unwrap_or("-")).collect();
    assert_eq!(titles.len(), 11, "{titles:?}");
    assert_eq!(titles[0], "-");
    assert_eq!(parsed.sections[9].text, "Big change.\nSee: https://example.com/x?a=1&b=2", "a URL line is no question");
    let risky: Vec<_> =
        parsed.sections.iter().filter(|section| section.risky).map(|section| section.key.as_str()).collect();
    assert_eq!(risky, ["risk-to-taking-this-patch", "string-changes-made-needed"]);
    assert!(parsed.html.contains("<a href=\"https://example.com/x?a=1&amp;b=2\""), "{}", parsed.html);
}

#[test]
fn the_form_of_a_request_is_the_latest_posted_by_its_time() {
    let comment = |id: i64, time: &str, text: &str| -> shipit_uplift::bugzilla::Comment {
        serde_json::from_value(
            serde_json::json!({"id": id, "count": id, "author": "a@b.c", "time": time, "text": text}),
        )
        .unwrap()
    };
    let comments = [
        comment(1, "2025-01-01T00:00:00Z", "### Beta/Release Uplift Approval Request\n* **Risk**: low"),
        comment(2, "2025-01-05T00:00:00Z", "### Beta/Release Uplift Approval Request\n* **Risk**: high"),
        comment(3, "2025-01-06T00:00:00Z", "### ESR Uplift Approval Request\n* **Risk**: low"),
    ];
    let at = |time: &str| Some(time.parse().unwrap());
    assert_eq!(form::find(&comments, "beta", at("2025-01-01T00:00:00Z")).map(|c| c.id), Some(1));
    assert_eq!(form::find(&comments, "beta", at("2025-01-05T00:05:00Z")).map(|c| c.id), Some(2));
    assert_eq!(form::find(&comments, "beta", None).map(|c| c.id), Some(2));
    assert_eq!(form::find(&comments, "esr115", at("2025-01-01T00:00:00Z")).map(|c| c.id), Some(3), "only fitting");
    assert_eq!(form::find(&comments[..2], "esr115", None), None);
}

/// Bugzilla as a mock: the pending search, the bug pages, a retried 500, a timeout, error bodies.
#[tokio::test]
async fn pending_bugs_are_searched_by_flag_with_the_key_and_user_agent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/bug"))
        .and(query_param("f1", "flagtypes.name"))
        .and(query_param("o1", "substring"))
        .and(query_param("v1", "approval-mozilla-beta?"))
        .and(query_param("include_fields", "id"))
        .and(header("x-bugzilla-api-key", "bz-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_beta.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/bug"))
        .and(query_param("v1", "approval-mozilla-esr140?"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_esr140.json")))
        .mount(&server)
        .await;
    let bugzilla = client(&server, Duration::from_secs(5));

    assert_eq!(bugzilla.pending_bugs("beta").await.unwrap(), [1139560, 1152022]);
    assert_eq!(bugzilla.pending_bugs("esr140").await.unwrap(), [1900001]);
    let requests = server.received_requests().await.unwrap();
    let agent = requests[0].headers.get("user-agent").unwrap().to_str().unwrap();
    assert!(agent.starts_with("uplift-bot/"), "{agent}");
    assert!(requests[0].url.as_str().contains("v1=approval-mozilla-beta%3F"), "{}", requests[0].url);
}

/// Answers 500 `failures` times, then the fixture.
struct FailingFirst {
    failures: usize,
    calls: Arc<AtomicUsize>,
    body: Value,
}

impl Respond for FailingFirst {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            ResponseTemplate::new(500).set_body_string("Internal Server Error")
        } else {
            ResponseTemplate::new(200).set_body_json(self.body.clone())
        }
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/rest/bug"))
        .respond_with(FailingFirst { failures: 2, calls: calls.clone(), body: fixture("search_beta.json") })
        .mount(&server)
        .await;

    let ids = client(&server, Duration::from_secs(5)).pending_bugs("beta").await.unwrap();

    assert_eq!(ids, [1139560, 1152022]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_timeout_is_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .expect(3)
        .mount(&server)
        .await;

    let error = client(&server, Duration::from_millis(200)).pending_bugs("beta").await.unwrap_err();

    assert!(matches!(error, Error::Http(HttpError::Transport { attempts: 3, .. })), "{error:?}");
}

#[tokio::test]
async fn a_bugzilla_error_body_is_an_error_whatever_the_status() {
    for status in [200, 404] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status).set_body_json(fixture("error_bug_not_found.json")))
            .expect(4) // the bug's four pages, fetched together, none retried
            .mount(&server)
            .await;

        let error = client(&server, Duration::from_secs(5)).bug_data(999999999).await.unwrap_err();

        let Error::Bugzilla { detail, .. } = &error else { panic!("{status}: {error:?}") };
        assert_eq!(detail, "Bug #999999999 does not exist. (code 101)");
    }
}

#[tokio::test]
async fn comments_are_posted_only_when_asked() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/bug/1900001/comment"))
        .and(header("x-bugzilla-api-key", "bz-key"))
        .and(body_json(serde_json::json!({"comment": "Uplift bot: merged."})))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture("comment_created.json")))
        .expect(1)
        .mount(&server)
        .await;

    let id = client(&server, Duration::from_secs(5)).post_comment(1900001, "Uplift bot: merged.").await.unwrap();

    assert_eq!(id, 19000099);
}

/// A repository whose history has patches of bug 100, a backed-out one, and other bugs' commits.
struct TestRepo {
    dir: tempfile::TempDir,
    repo: Repository,
}

const START: i64 = 1_700_000_000;

impl TestRepo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        Self { dir, repo }
    }

    /// Commits `files` (path, content; empty removes) on `day` by `email`.
    fn commit(&self, day: i64, email: &str, message: &str, files: &[(&str, &str)]) -> String {
        let parent = self.repo.head().ok().and_then(|head| head.peel_to_commit().ok());
        let mut index = git2::Index::new().unwrap();
        if let Some(parent) = &parent {
            index.read_tree(&parent.tree().unwrap()).unwrap();
        }
        for (path, text) in files {
            if text.is_empty() {
                index.remove_path(Path::new(path)).unwrap();
            } else {
                let blob = self.repo.blob(text.as_bytes()).unwrap();
                let entry = git2::IndexEntry {
                    ctime: git2::IndexTime::new(0, 0),
                    mtime: git2::IndexTime::new(0, 0),
                    dev: 0,
                    ino: 0,
                    mode: 0o100644,
                    uid: 0,
                    gid: 0,
                    file_size: text.len() as u32,
                    id: blob,
                    flags: 0,
                    flags_extended: 0,
                    path: path.as_bytes().to_vec(),
                };
                index.add(&entry).unwrap();
            }
        }
        let tree = self.repo.find_tree(index.write_tree_to(&self.repo).unwrap()).unwrap();
        let signature = Signature::new(email, email, &Time::new(START + day * 86_400, 0)).unwrap();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents).unwrap().to_string()
    }

    fn build(&self, bugs: &[i64]) -> History {
        let settings = HistorySettings { chunk_size: 2, ..HistorySettings::default() };
        let wanted = bugs.iter().map(|&bug| (bug, Vec::new())).collect();
        History::build(self.dir.path(), "HEAD", &settings, &wanted).unwrap()
    }
}

#[test]
fn a_patch_counts_text_lines_only_and_lists_both_sides_of_a_move() {
    let repo = TestRepo::new();
    repo.commit(0, "a@example.com", "Import", &[("src/old.rs", "1\n2\n"), ("keep.txt", "k\n")]);
    // A move is a deletion and an addition (no rename detection); a binary file has no lines; a
    // tab in a name is kept.
    let moved = repo.commit(
        1,
        "a@example.com",
        "Bug 7 - Move and add a picture. r=bob",
        &[
            ("src/old.rs", ""),
            ("src/new.rs", "1\n2\n3\n"),
            ("img/logo.png", "\u{0}PNG\u{0}\u{1}\n"),
            ("odd\tname.txt", "x\n"),
        ],
    );

    let history = repo.build(&[7]);

    let patch = &history.patches(7)[0];
    assert_eq!(patch.commit, moved);
    assert_eq!(patch.files, ["img/logo.png", "odd\tname.txt", "src/new.rs", "src/old.rs"]);
    let metrics = &patch.metrics;
    assert_eq!((metrics.changes_add, metrics.changes_del), (4, 2), "the picture adds no line");
    assert_eq!(metrics.languages, ["Rust"]);
}

#[test]
fn history_finds_each_bug_patches_without_backouts_and_measures_them() {
    let repo = TestRepo::new();
    repo.commit(0, "alice@example.com", "Import", &[("dom/a.cpp", "1\n2\n3\n"), ("js/b.js", "b\n"), ("README", "r\n")]);
    repo.commit(1, "carol@example.com", "Bug 50 - Tweak a. r=bob", &[("dom/a.cpp", "1\n2\n3\n4\n")]);
    repo.commit(100, "alice@example.com", "Bug 60 - Tweak a again; r=dave", &[("dom/a.cpp", "1\n2\n3\n4\n5\n")]);
    let first = repo.commit(
        120,
        "Alice@Example.com",
        "Bug 100 - Fix a. r=bob,erin",
        &[("dom/a.cpp", "1\n2\n3\n4\nfive\nsix\n"), ("dom/tests/test_a.html", "<p>\n<p>\n<p>\n")],
    );
    let second = repo.commit(121, "alice@example.com", "bug 100: follow-up r=bob r=Frank", &[("js/b.js", "b\nc\n")]);
    let broken = repo.commit(122, "alice@example.com", "Bug 100 - Part 3, broken. r=bob", &[("js/b.js", "b\nc\nd\n")]);
    repo.commit(
        123,
        "sheriff@example.com",
        &format!("Backed out changeset {} (bug 100) for bustage", &broken[..12]),
        &[("js/b.js", "b\nc\n")],
    );
    repo.commit(124, "zed@example.com", "Bug 200 - Unrelated", &[("other.txt", "o\n")]);

    let history = repo.build(&[100, 300]);

    let patches = history.patches(100);
    let commits: Vec<&str> = patches.iter().map(|patch| patch.commit.as_str()).collect();
    assert_eq!(commits, [first.as_str(), second.as_str()], "oldest first, the backed-out commit removed");
    assert_eq!(history.backouts(100), 1);
    assert!(history.patches(200).is_empty(), "only the bugs asked for");
    assert!(history.patches(300).is_empty());

    let fix = &patches[0];
    assert_eq!(fix.reviewers, ["bob", "erin"]);
    assert_eq!(fix.author_email, "alice@example.com");
    assert_eq!(fix.files, ["dom/a.cpp", "dom/tests/test_a.html"]);
    let metrics = &fix.metrics;
    assert_eq!((metrics.changes_add, metrics.changes_del), (5, 1));
    assert_eq!((metrics.changes_size, metrics.test_changes_size), (3, 3));
    assert_eq!(metrics.languages, ["C++", "Html"]);
    assert_eq!((metrics.modules.as_slice(), metrics.modules_num), (&["dom".to_owned()][..], 1));
    // Earlier commits on dom/a.cpp: Import (day 0, alice), bug 50 (day 1, r=bob), bug 60 (day 100).
    assert_eq!((metrics.code_churn_overall, metrics.code_churn_recent), (3, 1));
    assert_eq!((metrics.developer_familiarity_overall, metrics.developer_familiarity_recent), (2, 1));
    assert_eq!((metrics.reviewer_familiarity_overall, metrics.reviewer_familiarity_recent), (1, 0));

    let follow_up = &patches[1];
    assert_eq!(follow_up.reviewers, ["bob", "frank"]);
    assert_eq!((follow_up.metrics.code_churn_overall, follow_up.metrics.developer_familiarity_overall), (1, 1));
    assert_eq!(follow_up.metrics.languages, ["JavaScript"]);

    assert_eq!(history.resolve(&first[..12]), Some(first.clone()));
    assert_eq!(history.resolve("0000000"), None);
    let settings = HistorySettings {
        commit_url: Some("https://github.com/example/repo/commit/{commit}".to_owned()),
        ..HistorySettings::default()
    };
    assert_eq!(settings.commit_url(&first), Some(format!("https://github.com/example/repo/commit/{first}")));
}

#[test]
fn the_history_index_is_kept_and_a_run_reads_only_the_commits_since() {
    let repo = TestRepo::new();
    repo.commit(0, "alice@example.com", "Import", &[("dom/a.cpp", "1\n")]);
    let start = repo.commit(1, "bob@example.com", "Bug 100 - Fix a. r=carol", &[("dom/a.cpp", "1\n2\n")]);
    let first = repo.build(&[100, 101]);
    assert_eq!(first.walked(), 2, "the first run reads every commit");
    let again = repo.build(&[100, 101]);
    assert_eq!(again.walked(), 0, "nothing new: nothing read");
    assert_eq!(again.patches(100), first.patches(100));

    repo.commit(2, "bob@example.com", "Bug 101 - Fix a again. r=carol", &[("dom/a.cpp", "1\n2\n3\n")]);
    let next = repo.build(&[100, 101]);
    assert_eq!(next.walked(), 1, "only the new commit is read");
    let metrics = &next.patches(101)[0].metrics;
    assert_eq!((metrics.code_churn_overall, metrics.developer_familiarity_overall), (2, 1));
    assert_eq!(metrics.reviewer_familiarity_overall, 1);

    let index = repo.dir.path().join(".git/shipit-uplift-history");
    std::fs::write(&index, b"not an index").unwrap();
    let rebuilt = repo.build(&[100, 101]);
    assert_eq!(rebuilt.walked(), 3, "an unreadable index is rebuilt");
    assert_eq!(rebuilt.patches(101), next.patches(101));

    // A rewritten branch: the saved tip is no longer an ancestor.
    let start = repo.repo.find_commit(git2::Oid::from_str(&start).unwrap()).unwrap();
    repo.repo.reset(start.as_object(), git2::ResetType::Soft, None).unwrap();
    repo.commit(3, "dave@example.com", "Bug 101 - Another fix. r=erin", &[("dom/b.cpp", "b\n")]);
    let rewritten = repo.build(&[100, 101]);
    assert_eq!(rewritten.walked(), 3, "a rewritten branch is read again");
    assert_eq!(rewritten.patches(101).len(), 1);
    assert_eq!(rewritten.patches(101)[0].files, ["dom/b.cpp"]);
}

#[test]
fn reviewers_tests_and_languages_are_recognised() {
    assert_eq!(history::reviewers("Bug 1 - Fix. r=jandem,iain!"), ["iain", "jandem"]);
    assert_eq!(history::reviewers("Bug 1 - Fix r=a r=b DONTBUILD"), ["a", "b"]);
    assert_eq!(history::reviewers("Bug 1 - Fix (r=#layout-reviewers)"), ["#layout-reviewers"]);
    assert_eq!(history::reviewers("Bug 1 - Bump cr=x; r=me"), Vec::<String>::new());
    assert!(history::is_test("dom/tests/mochitest/test_a.html"));
    assert!(history::is_test("js/src/jit-test/tests/x.js"));
    assert!(history::is_test("python/mozbuild/test_foo.py"));
    assert!(history::is_test("netwerk/foo_test.cpp"));
    assert!(!history::is_test("dom/base/Element.cpp"));
    assert_eq!(history::language("a/b.rs"), Some("Rust"));
    assert_eq!(history::language("a/b.mjs"), Some("JavaScript"));
    assert_eq!(history::language("Makefile"), None);
}

#[tokio::test]
async fn landings_are_mapped_through_the_mapper_or_the_history() {
    let server = MockServer::start().await;
    let git = "4e3b2a1c0d9f8e7d6c5b4a39281706f5e4d3c2b1";
    Mock::given(method("GET"))
        .and(path("/rev/hg/4e3b2a1c0d9f"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!("{git} 4e3b2a1c0d9f")))
        .mount(&server)
        .await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
    let http = UpstreamClient::new(Duration::from_secs(5), RetryPolicy::default()).unwrap();
    let mapper = landing::Mapper::new(server.uri().parse().unwrap(), http);
    let bugzilla = MockServer::start().await;
    serve_bug(&bugzilla, 1900001).await;
    let data = client(&bugzilla, Duration::from_secs(5)).bug_data(1900001).await.unwrap();

    let found = landing::find(&data.comments, &Repositories::default());
    let unmapped = |landings: &landing::Landings| analyze_alone(&data, landings).unmapped_landings;
    assert_eq!(unmapped(&found).len(), 3, "without a mapper, only the GitHub landing (a git id) is mapped");
    let mut landings = found.landings;
    mapper.resolve(&mut landings).await.unwrap();
    let mapped = landing::Landings { landings: landings.clone(), ignored: Vec::new() };
    let beta = landings.iter().find(|landing| landing.repository == "releases/mozilla-beta").unwrap();
    assert_eq!(unmapped(&mapped), [format!("releases/mozilla-beta@{}", beta.revision)], "the analysis says which");

    let found: Vec<_> = landings
        .iter()
        .map(|landing| (landing.channel.as_deref(), landing.repository.as_str(), landing.commit.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (Some("nightly"), "integration/autoland", Some(git)),
            (Some("nightly"), "mozilla-central", Some(git)),
            (Some("beta"), "releases/mozilla-beta", None),
            (None, "mozilla-firefox/firefox", Some(git)),
        ]
    );
}

#[tokio::test]
async fn release_delta_runs_from_the_first_nightly_landing_to_the_day_the_channel_ships() {
    let server = MockServer::start().await;
    let product_details = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/uplift/product-details");
    for name in ["firefox_history_major_releases.json", "firefox_versions.json"] {
        Mock::given(method("GET"))
            .and(path(format!("/1.0/{name}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(std::fs::read(product_details.join(name)).unwrap(), "application/json"),
            )
            .mount(&server)
            .await;
    }
    let http = UpstreamClient::new(Duration::from_secs(5), RetryPolicy::default()).unwrap();
    let calendar = ReleaseCalendar::fetch(&http, &format!("{}/1.0/", server.uri()).parse().unwrap()).await.unwrap();
    let bugzilla = MockServer::start().await;
    serve_bug(&bugzilla, 1900001).await;
    let data = client(&bugzilla, Duration::from_secs(5)).bug_data(1900001).await.unwrap();
    let landings = landing::find(&data.comments, &Repositories::default());

    let analysis = analysis::analyze(
        &data,
        &landings,
        &History::default(),
        &HistorySettings::default(),
        &calendar,
        &Reviewers::default(),
    );

    let landed = analysis.landings["nightly"][0].time.unwrap();
    let day = |day: &str| format!("{day}T00:00:00Z").parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let delta = |channel: &str| analysis.requests[channel].release_delta;
    assert_eq!(delta("beta"), Some((day("2025-06-24") - landed).num_seconds()), "beta's 140 ships next");
    assert_eq!(delta("release"), Some((day("2025-05-27") - landed).num_seconds()), "139 shipped");
    assert_eq!(delta("esr140"), delta("beta"), "ESR 140 is beta's version");
    let without = analyze_alone(&data, &landings);
    assert!(without.requests.values().all(|request| request.release_delta.is_none()));
}

#[tokio::test]
async fn the_analysis_lists_the_bug_patches_in_graft_order() {
    let repo = TestRepo::new();
    repo.commit(0, "dev@example.com", "Import", &[("dom/a.cpp", "a\n")]);
    let first = repo.commit(1, "dev@example.com", "Bug 1900001 - Check for null. r=reviewer", &[("dom/a.cpp", "b\n")]);
    let second = repo.commit(2, "dev@example.com", "Bug 1900001 - Test. r=reviewer", &[("dom/test_a.js", "t\n")]);
    let history = repo.build(&[1900001]);
    let server = MockServer::start().await;
    serve_bug(&server, 1900001).await;
    let data = client(&server, Duration::from_secs(5)).bug_data(1900001).await.unwrap();
    let settings =
        HistorySettings { commit_url: Some("https://example.com/{commit}".to_owned()), ..Default::default() };

    let landings = landing::find(&data.comments, &Repositories::default());
    let analysis =
        analysis::analyze(&data, &landings, &history, &settings, &ReleaseCalendar::default(), &Reviewers::default());

    assert_eq!(analysis.commits, [first.clone(), second]);
    let patch = &analysis.patches[&first];
    assert_eq!((patch.source.as_str(), patch.url.clone()), ("git", Some(format!("https://example.com/{first}"))));
    assert_eq!((patch.metrics.changes_size, patch.metrics.code_churn_overall), (2, 1));
    assert_eq!(patch.metrics.developer_familiarity_overall, 1);
    let json = serde_json::to_value(&analysis).unwrap();
    assert_eq!(json["patches"][&first]["code_churn_overall"], 1, "metrics are flattened like libmozdata's");
}

#[test]
fn commits_cited_as_landings_are_patches_even_when_their_message_does_not_name_the_bug() {
    let repo = TestRepo::new();
    repo.commit(0, "dev@example.com", "Import", &[("dom/a.cpp", "a\n")]);
    let named = repo.commit(1, "dev@example.com", "Bug 1900001 - Check for null. r=reviewer", &[("dom/a.cpp", "b\n")]);
    let unnamed = repo.commit(2, "dev@example.com", "Follow-up: fix the build", &[("dom/a.cpp", "c\n")]);
    repo.commit(3, "dev@example.com", "Unrelated", &[("dom/b.cpp", "d\n")]);
    let settings = HistorySettings::default();
    let cited = [(1900001, vec![unnamed[..12].to_owned()])].into_iter().collect();

    let history = History::build(repo.dir.path(), "HEAD", &settings, &cited).unwrap();

    let patches: Vec<&str> = history.patches(1900001).iter().map(|patch| patch.commit.as_str()).collect();
    assert_eq!(patches, [named.as_str(), unnamed.as_str()]);
}

/// The comments of `forms_comment.json`, one per form wording, by bug.
fn form_comments() -> BTreeMap<i64, shipit_uplift::bugzilla::Comment> {
    let page = fixture("forms_comment.json");
    let bugs = page["bugs"].as_object().unwrap();
    bugs.iter()
        .map(|(bug, comments)| (bug.parse().unwrap(), serde_json::from_value(comments["comments"][0].clone()).unwrap()))
        .collect()
}

const OLD_AURORA: [&str; 5] = [
    "Bug caused by (feature/regressing bug #)",
    "User impact if declined",
    "Testing completed (on m-c, etc.)",
    "Risk to taking this patch (and alternatives if risky)",
    "String or IDL/UUID changes made by this patch",
];
const OLD_BETA: [&str; 5] = [
    "Feature/regressing bug #",
    "User impact if declined",
    "Describe test coverage new/current, TreeHerder",
    "Risks and why",
    "String/UUID change made/needed",
];
const BETA_2016: [&str; 9] = [
    "Feature/Bug causing the regression",
    "User impact if declined",
    "Is this code covered by automated tests?",
    "Has the fix been verified in Nightly?",
    "Needs manual test from QE? If yes, steps to reproduce",
    "List of other uplifts needed for the feature/fix",
    "Is the change risky?",
    "Why is the change risky/not risky?",
    "String changes made/needed",
];
const BETA_2018: [&str; 10] = [
    "Feature/Bug causing the regression",
    "User impact if declined",
    "Is this code covered by automated tests?",
    "Has the fix been verified in Nightly?",
    "Needs manual test from QE?",
    "If yes, steps to reproduce",
    "List of other uplifts needed",
    "Risk to taking this patch",
    "Why is the change risky/not risky? (and alternatives if risky)",
    "String changes made/needed",
];
const ESR_2017: [&str; 5] = [
    "If this is not a sec:{high,crit} bug, please state case for ESR consideration",
    "User impact if declined",
    "Fix Landed on Version",
    "Risk to taking this patch (and alternatives if risky)",
    "String or UUID changes made by this patch",
];
const ESR_2018: [&str; 6] = [
    "If this is not a sec:{high,crit} bug, please state case for ESR consideration",
    "User impact if declined",
    "Fix Landed on Version",
    "Risk to taking this patch",
    "Why is the change risky/not risky? (and alternatives if risky)",
    "String or UUID changes made by this patch",
];
const ESR_MARKDOWN: [&str; 5] = [
    "If this is not a sec:{high,crit} bug, please state case for ESR consideration",
    "User impact if declined",
    "Fix Landed on Version",
    "Risk to taking this patch",
    "Why is the change risky/not risky? (and alternatives if risky)",
];
const BETA_MARKDOWN: [&str; 10] = [
    "User impact if declined",
    "Is this code covered by automated tests?",
    "Has the fix been verified in Nightly?",
    "Needs manual test from QE?",
    "If yes, steps to reproduce",
    "List of other uplifts needed",
    "Risk to taking this patch",
    "Why is the change risky/not risky? (and alternatives if risky)",
    "String changes made/needed",
    "Is Android affected?",
];

#[test]
fn every_form_wording_bugzilla_used_is_split_into_its_questions() {
    let comments = form_comments();
    let cases: [(i64, &str, &[&str], Vec<&str>); 11] = [
        (859425, "Approval Request Comment", &[], OLD_AURORA.to_vec()),
        (909494, "Approval Request Comment", &[], OLD_AURORA.to_vec()),
        (1230065, "Approval Request Comment for 46", &[], OLD_BETA.to_vec()),
        (1283017, "Approval Request Comment", &[], OLD_BETA.to_vec()),
        (1270916, "Approval Request Comment", &[], BETA_2016.to_vec()),
        (1321299, "Approval Request Comment", &[], BETA_2016.to_vec()),
        (1510281, "Beta/Release Uplift Approval Request", &[], BETA_2018.to_vec()),
        (1900020, "Approval Request Comment", &[], ESR_2017.to_vec()),
        (1900021, "ESR Uplift Approval Request", &[], ESR_2018.to_vec()),
        (1900022, "Approval Request Comment", &["Approval Request Comment"], [OLD_BETA, OLD_BETA].concat()),
        (1884552, "ESR Uplift Approval Request", &["Beta/Release Uplift Approval Request"], {
            [ESR_MARKDOWN.as_slice(), BETA_MARKDOWN.as_slice()].concat()
        }),
    ];
    assert_eq!(comments.len(), cases.len(), "one case per comment of the fixture");
    for (bug, title, later_titles, questions) in cases {
        let parsed = form::parse(&comments[&bug], "https://bugzilla.mozilla.org");
        assert_eq!(parsed.title, title, "bug {bug}");
        assert_eq!(parsed.later_titles, later_titles, "bug {bug}");
        let found: Vec<&str> = parsed.sections.iter().filter_map(|section| section.title.as_deref()).collect();
        assert_eq!(found, questions, "bug {bug}");
        for section in &parsed.sections {
            let text = section.text.to_lowercase();
            assert!(!text.contains("approval request"), "bug {bug}: a title in an answer: {section:?}");
            let question_inside = form::PLAIN_QUESTIONS.iter().any(|question| text.contains(&format!("\n{question}:")));
            assert!(!question_inside, "bug {bug}: a question in an answer: {section:?}");
        }
    }
}

#[test]
fn the_esr_form_of_2016_and_2017_asks_for_the_risk_and_the_case_for_esr() {
    let comments = form_comments();
    let parsed = form::parse(&comments[&1900020], "https://bugzilla.mozilla.org");

    let answer = |question: &str| parsed.sections.iter().find(|section| section.title.as_deref() == Some(question));
    let case = answer(ESR_2017[0]).unwrap();
    assert_eq!(case.text, "sec-moderate, but a top crash on ESR.");
    assert_eq!(answer("Fix Landed on Version").unwrap().text, "54", "the risk is not merged into the version");
    let risk = answer("Risk to taking this patch (and alternatives if risky)").unwrap();
    assert_eq!(risk.text, "Medium: the printing code differs on ESR 52.");
    assert!(risk.risky, "a medium risk is checked");
    let untitled: Vec<_> = parsed.sections.iter().filter(|section| section.title.is_none()).collect();
    assert_eq!(untitled.len(), 1);
    assert_eq!(untitled[0].text, "Comment on attachment 8900020\nFix the crash.", "only the text before the title");
}

#[test]
fn a_comment_with_two_forms_keeps_each_title_out_of_the_answers_and_fits_both_channels() {
    let comments = form_comments();
    let twice = form::parse(&comments[&1900022], "https://bugzilla.mozilla.org");
    let forms: Vec<usize> = twice.sections.iter().filter(|section| section.title.is_some()).map(|s| s.form).collect();
    assert_eq!(forms, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    let strings = twice.sections.iter().find(|section| section.key == "string-uuid-change-made-needed").unwrap();
    assert_eq!(strings.text, "None", "the second title is not an answer");
    assert_eq!(twice.html.matches("<h1 class=\"form-title\">Approval Request Comment</h1>").count(), 1);

    // An ESR form then a Beta/Release one (bug 1884552): the comment is the form of both requests.
    let both = [comments[&1884552].clone()];
    assert_eq!(form::find(&both, "beta", None).map(|comment| comment.id), Some(both[0].id));
    assert_eq!(form::find(&both, "esr115", None).map(|comment| comment.id), Some(both[0].id));
    assert_eq!(form::titles(&both[0].text), ["ESR Uplift Approval Request", "Beta/Release Uplift Approval Request"]);
}

#[tokio::test]
async fn a_request_converted_to_another_channel_keeps_its_requester_and_wait() {
    let analysis = analyze(1900010).await;

    let beta = &analysis.requests["beta"];
    assert_eq!((beta.status, beta.accepted), (RequestStatus::Granted, true));
    assert_eq!(beta.converted_from.as_deref(), Some("aurora"));
    assert_eq!(beta.requester.as_deref(), Some("dev@example.com"), "who asked for aurora");
    assert_eq!(beta.requested_at, Some("2016-08-10T09:00:00Z".parse().unwrap()));
    assert_eq!(beta.reviewer.as_deref(), Some("relman@example.com"));
    assert_eq!(beta.response_delta, Some(14 * 3600), "the real wait, not 0");
    assert_eq!(beta.form, Some(19000102), "the form posted with the aurora request");
    assert!(!analysis.requests.contains_key("aurora"), "the aurora flag is gone");
    assert_eq!(roles(&analysis, "dev@example.com"), ["assignee", "author", "creator", "uplift_author"]);
    assert_eq!(roles(&analysis, "relman@example.com"), ["uplift_reviewer"]);
}

#[tokio::test]
async fn links_to_other_repositories_are_listed_as_ignored_not_taken_as_landings() {
    let server = MockServer::start().await;
    serve_bug(&server, 1900011).await;
    let data = client(&server, Duration::from_secs(5)).bug_data(1900011).await.unwrap();
    let firefox = Repositories::new(["https://github.com/mozilla-firefox/firefox.git"]);

    let landings = landing::find(&data.comments, &firefox);
    let analysis = analyze_alone(&data, &landings);

    let cited = |channel: &str| -> Vec<String> {
        analysis.landings[channel]
            .iter()
            .map(|landing| format!("{} {}", landing.repository, landing.revision))
            .collect()
    };
    assert_eq!(analysis.landings.keys().collect::<Vec<_>>(), ["nightly", "unknown"]);
    assert_eq!(cited("nightly"), ["integration/autoland aaaaaaaaaaaa"]);
    assert_eq!(cited("unknown"), ["mozilla/gecko-dev cccccccccccccccccccccccccccccccccccccccc"], "a known mirror");
    let ignored: Vec<(i64, &str)> =
        analysis.ignored_links.iter().map(|link| (link.comment, link.url.as_str())).collect();
    assert_eq!(
        ignored,
        [
            (1, "https://github.com/servo/servo/commit/0123456789abcdef0123456789abcdef01234567"),
            (2, "https://hg.mozilla.org/try/rev/bbbbbbbbbbbb"),
            (5, "https://hg.mozilla.org/comm-central/rev/dddddddddddd"),
        ]
    );
    assert_eq!(analysis.ignored_link_count, None, "nothing was cut");

    // Another repository configured: only its own links land.
    let servo = landing::find(&data.comments, &Repositories::new(["https://github.com/servo/servo/commit/{commit}"]));
    let revisions: Vec<&str> = servo.landings.iter().map(|landing| landing.revision.as_str()).collect();
    assert_eq!(revisions, ["0123456789abcdef0123456789abcdef01234567"]);
    assert_eq!(servo.ignored.len(), 4);
}

#[tokio::test]
async fn only_firefox_version_fields_are_version_flags() {
    for id in [1139560, 1306465] {
        let analysis = analyze(id).await;
        let fields: Vec<&String> = analysis.flags_tracking.keys().chain(analysis.flags_status.keys()).collect();
        assert!(!fields.is_empty());
        for field in fields {
            let version = field.strip_prefix("firefox_esr").or(field.strip_prefix("firefox")).unwrap_or_default();
            assert!(!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()), "bug {id}: {field}");
        }
    }
    let analysis = analyze(1306465).await;
    assert_eq!(
        analysis.flags_tracking.keys().collect::<Vec<_>>(),
        ["firefox49", "firefox50", "firefox51", "firefox52", "firefox_esr45"]
    );
    assert!(!analysis.flags_tracking.contains_key("firefox_relnote"));
}

/// Bugzilla's `GET /rest/user`: error 51 as soon as one of the names is unknown.
struct Users {
    known: Value,
}

impl Respond for Users {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let known = self.known["users"].as_array().unwrap();
        let mut found = Vec::new();
        for (_, name) in request.url.query_pairs().filter(|(key, _)| key == "names") {
            match known.iter().find(|user| user["name"] == *name) {
                Some(user) => found.push(user.clone()),
                None => return ResponseTemplate::new(400).set_body_json(fixture("error_user_not_found.json")),
            }
        }
        ResponseTemplate::new(200).set_body_json(serde_json::json!({ "users": found }))
    }
}

#[tokio::test]
async fn odd_fields_are_read_as_absent_and_listed_without_losing_the_bug() {
    let id = 1900012;
    let server = MockServer::start().await;
    for (route, file) in [
        (format!("/rest/bug/{id}"), format!("bug_{id}.json")),
        (format!("/rest/bug/{id}/attachment"), format!("bug_{id}_attachment.json")),
        (format!("/rest/bug/{id}/comment"), format!("bug_{id}_comment.json")),
        (format!("/rest/bug/{id}/history"), format!("bug_{id}_history.json")),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture(&file)))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/rest/user"))
        .respond_with(Users { known: fixture(&format!("user_{id}.json")) })
        .mount(&server)
        .await;

    let analysis = analyze_on(&server, id).await;

    let absent = |field: &str| analysis.absent.get(field).map(|absent| (absent.count, absent.of.clone()));
    assert_eq!(
        absent("flag.setter"),
        Some((
            2,
            vec![
                "flag 800001 (in-testsuite+) on the bug".to_owned(),
                "flag 900001 (approval-mozilla-beta?) on attachment 8400001".to_owned()
            ]
        ))
    );
    assert_eq!(absent("attachment.creator"), Some((1, vec!["attachment 8400001".to_owned()])));
    assert_eq!(absent("comment.time"), Some((1, vec!["comment 1".to_owned()])));
    assert_eq!(absent("user"), Some((1, vec!["gone@example.com".to_owned()])), "Bugzilla's error 51");
    let (count, unreadable) = absent("unreadable").unwrap();
    assert_eq!(count, 1);
    assert!(unreadable[0].starts_with("attachment 8400099: "), "{unreadable:?}");

    let beta = &analysis.requests["beta"];
    assert_eq!(beta.status, RequestStatus::Pending);
    assert_eq!(beta.requester.as_deref(), Some("dev@example.com"), "from the history, the flag has no setter");
    let form = &analysis.forms[&beta.form.unwrap()];
    assert_eq!((form.time, form.sections.len()), (None, 6), "a form without a time is still the form");
    assert_eq!(analysis.in_testsuite, "+");
    assert_eq!(roles(&analysis, "dev@example.com"), ["assignee", "author", "creator", "uplift_author"], "attacher");
    assert_eq!(analysis.users.len(), 1, "the unknown reviewer has no user");
}

#[tokio::test]
async fn a_bug_whose_own_fields_cannot_be_read_fails() {
    let server = MockServer::start().await;
    serve_bug(&server, 1900001).await;
    Mock::given(method("GET"))
        .and(path("/rest/bug/1900013"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("bug_unreadable.json")))
        .mount(&server)
        .await;
    for page in ["attachment", "comment", "history"] {
        Mock::given(method("GET"))
            .and(path(format!("/rest/bug/1900013/{page}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture(&format!("bug_1900001_{page}.json"))))
            .mount(&server)
            .await;
    }

    let error = client(&server, Duration::from_secs(5)).bug_data(1900013).await.unwrap_err();

    let Error::Bugzilla { detail, .. } = &error else { panic!("{error:?}") };
    assert!(detail.contains("missing field `id`"), "{detail}");
}

#[tokio::test]
async fn landings_are_capped_per_channel_with_their_count() {
    let id = 1900001;
    let server = MockServer::start().await;
    serve_bug(&server, id).await;
    // The same bug with 120 more nightly landings and 60 links to another repository, the way a
    // long-lived bug collects them.
    let mut page = fixture(&format!("bug_{id}_comment.json"));
    let comments = page["bugs"][id.to_string()]["comments"].as_array_mut().unwrap();
    let template = comments[2].clone();
    for n in 0..180_i64 {
        let mut comment = template.clone();
        comment["id"] = (19100000 + n).into();
        comment["count"] = (9 + n).into();
        comment["time"] = format!("2025-07-{:02}T{:02}:00:00Z", 1 + n / 24, n % 24).into();
        comment["text"] = match n {
            0..120 => format!("https://hg.mozilla.org/mozilla-central/rev/{:012x}", 0xabc000 + n),
            _ => format!("https://github.com/example/other/commit/{:040x}", n),
        }
        .into();
        comments.push(comment);
    }
    let server_long = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/rest/bug/{id}/comment")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(&server_long)
        .await;
    serve_bug(&server_long, id).await;

    let short = analyze_on(&server, id).await;
    let long = analyze_on(&server_long, id).await;

    let nightly = &long.landings["nightly"];
    assert_eq!(nightly.len(), analysis::MAX_LANDINGS);
    assert_eq!(long.landing_counts["nightly"], 2 + 120);
    assert_eq!(nightly.last().unwrap().revision, format!("{:012x}", 0xabc000 + 119), "the newest are kept");
    assert_eq!(long.landings["beta"].len(), 1);
    assert!(!long.landing_counts.contains_key("beta"), "only channels that were cut have a count");
    assert_eq!(long.requests["beta"].landing_delta, short.requests["beta"].landing_delta, "from the first landing");
    assert_eq!((long.ignored_links.len(), long.ignored_link_count), (analysis::MAX_LANDINGS, Some(60)));
    assert!(short.landing_counts.is_empty());
}

#[tokio::test]
async fn a_bug_the_new_fields_do_not_concern_serialises_without_them() {
    let analysis = analyze(1900001).await;
    let json = serde_json::to_value(&analysis).unwrap();

    for field in ["absent", "ignored_links", "ignored_link_count", "landing_counts"] {
        assert!(json.get(field).is_none(), "{field}: its hash is the one it had before these fields");
    }
    for request in json["requests"].as_object().unwrap().values() {
        assert!(request.get("converted_from").is_none());
    }
    for form in json["forms"].as_object().unwrap().values() {
        assert!(form.get("later_titles").is_none());
        assert!(form["sections"].as_array().unwrap().iter().all(|section| section.get("form").is_none()));
    }
}
