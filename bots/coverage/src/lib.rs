//! The coverage bot's library: an offline, parallel merge of lcov tracefiles into covdir, lcov
//! or summary reports, and the Taskcluster flow that merges and uploads a push's coverage. One
//! error type, [`CoverageError`], for all of it.

pub mod bot;
pub mod covdir;
pub mod error;
pub mod inputs;
pub mod lcov;
pub mod merge;
pub mod model;
pub mod output;
pub mod paths;
pub mod push_history;
pub mod run;
pub mod taskcluster;

pub use error::CoverageError;
pub use inputs::{Input, discover};
pub use lcov::{ParseOptions, ParseStats, parse_bytes, parse_reader, parse_reader_with_buffer};
pub use merge::{MergeOutcome, merge_inputs};
pub use model::Report;
pub use paths::PrefixMap;
