//! Which commits introduced bugs, and when that became known.
//!
//! Three sources of fixes: `Fixes: <sha>` trailers (the kernel style: the trailer names the
//! introducing commit, which is ground truth), a file listing fix commits (one id per line, as
//! public datasets give them), and Bugzilla (defects with `regressed_by`: the regressor bugs'
//! landing commits, as bugbug labels them). From fix commits, SZZ finds the introducing
//! commits: at the fix's parent, `git blame` the lines the fix deletes or changes, skipping blank
//! and comment-only lines, lines whose change is only whitespace, documentation files and the
//! commits listed as ignorable; a fix that only adds lines blames the code lines around each
//! insertion instead. Blame ignores whitespace (`-w`) and follows renames.
//!
//! A label file is CSV: `commit,fix,fix_time,method`, one row per (introducing commit, fix),
//! `fix_time` the fix's commit time in seconds, so a time-ordered split knows which labels were
//! known before its date.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use git2::Oid;
use rayon::prelude::*;
use regex::Regex;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::error::RiskError;
use crate::features::is_documentation;
use crate::history;
use crate::hunk::Hunk;

/// One introducing commit, for one fix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Label {
    /// The introducing commit (a full id).
    pub commit: String,
    /// The commit fixing what it introduced.
    pub fix: String,
    /// The fix's commit time, seconds since the epoch: when the label became known.
    pub fix_time: i64,
    /// `trailer`, `szz` or `bugzilla`.
    pub method: String,
}

/// The labels of a history.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    pub labels: Vec<Label>,
}

impl Labels {
    /// When each introducing commit first became known as one (its earliest fix).
    pub fn known_at(&self) -> BTreeMap<&str, i64> {
        let mut known: BTreeMap<&str, i64> = BTreeMap::new();
        for label in &self.labels {
            let entry = known.entry(label.commit.as_str()).or_insert(label.fix_time);
            *entry = (*entry).min(label.fix_time);
        }
        known
    }

    /// Fills the label-history features of every row of `dataset` (only what was known before
    /// each change counts).
    pub fn add_history_to(&self, dataset: &mut Dataset) {
        let known: rustc_hash::FxHashMap<&str, i64> = self.known_at().into_iter().collect();
        crate::features::add_label_history(&mut dataset.rows, &dataset.changes, &known);
    }

    /// The distinct introducing commits.
    pub fn commits(&self) -> BTreeSet<&str> {
        self.labels.iter().map(|label| label.commit.as_str()).collect()
    }

    /// Writes the CSV label file.
    pub fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "commit,fix,fix_time,method")?;
        for label in &self.labels {
            writeln!(out, "{},{},{},{}", label.commit, label.fix, label.fix_time, label.method)?;
        }
        Ok(())
    }

    /// Reads a label file; ids are completed against the history, rows naming commits it does
    /// not hold are dropped (and counted in the log). A file of bare ids (one per line) is read
    /// as introducing commits known from the start.
    pub fn read(path: &Path, dataset: &Dataset) -> Result<Self, RiskError> {
        let file = std::fs::File::open(path)
            .map_err(|error| RiskError::io(format!("cannot read {}", path.display()), error))?;
        let mut labels = Vec::new();
        let mut unknown = 0usize;
        for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|error| RiskError::io(format!("cannot read {}", path.display()), error))?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || (number == 0 && line.starts_with("commit")) {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let Some(commit) = dataset.find(fields[0]) else {
                unknown += 1;
                continue;
            };
            let (fix, fix_time) = match fields.get(1).and_then(|fix| dataset.find(fix)) {
                Some(fix) => (fix.to_owned(), dataset.changes[dataset.index[fix]].commit_time),
                None => (String::new(), i64::MIN),
            };
            let fix_time = match fields.get(2) {
                Some(time) => time.parse().map_err(|_| {
                    RiskError::Invalid(format!("{}:{}: fix_time `{time}` is not a number", path.display(), number + 1))
                })?,
                None => fix_time,
            };
            let method = fields.get(3).map_or("file", |method| method).to_owned();
            labels.push(Label { commit: commit.to_owned(), fix, fix_time, method });
        }
        if unknown > 0 {
            tracing::warn!(labels = %path.display(), unknown, "label rows naming commits outside the history were left out");
        }
        Ok(Self { labels })
    }
}

/// The ground truth of `Fixes:` trailers: each named commit of the history, with the fix naming it.
pub fn from_trailers(dataset: &Dataset) -> (Labels, TrailerStats) {
    let mut labels = Vec::new();
    let mut stats = TrailerStats::default();
    for change in &dataset.changes {
        for named in &change.fixes {
            stats.trailers += 1;
            match dataset.find(named) {
                Some(commit) if commit != change.id => labels.push(Label {
                    commit: commit.to_owned(),
                    fix: change.id.clone(),
                    fix_time: change.commit_time,
                    method: "trailer".to_owned(),
                }),
                _ => stats.unresolved += 1,
            }
        }
    }
    labels.sort();
    labels.dedup();
    stats.fixes = labels.iter().map(|label| &label.fix).collect::<HashSet<_>>().len();
    stats.introducing = labels.iter().map(|label| &label.commit).collect::<HashSet<_>>().len();
    (Labels { labels }, stats)
}

