//! Kamei et al.'s 14 change features (TSE 2013, table 1), computed from the history in one pass,
//! oldest first, plus the function counts of the function-level change sets.
//!
//! | feature | definition here |
//! | --- | --- |
//! | `ns` | subsystems changed: distinct first path components (`ip/`, `tc/`; files at the root are the subsystem `.`) |
//! | `nd` | directories changed: distinct parent directories of the changed files |
//! | `nf` | files changed |
//! | `entropy` | distribution of the change across files: −Σ pₖ log₂ pₖ, pₖ the share of the changed lines (added + deleted) in file k; 0 for one file. Not normalised by log₂ nf, as in Kamei et al. |
//! | `la`, `ld` | lines added, lines deleted, summed over the files (binary files count none) |
//! | `lt` | lines of the changed files before the change, summed over the files (Kamei et al. give it per file; the sum is what a change touches) |
//! | `fix` | 1 when the message says the change fixes a defect: a `Fixes:` trailer, or a defect word in the subject (fix, bug, defect, fault, error, crash, regression, leak, …) |
//! | `ndev` | distinct developers (author emails, after the mailmap) who changed any of the files before |
//! | `age` | mean, over the changed files that were changed before, of the days since their last change; 0 when none was |
//! | `nuc` | distinct earlier changes to any of the files |
//! | `exp` | the author's earlier changes |
//! | `rexp` | the author's earlier changes weighted by recency: Σ 1 / (1 + whole years before this change) |
//! | `sexp` | the author's earlier changes to the subsystems this change touches: the most to any one of them (a change touching two of the author's subsystems counts the larger) |
//!
//! "Earlier" is the order of the walk: parents before children, then author time. A renamed file
//! keeps its history (its state moves to the new path).
//!
//! Beyond Kamei's 14, what the change is made of and what its files' and author's history says:
//!
//! | feature | definition |
//! | --- | --- |
//! | `la_code`, `ld_code`, `nf_code` | lines added, lines deleted and files changed, counting only source files (C, C++, Rust, Python, JavaScript, Go, Java, shell, yacc/lex) |
//! | `doc` | lines changed (added + deleted) in documentation: man pages, `doc/`, text, markdown |
//! | `new_files` | files the change adds |
//! | `feature` | 1 when the subject says it adds something: add, support, new, introduce, implement |
//! | `cleanup` | 1 when the subject says it tidies: cleanup, whitespace, typo, spelling, cosmetic, style, comment |
//! | `pbug` | earlier changes to any of the files already known, at the change's time, to have introduced a bug (their fix had landed) |
//! | `frate` | `pbug` per earlier change of the files, in percent: 100 · pbug / (nuc + 1) |
//! | `abug` | the author's earlier changes already known, at the change's time, to have introduced a bug |
//! | `arate` | 100 · abug / (exp + 1) |
//! | `fa`, `fr`, `fm` | functions added, removed and modified, summed over the files with a grammar |
//!
//! The last four of the history group need labels, and only count what was known before the
//! change: [`add_label_history`] fills them from each introducing commit's earliest fix time.

use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

static FEATURE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(add(s|ed|ing)?|support(s|ed)?|new|introduc(e|es|ed|ing)|implement(s|ed)?)\b")
        .expect("a valid pattern")
});
static CLEANUP_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(clean ?up|whitespace|typo|spelling|cosmetic|coding style|\bstyle\b|\bcomments?\b|\bindent)")
        .expect("a valid pattern")
});

/// Source files, by extension.
pub fn is_source(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map_or("", |(_, extension)| extension);
    matches!(
        extension,
        "c" | "h"
            | "cc"
            | "cpp"
            | "cxx"
            | "hh"
            | "hpp"
            | "hxx"
            | "rs"
            | "py"
            | "js"
            | "mjs"
            | "jsx"
            | "ts"
            | "go"
            | "java"
            | "sh"
            | "y"
            | "l"
    )
}

