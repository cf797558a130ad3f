//! The tests that cross crates or binaries, in one test binary.

mod kit;
mod reruns;
mod sample_data;
mod security;