/// What the trailers of a history hold.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TrailerStats {
    pub trailers: usize,
    /// Trailers naming no commit of the history (or an ambiguous prefix).
    pub unresolved: usize,
    pub fixes: usize,
    pub introducing: usize,
}

/// How SZZ runs.
#[derive(Clone, Debug, Default)]
pub struct SzzOptions {
    /// Commits blame looks through (`git blame --ignore-revs-file`): formatting sweeps, reverts.
    pub ignore_revs: Option<PathBuf>,
}

/// SZZ from the given fix commits (full ids), on rayon.
pub fn szz(repository: &Path, dataset: &Dataset, fixes: &[String], options: &SzzOptions) -> Result<Labels, RiskError> {
    let ignored: HashSet<String> = match &options.ignore_revs {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| RiskError::io(format!("cannot read {}", path.display()), error))?
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|id| dataset.find(id).map(str::to_owned))
            .collect(),
        None => HashSet::new(),
    };
    let repository = history::git_dir(&history::open(repository)?);
    let found: Vec<Result<Vec<Label>, RiskError>> = fixes
        .par_iter()
        .map(|fix| {
            let fix_time = dataset.index.get(fix).map_or(0, |position| dataset.changes[*position].commit_time);
            let introducers = introducers(&repository, fix, options)?;
            Ok(introducers
                .into_iter()
                .filter(|commit| commit != fix && !ignored.contains(commit) && dataset.index.contains_key(commit))
                .map(|commit| Label { commit, fix: fix.clone(), fix_time, method: "szz".to_owned() })
                .collect())
        })
        .collect();
    let mut labels = Vec::new();
    for result in found {
        labels.extend(result?);
    }
    labels.sort();
    labels.dedup();
    Ok(Labels { labels })
}

/// The lines of one file a fix asks blame about, at the fix's parent.
struct Blamed {
    path: String,
    lines: Vec<u32>,
}

/// The commits SZZ blames for one fix.
pub fn introducers(git_dir: &Path, fix: &str, options: &SzzOptions) -> Result<BTreeSet<String>, RiskError> {
    let repository = history::open(git_dir)?;
    let oid = Oid::from_str(fix).map_err(RiskError::git(format!("{fix} is not a commit id")))?;
    let commit = repository.find_commit(oid).map_err(RiskError::git(format!("cannot read the fix {fix}")))?;
    if commit.parent_count() == 0 {
        return Ok(BTreeSet::new());
    }
    let parent = commit.parent(0).map_err(RiskError::git(format!("cannot read the parent of {fix}")))?;
    let (old_tree, new_tree) = match (parent.tree(), commit.tree()) {
        (Ok(old), Ok(new)) => (old, new),
        _ => return Err(RiskError::Invalid(format!("cannot read the trees of {fix}"))),
    };
    let mut diff_options = git2::DiffOptions::new();
    diff_options.context_lines(0);
    let mut diff = repository
        .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), Some(&mut diff_options))
        .map_err(RiskError::git(format!("cannot compare {fix} with its parent")))?;
    let mut find = git2::DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find)).map_err(RiskError::git("cannot find renames"))?;

    let mut deleted: Vec<Blamed> = Vec::new();
    let mut around: Vec<Blamed> = Vec::new();
    for delta in diff.deltas() {
        if matches!(delta.status(), git2::Delta::Added) {
            continue;
        }
        let Some(path) = delta.old_file().path().map(|path| path.to_string_lossy().into_owned()) else { continue };
        if is_documentation(&path) {
            continue;
        }
        let old = repository.find_blob(delta.old_file().id()).ok();
        let new = match delta.status() {
            git2::Delta::Deleted => None,
            _ => repository.find_blob(delta.new_file().id()).ok(),
        };
        if old.as_ref().is_some_and(git2::Blob::is_binary) || new.as_ref().is_some_and(git2::Blob::is_binary) {
            continue;
        }
        let old_text = old.as_ref().map_or(&[][..], git2::Blob::content);
        let new_text = new.as_ref().map_or(&[][..], git2::Blob::content);
        let hunks = history::line_hunks(&repository, old.as_ref(), new.as_ref())
            .map_err(RiskError::git(format!("cannot compare {path} in {fix}")))?;
        let (changed, adjacent) = lines_to_blame(&path, old_text, new_text, &hunks);
        if !changed.is_empty() {
            deleted.push(Blamed { path: path.clone(), lines: changed });
        }
        if !adjacent.is_empty() {
            around.push(Blamed { path, lines: adjacent });
        }
    }
    // Lines around insertions only when the fix deletes or changes no code line at all.
    let targets = if deleted.is_empty() { around } else { deleted };
    let parent_id = parent.id().to_string();
    let mut found = BTreeSet::new();
    for target in targets {
        found.extend(blame(git_dir, &parent_id, &target, options)?);
    }
    Ok(found)
}

