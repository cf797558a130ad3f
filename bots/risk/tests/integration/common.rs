//! Building repositories with chosen authors and dates.

use std::path::Path;

pub(crate) use shipit_shared::testing::git;

/// A fresh repository in `dir`.
pub(crate) fn init(dir: &Path) {
    git(dir, &["init", "--quiet"]);
}

/// Writes `files` (path, content; `None` removes the file) and commits them as `author` at
/// `date` (RFC 3339) with `message`; answers the commit id.
pub(crate) fn commit(dir: &Path, author: &str, date: &str, message: &str, files: &[(&str, Option<&str>)]) -> String {
    for (path, content) in files {
        let full = dir.join(path);
        match content {
            Some(content) => {
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(&full, content).unwrap();
                git(dir, &["add", "--", path]);
            }
            None => {
                git(dir, &["rm", "--quiet", "--", path]);
            }
        }
    }
    let author = format!("{author} <{}@example.com>", author.to_lowercase());
    git(dir, &["commit", "--quiet", "--allow-empty", "--author", &author, "--date", date, "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// `n` numbered lines, `prefix` before each number.
pub(crate) fn lines(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("{prefix}{i};\n")).collect()
}
