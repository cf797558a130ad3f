//! cppcheck: warnings, style, performance and portability checks, one line per issue in a
//! template we choose.

use std::process::Command;
use std::sync::LazyLock;

use regex::Regex;

use super::{C_SOURCES, Defaults, relative_path};
use crate::issue::{Issue, Level};

/// cppcheck's built-in settings.
pub(super) const DEFAULTS: Defaults =
    Defaults { command: "cppcheck", patterns: C_SOURCES, checks: &[("*", true)], files_per_process: 1 };

/// The template given to cppcheck: `{file}:{line}:{column}:{severity}:{id}:{message}`.
const TEMPLATE: &str = "{file}:{line}:{column}:{severity}:{id}:{message}";

static LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+?):(\d+):(\d+):(\w+):([\w.-]+):(.*)$").expect("valid regex"));

pub(super) fn arguments(command: &mut Command, files: &[String]) {
    command
        .arg("--quiet")
        .arg("--enable=warning,style,performance,portability")
        .arg("--inline-suppr")
        .arg(format!("--template={TEMPLATE}"))
        .args(files);
}

/// The issues of cppcheck's output (it writes them on stderr); `information` messages (missing
/// includes, configuration notes) are not issues.
pub fn parse(output: &str, root: &str) -> Vec<Issue> {
    output
        .lines()
        .filter_map(|line| LINE.captures(line))
        .filter(|captures| &captures[4] != "information" && &captures[1] != "nofile")
        .map(|captures| {
            let level = if &captures[4] == "error" { Level::Error } else { Level::Warning };
            let column = captures[3].parse().ok().filter(|column| *column > 0);
            Issue::new(
                "cppcheck",
                relative_path(&captures[1], root),
                captures[2].parse().unwrap_or(0),
                column,
                level,
                &captures[5],
                captures[6].trim(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_warnings_but_not_information() {
        let output = "a.c:4:12:error:arrayIndexOutOfBounds:Array 'a[2]' accessed at index 2, which is out of bounds.\n\
                      nofile:0:0:information:missingIncludeSystem:Cppcheck cannot find all the include files\n\
                      src/b.c:7:0:style:unreadVariable:Variable 'x' is assigned a value that is never used.\n";
        let issues = parse(output, "/r");
        assert_eq!(issues.len(), 2);
        assert_eq!(issues[0].level, Level::Error);
        assert_eq!(issues[0].message, "Array 'a[2]' accessed at index 2, which is out of bounds.");
        assert_eq!((issues[1].path.as_str(), issues[1].line, issues[1].column), ("src/b.c", 7, None));
    }
}
