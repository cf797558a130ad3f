//! The risk bot's library: Kamei's change features from the git history (incremental, on rayon),
//! function-level change sets (tree-sitter), bug-introducing commits found with SZZ, a calibrated
//! and explainable model trained and evaluated on a time-ordered split, and the bot that scores
//! pushed changes and uploads the assessments. One error type, [`RiskError`].

pub mod bot;
pub mod bugzilla;
pub mod cache;
pub mod config;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod functions;
pub mod history;
pub mod hunk;
pub mod labels;
pub mod model;
pub mod output;
pub mod split;

pub use error::RiskError;
