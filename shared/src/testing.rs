//! Helpers for the tests of the workspace's crates (feature `testing`): git, run the same way by
//! every test that builds a repository.

use std::path::Path;
use std::process::Command;

/// The identity and date of every commit made through [`git`].
const NAME: &str = "Test";
const EMAIL: &str = "test@example.com";
const DATE: &str = "2024-01-01T00:00:00Z";

/// Runs `git args` in `dir` and answers its standard output without the trailing newline; panics
/// with git's standard error when git fails. The author, committer, their dates and the default
/// branch (`main`) are fixed and no user, system or calling repository's configuration is read, so
/// a test makes the same commits on every machine and run.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", NAME)
        .env("GIT_AUTHOR_EMAIL", EMAIL)
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_NAME", NAME)
        .env("GIT_COMMITTER_EMAIL", EMAIL)
        .env("GIT_COMMITTER_DATE", DATE)
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot start git {args:?}: {error}"));
    assert!(
        output.status.success(),
        "git {args:?} in {} failed ({}): {}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim_end()
    );
    String::from_utf8(output.stdout).expect("git prints UTF-8 here").trim_end().to_owned()
}
