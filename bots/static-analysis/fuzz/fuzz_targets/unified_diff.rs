//! Fuzzes what the bot does with a patch it is given (a Phabricator raw diff, `--patch`): parsed
//! as a unified diff, applied on a base tree in memory, its changed lines read and the patched tree
//! checked out. Whatever the bytes, the answer is a change or an error, never a panic, and nothing
//! is written outside the checkout directory (a patch naming `../x` or `/x` included).
#![no_main]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use shipit_static_analysis::workspace::{Head, prepare};

/// A repository with a few files, made once: `(its directory, the directory beside it)`.
static REPOSITORY: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
    let root = tempfile::tempdir().expect("a temporary directory");
    let repository = root.path().join("repository");
    std::fs::create_dir_all(repository.join("src")).expect("the repository's directory");
    std::fs::write(repository.join("README"), "one\ntwo\nthree\n").expect("a file");
    std::fs::write(repository.join("src/main.c"), "int main(void) {\n    return 0;\n}\n").expect("a file");
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=Fuzz", "-c", "user.email=fuzz@example.com"])
            .args(args)
            .current_dir(&repository)
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "base"]);
    (root, repository)
});

/// Everything under `root` except the repository itself.
fn entries_beside(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root).map(|entries| entries.flatten().map(|entry| entry.path()).collect()).unwrap_or_default()
}

fuzz_target!(|patch: &[u8]| {
    let (root, repository) = &*REPOSITORY;
    if let Ok((change, checkouts)) = prepare(repository, "main", Head::Patch(patch), false) {
        for path in &change.touched {
            assert!(!path.starts_with('/') && !path.split('/').any(|part| part == ".."), "touched {path}");
        }
        drop(checkouts);
    }
    let beside = entries_beside(root.path());
    assert_eq!(beside, [repository.clone()], "a patch wrote beside the repository: {beside:?}");
});
