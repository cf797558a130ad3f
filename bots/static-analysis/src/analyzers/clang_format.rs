//! clang-format: the file formatted with the repository's `.clang-format`, compared line by line
//! with the file; each difference is an issue carrying the formatted lines as its fix.

use std::process::Command;

use similar::{DiffOp, TextDiff};

use super::{C_FAMILY, Defaults};
use crate::issue::{Issue, Level};

/// clang-format's built-in settings: headers too, every difference published.
pub(super) const DEFAULTS: Defaults =
    Defaults { command: "clang-format", patterns: C_FAMILY, checks: &[("*", true)], files_per_process: 1 };

pub(super) fn arguments(command: &mut Command, files: &[String]) {
    // Without a `.clang-format` the project has no style to enforce: `none` formats nothing.
    command.arg("--style=file").arg("--fallback-style=none").args(files);
}

/// The issues of `path`, whose text is `original` and which clang-format turned into
/// `formatted`.
pub fn issues(path: &str, original: &str, formatted: &str) -> Vec<Issue> {
    let diff = TextDiff::from_lines(original, formatted);
    let new_lines: Vec<&str> = diff.new_slices().to_vec();
    let old_count = diff.old_slices().len() as u32;
    let mut issues = Vec::new();
    for group in diff.grouped_ops(0) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let old = first.old_range().start..last.old_range().end;
        let new = first.new_range().start..last.new_range().end;
        if group.iter().all(|op| matches!(op, DiffOp::Equal { .. })) {
            continue;
        }
        let replacement: String = new_lines[new.clone()].concat();
        let (line, nb_lines, suggestion) = if old.is_empty() {
            // An insertion: attach it to the line before (or the first line), which it repeats.
            let anchor = (old.start as u32).clamp(1, old_count.max(1));
            let anchor_text = diff.old_slices().get(anchor as usize - 1).copied().unwrap_or("");
            let suggestion = if old.start == 0 {
                format!("{replacement}{anchor_text}")
            } else {
                format!("{anchor_text}{replacement}")
            };
            (anchor, 1, suggestion)
        } else {
            (old.start as u32 + 1, old.len() as u32, replacement)
        };
        let mut issue = Issue::new("clang-format", path, line, None, Level::Warning, "style", "incorrect coding style");
        issue.nb_lines = nb_lines;
        issue.suggestion = Some(suggestion.trim_end_matches('\n').to_owned());
        issues.push(issue);
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_cover_the_changed_lines() {
        let original = "int main() {\nint x=1;\n  return x;\n}\n";
        let formatted = "int main() {\n  int x = 1;\n  return x;\n}\n";
        let issues = issues("a.c", original, formatted);
        assert_eq!(issues.len(), 1);
        assert_eq!((issues[0].line, issues[0].nb_lines), (2, 1));
        assert_eq!(issues[0].suggestion.as_deref(), Some("  int x = 1;"));
    }

    #[test]
    fn joined_and_split_lines() {
        let original = "void f()\n{\n}\n";
        let formatted = "void f() {}\n";
        let issues = issues("a.c", original, formatted);
        assert_eq!(issues.len(), 1);
        assert_eq!((issues[0].line, issues[0].nb_lines), (1, 3));
        assert_eq!(issues[0].suggestion.as_deref(), Some("void f() {}"));
        assert!(super::issues("a.c", formatted, formatted).is_empty());
    }
}
