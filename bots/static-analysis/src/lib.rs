//! The static-analysis bot: runs real analyzers (clang-tidy, clang-format, cppcheck, flake8,
//! shellcheck) on the files a patch touches, and publishes only the issues the patch introduces.

pub mod analysis;
pub mod analyzers;
pub mod bot;
pub mod config;
pub mod error;
pub mod issue;
pub mod phabricator;
pub mod report;
pub mod workspace;

pub use analysis::{Analysis, Options, analyze};
pub use error::Error;
pub use issue::{Issue, Level};
