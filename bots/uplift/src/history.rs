//! The git history of the repository the uplifts come from: each bug's patches on the main branch,
//! with their size, languages, modules, code churn and the familiarity of their author and
//! reviewers with the files.
//!
//! Cost: a run analyses hundreds of bugs in a repository of 100k+ commits, so [`History::build`]
//! walks the main branch once for every bug at a time, then indexes which commits touched the
//! files of those bugs' patches with one restricted tree comparison per commit, on rayon (one
//! `Repository` per chunk: it is not `Sync`). Each patch's metrics then come from that index.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use git2::{Delta, Diff, ObjectType, Oid, Repository, Sort, Tree, TreeEntry};
use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Error;

/// Where the history comes from and how its metrics are computed.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistorySettings {
    /// The link to a commit, `{commit}` standing for its id
    /// (`https://github.com/mozilla-firefox/firefox/commit/{commit}`).
    pub commit_url: Option<String>,
    /// How many leading directories name a file's module (1: `dom/media/x.cpp` is in `dom`).
    pub module_depth: usize,
    /// The "recent" window of churn and familiarity, in days before the patch (84: three
    /// four-week release cycles).
    pub recent_days: i64,
    /// Commits compared per rayon task when indexing the files.
    pub chunk_size: usize,
    /// A mercurial → git mapping service for the landings cited in comments (see
    /// [`crate::landing::Mapper`]).
    pub mapper: Option<Url>,
}

impl HistorySettings {
    /// The link to a commit, if configured.
    pub fn commit_url(&self, commit: &str) -> Option<String> {
        self.commit_url.as_ref().map(|template| template.replace("{commit}", commit))
    }
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self { commit_url: None, module_depth: 1, recent_days: 84, chunk_size: 2048, mapper: None }
    }
}

/// The metrics of one patch, as libmozdata's `patch_analysis` named them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct PatchMetrics {
    /// Lines added, in all files.
    pub changes_add: usize,
    /// Lines removed, in all files.
    pub changes_del: usize,
    /// Lines added or removed outside tests.
    pub changes_size: usize,
    /// Lines added or removed in tests.
    pub test_changes_size: usize,
    /// Languages of the files touched (by extension), sorted.
    pub languages: Vec<String>,
    /// Modules touched (leading directories), sorted.
    pub modules: Vec<String>,
    pub modules_num: usize,
    /// Earlier commits of the main branch touching the patch's files (each counted once).
    pub code_churn_overall: usize,
    /// The same, within the recent window before the patch.
    pub code_churn_recent: usize,
    /// Earlier commits on those files by the patch's author.
    pub developer_familiarity_overall: usize,
    pub developer_familiarity_recent: usize,
    /// Earlier commits on those files reviewed by one of the patch's reviewers.
    pub reviewer_familiarity_overall: usize,
    pub reviewer_familiarity_recent: usize,
}

/// A commit of the main branch that names a bug, and was neither a backout nor backed out.
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    pub commit: String,
    pub summary: String,
    pub author_name: String,
    pub author_email: String,
    /// The `r=` reviewers of its message, lower case.
    pub reviewers: Vec<String>,
    pub time: DateTime<Utc>,
    /// Paths touched (both sides of a rename), sorted.
    pub files: Vec<String>,
    pub metrics: PatchMetrics,
}

/// What the history says about the bugs of one run.
#[derive(Debug, Default)]
pub struct History {
    /// Every commit of the main branch, sorted by id, to resolve abbreviated revisions.
    commits: Vec<Oid>,
    /// Each bug's patches, oldest first.
    patches: HashMap<i64, Vec<Patch>>,
    /// How many backout commits name each bug.
    backouts: HashMap<i64, usize>,
}

/// A commit of the walk, oldest first.
struct Walked {
    oid: Oid,
    time: i64,
    merge: bool,
}

/// Who wrote and reviewed a commit that touched an indexed file.
struct Toucher {
    index: usize,
    time: i64,
    author: String,
    reviewers: Vec<String>,
}

/// Digits of a cited landing compared first (mercurial short hashes have 12).
const LANDING_PREFIX: usize = 12;

static BUG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)^\s*bug[\s-]*(\d+)\b").expect("a valid regex"));
static BUG_ANYWHERE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bbug[\s-]*(\d+)\b").expect("a valid regex"));
static BACKOUT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*(?:backed[\s-]*out|back[\s-]*out|backout|revert\b)").expect("a valid regex"));
static HASH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[0-9a-f]{12,40}\b").expect("a valid regex"));
static REVIEWERS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:^|[\s,;(])r=([^\s;()]+)").expect("a valid regex"));

