//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// The repository's `fixtures/coverage` directory.
pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/coverage")
}
