//! The git history of the repository the uplifts come from: each bug's patches on the main branch,
//! with their size, languages, modules, code churn and the familiarity of their author and
//! reviewers with the files.
//!
//! Cost: a run analyses hundreds of bugs in a repository of 100k to 1M commits, every 30 minutes,
//! while the branch gains a few commits between runs. So the facts the metrics need of each commit
//! (time, merge or not, author, reviewers, the bug its summary names, what a backout cites, the
//! paths it changed) are kept in a commit index, saved between runs with the branch tip it
//! reaches: a run reads only the commits since (all of them the first time, or after the branch
//! was rewritten). The paths come from `git diff-tree` processes in parallel; each patch's own
//! diff from libgit2 (one `Repository` per rayon chunk: it is not `Sync`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use git2::{Oid, Repository, Sort};
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
    /// At most this many patches measured per rayon task (each one `git diff-tree` process).
    pub chunk_size: usize,
    /// Where the commit index of the main branch is kept between runs (by default
    /// `shipit-uplift-history` in the repository's git directory).
    pub index_file: Option<PathBuf>,
    /// A mercurial → git mapping service for the landings cited in comments (see
    /// [`crate::landing::Mapper`]).
    pub mapper: Option<Url>,
    /// product-details (`https://product-details.mozilla.org/1.0/`), for the release calendar of
    /// `release_delta`; none by default (then no request has one).
    pub product_details: Option<Url>,
}

impl HistorySettings {
    /// The link to a commit, if configured.
    pub fn commit_url(&self, commit: &str) -> Option<String> {
        self.commit_url.as_ref().map(|template| template.replace("{commit}", commit))
    }
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            commit_url: None,
            module_depth: 1,
            recent_days: 84,
            chunk_size: 2048,
            index_file: None,
            mapper: None,
            product_details: None,
        }
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
    /// Commits read from the repository by this build.
    walked: usize,
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

/// The commit index of the main branch, brought up to date: what [`History::from_index`] needs
/// and the only part of the history that does not depend on the bugs, so that a run can build it
/// while it fetches them.
pub struct BranchIndex {
    index: CommitIndex,
    /// Commits read from the repository by the update.
    walked: usize,
    /// How long the update took.
    took: std::time::Duration,
}

impl BranchIndex {
    /// The [`CommitIndex`] of `branch` of the repository at `path`, read from the index file of
    /// `settings` and brought up to date: only the commits since the tip it was saved at are read.
    pub fn update(path: &Path, branch: &str, settings: &HistorySettings) -> Result<Self, Error> {
        let started = std::time::Instant::now();
        let repository = open(path)?;
        let index_file = settings.index_file.clone().unwrap_or_else(|| repository.commondir().join(INDEX_FILE));
        let (index, walked) = CommitIndex::update(&repository, path, branch, &index_file)?;
        Ok(Self { index, walked, took: started.elapsed() })
    }
}

impl History {
    /// Computes the patches of the bugs of `wanted` on `branch` of the repository at `path`, with
    /// their metrics: [`BranchIndex::update`], then [`History::from_index`].
    pub fn build(
        path: &Path,
        branch: &str,
        settings: &HistorySettings,
        wanted: &BTreeMap<i64, Vec<String>>,
    ) -> Result<Self, Error> {
        Self::from_index(BranchIndex::update(path, branch, settings)?, path, settings, wanted)
    }

    /// Computes the patches of the bugs of `wanted` from the branch's index. A bug's patches are
    /// the commits whose summary names it, and the commits its landings cite (the bug's values:
    /// git ids, or prefixes of 12 at least).
    pub fn from_index(
        branch: BranchIndex,
        path: &Path,
        settings: &HistorySettings,
        wanted: &BTreeMap<i64, Vec<String>>,
    ) -> Result<Self, Error> {
        let started = std::time::Instant::now();
        let BranchIndex { index, walked, took: updated } = branch;
        let found = Found::search(&index, wanted);
        let mut patches = found.patches(path, &index, settings.chunk_size)?;
        let touchers = Touchers::build(&index, patches.iter().map(|(_, patch)| patch));
        let recent = settings.recent_days * 24 * 3600;
        patches.par_iter_mut().for_each(|(position, patch)| {
            touchers.measure(&index, *position, patch, recent);
            patch.metrics.modules = modules(&patch.files, settings.module_depth);
            patch.metrics.modules_num = patch.metrics.modules.len();
        });

        let mut by_bug: HashMap<i64, Vec<Patch>> = HashMap::new();
        for ((_, patch), bug) in patches.into_iter().zip(found.patch_bugs) {
            by_bug.entry(bug).or_default().push(patch);
        }
        let mut commits: Vec<Oid> = index.commits.iter().map(|commit| commit.oid()).collect();
        commits.sort_unstable();
        tracing::info!(
            commits = commits.len(),
            walked,
            bugs = by_bug.len(),
            update_ms = updated.as_millis() as u64,
            duration_ms = (updated + started.elapsed()).as_millis() as u64,
            "history indexed"
        );
        Ok(Self { commits, patches: by_bug, backouts: found.backouts, walked })
    }

