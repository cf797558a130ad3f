//! `--fetch URL`: the repository is cloned into the cache on the first run and fetched on the
//! next ones, from a local bare repository standing for the remote.

use std::path::Path;
use std::time::Duration;

use shipit_shared::bot::Context;
use shipit_shared::http::{RetryPolicy, UpstreamClient};

use shipit_shared::testing::git;
use shipit_static_analysis::analyzers::AnalyzerOverrides;
use shipit_static_analysis::bot::{self, CheckRequest, Source};
use shipit_static_analysis::config::Settings;

use crate::repo::TestRepo;

/// A bare repository made from `repo`, as a remote would serve it.
fn bare_remote(repo: &TestRepo, into: &Path) -> String {
    let remote = into.join("remote.git");
    git(into, &["clone", "--quiet", "--bare", &repo.path().display().to_string(), &remote.display().to_string()]);
    remote.display().to_string()
}

/// Pushes everything `repo` has to the bare `remote`.
fn push(repo: &TestRepo, remote: &str) {
    git(repo.path(), &["push", "--quiet", "--force", remote, "HEAD:refs/heads/main"]);
}

fn flake8_only() -> Context<Settings> {
    let mut settings = Settings::default();
    for name in ["clang_tidy", "clang_format", "cppcheck", "shellcheck"] {
        settings.analyzers.insert(name.into(), AnalyzerOverrides { enabled: Some(false), ..Default::default() });
    }
    let http = UpstreamClient::new(Duration::from_secs(30), RetryPolicy::default()).unwrap();
    Context::unrecorded("static-analysis", settings, http, None)
}

fn request(cache: &Path, url: &str, base: &str, head: &str) -> CheckRequest {
    CheckRequest {
        repository: cache.to_owned(),
        base: Some(base.to_owned()),
        source: Source::Rev(head.to_owned()),
        before_after: false,
        jobs: None,
        comment: false,
        diff: None,
        reproduce: String::new(),
        fetch: Some(url.to_owned()),
        repository_name: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repository_is_cloned_then_fetched_before_the_analysis() {
    let work = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", "import os\n")]);
    let head = repo.commit(&[("a.py", "import os\nx=1\n")]);
    let remote = bare_remote(&repo, work.path());
    let cache = work.path().join("cache/repo");

    let first = bot::check(&flake8_only(), &request(&cache, &remote, &base, &head)).await.unwrap();

    assert_eq!(first.analysis.head, head);
    assert_eq!(first.analysis.publishable().map(|r| r.issue.check.as_str()).collect::<Vec<_>>(), ["E225"]);
    assert!(git2::Repository::open(&cache).unwrap().is_bare(), "the cache is a bare clone");
    let leftovers: Vec<_> =
        std::fs::read_dir(work.path().join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["repo"], "no staging directory is left");

    // A new commit on the remote is not in the cache until the next run fetches it.
    let newer = repo.commit(&[("a.py", "import os\nx=1\ny=2\n")]);
    push(&repo, &remote);
    assert!(git2::Repository::open(&cache).unwrap().revparse_single(&newer).is_err());

    let second = bot::check(&flake8_only(), &request(&cache, &remote, &head, &newer)).await.unwrap();

    assert_eq!(second.analysis.head, newer);
    let lines: Vec<u32> = second.analysis.publishable().map(|r| r.issue.line).collect();
    assert_eq!(lines, [3]);
    let cached = git2::Repository::open(&cache).unwrap();
    assert_eq!(cached.revparse_single("main").unwrap().id().to_string(), newer, "branches are mirrored");
}
