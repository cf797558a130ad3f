//! The uplift bot: finds the bugs with pending `approval-mozilla-<channel>?` requests, analyses
//! their patches, grafts them in memory onto every release branch, and records it all in the API.

pub mod analysis;
pub mod bot;
pub mod bugzilla;
pub mod config;
pub mod error;
pub mod files;
pub mod form;
pub mod graft;
pub mod history;
pub mod landing;
pub mod nickname;
pub mod release;
pub mod report;
pub mod run;

pub use error::Error;
