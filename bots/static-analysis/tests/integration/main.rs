//! Integration tests of the static-analysis bot, in one test binary.

mod changed_lines;
mod check;
mod clang_tidy;
mod fetch;
mod known;
mod phabricator;
mod repo;
mod report;
mod schemas;

use std::path::PathBuf;

/// A file of `fixtures/static-analysis/`.
fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/static-analysis").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
