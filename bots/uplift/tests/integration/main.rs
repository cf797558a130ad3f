//! The uplift bot's integration tests, in one binary: the analysis against recorded Bugzilla
//! answers, graft parity with the git command line, and whole passes against a real API.

mod analysis;
mod common;
mod graft;
mod real_history;
mod run;