impl History {
    /// Walks `branch` of the repository at `path` once and computes the patches of the bugs of
    /// `wanted` with their metrics. A bug's patches are the commits whose summary names it, and
    /// the commits its landings cite (the bug's values: git ids, or prefixes of 12 at least).
    pub fn build(
        path: &Path,
        branch: &str,
        settings: &HistorySettings,
        wanted: &BTreeMap<i64, Vec<String>>,
    ) -> Result<Self, Error> {
        let started = std::time::Instant::now();
        let repository = open(path)?;
        let walk = Walk::run(&repository, branch, wanted)?;
        drop(repository);
        let walked = started.elapsed();

        let mut patches = walk.patches(path, settings.chunk_size)?;
        let files: BTreeSet<String> = patches.iter().flat_map(|(_, patch)| patch.files.iter().cloned()).collect();
        let index = FileIndex::build(path, &walk.commits, &files, settings.chunk_size)?;
        let recent = settings.recent_days * 24 * 3600;
        patches.par_iter_mut().for_each(|(position, patch)| {
            index.measure(*position, patch, recent);
            patch.metrics.modules = modules(&patch.files, settings.module_depth);
            patch.metrics.modules_num = patch.metrics.modules.len();
        });

        let mut by_bug: HashMap<i64, Vec<Patch>> = HashMap::new();
        for ((_, patch), bug) in patches.into_iter().zip(walk.patch_bugs) {
            by_bug.entry(bug).or_default().push(patch);
        }
        let mut commits: Vec<Oid> = walk.commits.iter().map(|commit| commit.oid).collect();
        commits.sort_unstable();
        tracing::info!(
            commits = commits.len(),
            bugs = by_bug.len(),
            files = files.len(),
            walk_ms = walked.as_millis() as u64,
            duration_ms = started.elapsed().as_millis() as u64,
            "history indexed"
        );
        Ok(Self { commits, patches: by_bug, backouts: walk.backouts })
    }

    /// The bug's patches, oldest first: the order to graft them in.
    pub fn patches(&self, bug: i64) -> &[Patch] {
        self.patches.get(&bug).map_or(&[], Vec::as_slice)
    }

    /// How many backout commits name the bug.
    pub fn backouts(&self, bug: i64) -> usize {
        self.backouts.get(&bug).copied().unwrap_or_default()
    }

    /// The commit of the main branch whose id starts with `prefix`, if exactly one does.
    pub fn resolve(&self, prefix: &str) -> Option<String> {
        let prefix = prefix.to_ascii_lowercase();
        if prefix.len() < 7 || !prefix.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        let start = self.commits.partition_point(|oid| oid.to_string() < prefix);
        let mut matching = self.commits[start..].iter().map(Oid::to_string).take_while(|id| id.starts_with(&prefix));
        match (matching.next(), matching.next()) {
            (Some(id), None) => Some(id),
            _ => None,
        }
    }
}

/// The first pass: one walk of the main branch, oldest first.
struct Walk {
    commits: Vec<Walked>,
    /// Positions in `commits` of the wanted bugs' patches, oldest first.
    patch_positions: Vec<usize>,
    /// The bug of each of those.
    patch_bugs: Vec<i64>,
    backouts: HashMap<i64, usize>,
}

impl Walk {
    fn run(repository: &Repository, branch: &str, wanted: &BTreeMap<i64, Vec<String>>) -> Result<Self, Error> {
        // Cited landings by their first 12 digits, so that each commit costs one lookup.
        let mut landed: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for (&bug, commits) in wanted {
            for commit in commits.iter().filter(|commit| commit.len() >= LANDING_PREFIX && commit.is_ascii()) {
                let commit = commit.to_ascii_lowercase();
                landed.entry(commit[..LANDING_PREFIX].to_owned()).or_default().push((commit, bug));
            }
        }
        let tip = repository
            .revparse_single(branch)
            .and_then(|object| object.peel_to_commit())
            .map_err(Error::git(format!("cannot resolve {branch}")))?;
        let mut revwalk = repository.revwalk().map_err(Error::git("revwalk"))?;
        revwalk.push(tip.id()).map_err(Error::git("revwalk"))?;
        revwalk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).map_err(Error::git("revwalk"))?;

