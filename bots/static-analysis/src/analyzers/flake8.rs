//! flake8: pycodestyle, pyflakes and mccabe, one line per issue in a format we choose.

use std::process::Command;
use std::sync::LazyLock;

use regex::Regex;

use super::{Defaults, relative_path};
use crate::issue::{Issue, Level};

/// flake8's built-in settings. Q000 (bad quotes) is mozlint's one disabled rule: people disagreed
/// with it.
pub(super) const DEFAULTS: Defaults =
    Defaults { command: "flake8", patterns: &["*.py"], checks: &[("Q000", false), ("*", true)], files_per_process: 64 };

static LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+?):(\d+):(\d+):([A-Z]+\d+):(.*)$").expect("valid regex"));

pub(super) fn arguments(command: &mut Command, files: &[String]) {
    command.arg("--format=%(path)s:%(row)d:%(col)d:%(code)s:%(text)s").arg("--").args(files);
}

/// The issues of flake8's output. Syntax errors, undefined names and invalid comparisons (the
/// codes flake8's own documentation calls fatal: E9, F63, F7, F82) are errors; the rest warnings.
pub fn parse(output: &str, root: &str) -> Vec<Issue> {
    output
        .lines()
        .filter_map(|line| LINE.captures(line))
        .map(|captures| {
            let code = &captures[4];
            let fatal = ["E9", "F63", "F7", "F82"].iter().any(|prefix| code.starts_with(prefix));
            Issue::new(
                "flake8",
                relative_path(&captures[1], root),
                captures[2].parse().unwrap_or(0),
                captures[3].parse().ok(),
                if fatal { Level::Error } else { Level::Warning },
                code,
                captures[5].trim(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_codes_are_errors() {
        let output = "./a.py:1:1:F401:'os' imported but unused\nb/c.py:3:7:F821:undefined name 'y'\n";
        let issues = parse(output, "/r");
        assert_eq!(issues[0].path, "a.py");
        assert_eq!(issues[0].level, Level::Warning);
        assert_eq!((issues[1].path.as_str(), issues[1].line, issues[1].column), ("b/c.py", 3, Some(7)));
        assert_eq!(issues[1].level, Level::Error);
    }
}