/// Documentation: man pages, `doc/`, text and markdown files.
pub fn is_documentation(path: &str) -> bool {
    static MAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\.[1-9][a-z]*(\.in)?$").expect("a valid pattern"));
    let lower = path.to_ascii_lowercase();
    lower.starts_with("man/")
        || lower.starts_with("doc/")
        || lower.contains("/doc/")
        || [".md", ".txt", ".rst", ".html", ".tex", ".sgml"].iter().any(|extension| lower.ends_with(extension))
        || MAN.is_match(&lower)
}

use crate::history::Change;

/// How many features a row has.
pub const COUNT: usize = 28;

/// The names of the features, in their column order: Kamei's 14, what the change is made of,
/// the label history, the function counts.
pub const NAMES: [&str; COUNT] = [
    "ns",
    "nd",
    "nf",
    "entropy",
    "la",
    "ld",
    "lt",
    "fix",
    "ndev",
    "age",
    "nuc",
    "exp",
    "rexp",
    "sexp",
    "la_code",
    "ld_code",
    "nf_code",
    "doc",
    "new_files",
    "feature",
    "cleanup",
    "pbug",
    "frate",
    "abug",
    "arate",
    "fa",
    "fr",
    "fm",
];

/// Kamei et al.'s 14.
pub const KAMEI: &[&str] = NAMES.split_at(14).0;

/// The features a model uses unless told otherwise: all but the function counts (which need
/// the function change sets, off by default on whole histories for their cost).
pub const DEFAULT_MODEL: &[&str] = NAMES.split_at(25).0;

/// One commit's row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub commit: String,
    pub author: String,
    /// Seconds since the epoch.
    pub author_time: i64,
    pub ns: f64,
    pub nd: f64,
    pub nf: f64,
    pub entropy: f64,
    pub la: f64,
    pub ld: f64,
    pub lt: f64,
    pub fix: f64,
    pub ndev: f64,
    pub age: f64,
    pub nuc: f64,
    pub exp: f64,
    pub rexp: f64,
    pub sexp: f64,
    pub la_code: f64,
    pub ld_code: f64,
    pub nf_code: f64,
    pub doc: f64,
    pub new_files: f64,
    pub feature: f64,
    pub cleanup: f64,
    pub pbug: f64,
    pub frate: f64,
    pub abug: f64,
    pub arate: f64,
    /// Functions added, removed, modified.
    pub fa: f64,
    pub fr: f64,
    pub fm: f64,
}

impl Row {
    /// The features in the order of [`NAMES`].
    pub fn values(&self) -> [f64; COUNT] {
        [
            self.ns,
            self.nd,
            self.nf,
            self.entropy,
            self.la,
            self.ld,
            self.lt,
            self.fix,
            self.ndev,
            self.age,
            self.nuc,
            self.exp,
            self.rexp,
            self.sexp,
            self.la_code,
            self.ld_code,
            self.nf_code,
            self.doc,
            self.new_files,
            self.feature,
            self.cleanup,
            self.pbug,
            self.frate,
            self.abug,
            self.arate,
            self.fa,
            self.fr,
            self.fm,
        ]
    }

    /// Lines changed (added + deleted), at least 1: the effort of reviewing the change.
    pub fn effort(&self) -> f64 {
        (self.la + self.ld).max(1.0)
    }
}

/// What the pass knows of a file so far.
#[derive(Default)]
struct FileState {
    last_time: i64,
    /// Indices of the changes that touched it.
    changes: Vec<u32>,
    /// Ids of the developers who changed it.
    authors: Vec<u32>,
}

const SECONDS_PER_DAY: f64 = 86_400.0;
const SECONDS_PER_YEAR: i64 = 365 * 86_400;

