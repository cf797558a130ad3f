//! The programs bots start (git, analyzers): whether one is there to start.

use std::path::Path;

/// Whether `program` can be started: a path that exists, or a name found on `PATH`.
pub fn is_installed(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|directory| directory.join(program).is_file()))
}
