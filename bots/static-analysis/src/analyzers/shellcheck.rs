//! shellcheck: its `json1` output.

use std::process::Command;

use serde::Deserialize;

use super::{Defaults, relative_path};
use crate::issue::{Issue, Level};

/// shellcheck's built-in settings.
pub(super) const DEFAULTS: Defaults =
    Defaults { command: "shellcheck", patterns: &["*.sh", "*.bash"], checks: &[("*", true)], files_per_process: 64 };

#[derive(Deserialize)]
struct Output {
    comments: Vec<Comment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comment {
    file: String,
    line: u32,
    end_line: u32,
    column: u32,
    level: String,
    code: u32,
    message: String,
}

pub(super) fn arguments(command: &mut Command, files: &[String]) {
    command.arg("--format=json1").arg("--").args(files);
}

/// The issues of shellcheck's `json1` output; its `error` level is an error, the others
/// (warning, info, style) warnings.
pub fn parse(output: &str, root: &str) -> Result<Vec<Issue>, String> {
    if output.trim().is_empty() {
        return Ok(Vec::new());
    }
    let output: Output =
        serde_json::from_str(output).map_err(|error| format!("unreadable shellcheck output: {error}"))?;
    Ok(output
        .comments
        .into_iter()
        .map(|comment| {
            let level = if comment.level == "error" { Level::Error } else { Level::Warning };
            let mut issue = Issue::new(
                "shellcheck",
                relative_path(&comment.file, root),
                comment.line,
                Some(comment.column),
                level,
                format!("SC{}", comment.code),
                comment.message,
            );
            issue.nb_lines = comment.end_line.saturating_sub(comment.line) + 1;
            issue
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json1_comments() {
        let output = r#"{"comments":[{"file":"/r/t.sh","line":3,"endLine":4,"column":6,"endColumn":8,"level":"info","code":2086,"message":"Double quote to prevent globbing and word splitting.","fix":null}]}"#;
        let issues = parse(output, "/r").unwrap();
        assert_eq!(issues[0].path, "t.sh");
        assert_eq!(issues[0].check, "SC2086");
        assert_eq!((issues[0].line, issues[0].nb_lines), (3, 2));
        assert!(parse("not json", "/r").is_err());
    }
}
