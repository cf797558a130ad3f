//! What a run tells people about grafts that stopped applying: a markdown report of the new
//! failures per channel, and the Bugzilla comment the bot may post on each failing bug.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use shipit_shared::api_types::uplift::{GraftCommit, GraftStatus};

/// A graft that fails now and did not fail in the stored result before it.
#[derive(Clone, Debug, PartialEq)]
pub struct GraftFailure {
    pub bug_id: i64,
    pub summary: String,
    pub channel: String,
    pub branch: String,
    pub branch_tip: String,
    pub commits: Vec<GraftCommit>,
}

/// The markdown report of `failures`, grouped by channel, bugs in id order. `bug_url` is the
/// Bugzilla bug page without the id (`https://bugzilla.mozilla.org/show_bug.cgi?id=`).
pub fn markdown(failures: &[GraftFailure], bug_url: &str) -> String {
    let mut by_channel: BTreeMap<&str, Vec<&GraftFailure>> = BTreeMap::new();
    for failure in failures {
        by_channel.entry(&failure.channel).or_default().push(failure);
    }
    let mut out = String::from("# New uplift graft failures\n\n");
    if failures.is_empty() {
        out.push_str("No new failure.\n");
        return out;
    }
    for (channel, mut failures) in by_channel {
        failures.sort_by_key(|failure| failure.bug_id);
        let _ = writeln!(out, "## {channel} ({} bug{})\n", failures.len(), plural(failures.len()));
        for failure in failures {
            let _ = writeln!(
                out,
                "### Bug [{id}]({bug_url}{id}): {summary}\n\nOnto `{branch}` at `{tip}`:\n",
                id = failure.bug_id,
                summary = markdown_text(&failure.summary),
                branch = failure.branch,
                tip = short(&failure.branch_tip),
            );
            out.push_str(&commit_lines(&failure.commits, "`"));
            out.push('\n');
        }
    }
    out
}

/// The comment posted on a bug whose patches no longer graft onto a channel's branch.
pub fn bugzilla_comment(failure: &GraftFailure) -> String {
    let mut out = format!(
        "The uplift bot could not apply the patches of this bug onto {} (branch {} at {}):\n\n",
        failure.channel,
        failure.branch,
        short(&failure.branch_tip)
    );
    out.push_str(&commit_lines(&failure.commits, ""));
    out.push_str(
        "\nPlease rebase the patches on the branch and request the uplift again, or explain in a comment why they \
         apply as they are.\n",
    );
    out
}

fn commit_lines(commits: &[GraftCommit], quote: &str) -> String {
    let mut out = String::new();
    for commit in commits {
        let id = short(&commit.commit);
        let _ = match commit.status {
            GraftStatus::Failed if !commit.conflicts.is_empty() => {
                let paths: Vec<String> = commit.conflicts.iter().map(|path| format!("{quote}{path}{quote}")).collect();
                writeln!(out, "* {quote}{id}{quote} conflicts in {}", paths.join(", "))
            }
            GraftStatus::Failed => writeln!(out, "* {quote}{id}{quote} does not apply"),
            GraftStatus::Skipped => writeln!(out, "* {quote}{id}{quote} not tried: an earlier patch failed"),
            GraftStatus::Merged => writeln!(out, "* {quote}{id}{quote} applies cleanly"),
            GraftStatus::AlreadyApplied => writeln!(out, "* {quote}{id}{quote} is already on the branch"),
        };
    }
    out
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// `text` with the characters markdown or HTML would interpret escaped.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' => {
                out.push('\\');
                out.push(character);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(character),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, status: GraftStatus, conflicts: &[&str]) -> GraftCommit {
        GraftCommit {
            commit: id.repeat(40 / id.len()),
            status,
            tree: None,
            conflicts: conflicts.iter().map(|path| (*path).to_owned()).collect(),
        }
    }

    fn failure(bug_id: i64, channel: &str) -> GraftFailure {
        GraftFailure {
            bug_id,
            summary: "Crash in <nsFoo> [regression]".into(),
            channel: channel.into(),
            branch: channel.into(),
            branch_tip: "b".repeat(40),
            commits: vec![
                commit("a1", GraftStatus::Merged, &[]),
                commit("c2", GraftStatus::Failed, &["dom/a.cpp", "dom/b.h"]),
                commit("d3", GraftStatus::Skipped, &[]),
            ],
        }
    }

    #[test]
    fn the_report_groups_new_failures_by_channel_and_escapes_summaries() {
        let report = markdown(&[failure(7, "release"), failure(9, "beta"), failure(3, "beta")], "https://bugzil.la/");
        insta::assert_snapshot!(report);
        let beta = report.find("## beta").unwrap();
        assert!(beta < report.find("## release").unwrap());
        assert!(report.find("Bug [3]").unwrap() < report.find("Bug [9]").unwrap());
    }

    #[test]
    fn an_empty_report_says_so() {
        assert_eq!(markdown(&[], "https://bugzil.la/"), "# New uplift graft failures\n\nNo new failure.\n");
    }

    #[test]
    fn the_bugzilla_comment_names_the_conflicts() {
        let comment = bugzilla_comment(&failure(7, "esr140"));
        assert!(comment.starts_with("The uplift bot could not apply the patches of this bug onto esr140"));
        assert!(comment.contains("* c2c2c2c2c2c2 conflicts in dom/a.cpp, dom/b.h\n"), "{comment}");
        assert!(comment.contains("* d3d3d3d3d3d3 not tried: an earlier patch failed\n"), "{comment}");
    }
}