    /// How many commits this build read from the repository (the others came from the saved
    /// index).
    pub fn walked(&self) -> usize {
        self.walked
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

/// The name of the saved [`CommitIndex`] in the repository's git directory, by default.
const INDEX_FILE: &str = "shipit-uplift-history";

/// What the metrics need of every commit of the main branch, oldest first (topological order),
/// saved between runs with the tip it reaches, so that a run reads only the commits since.
#[derive(Default, Deserialize, Serialize)]
struct CommitIndex {
    /// [`CommitIndex::FORMAT`] of the file.
    format: u32,
    /// The branch tip the index reaches (20 bytes), empty for none.
    tip: Vec<u8>,
    /// Author emails (lower case) and `r=` reviewers, by number.
    people: Vec<String>,
    /// Paths, by number.
    paths: Vec<String>,
    commits: Vec<IndexedCommit>,
}

#[derive(Deserialize, Serialize)]
struct IndexedCommit {
    oid: [u8; 20],
    time: i64,
    merge: bool,
    /// Numbers in [`CommitIndex::people`].
    author: u32,
    reviewers: Vec<u32>,
    /// The bug its summary starts with.
    bug: Option<i64>,
    /// Set when it is a backout: the bugs and the commit ids its message names.
    backout: Option<(Vec<i64>, Vec<String>)>,
    /// The paths it changed against its parent (every path of a root commit; none for a merge),
    /// numbers in [`CommitIndex::paths`].
    paths: Vec<u32>,
}

impl IndexedCommit {
    fn oid(&self) -> Oid {
        Oid::from_bytes(&self.oid).expect("20 bytes")
    }
}

/// The paths of many commits are listed by this many `git diff-tree` processes per worker.
const DIFF_TREE_BATCHES_PER_WORKER: usize = 4;

impl CommitIndex {
    /// Bump when the saved shape changes: an index of another format is rebuilt.
    const FORMAT: u32 = 1;

    /// The index of `branch`, read from `file` and brought up to date (then saved there), with
    /// how many commits were read from the repository. An index the tip does not descend from
    /// (a rewritten branch), or one that cannot be read, is rebuilt.
    fn update(repository: &Repository, path: &Path, branch: &str, file: &Path) -> Result<(Self, usize), Error> {
        let tip = repository
            .revparse_single(branch)
            .and_then(|object| object.peel_to_commit())
            .map_err(Error::git(format!("cannot resolve {branch}")))?
            .id();
        let mut index = Self::load(file).unwrap_or_default();
        let known = Oid::from_bytes(&index.tip).ok();
        if known == Some(tip) {
            return Ok((index, 0));
        }
        let descends = known.is_some_and(|known| repository.graph_descendant_of(tip, known).unwrap_or(false));
        if !descends {
            index = Self { format: Self::FORMAT, ..Self::default() };
        }
        let walked = index.walk(repository, path, tip, known.filter(|_| descends))?;
        index.tip = tip.as_bytes().to_vec();
        if let Err(error) = index.save(file) {
            tracing::warn!(error = %error, file = %file.display(), "cannot save the history index");
        }
        Ok((index, walked))
    }

    fn load(file: &Path) -> Option<Self> {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(error = %error, file = %file.display(), "cannot read the history index: rebuilding it");
                return None;
            }
        };
        match postcard::from_bytes::<Self>(&bytes) {
            Ok(index) if index.format == Self::FORMAT => Some(index),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(error = %error, file = %file.display(), "unreadable history index: rebuilding it");
                None
            }
        }
    }

    /// Writes the index to `file`, whole or not at all ([`crate::files::write_whole`]).
    fn save(&self, file: &Path) -> Result<(), Error> {
        let bytes = postcard::to_stdvec(self).map_err(|error| Error::Io {
            context: format!("cannot write {}", file.display()),
            source: std::io::Error::other(error.to_string()),
        })?;
        crate::files::write_whole(file, &bytes)
    }

    /// Appends the commits reachable from `tip` and not from `known`, oldest first; gives how many.
    fn walk(&mut self, repository: &Repository, path: &Path, tip: Oid, known: Option<Oid>) -> Result<usize, Error> {
        let mut revwalk = repository.revwalk().map_err(Error::git("revwalk"))?;
        revwalk.push(tip).map_err(Error::git("revwalk"))?;
        if let Some(known) = known {
            revwalk.hide(known).map_err(Error::git("revwalk"))?;
        }
        revwalk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).map_err(Error::git("revwalk"))?;
        let mut people: HashMap<String, u32> =
            self.people.iter().enumerate().map(|(number, name)| (name.clone(), number as u32)).collect();
        let mut person = |name: String, list: &mut Vec<String>| {
            *people.entry(name).or_insert_with_key(|name| {
                list.push(name.clone());
                (list.len() - 1) as u32
            })
        };
        let first = self.commits.len();
        for oid in revwalk {
            let oid = oid.map_err(Error::git("revwalk"))?;
            let commit = repository.find_commit(oid).map_err(Error::git(format!("commit {oid}")))?;
            let message = String::from_utf8_lossy(commit.message_bytes());
            let summary = message.lines().next().unwrap_or_default();
            let backout = BACKOUT.is_match(summary).then(|| {
                let bugs: BTreeSet<i64> =
                    BUG_ANYWHERE.captures_iter(&message).filter_map(|captures| captures[1].parse().ok()).collect();
                let hashes = HASH.find_iter(&message).map(|hash| hash.as_str().to_owned()).collect();
                (bugs.into_iter().collect(), hashes)
            });
            let author =
                person(String::from_utf8_lossy(commit.author().email_bytes()).to_lowercase(), &mut self.people);
            let reviewers = reviewers(summary).into_iter().map(|name| person(name, &mut self.people)).collect();
            self.commits.push(IndexedCommit {
                oid: oid.as_bytes().try_into().map_err(|_| Error::Config(format!("{oid} is not a SHA-1 id")))?,
                time: commit.time().seconds(),
                merge: commit.parent_count() > 1,
                author,
                reviewers,
                bug: BUG.captures(summary).and_then(|captures| captures[1].parse().ok()),
                backout,
                paths: Vec::new(),
            });
        }
        let walked = self.commits.len() - first;
        self.list_paths(path, first)?;
        Ok(walked)
    }

    /// Fills the paths of the commits from `first` on, with `git diff-tree` (in parallel
    /// processes: libgit2 serialises its pack reads across threads behind one process-wide lock,
    /// while each git process has its own).
    fn list_paths(&mut self, path: &Path, first: usize) -> Result<(), Error> {
        let positions: Vec<usize> = (first..self.commits.len()).filter(|&at| !self.commits[at].merge).collect();
        if positions.is_empty() {
            return Ok(());
        }
        let batches = rayon::current_num_threads() * DIFF_TREE_BATCHES_PER_WORKER;
        let size = positions.len().div_ceil(batches).max(1);
        let commits = &self.commits;
        // Paths are numbered as each batch arrives: only numbers are kept, never every path's text.
        let numbering = std::sync::Mutex::new(PathNumbers::new(std::mem::take(&mut self.paths)));
        let number = |path: &[u8]| numbering.lock().unwrap_or_else(std::sync::PoisonError::into_inner).number(path);
        let listed: Result<Vec<Vec<Vec<u32>>>, Error> = positions
            .par_chunks(size)
            .map(|batch| diff_tree(path, "--name-only", batch.iter().map(|&at| commits[at].oid()), number))
            .collect();
        self.paths = numbering.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).paths;
        for (&at, numbered) in positions.iter().zip(listed?.into_iter().flatten()) {
            self.commits[at].paths = numbered;
        }
        Ok(())
    }
}