        let mut commits = Vec::new();
        let mut candidates: Vec<(usize, i64)> = Vec::new();
        let mut backed_out: Vec<String> = Vec::new();
        let mut backouts: HashMap<i64, usize> = HashMap::new();
        for oid in revwalk {
            let oid = oid.map_err(Error::git("revwalk"))?;
            let commit = repository.find_commit(oid).map_err(Error::git(format!("commit {oid}")))?;
            let message = String::from_utf8_lossy(commit.message_bytes());
            let summary = message.lines().next().unwrap_or_default();
            let merge = commit.parent_count() > 1;
            if BACKOUT.is_match(summary) {
                backed_out.extend(HASH.find_iter(&message).map(|hash| hash.as_str().to_owned()));
                let named: HashSet<i64> =
                    BUG_ANYWHERE.captures_iter(&message).filter_map(|captures| captures[1].parse().ok()).collect();
                for bug in named.into_iter().filter(|bug| wanted.contains_key(bug)) {
                    *backouts.entry(bug).or_default() += 1;
                }
            } else if !merge {
                let named = BUG.captures(summary).and_then(|captures| captures[1].parse::<i64>().ok());
                // Most runs cite no landing: no commit id is formatted then.
                let cited = || {
                    if landed.is_empty() {
                        return None;
                    }
                    let id = oid.to_string();
                    let cited = landed.get(&id[..LANDING_PREFIX])?;
                    cited.iter().find(|(commit, _)| id.starts_with(commit.as_str())).map(|&(_, bug)| bug)
                };
                if let Some(bug) = named.filter(|bug| wanted.contains_key(bug)).or_else(cited) {
                    candidates.push((commits.len(), bug));
                }
            }
            commits.push(Walked { oid, time: commit.time().seconds(), merge });
        }

        // Backouts cite the commits they revert by (abbreviated) id; ids that are not git ids of
        // a candidate (mercurial hashes in a mirror) match nothing.
        let is_backed_out = |oid: &Oid| {
            let id = oid.to_string();
            backed_out.iter().any(|hash| id.starts_with(hash.as_str()))
        };
        let (patch_positions, patch_bugs) =
            candidates.into_iter().filter(|(position, _)| !is_backed_out(&commits[*position].oid)).unzip();
        Ok(Self { commits, patch_positions, patch_bugs, backouts })
    }

    /// The patches, with their diff metrics, computed on rayon; paired with their positions.
    fn patches(&self, path: &Path, chunk_size: usize) -> Result<Vec<(usize, Patch)>, Error> {
        let chunks: Vec<Vec<(usize, Patch)>> = self
            .patch_positions
            .par_chunks(chunk_size.max(1))
            .map(|positions| {
                let repository = open(path)?;
                positions
                    .iter()
                    .map(|&position| Ok((position, patch(&repository, self.commits[position].oid)?)))
                    .collect()
            })
            .collect::<Result<_, Error>>()?;
        Ok(chunks.into_iter().flatten().collect())
    }
}

/// One patch's diff against its parent, with the size metrics.
fn patch(repository: &Repository, oid: Oid) -> Result<Patch, Error> {
    let failed = Error::git(format!("diff of {oid}"));
    let commit = repository.find_commit(oid).map_err(Error::git(format!("commit {oid}")))?;
    let tree = commit.tree().map_err(Error::git(format!("tree of {oid}")))?;
    let parent = match commit.parent(0) {
        Ok(parent) => Some(parent.tree().map_err(Error::git(format!("parent tree of {oid}")))?),
        Err(_) => None,
    };
    let diff = repository.diff_tree_to_tree(parent.as_ref(), Some(&tree), None).map_err(failed)?;
    let mut metrics = PatchMetrics::default();
    let mut files = BTreeSet::new();
    let mut languages = BTreeSet::new();
    for (index, delta) in diff.deltas().enumerate() {
        let paths = [delta.old_file().path(), delta.new_file().path()];
        let path = match delta.status() {
            Delta::Deleted => paths[0],
            _ => paths[1],
        };
        let path = path.map(|path| path.to_string_lossy().into_owned()).unwrap_or_default();
        files.extend(paths.into_iter().flatten().map(|path| path.to_string_lossy().into_owned()));
        let (added, removed) = line_stats(&diff, index)?;
        metrics.changes_add += added;
        metrics.changes_del += removed;
        if is_test(&path) {
            metrics.test_changes_size += added + removed;
        } else {
            metrics.changes_size += added + removed;
        }
        languages.extend(language(&path));
    }
    metrics.languages = languages.into_iter().map(str::to_owned).collect();
    let message = String::from_utf8_lossy(commit.message_bytes());
    let summary = message.lines().next().unwrap_or_default().to_owned();
    let author = commit.author();
    Ok(Patch {
        commit: oid.to_string(),
        reviewers: reviewers(&summary),
        summary,
        author_name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        author_email: String::from_utf8_lossy(author.email_bytes()).to_lowercase(),
        time: DateTime::from_timestamp(commit.time().seconds(), 0).unwrap_or_default(),
        files: files.into_iter().collect(),
        metrics,
    })
}

