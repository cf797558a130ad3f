//! `--fetch URL`: the repository is cloned into the cache on the first run and fetched on the
//! next ones, from a local bare repository standing for the remote.

use std::path::Path;
use std::process::Command;

use shipit_static_analysis::bot::{self, CheckRequest, Source};
use shipit_static_analysis::config::{AnalyzerOverrides, Settings};
use shipit_static_analysis::{Error, fetch};

use crate::repo::TestRepo;

fn git(arguments: &[&str], directory: &Path) {
    let status = Command::new("git").args(arguments).current_dir(directory).status().unwrap();
    assert!(status.success(), "git {arguments:?}");
}

/// A bare repository made from `repo`, as a remote would serve it.
fn bare_remote(repo: &TestRepo, into: &Path) -> String {
    let remote = into.join("remote.git");
    git(&["clone", "--quiet", "--bare", &repo.path().display().to_string(), &remote.display().to_string()], into);
    remote.display().to_string()
}

/// Pushes everything `repo` has to the bare `remote`.
fn push(repo: &TestRepo, remote: &str) {
    git(&["push", "--quiet", "--force", remote, "HEAD:refs/heads/main"], repo.path());
}

fn flake8_only() -> Settings {
    let mut settings = Settings::default();
    for name in ["clang_tidy", "clang_format", "cppcheck", "shellcheck"] {
        settings.analyzers.insert(name.into(), AnalyzerOverrides { enabled: Some(false), ..Default::default() });
    }
    settings
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

#[test]
fn an_existing_working_repository_gets_remote_tracking_branches() {
    let work = tempfile::tempdir().unwrap();
    let upstream = TestRepo::new();
    upstream.commit(&[("a.py", "x = 1\n")]);
    let remote = bare_remote(&upstream, work.path());
    let local = TestRepo::new();
    let mine = local.commit(&[("b.py", "y = 2\n")]);

    fetch::update(&remote, local.path()).unwrap();

    let repository = git2::Repository::open(local.path()).unwrap();
    assert_eq!(repository.head().unwrap().target().unwrap().to_string(), mine, "the checked-out branch is untouched");
    let theirs = repository
        .revparse_single("refs/remotes/origin/master")
        .or_else(|_| repository.revparse_single("refs/remotes/origin/main"));
    assert!(theirs.is_ok(), "the remote's branch is fetched");
}

#[test]
fn fetch_failures_are_clear_and_leave_nothing_behind() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("repo");
    let missing = work.path().join("no-such-remote.git").display().to_string();

    let error = fetch::update(&missing, &cache).unwrap_err();
    assert!(matches!(error, Error::Fetch { .. }), "{error}");
    assert!(error.to_string().starts_with(&format!("cannot fetch {missing}: git exit status: 128")), "{error}");
    assert!(!cache.exists());
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "no staging directory is left");

    let error = fetch::update("--upload-pack=touch /tmp/x", &cache).unwrap_err();
    assert_eq!(error.to_string(), "cannot fetch --upload-pack=touch /tmp/x: not a repository URL");

    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("notes.txt"), "mine\n").unwrap();
    let repo = TestRepo::new();
    repo.commit(&[("a.py", "x = 1\n")]);
    let remote = bare_remote(&repo, work.path());
    let error = fetch::update(&remote, &cache).unwrap_err();
    assert!(error.to_string().contains("exists and is not a git repository"), "{error}");
    assert_eq!(std::fs::read_to_string(cache.join("notes.txt")).unwrap(), "mine\n", "nothing is overwritten");
}