/// The numbers of paths, given to each new path in turn.
struct PathNumbers {
    paths: Vec<String>,
    numbers: HashMap<String, u32>,
}

impl PathNumbers {
    fn new(paths: Vec<String>) -> Self {
        let numbers = paths.iter().enumerate().map(|(number, path)| (path.clone(), number as u32)).collect();
        Self { paths, numbers }
    }

    fn number(&mut self, path: &[u8]) -> u32 {
        let path = String::from_utf8_lossy(path);
        if let Some(&number) = self.numbers.get(path.as_ref()) {
            return number;
        }
        let number = self.paths.len() as u32;
        self.paths.push(path.clone().into_owned());
        self.numbers.insert(path.into_owned(), number);
        number
    }
}

/// What each commit changed against its first parent (everything of a root commit), by
/// `git diff-tree --stdin` with `listing` (`--name-only`: each path; `--numstat`: each
/// `<added>\t<removed>\t<path>`): one list per commit, in order, of what `record` makes of each.
fn diff_tree<T>(
    path: &Path,
    listing: &str,
    commits: impl Iterator<Item = Oid>,
    mut record: impl FnMut(&[u8]) -> T,
) -> Result<Vec<Vec<T>>, Error> {
    let failed = |source| Error::Io { context: format!("git diff-tree in {}", path.display()), source };
    let commits: Vec<String> = commits.map(|oid| oid.to_string()).collect();
    let mut child = std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["diff-tree", "--stdin", "-r", "-z", listing, "--always", "--root", "--no-renames"])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(failed)?;
    let mut stdin = child.stdin.take().expect("piped");
    let input: String = commits.iter().map(|commit| format!("{commit}\n")).collect();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let output = child.wait_with_output().map_err(failed)?;
    writer.join().map_err(|_| Error::Panicked("git diff-tree's input".into()))?.map_err(failed)?;
    if !output.status.success() {
        return Err(failed(std::io::Error::other(format!("git diff-tree: {}", output.status))));
    }
    // `<commit>\0<path>\0<path>\0<commit>\0…`: each commit's id, then its paths.
    let mut lists: Vec<Vec<T>> = Vec::with_capacity(commits.len());
    for field in output.stdout.split(|&byte| byte == 0).filter(|field| !field.is_empty()) {
        match commits.get(lists.len()) {
            Some(next) if field == next.as_bytes() => lists.push(Vec::new()),
            _ => match lists.last_mut() {
                Some(records) => records.push(record(field)),
                None => return Err(failed(std::io::Error::other("git diff-tree: a path before any commit"))),
            },
        }
    }
    if lists.len() != commits.len() {
        return Err(failed(std::io::Error::other(format!(
            "git diff-tree listed {} commits of {}",
            lists.len(),
            commits.len()
        ))));
    }
    Ok(lists)
}

