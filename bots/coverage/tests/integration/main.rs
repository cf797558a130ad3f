//! Integration tests of the coverage bot, in one test binary: the parser, the writers against
//! grcov's output, the inputs and the `merge` command, property tests, and the Taskcluster flow
//! of a run against the real API.

mod covdir;
mod inputs;
mod parser;
mod properties;
mod run;

use std::path::PathBuf;

use shipit_coverage::{ParseOptions, Report};

/// The repository's `fixtures/coverage` directory.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/coverage")
}

/// Parses lcov text with default options, panicking on errors.
fn parse(text: &str) -> Report {
    let mut report = Report::default();
    shipit_coverage::parse_bytes("test.info", text.as_bytes(), &ParseOptions::default(), &mut report).unwrap();
    report
}