fn line_stats(diff: &Diff<'_>, index: usize) -> Result<(usize, usize), Error> {
    let patch = git2::Patch::from_diff(diff, index).map_err(Error::git("patch"))?;
    // Binary files have no lines.
    Ok(match patch {
        Some(patch) => {
            let (_, added, removed) = patch.line_stats().map_err(Error::git("line stats"))?;
            (added, removed)
        }
        None => (0, 0),
    })
}

/// The files of the run's patches and the commits of the main branch that touched them.
struct FileIndex {
    /// Per file (in the order of the set given to `build`), positions in `touchers`.
    files: HashMap<String, Vec<usize>>,
    /// The non-merge commits touching an indexed file, oldest first.
    touchers: Vec<Toucher>,
}

/// The indexed paths as a tree of names, to compare only the directories that lead to them.
#[derive(Default)]
struct PathTree {
    children: HashMap<String, PathTree>,
    file: Option<usize>,
}

impl FileIndex {
    fn build(path: &Path, commits: &[Walked], files: &BTreeSet<String>, chunk_size: usize) -> Result<Self, Error> {
        let names: Vec<&str> = files.iter().map(String::as_str).collect();
        let mut root = PathTree::default();
        for (id, file) in names.iter().enumerate() {
            let node = file.split('/').fold(&mut root, |node, name| node.children.entry(name.to_owned()).or_default());
            node.file = Some(id);
        }
        let chunks: Vec<Vec<(Toucher, Vec<usize>)>> = commits
            .par_chunks(chunk_size.max(1))
            .enumerate()
            .map(|(chunk, commits)| {
                let repository = open(path)?;
                let mut found = Vec::new();
                for (offset, walked) in commits.iter().enumerate() {
                    if walked.merge || root.children.is_empty() {
                        continue;
                    }
                    let commit =
                        repository.find_commit(walked.oid).map_err(Error::git(format!("commit {}", walked.oid)))?;
                    let tree = commit.tree().map_err(Error::git(format!("tree of {}", walked.oid)))?;
                    let parent = commit.parent(0).ok().and_then(|parent| parent.tree().ok());
                    let mut touched = Vec::new();
                    compare(&repository, parent.as_ref(), Some(&tree), &root, &mut touched)?;
                    if touched.is_empty() {
                        continue;
                    }
                    let message = String::from_utf8_lossy(commit.message_bytes());
                    let toucher = Toucher {
                        index: chunk * chunk_size.max(1) + offset,
                        time: walked.time,
                        author: String::from_utf8_lossy(commit.author().email_bytes()).to_lowercase(),
                        reviewers: reviewers(message.lines().next().unwrap_or_default()),
                    };
                    found.push((toucher, touched));
                }
                Ok(found)
            })
            .collect::<Result<_, Error>>()?;
        let mut index = Self { files: HashMap::new(), touchers: Vec::new() };
        for (toucher, touched) in chunks.into_iter().flatten() {
            for file in touched {
                index.files.entry(names[file].to_owned()).or_default().push(index.touchers.len());
            }
            index.touchers.push(toucher);
        }
        Ok(index)
    }

    /// Fills the churn and familiarity metrics of the patch at walk position `position`.
    fn measure(&self, position: usize, patch: &mut Patch, recent: i64) {
        let earlier: BTreeSet<usize> = patch
            .files
            .iter()
            .filter_map(|file| self.files.get(file))
            .flatten()
            .copied()
            .filter(|&toucher| self.touchers[toucher].index < position)
            .collect();
        let since = patch.time.timestamp() - recent;
        let metrics = &mut patch.metrics;
        for toucher in earlier.iter().map(|&toucher| &self.touchers[toucher]) {
            let is_recent = toucher.time >= since;
            let by_author = toucher.author == patch.author_email;
            let by_reviewer = toucher.reviewers.iter().any(|reviewer| patch.reviewers.contains(reviewer));
            metrics.code_churn_overall += 1;
            metrics.code_churn_recent += usize::from(is_recent);
            metrics.developer_familiarity_overall += usize::from(by_author);
            metrics.developer_familiarity_recent += usize::from(by_author && is_recent);
            metrics.reviewer_familiarity_overall += usize::from(by_reviewer);
            metrics.reviewer_familiarity_recent += usize::from(by_reviewer && is_recent);
        }
    }
}

