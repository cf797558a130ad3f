//! The uplift bot: finds the bugs with pending `approval-mozilla-<channel>?` requests, analyses
//! their patches, grafts them in memory onto every release branch, and records it all in the API.

pub mod error;
pub mod graft;

pub use error::Error;
