//! The cache of what commits changed, keyed by commit id: a JSON Lines file, one
//! [`Change`] per line after a header naming the format. What a commit changed never changes, so
//! entries are only ever appended; a file of another format version, or one that was cut short
//! (a crash while appending), is read as far as it is whole.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::error::RiskError;
use crate::history::Change;

/// The first line of a cache file; a file with another is ignored (and rewritten).
const HEADER: &str = r#"{"format":"shipit-risk-changes","version":2}"#;

/// The changes known so far, and where they are kept.
#[derive(Debug, Default)]
pub struct ChangeCache {
    path: Option<PathBuf>,
    changes: FxHashMap<String, Change>,
    /// Whether the functions were read for the cached changes.
    pub with_functions: bool,
    /// Ids added since the cache was read.
    fresh: Vec<String>,
    /// The file must be written whole (it was of another format, or cut short).
    rewrite: bool,
}

impl ChangeCache {
    /// A cache that keeps nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// The cache in `path` (absent: empty, created on [`ChangeCache::save`]). `functions` says
    /// whether the changes must hold function change sets: cached changes read without them
    /// are read again.
    pub fn open(path: &Path, functions: bool) -> Result<Self, RiskError> {
        let mut cache = Self { path: Some(path.to_owned()), with_functions: functions, ..Self::default() };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(cache),
            Err(error) => return Err(RiskError::io(format!("cannot read the cache {}", path.display()), error)),
        };
        let mut lines = BufReader::with_capacity(1 << 20, file).lines();
        let header = lines.next().transpose().unwrap_or(None).unwrap_or_default();
        let Some(rest) = header.strip_prefix(HEADER) else {
            tracing::warn!(cache = %path.display(), "the cache is of another format: it is read again");
            cache.rewrite_all();
            return Ok(cache);
        };
        let cached_functions = rest.trim() == "functions";
        if functions && !cached_functions {
            tracing::info!(cache = %path.display(), "the cache has no function change sets: it is read again");
            cache.rewrite_all();
            return Ok(cache);
        }
        for line in lines {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Change>(&line) {
                Ok(change) => {
                    cache.changes.insert(change.id.clone(), change);
                }
                Err(_) => {
                    tracing::warn!(cache = %path.display(), "the cache ends with an incomplete entry");
                    cache.rewrite_all();
                    break;
                }
            }
        }
        cache.with_functions = cached_functions;
        Ok(cache)
    }

    /// Marks the whole cache to be written again on save.
    fn rewrite_all(&mut self) {
        self.rewrite = true;
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Change> {
        self.changes.get(id)
    }

    /// Takes a change out of the memory of the cache (after [`ChangeCache::save`]: the file
    /// keeps it).
    pub fn take(&mut self, id: &str) -> Option<Change> {
        self.changes.remove(id)
    }

    /// Adds changes read now.
    pub fn insert(&mut self, change: Change) {
        self.fresh.push(change.id.clone());
        self.changes.insert(change.id.clone(), change);
    }

    /// Appends what was added (or writes the whole file when it had to be read again).
    pub fn save(&mut self) -> Result<(), RiskError> {
        let Some(path) = self.path.clone() else { return Ok(()) };
        if self.fresh.is_empty() && !self.rewrite {
            return Ok(());
        }
        let failed = |error| RiskError::io(format!("cannot write the cache {}", path.display()), error);
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let whole = self.rewrite || !path.exists();
        let header = format!("{HEADER}{}", if self.with_functions { " functions" } else { "" });
        if whole {
            let temporary = path.with_extension("tmp");
            let mut out = BufWriter::with_capacity(1 << 20, File::create(&temporary).map_err(failed)?);
            writeln!(out, "{header}").map_err(failed)?;
            let mut ids: Vec<&String> = self.changes.keys().collect();
            ids.sort();
            for id in ids {
                write_change(&mut out, &self.changes[id]).map_err(failed)?;
            }
            out.into_inner().map_err(|error| failed(error.into_error()))?.sync_all().map_err(failed)?;
            std::fs::rename(&temporary, &path).map_err(failed)?;
        } else {
            let file = OpenOptions::new().append(true).open(&path).map_err(failed)?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            for id in &self.fresh {
                write_change(&mut out, &self.changes[id]).map_err(failed)?;
            }
            out.flush().map_err(failed)?;
        }
        self.fresh.clear();
        self.rewrite = false;
        Ok(())
    }
}

fn write_change(out: &mut impl Write, change: &Change) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, change)?;
    out.write_all(b"\n")
}

/// Where a repository's cache lives by default: `$XDG_CACHE_HOME/shipit-risk/` (or
/// `~/.cache/shipit-risk/`), one file per repository, named after its path.
pub fn default_path(git_dir: &Path) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let canonical = git_dir.canonicalize().unwrap_or_else(|_| git_dir.to_owned());
    let digest = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(canonical.to_string_lossy().as_bytes())[..8])
    };
    let name = canonical
        .components()
        .filter_map(|part| part.as_os_str().to_str())
        .rfind(|part| !matches!(*part, "/" | ".git"))
        .unwrap_or("repository")
        .trim_end_matches(".git")
        .to_owned();
    base.join("shipit-risk").join(format!("{name}-{digest}.jsonl"))
}
