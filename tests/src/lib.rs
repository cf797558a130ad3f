//! Helpers for the tests that start the workspace's real binaries: where the binaries are and
//! where the repository is.

use std::path::{Path, PathBuf};

/// The root of the repository.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate is inside the repository").to_owned()
}

/// The directory holding the workspace's binaries of the current profile (`target/debug`):
/// the test executable lives in its `deps/` subdirectory, and `cargo test --workspace` builds
/// every binary of the workspace before running the tests.
pub fn binary_dir() -> PathBuf {
    let executable = std::env::current_exe().expect("the test knows its own path");
    let deps = executable.parent().expect("a test executable lives in a directory");
    deps.parent().expect("the deps directory has a parent").to_owned()
}

/// The path of binary `name` of the workspace; panics, saying how to build it, when missing.
pub fn binary(name: &str) -> PathBuf {
    let path = binary_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds every binary",
        path.display()
    );
    path
}
