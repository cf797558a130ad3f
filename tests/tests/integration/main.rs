//! The tests that cross crates or binaries, in one test binary.

mod kit;
mod sample_data;