/// The wanted bugs' patches and backouts, found in the index.
struct Found {
    /// Positions in the index of the wanted bugs' patches, oldest first.
    patch_positions: Vec<usize>,
    /// The bug of each of those.
    patch_bugs: Vec<i64>,
    backouts: HashMap<i64, usize>,
}

impl Found {
    fn search(index: &CommitIndex, wanted: &BTreeMap<i64, Vec<String>>) -> Self {
        // Cited landings by their first 12 digits, so that each commit costs one lookup.
        let mut landed: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for (&bug, commits) in wanted {
            for commit in commits.iter().filter(|commit| commit.len() >= LANDING_PREFIX && commit.is_ascii()) {
                let commit = commit.to_ascii_lowercase();
                landed.entry(commit[..LANDING_PREFIX].to_owned()).or_default().push((commit, bug));
            }
        }
        let mut candidates: Vec<(usize, i64)> = Vec::new();
        let mut backed_out: Vec<&str> = Vec::new();
        let mut backouts: HashMap<i64, usize> = HashMap::new();
        for (position, commit) in index.commits.iter().enumerate() {
            if let Some((bugs, hashes)) = &commit.backout {
                backed_out.extend(hashes.iter().map(String::as_str));
                for bug in bugs.iter().filter(|bug| wanted.contains_key(bug)) {
                    *backouts.entry(*bug).or_default() += 1;
                }
            } else if !commit.merge {
                // Most runs cite no landing: no commit id is formatted then.
                let cited = || {
                    if landed.is_empty() {
                        return None;
                    }
                    let id = commit.oid().to_string();
                    let cited = landed.get(&id[..LANDING_PREFIX])?;
                    cited.iter().find(|(commit, _)| id.starts_with(commit.as_str())).map(|&(_, bug)| bug)
                };
                if let Some(bug) = commit.bug.filter(|bug| wanted.contains_key(bug)).or_else(cited) {
                    candidates.push((position, bug));
                }
            }
        }
        // Backouts cite the commits they revert by (abbreviated) id; ids that are not git ids of
        // a candidate (mercurial hashes in a mirror) match nothing.
        let is_backed_out = |position: usize| {
            let id = index.commits[position].oid().to_string();
            backed_out.iter().any(|hash| id.starts_with(hash))
        };
        let (patch_positions, patch_bugs) =
            candidates.into_iter().filter(|&(position, _)| !is_backed_out(position)).unzip();
        Self { patch_positions, patch_bugs, backouts }
    }

