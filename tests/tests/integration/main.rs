//! The tests that cross crates or binaries, in one test binary.

mod bot_setup;
mod dashboard;
mod hooks;
mod kit;
mod reruns;
mod sample_data;
mod security;