/// The features of every change, oldest first; `changes` must be in the order of the walk.
/// Merges are not in `changes` (they change nothing of their own).
pub fn compute(changes: &[Change]) -> Vec<Row> {
    let mut files: FxHashMap<&str, FileState> = FxHashMap::default();
    let mut authors: FxHashMap<&str, u32> = FxHashMap::default();
    // Each author's earlier changes: their author times, sorted, and their count per subsystem.
    let mut history: Vec<Vec<i64>> = Vec::new();
    let mut by_subsystem: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    let mut subsystems: FxHashMap<&str, u32> = FxHashMap::default();
    // Stamps for counting distinct changes and developers without hashing.
    let mut change_stamp: Vec<u32> = vec![u32::MAX; changes.len()];
    let mut author_stamp: Vec<u32> = Vec::new();
    let mut rows = Vec::with_capacity(changes.len());

    for (index, change) in changes.iter().enumerate() {
        let index = index as u32;
        let next_author = authors.len() as u32;
        let author = *authors.entry(change.author.as_str()).or_insert(next_author);
        if author as usize >= history.len() {
            history.push(Vec::new());
            author_stamp.push(u32::MAX);
        }
        let mut row = Row {
            commit: change.id.clone(),
            author: change.author.clone(),
            author_time: change.author_time,
            ..Row::default()
        };

        // Size, diffusion and the function counts.
        let mut change_subsystems: Vec<u32> = Vec::new();
        let mut directories: FxHashSet<&str> = FxHashSet::default();
        let mut churn: Vec<f64> = Vec::with_capacity(change.files.len());
        for file in &change.files {
            let subsystem = subsystem(&file.path);
            let next = subsystems.len() as u32;
            let id = *subsystems.entry(subsystem).or_insert(next);
            if !change_subsystems.contains(&id) {
                change_subsystems.push(id);
            }
            directories.insert(file.path.rsplit_once('/').map_or("", |(directory, _)| directory));
            row.la += f64::from(file.added);
            row.ld += f64::from(file.deleted);
            row.lt += f64::from(file.old_lines);
            churn.push(f64::from(file.added + file.deleted));
            if is_source(&file.path) {
                row.la_code += f64::from(file.added);
                row.ld_code += f64::from(file.deleted);
                row.nf_code += 1.0;
            }
            if is_documentation(&file.path) {
                row.doc += f64::from(file.added + file.deleted);
            }
            if file.old_lines == 0 && file.old_path.is_none() && file.deleted == 0 && file.added > 0 {
                row.new_files += 1.0;
            }
            if let Some(functions) = &file.functions {
                row.fa += functions.added.len() as f64;
                row.fr += functions.removed.len() as f64;
                row.fm += functions.modified.len() as f64;
            }
        }
        row.nf = change.files.len() as f64;
        row.ns = change_subsystems.len() as f64;
        row.nd = directories.len() as f64;
        row.entropy = entropy(&churn);
        row.fix = f64::from(u8::from(change.fix));
        row.feature = f64::from(u8::from(FEATURE_WORDS.is_match(&change.subject)));
        row.cleanup = f64::from(u8::from(CLEANUP_WORDS.is_match(&change.subject)));

        // History: the files' earlier changes and developers.
        let mut ages = Vec::new();
        let mut nuc = 0u32;
        let mut ndev = 0u32;
        for file in &change.files {
            let key = file.old_path.as_deref().unwrap_or(&file.path);
            let Some(state) = files.get(key) else { continue };
            ages.push((change.author_time - state.last_time).max(0) as f64 / SECONDS_PER_DAY);
            for &earlier in &state.changes {
                if change_stamp[earlier as usize] != index {
                    change_stamp[earlier as usize] = index;
                    nuc += 1;
                }
            }
            for &developer in &state.authors {
                if author_stamp[developer as usize] != index {
                    author_stamp[developer as usize] = index;
                    ndev += 1;
                }
            }
        }
        row.nuc = f64::from(nuc);
        row.ndev = f64::from(ndev);
        row.age = if ages.is_empty() { 0.0 } else { ages.iter().sum::<f64>() / ages.len() as f64 };

        // The author's experience.
        let earlier = &history[author as usize];
        row.exp = earlier.len() as f64;
        row.rexp = recent_experience(earlier, change.author_time);
        row.sexp = change_subsystems
            .iter()
            .map(|subsystem| by_subsystem.get(&(author, *subsystem)).copied().unwrap_or(0))
            .max()
            .map_or(0.0, f64::from);

        // Now this change is history.
        for file in &change.files {
            let mut state = match &file.old_path {
                Some(old) => files.remove(old.as_str()).unwrap_or_default(),
                None => files.remove(file.path.as_str()).unwrap_or_default(),
            };
            state.last_time = change.author_time;
            state.changes.push(index);
            if !state.authors.contains(&author) {
                state.authors.push(author);
            }
            files.insert(file.path.as_str(), state);
        }
        let times = &mut history[author as usize];
        let at = times.partition_point(|time| *time <= change.author_time);
        times.insert(at, change.author_time);
        for subsystem in change_subsystems {
            *by_subsystem.entry((author, subsystem)).or_default() += 1;
        }
        rows.push(row);
    }
    rows
}

