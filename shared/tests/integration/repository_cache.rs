//! The repository cache: cloned (bare) on first use, fetched after, failures clear and tidy.
//! A local bare repository stands for the remote.

use std::path::Path;

use shipit_shared::repository_cache::{self, RepositoryCacheError};
use shipit_shared::testing::git;

/// A working repository with one commit of `file`; answers the commit id.
fn repository_with(directory: &Path, file: &str) -> String {
    std::fs::create_dir_all(directory).unwrap();
    git(directory, &["init", "--quiet"]);
    std::fs::write(directory.join(file), "x = 1\n").unwrap();
    git(directory, &["add", file]);
    git(directory, &["commit", "--quiet", "-m", file]);
    git(directory, &["rev-parse", "HEAD"])
}

/// A bare copy of `repository`, as a remote would serve it.
fn bare_remote(repository: &Path, into: &Path) -> String {
    let remote = into.join("remote.git");
    git(into, &["clone", "--quiet", "--bare", &repository.display().to_string(), &remote.display().to_string()]);
    remote.display().to_string()
}

#[test]
fn the_cache_is_cloned_bare_then_fetched() {
    let work = tempfile::tempdir().unwrap();
    let upstream = work.path().join("upstream");
    repository_with(&upstream, "a.py");
    let remote = bare_remote(&upstream, work.path());
    let cache = work.path().join("cache/repo");

    repository_cache::update(&remote, &cache).unwrap();
    assert_eq!(git(&cache, &["rev-parse", "--is-bare-repository"]), "true");
    let leftovers: Vec<_> =
        std::fs::read_dir(work.path().join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["repo"], "no staging directory is left");

    std::fs::write(upstream.join("b.py"), "y = 2\n").unwrap();
    git(&upstream, &["add", "b.py"]);
    git(&upstream, &["commit", "--quiet", "-m", "b"]);
    let newer = git(&upstream, &["rev-parse", "HEAD"]);
    git(&upstream, &["push", "--quiet", "--force", &remote, "HEAD:refs/heads/main"]);

    repository_cache::update(&remote, &cache).unwrap();
    assert_eq!(git(&cache, &["rev-parse", "main"]), newer, "branches are mirrored");
}

#[test]
fn an_existing_working_repository_gets_remote_tracking_branches() {
    let work = tempfile::tempdir().unwrap();
    let upstream = work.path().join("upstream");
    repository_with(&upstream, "a.py");
    let remote = bare_remote(&upstream, work.path());
    let local = work.path().join("local");
    let mine = repository_with(&local, "b.py");

    repository_cache::update(&remote, &local).unwrap();

    assert_eq!(git(&local, &["rev-parse", "HEAD"]), mine, "the checked-out branch is untouched");
    git(&local, &["rev-parse", "--verify", "refs/remotes/origin/main"]);
}

#[test]
fn fetch_failures_are_clear_and_leave_nothing_behind() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("repo");
    let missing = work.path().join("no-such-remote.git").display().to_string();

    let error = repository_cache::update(&missing, &cache).unwrap_err();
    assert!(matches!(error, RepositoryCacheError::Fetch { .. }), "{error}");
    assert!(error.to_string().starts_with(&format!("cannot fetch {missing}: git exit status: 128")), "{error}");
    assert!(!cache.exists());
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "no staging directory is left");

    let error = repository_cache::update("--upload-pack=touch /tmp/x", &cache).unwrap_err();
    assert_eq!(error.to_string(), "cannot fetch --upload-pack=touch /tmp/x: not a repository URL");

    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("notes.txt"), "mine\n").unwrap();
    let upstream = work.path().join("upstream");
    repository_with(&upstream, "a.py");
    let remote = bare_remote(&upstream, work.path());
    let error = repository_cache::update(&remote, &cache).unwrap_err();
    assert!(error.to_string().contains("exists and is not a git repository"), "{error}");
    assert_eq!(std::fs::read_to_string(cache.join("notes.txt")).unwrap(), "mine\n", "nothing is overwritten");
}
