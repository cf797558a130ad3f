//! Integration tests of the shared library, in one test binary.

mod repository_cache;