/// The old lines (1-based) a fix deletes or changes that are code, and the code lines around
/// its pure insertions.
fn lines_to_blame(path: &str, old: &[u8], new: &[u8], hunks: &[Hunk]) -> (Vec<u32>, Vec<u32>) {
    let old_lines: Vec<&[u8]> = split_lines(old);
    let new_lines: Vec<&[u8]> = split_lines(new);
    let comment = CommentStyle::of(path);
    let is_code = |line: &[u8]| !comment.is_blank_or_comment(line);
    let mut changed = Vec::new();
    let mut adjacent = Vec::new();
    for hunk in hunks {
        if hunk.old_lines == 0 {
            // After old line `old_start`: blame it and the next one, when they are code.
            for line in [hunk.old_start, hunk.old_start + 1] {
                if line >= 1 && (line as usize) <= old_lines.len() && is_code(old_lines[line as usize - 1]) {
                    adjacent.push(line);
                }
            }
            continue;
        }
        let added: HashSet<Vec<u8>> = (hunk.new_start..hunk.new_start + hunk.new_lines)
            .filter_map(|line| new_lines.get(line as usize - 1))
            .map(|line| squeeze(line))
            .collect();
        for line in hunk.old_start..hunk.old_start + hunk.old_lines {
            let Some(text) = old_lines.get(line as usize - 1) else { continue };
            // Only its whitespace changed: the same line is among the hunk's new lines.
            if is_code(text) && !added.contains(&squeeze(text)) {
                changed.push(line);
            }
        }
    }
    adjacent.sort_unstable();
    adjacent.dedup();
    (changed, adjacent)
}

fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = text.split(|byte| *byte == b'\n').collect();
    if text.last() == Some(&b'\n') {
        lines.pop();
    }
    lines
}

/// A line without its whitespace.
fn squeeze(line: &[u8]) -> Vec<u8> {
    line.iter().copied().filter(|byte| !byte.is_ascii_whitespace()).collect()
}

/// How comments look in a file, from its extension.
#[derive(Clone, Copy)]
enum CommentStyle {
    /// `//`, `/* */` (and `*` continuation lines): C, C++, Rust, JavaScript, Java, Go.
    CLike,
    /// `#`: Python, shell, Makefiles, Perl.
    Hash,
    /// Neither: only blank lines are skipped.
    Unknown,
}

impl CommentStyle {
    fn of(path: &str) -> Self {
        let name = path.rsplit('/').next().unwrap_or(path);
        let extension = name.rsplit_once('.').map_or("", |(_, extension)| extension);
        match extension {
            "c" | "h" | "cc" | "cpp" | "cxx" | "hh" | "hpp" | "hxx" | "rs" | "js" | "mjs" | "jsx" | "ts" | "java"
            | "go" | "y" | "l" => Self::CLike,
            "py" | "sh" | "bash" | "pl" | "mk" | "cmake" | "awk" => Self::Hash,
            _ if name == "Makefile" || name.starts_with("Makefile.") || name == "configure" => Self::Hash,
            _ => Self::Unknown,
        }
    }

    fn is_blank_or_comment(self, line: &[u8]) -> bool {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return true;
        }
        match self {
            Self::CLike => {
                text.starts_with("//")
                    || text.starts_with("/*") && (text.ends_with("*/") || !text.contains("*/"))
                    || text.starts_with("*")
                    || text == "*/"
            }
            Self::Hash => text.starts_with('#') && !text.starts_with("#!"),
            Self::Unknown => false,
        }
    }
}

