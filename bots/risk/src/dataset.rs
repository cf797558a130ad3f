//! A repository's history as the model sees it: every non-merge commit of the walk with what it
//! changed (from the cache, or read now) and its feature row.

use std::path::{Path, PathBuf};
use std::time::Instant;

use git2::Oid;
use rustc_hash::FxHashMap;

use crate::cache::{self, ChangeCache};
use crate::error::RiskError;
use crate::features::{self, Row};
use crate::history::{self, Change, ReadOptions, WalkOptions};

/// Where the changes are cached.
#[derive(Clone, Debug, Default)]
pub enum CacheChoice {
    /// The default file for the repository ([`cache::default_path`]).
    #[default]
    Default,
    File(PathBuf),
    None,
}

/// How a dataset is built.
#[derive(Clone, Debug, Default)]
pub struct DatasetOptions {
    pub walk: WalkOptions,
    pub read: ReadOptions,
    pub cache: CacheChoice,
}

/// The non-merge commits of a history, oldest first, with their features.
#[derive(Debug, Default)]
pub struct Dataset {
    pub changes: Vec<Change>,
    pub rows: Vec<Row>,
    /// Position of each commit id in `changes` and `rows`.
    pub index: FxHashMap<String, usize>,
    pub stats: BuildStats,
}

/// What building cost.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BuildStats {
    pub commits: usize,
    pub merges: usize,
    pub cached: usize,
    pub read: usize,
    pub walk_ms: u128,
    pub read_ms: u128,
    pub features_ms: u128,
}

impl Dataset {
    /// Walks the repository at `path`, reads what is not cached, computes every row.
    pub fn build(path: &Path, options: &DatasetOptions) -> Result<Self, RiskError> {
        let started = Instant::now();
        let repository = history::open(path)?;
        let git_dir = history::git_dir(&repository);
        let walked = history::walk(&repository, &options.walk)?;
        let mut stats = BuildStats {
            commits: walked.iter().filter(|commit| !commit.merge).count(),
            merges: walked.iter().filter(|commit| commit.merge).count(),
            walk_ms: started.elapsed().as_millis(),
            ..BuildStats::default()
        };
        let mut cache = match &options.cache {
            CacheChoice::Default => ChangeCache::open(&cache::default_path(&git_dir), options.read.functions)?,
            CacheChoice::File(file) => ChangeCache::open(file, options.read.functions)?,
            CacheChoice::None => ChangeCache::none(),
        };
        let missing: Vec<Oid> = walked
            .iter()
            .filter(|commit| !commit.merge && cache.get(&commit.oid.to_string()).is_none())
            .map(|c| c.oid)
            .collect();
        let reading = Instant::now();
        let read = history::read_changes(&git_dir, &missing, options.read)?;
        stats.read = read.len();
        stats.cached = stats.commits - stats.read;
        stats.read_ms = reading.elapsed().as_millis();
        for change in read {
            cache.insert(change);
        }
        cache.save()?;
        // Moved out of the cache, not copied: a history's changes are held once.
        let changes: Vec<Change> = walked
            .iter()
            .filter(|commit| !commit.merge)
            .filter_map(|commit| cache.take(&commit.oid.to_string()))
            .collect();
        drop(cache);
        let computing = Instant::now();
        let rows = features::compute(&changes);
        stats.features_ms = computing.elapsed().as_millis();
        let index = changes.iter().enumerate().map(|(position, change)| (change.id.clone(), position)).collect();
        tracing::info!(
            commits = stats.commits,
            cached = stats.cached,
            read = stats.read,
            duration_ms = started.elapsed().as_millis() as u64,
            "history read"
        );
        Ok(Self { changes, rows, index, stats })
    }

    /// The row of a commit (a full id).
    pub fn row(&self, id: &str) -> Option<&Row> {
        self.index.get(id).map(|position| &self.rows[*position])
    }

    /// The full id of a commit named by an id or a prefix of one (at least 7 digits), when
    /// exactly one commit of the history has it.
    pub fn find(&self, prefix: &str) -> Option<&str> {
        let prefix = prefix.to_ascii_lowercase();
        if prefix.len() == 40 {
            return self.index.get_key_value(&prefix).map(|(id, _)| id.as_str());
        }
        if prefix.len() < 7 {
            return None;
        }
        let mut found = self.changes.iter().filter(|change| change.id.starts_with(&prefix));
        let first = found.next()?;
        found.next().is_none().then_some(first.id.as_str())
    }
}
