//! clang-tidy: run with the configured checks (and `compile_commands.json` when there is one),
//! its text output parsed into issues.

use std::process::Command;
use std::sync::LazyLock;

use regex::Regex;

use super::{Analyzer, C_SOURCES, Context, Defaults, relative_path};
use crate::issue::{Issue, Level};

/// `path:line:column: level: message [check]`.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^(.+):(\d+):(\d+): (warning|error|note): (.+?)(?: \[([\w.,-]+)\])?\r?$").expect("valid regex")
});

/// Lines that close an issue's context: run-clang-tidy's and mach's summaries, clang's counts.
static FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^(?:Warning: [\w.-]+ in .+|Suppressed \d+ warnings.*|\d+ warnings?(?: and \d+ errors?)? generated\.|\d+ errors? generated\.|Error while processing .*|\d+ (?:warnings|errors) present\.|Use -header-filter=.*|Found compiler errors?.*)\r?$",
    )
    .expect("valid regex")
});

/// A summary line of mach's wrapper: `0 warnings present.` means nothing to parse.
static SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^(\d+) (?:warnings|errors) present\.$").expect("valid regex"));

/// clang-tidy's built-in settings; its checks also make its `--checks` argument.
pub(super) const DEFAULTS: Defaults = Defaults {
    command: "clang-tidy",
    patterns: C_SOURCES,
    checks: &[
        ("-*", false),
        ("clang-analyzer-deadcode.DeadStores", true),
        ("clang-analyzer-core.*", true),
        ("clang-analyzer-unix.*", true),
        ("clang-analyzer-security.*", false),
        ("bugprone-*", true),
        ("performance-*", true),
        ("modernize-use-nullptr", true),
        ("readability-else-after-return", true),
        ("readability-misleading-indentation", true),
    ],
    files_per_process: 1,
};

pub(super) fn arguments(command: &mut Command, analyzer: &Analyzer, context: &Context, files: &[String]) {
    let checks: Vec<&str> = analyzer.checks.iter().map(|rule| rule.name.as_str()).collect();
    command.arg("--quiet").arg(format!("--checks={}", checks.join(",")));
    if !context.headers.is_empty() {
        let escaped: Vec<String> = context.headers.iter().map(|header| regex::escape(header)).collect();
        command.arg(format!("--header-filter=({})$", escaped.join("|")));
    }
    match &context.compile_commands {
        Some(directory) => {
            command.arg("-p").arg(directory).args(files);
        }
        // Without a compilation database, `--` stops clang-tidy from looking for one and
        // compiles each file with the default flags.
        None => {
            command.args(files).arg("--");
        }
    }
}

/// The issues of clang-tidy's text output, paths made relative to `root`. `note:` lines attach
/// to the issue before them; `clang-diagnostic-error` (the code does not compile here, usually a
/// missing header) is logged and dropped; repeated issues are kept once.
pub fn parse(output: &str, root: &str) -> Vec<Issue> {
    if SUMMARY.captures(output).is_some_and(|summary| &summary[1] == "0") {
        return Vec::new();
    }
    let headers: Vec<regex::Captures<'_>> = HEADER.captures_iter(output).collect();
    let mut issues: Vec<Issue> = Vec::new();
    let mut last_was_dropped = false;
    for (index, header) in headers.iter().enumerate() {
        let whole = header.get(0).expect("group 0 always matches");
        let end = headers.get(index + 1).map_or(output.len(), |next| next.get(0).expect("group 0").start());
        let mut body = &output[whole.end()..end];
        if let Some(footer) = FOOTER.find(body) {
            body = &body[..footer.start()];
        }
        let body = body.strip_prefix('\n').unwrap_or(body).trim_end();
        let message = header[5].trim().to_owned();
        if &header[4] == "note" {
            if let Some(issue) = issues.last_mut().filter(|_| !last_was_dropped) {
                issue.notes.push(message);
            }
            continue;
        }
        let check = header.get(6).map_or("clang-diagnostic", |check| check.as_str().split(',').next().unwrap_or(""));
        let path = relative_path(&header[1], root);
        if check == "clang-diagnostic-error" {
            tracing::warn!(path, message, "clang-tidy could not compile, issue dropped");
            last_was_dropped = true;
            continue;
        }
        last_was_dropped = false;
        let level = if &header[4] == "error" { Level::Error } else { Level::Warning };
        let mut issue = Issue::new(
            "clang-tidy",
            path,
            header[2].parse().unwrap_or(0),
            header[3].parse().ok(),
            level,
            check,
            message,
        );
        issue.body = Some(body.to_owned()).filter(|body| !body.is_empty());
        issues.push(issue);
    }
    crate::issue::dedup(&mut issues);
    issues
}

/// Whether clang-tidy reported the issue inside a macro expansion, where a comment on the line
/// of the macro's use would be misleading.
pub fn is_from_macro(issue: &Issue) -> bool {
    issue.notes.first().is_some_and(|note| note.starts_with("expanded from macro"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_attach_to_their_issue_and_macros_are_recognised() {
        let output = "/r/a.c:3:5: warning: value stored is never read [clang-analyzer-deadcode.DeadStores]\n  x = 1;\n  ^\n/r/a.h:1:9: note: expanded from macro 'SET'\n#define SET x = 1\n        ^\n";
        let issues = parse(output, "/r");
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "a.c");
        assert_eq!((issues[0].line, issues[0].column), (3, Some(5)));
        assert_eq!(issues[0].notes, ["expanded from macro 'SET'"]);
        assert!(is_from_macro(&issues[0]));
        assert_eq!(issues[0].body.as_deref(), Some("  x = 1;\n  ^"));
    }

    #[test]
    fn a_zero_summary_means_no_issues() {
        assert!(parse("/r/a.c:1:1: warning: x [y]\n0 warnings present.\n", "/r").is_empty());
    }

    #[test]
    fn brackets_in_messages_are_kept() {
        let issues = parse("/r/a.c:2:3: warning: index [0] is past the end [bugprone-x,cert-y]\n", "/r");
        assert_eq!(issues[0].message, "index [0] is past the end");
        assert_eq!(issues[0].check, "bugprone-x");
    }
}