/// Adds to `touched` the indexed files that differ between the two trees, descending only into
/// the directories that lead to indexed files and differ.
fn compare(
    repository: &Repository,
    old: Option<&Tree<'_>>,
    new: Option<&Tree<'_>>,
    node: &PathTree,
    touched: &mut Vec<usize>,
) -> Result<(), Error> {
    for (name, child) in &node.children {
        let old_entry = old.and_then(|tree| tree.get_name(name));
        let new_entry = new.and_then(|tree| tree.get_name(name));
        let (old_id, new_id) = (old_entry.as_ref().map(|entry| entry.id()), new_entry.as_ref().map(|entry| entry.id()));
        if old_id == new_id {
            continue;
        }
        if let Some(file) = child.file {
            touched.push(file);
        }
        if !child.children.is_empty() {
            let (old_tree, new_tree) = (subtree(repository, old_entry)?, subtree(repository, new_entry)?);
            compare(repository, old_tree.as_ref(), new_tree.as_ref(), child, touched)?;
        }
    }
    Ok(())
}

fn subtree<'r>(repository: &'r Repository, entry: Option<TreeEntry<'_>>) -> Result<Option<Tree<'r>>, Error> {
    match entry.filter(|entry| entry.kind() == Some(ObjectType::Tree)) {
        Some(entry) => repository.find_tree(entry.id()).map(Some).map_err(Error::git("tree")),
        None => Ok(None),
    }
}

fn open(path: &Path) -> Result<Repository, Error> {
    Repository::open(path).map_err(Error::git(format!("cannot open {}", path.display())))
}

/// The `r=` reviewers of a commit summary (`r=a,b`, `r=a r=b`, `r=#group!`), lower case.
pub fn reviewers(summary: &str) -> Vec<String> {
    let mut found = BTreeSet::new();
    for captures in REVIEWERS.captures_iter(summary) {
        for name in captures[1].split([',', '+', '/']) {
            let name = name.trim_end_matches(['.', '!', ']', ':']).to_lowercase();
            if !name.is_empty() && !matches!(name.as_str(), "me" | "oops" | "none" | "bustage" | "backout") {
                found.insert(name);
            }
        }
    }
    found.into_iter().collect()
}

/// Whether the path is a test: under a directory whose name contains `test`, or named `test_*`,
/// `*_test*`, `*-test*`, `*.test.*`.
pub fn is_test(path: &str) -> bool {
    let path = path.to_lowercase();
    let (directories, name) = path.rsplit_once('/').unwrap_or(("", &path));
    directories.split('/').any(|directory| directory.contains("test"))
        || name.starts_with("test_")
        || name.contains("_test")
        || name.contains("-test")
        || name.contains(".test.")
}

/// The language of a file by its extension, with libmozdata's names.
pub fn language(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1.to_lowercase();
    Some(match extension.as_str() {
        "c" | "h" | "cc" | "cpp" | "cxx" | "hh" | "hpp" | "hxx" | "inl" => "C++",
        "m" | "mm" => "Objective-C",
        "js" | "jsm" | "mjs" | "jsx" | "sjs" => "JavaScript",
        "ts" | "tsx" => "TypeScript",
        "py" => "Python",
        "rs" => "Rust",
        "java" => "Java",
        "kt" | "kts" => "Kotlin",
        "html" | "htm" | "xhtml" => "Html",
        "css" | "scss" => "Css",
        "xul" | "xml" => "Xml",
        "sh" => "Shell",
        "webidl" | "idl" => "IDL",
        "ftl" => "Fluent",
        _ => return None,
    })
}

/// The modules of these files: their first `depth` directories (`.` for files at the root).
fn modules(files: &[String], depth: usize) -> Vec<String> {
    let modules: BTreeSet<String> = files
        .iter()
        .map(|file| {
            let directories: Vec<&str> = file.split('/').collect();
            let directories = &directories[..directories.len() - 1];
            if directories.is_empty() { ".".to_owned() } else { directories[..depth.min(directories.len())].join("/") }
        })
        .collect();
    modules.into_iter().collect()
}
