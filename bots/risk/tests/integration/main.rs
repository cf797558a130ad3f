//! The risk bot's integration tests, one binary: features and SZZ on repositories built in the
//! test with known answers, the model's round trip, the bot's run against a real API, and the
//! commands on the real iproute2 history (skipped when `../shared/real-repos/` is absent).

mod common;
mod features;
mod labels;
mod model;
mod real_history;
mod run;