/// Fills `pbug`, `frate`, `abug` and `arate` of every row: `known_at` gives, for each
/// introducing commit, when it became known (its earliest fix); only what was known before each
/// change's author time counts. `rows` and `changes` are in the order of the walk.
pub fn add_label_history(rows: &mut [Row], changes: &[Change], known_at: &FxHashMap<&str, i64>) {
    let known: Vec<i64> =
        changes.iter().map(|change| known_at.get(change.id.as_str()).copied().unwrap_or(i64::MAX)).collect();
    let mut files: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
    let mut authors: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
    let mut stamp: Vec<u32> = vec![u32::MAX; changes.len()];
    for (index, (row, change)) in rows.iter_mut().zip(changes).enumerate() {
        let now = change.author_time;
        let mut pbug = 0u32;
        for file in &change.files {
            let key = file.old_path.as_deref().unwrap_or(&file.path);
            for &earlier in files.get(key).into_iter().flatten() {
                if stamp[earlier as usize] != index as u32 {
                    stamp[earlier as usize] = index as u32;
                    pbug += u32::from(known[earlier as usize] < now);
                }
            }
        }
        let abug = authors
            .get(change.author.as_str())
            .into_iter()
            .flatten()
            .filter(|earlier| known[**earlier as usize] < now)
            .count();
        row.pbug = f64::from(pbug);
        row.frate = 100.0 * row.pbug / (row.nuc + 1.0);
        row.abug = abug as f64;
        row.arate = 100.0 * row.abug / (row.exp + 1.0);
        for file in &change.files {
            let history = match &file.old_path {
                Some(old) => files.remove(old.as_str()).unwrap_or_default(),
                None => files.remove(file.path.as_str()).unwrap_or_default(),
            };
            let entry = files.entry(file.path.as_str()).or_insert(history);
            entry.push(index as u32);
        }
        authors.entry(change.author.as_str()).or_default().push(index as u32);
    }
}

/// Σ 1 / (1 + whole years between each earlier change and `now`), `times` sorted; changes
/// dated after `now` (clocks disagree) weigh 1.
fn recent_experience(times: &[i64], now: i64) -> f64 {
    let mut total = 0.0;
    let mut end = times.len();
    let mut years = 0i64;
    while end > 0 {
        // The changes less than `years + 1` whole years before now.
        let bound = now - (years + 1) * SECONDS_PER_YEAR;
        let start = times[..end].partition_point(|time| *time <= bound);
        total += (end - start) as f64 / (1.0 + years as f64);
        end = start;
        years += 1;
    }
    total
}

/// A path's subsystem: its first component, `.` for files at the root.
pub fn subsystem(path: &str) -> &str {
    path.split_once('/').map_or(".", |(first, _)| first)
}

/// −Σ p log₂ p over the shares of `churn`.
fn entropy(churn: &[f64]) -> f64 {
    let total: f64 = churn.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    -churn.iter().filter(|lines| **lines > 0.0).map(|lines| lines / total).map(|p| p * p.log2()).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_is_zero_for_one_file_and_one_bit_for_two_equal_files() {
        assert_eq!(entropy(&[10.0]), 0.0);
        assert!((entropy(&[5.0, 5.0]) - 1.0).abs() < 1e-12);
        assert!((entropy(&[1.0, 1.0, 1.0, 1.0]) - 2.0).abs() < 1e-12);
        assert_eq!(entropy(&[]), 0.0);
    }

    #[test]
    fn files_at_the_root_are_one_subsystem() {
        assert_eq!(subsystem("README"), ".");
        assert_eq!(subsystem("ip/ipaddress.c"), "ip");
    }
}