/// `git blame` of some lines of a file at `revision`: the commits that last changed them.
fn blame(git_dir: &Path, revision: &str, target: &Blamed, options: &SzzOptions) -> Result<BTreeSet<String>, RiskError> {
    let mut command = Command::new("git");
    command.arg("--git-dir").arg(git_dir).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").args([
        "blame",
        "--porcelain",
        "-w",
    ]);
    if let Some(ignore) = &options.ignore_revs {
        command.arg("--ignore-revs-file").arg(ignore);
    }
    for (first, last) in ranges(&target.lines) {
        command.arg("-L").arg(format!("{first},{last}"));
    }
    command.arg(revision).arg("--").arg(&target.path);
    let output = command.output().map_err(|error| RiskError::io("cannot run git blame", error))?;
    if !output.status.success() {
        return Err(RiskError::Invalid(format!(
            "git blame {} at {revision} failed: {}",
            target.path,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(porcelain_commits(&output.stdout))
}

/// Consecutive lines as `(first, last)` ranges.
fn ranges(lines: &[u32]) -> Vec<(u32, u32)> {
    let mut sorted = lines.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for line in sorted {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == line => *last = line,
            _ => ranges.push((line, line)),
        }
    }
    ranges
}

/// The commits of `git blame --porcelain` output (each group's header line).
fn porcelain_commits(output: &[u8]) -> BTreeSet<String> {
    let text = String::from_utf8_lossy(output);
    text.lines()
        .filter_map(|line| {
            let id = line.split(' ').next()?;
            (id.len() == 40 && id.bytes().all(|byte| byte.is_ascii_hexdigit()) && line.split(' ').count() >= 3)
                .then(|| id.to_owned())
        })
        .filter(|id| !id.bytes().all(|byte| byte == b'0'))
        .collect()
}

/// SZZ's agreement with the commits the trailers name, over the fixes that have trailers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Agreement {
    pub fixes: usize,
    /// Introducing commits named by the trailers, and found by SZZ.
    pub named: usize,
    pub found: usize,
    pub both: usize,
    pub precision: f64,
    pub recall: f64,
    /// Fixes where SZZ found nothing.
    pub empty: usize,
}

/// Compares SZZ on the trailers' fixes with the trailers (pairs of fix and introducing commit).
pub fn agreement(truth: &Labels, found: &Labels) -> Agreement {
    let named: BTreeSet<(&str, &str)> = truth.labels.iter().map(|l| (l.fix.as_str(), l.commit.as_str())).collect();
    let szz: BTreeSet<(&str, &str)> = found.labels.iter().map(|l| (l.fix.as_str(), l.commit.as_str())).collect();
    let fixes: BTreeSet<&str> = named.iter().map(|(fix, _)| *fix).collect();
    let with_found: BTreeSet<&str> = szz.iter().map(|(fix, _)| *fix).collect();
    let both = named.intersection(&szz).count();
    Agreement {
        fixes: fixes.len(),
        named: named.len(),
        found: szz.len(),
        both,
        precision: if szz.is_empty() { 0.0 } else { both as f64 / szz.len() as f64 },
        recall: if named.is_empty() { 0.0 } else { both as f64 / named.len() as f64 },
        empty: fixes.iter().filter(|fix| !with_found.contains(*fix)).count(),
    }
}

/// The fix commits of a file of ids (one per line; `#` comments), as full ids of the history.
pub fn read_fix_list(path: &Path, dataset: &Dataset) -> Result<Vec<String>, RiskError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| RiskError::io(format!("cannot read {}", path.display()), error))?;
    let mut fixes = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
        let id = line.split([',', ' ', '\t']).next().unwrap_or(line);
        match dataset.find(id) {
            Some(full) => fixes.push(full.to_owned()),
            None => tracing::warn!(fix = id, "a listed fix is not in the history"),
        }
    }
    fixes.sort();
    fixes.dedup();
    Ok(fixes)
}

/// Bug numbers a commit message names (`Bug 123`, `bug 123 -`, `b=123`).
pub fn bug_numbers(subject: &str) -> Vec<i64> {
    static BUG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\bbug[\s#:-]*([0-9]{3,8})\b").expect("a valid pattern"));
    BUG.captures_iter(subject).filter_map(|capture| capture[1].parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_ranges() {
        assert_eq!(ranges(&[5, 3, 4, 9, 10, 1]), [(1, 1), (3, 5), (9, 10)]);
    }

    #[test]
    fn comments_and_blank_lines_are_not_blamed() {
        let c = CommentStyle::of("ip/link.c");
        for line in ["", "   ", "// note", "/* one */", " * more", "*/"] {
            assert!(c.is_blank_or_comment(line.as_bytes()), "{line:?}");
        }
        for line in ["x = 1; /* why */", "#include <stdio.h>", "return 0;"] {
            assert!(!c.is_blank_or_comment(line.as_bytes()), "{line:?}");
        }
        assert!(CommentStyle::of("setup.py").is_blank_or_comment(b"  # note"));
        assert!(!CommentStyle::of("README").is_blank_or_comment(b"# title"));
    }

    #[test]
    fn documentation_is_left_out() {
        assert!(is_documentation("man/man8/ip-link.8.in"));
        assert!(is_documentation("README.md"));
        assert!(!is_documentation("ip/iplink.c"));
    }

    #[test]
    fn bug_numbers_are_read_from_subjects() {
        assert_eq!(bug_numbers("Bug 1234567 - fix the crash. r=me"), [1234567]);
        assert_eq!(bug_numbers("Backed out changeset abc (bug 42424)"), [42424]);
        assert!(bug_numbers("no bug here").is_empty());
    }
}