    /// The patches, with their diff metrics, paired with their positions: the diffs by `git
    /// diff-tree --numstat` processes in parallel (one per rayon task, as for the index's paths),
    /// the rest of each commit read with libgit2.
    fn patches(&self, path: &Path, index: &CommitIndex, chunk_size: usize) -> Result<Vec<(usize, Patch)>, Error> {
        let batches = rayon::current_num_threads() * DIFF_TREE_BATCHES_PER_WORKER;
        let size = self.patch_positions.len().div_ceil(batches).clamp(1, chunk_size.max(1));
        let chunks: Vec<Vec<(usize, Patch)>> = self
            .patch_positions
            .par_chunks(size)
            .map(|positions| {
                let oids = positions.iter().map(|&position| index.commits[position].oid());
                let diffs = diff_tree(path, "--numstat", oids, <[u8]>::to_vec)?;
                let repository = open(path)?;
                positions
                    .iter()
                    .zip(diffs)
                    .map(|(&position, diff)| Ok((position, patch(&repository, index.commits[position].oid(), &diff)?)))
                    .collect()
            })
            .collect::<Result<_, Error>>()?;
        Ok(chunks.into_iter().flatten().collect())
    }
}

/// One patch, with the size metrics of its diff against its parent (`git diff-tree --numstat`
/// records: `<added>\t<removed>\t<path>`, `-` for the counts of a binary file).
fn patch(repository: &Repository, oid: Oid, diff: &[Vec<u8>]) -> Result<Patch, Error> {
    let commit = repository.find_commit(oid).map_err(Error::git(format!("commit {oid}")))?;
    let mut metrics = PatchMetrics::default();
    let mut files = BTreeSet::new();
    let mut languages = BTreeSet::new();
    for record in diff {
        let mut fields = record.splitn(3, |&byte| byte == b'\t');
        let (Some(added), Some(removed), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(Error::Io {
                context: format!("git diff-tree --numstat of {oid}"),
                source: std::io::Error::other(format!("unexpected record {:?}", String::from_utf8_lossy(record))),
            });
        };
        let count =
            |field: &[u8]| std::str::from_utf8(field).ok().and_then(|text| text.parse::<usize>().ok()).unwrap_or(0);
        let (added, removed) = (count(added), count(removed));
        let path = String::from_utf8_lossy(path).into_owned();
        metrics.changes_add += added;
        metrics.changes_del += removed;
        if is_test(&path) {
            metrics.test_changes_size += added + removed;
        } else {
            metrics.changes_size += added + removed;
        }
        languages.extend(language(&path));
        files.insert(path);
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

/// Per file of the run's patches, the positions of the non-merge commits that touched it, oldest
/// first.
struct Touchers {
    files: HashMap<String, Vec<usize>>,
}

impl Touchers {
    fn build<'a>(index: &CommitIndex, patches: impl Iterator<Item = &'a Patch>) -> Self {
        let numbers: HashMap<&str, u32> =
            index.paths.iter().enumerate().map(|(number, path)| (path.as_str(), number as u32)).collect();
        let mut wanted: HashMap<u32, &str> = HashMap::new();
        for file in patches.flat_map(|patch| &patch.files) {
            if let Some(&number) = numbers.get(file.as_str()) {
                wanted.insert(number, file);
            }
        }
        let mut files: HashMap<String, Vec<usize>> = HashMap::new();
        for (position, commit) in index.commits.iter().enumerate() {
            for file in commit.paths.iter().filter_map(|number| wanted.get(number)) {
                files.entry((*file).to_owned()).or_default().push(position);
            }
        }
        Self { files }
    }

    /// Fills the churn and familiarity metrics of the patch at index position `position`.
    fn measure(&self, index: &CommitIndex, position: usize, patch: &mut Patch, recent: i64) {
        let earlier: BTreeSet<usize> = patch
            .files
            .iter()
            .filter_map(|file| self.files.get(file))
            .flat_map(|positions| positions.iter().copied().take_while(|&toucher| toucher < position))
            .collect();
        let since = patch.time.timestamp() - recent;
        let metrics = &mut patch.metrics;
        for toucher in earlier.iter().map(|&toucher| &index.commits[toucher]) {
            let is_recent = toucher.time >= since;
            let by_author = index.people[toucher.author as usize] == patch.author_email;
            let by_reviewer =
                toucher.reviewers.iter().any(|&reviewer| patch.reviewers.contains(&index.people[reviewer as usize]));
            metrics.code_churn_overall += 1;
            metrics.code_churn_recent += usize::from(is_recent);
            metrics.developer_familiarity_overall += usize::from(by_author);
            metrics.developer_familiarity_recent += usize::from(by_author && is_recent);
            metrics.reviewer_familiarity_overall += usize::from(by_reviewer);
            metrics.reviewer_familiarity_recent += usize::from(by_reviewer && is_recent);
        }
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
