//! The history a risk score is computed from: which commits, in which order, and what each one
//! changed (files, lines added and deleted, the size of each file before, functions), read with
//! git2 on rayon.
//!
//! Cost: reading what a commit changed is the expensive part (a tree diff and a line diff per
//! file), and it never changes for a given commit id, so [`crate::cache::ChangeCache`] keeps it:
//! a second run reads only the commits it has not seen. The walk itself (ids, parents, authors and
//! dates) is cheap and done every time. Workers open their own `Repository` (it is not `Sync`).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use git2::{Delta, DiffFindOptions, DiffOptions, Oid, Repository, Sort};
use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::RiskError;
use crate::functions::{self, FunctionChanges};
use crate::hunk::Hunk;

/// What one commit changed, as cached.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The commit id (40 hex digits).
    pub id: String,
    /// The author's email, lower case, after the repository's mailmap.
    pub author: String,
    /// Seconds since the epoch.
    pub author_time: i64,
    pub commit_time: i64,
    /// The first line of the message.
    pub subject: String,
    /// The message's subject or body says it fixes something (see [`is_fix_message`]).
    pub fix: bool,
    /// The ids (abbreviated as written) named by `Fixes: <sha>` trailers of the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<String>,
    pub files: Vec<FileChange>,
}

/// One changed file of a commit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileChange {
    /// The path after the change (before it, for a deletion).
    pub path: String,
    /// The path before the change, when the file was renamed or copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub added: u32,
    pub deleted: u32,
    /// Lines of the file before the change (0 for an added file).
    pub old_lines: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub binary: bool,
    /// The functions added, removed and modified, for the languages with a parser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<FunctionChanges>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Which commits a walk visits.
#[derive(Clone, Debug, Default)]
pub struct WalkOptions {
    /// Only the first parent of each commit (the mainline), instead of every commit reachable.
    pub first_parent: bool,
    /// Revisions walked besides `HEAD` (commits pushed on another branch, say).
    pub extra: Vec<Oid>,
    /// The tip to walk from instead of `HEAD`.
    pub head: Option<String>,
}

/// A commit of the walk.
#[derive(Clone, Debug)]
pub struct Walked {
    pub oid: Oid,
    pub merge: bool,
}

/// Every commit reachable from the tip (and `extra`), parents before children.
pub fn walk(repository: &Repository, options: &WalkOptions) -> Result<Vec<Walked>, RiskError> {
    let mut walk = repository.revwalk().map_err(RiskError::git("cannot walk the history"))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME | Sort::REVERSE).map_err(RiskError::git("cannot sort the walk"))?;
    if options.first_parent {
        walk.simplify_first_parent().map_err(RiskError::git("cannot walk first parents"))?;
    }
    match &options.head {
        Some(head) => {
            let oid = resolve(repository, head)?;
            walk.push(oid).map_err(RiskError::git(format!("cannot walk from {head}")))?;
        }
        None => walk.push_head().map_err(RiskError::git("cannot walk from HEAD"))?,
    }
    for oid in &options.extra {
        walk.push(*oid).map_err(RiskError::git(format!("cannot walk from {oid}")))?;
    }
    let mut commits = Vec::new();
    for oid in walk {
        let oid = oid.map_err(RiskError::git("cannot walk the history"))?;
        let commit = repository.find_commit(oid).map_err(RiskError::git(format!("cannot read commit {oid}")))?;
        commits.push(Walked { oid, merge: commit.parent_count() > 1 });
    }
    Ok(commits)
}

/// A revision (an id, a prefix, a branch) as a commit id.
pub fn resolve(repository: &Repository, revision: &str) -> Result<Oid, RiskError> {
    let object =
        repository.revparse_single(revision).map_err(RiskError::git(format!("unknown revision {revision}")))?;
    let commit = object.peel_to_commit().map_err(RiskError::git(format!("{revision} is not a commit")))?;
    Ok(commit.id())
}

/// How changes are read.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// Parse the files of the languages with a grammar and list the functions changed.
    pub functions: bool,
    /// Commits per rayon task (each task opens the repository once).
    pub chunk_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self { functions: true, chunk_size: 64 }
    }
}

/// What the commits `oids` changed, read in parallel, in the order given.
pub fn read_changes(git_dir: &Path, oids: &[Oid], options: ReadOptions) -> Result<Vec<Change>, RiskError> {
    let chunk_size = options.chunk_size.max(1);
    // Objects come from the repository's own packs: checking each one's hash again on every
    // read is a fifth of the cost (the git command line does not either).
    git2::opts::strict_hash_verification(false);
    let chunks: Vec<Result<Vec<Change>, RiskError>> = oids
        .par_chunks(chunk_size)
        .map(|chunk| {
            let repository = open(git_dir)?;
            let mailmap = repository.mailmap().ok();
            chunk.iter().map(|oid| read_change(&repository, mailmap.as_ref(), *oid, options)).collect()
        })
        .collect();
    let mut changes = Vec::with_capacity(oids.len());
    for chunk in chunks {
        changes.extend(chunk?);
    }
    Ok(changes)
}

/// Opens a repository (bare or not), saying which when it cannot.
pub fn open(path: &Path) -> Result<Repository, RiskError> {
    Repository::open(path).map_err(RiskError::git(format!("cannot open the repository {}", path.display())))
}

/// The directory git2 opened (the `.git` directory of a work tree), for workers to open again.
pub fn git_dir(repository: &Repository) -> PathBuf {
    repository.path().to_owned()
}

/// What one commit changed against its first parent (against nothing for a root commit).
pub fn read_change(
    repository: &Repository,
    mailmap: Option<&git2::Mailmap>,
    oid: Oid,
    options: ReadOptions,
) -> Result<Change, RiskError> {
    let failed = |what: &str| RiskError::git(format!("commit {oid}: {what}"));
    let commit = repository.find_commit(oid).map_err(failed("cannot read it"))?;
    let author = match mailmap {
        Some(mailmap) => commit.author_with_mailmap(mailmap).map_err(failed("cannot read its author"))?,
        None => commit.author(),
    };
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    let tree = commit.tree().map_err(failed("cannot read its tree"))?;
    let parent_tree = match commit.parent_count() {
        0 => None,
        _ => Some(commit.parent(0).and_then(|parent| parent.tree()).map_err(failed("cannot read its parent"))?),
    };
    let mut diff_options = DiffOptions::new();
    diff_options.context_lines(0).ignore_submodules(true);
    let mut diff = repository
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut diff_options))
        .map_err(failed("cannot compare it with its parent"))?;
    // Renames are looked for only when the change adds and deletes files.
    let added = diff.deltas().any(|delta| delta.status() == Delta::Added);
    let deleted = diff.deltas().any(|delta| delta.status() == Delta::Deleted);
    if added && deleted {
        let mut find = DiffFindOptions::new();
        find.renames(true).rename_limit(1_000);
        diff.find_similar(Some(&mut find)).map_err(failed("cannot find renames"))?;
    }
    let mut files = Vec::with_capacity(diff.deltas().len());
    for index in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(index) else { continue };
        let new_path = delta.new_file().path().map(|path| path.to_string_lossy().into_owned());
        let old_path = delta.old_file().path().map(|path| path.to_string_lossy().into_owned());
        let path = match delta.status() {
            Delta::Deleted => old_path.clone(),
            _ => new_path.clone(),
        }
        .unwrap_or_default();
        let renamed = matches!(delta.status(), Delta::Renamed | Delta::Copied) && old_path != new_path;
        let mut file = FileChange { path, old_path: if renamed { old_path } else { None }, ..FileChange::default() };
        let old_blob = match delta.status() {
            Delta::Added | Delta::Untracked => None,
            _ => repository.find_blob(delta.old_file().id()).ok(),
        };
        let new_blob = match delta.status() {
            Delta::Deleted => None,
            _ => repository.find_blob(delta.new_file().id()).ok(),
        };
        let is_binary = old_blob.as_ref().is_some_and(git2::Blob::is_binary)
            || new_blob.as_ref().is_some_and(git2::Blob::is_binary);
        if is_binary {
            file.binary = true;
            files.push(file);
            continue;
        }
        let old_content = old_blob.as_ref().map_or(&[][..], git2::Blob::content);
        let new_content = new_blob.as_ref().map_or(&[][..], git2::Blob::content);
        file.old_lines = count_lines(old_content);
        let hunks = line_hunks(repository, old_blob.as_ref(), new_blob.as_ref())
            .map_err(failed("cannot compare a file with its parent's"))?;
        for hunk in &hunks {
            file.added += hunk.new_lines;
            file.deleted += hunk.old_lines;
        }
        if options.functions
            && let Some(language) = functions::Language::of(&file.path)
        {
            let version = |blob: Option<&git2::Blob<'_>>, content| functions::Version {
                blob: blob.and_then(|blob| blob.id().as_bytes().try_into().ok()),
                content,
            };
            file.functions = Some(functions::changes_between(
                language,
                version(old_blob.as_ref(), old_content),
                version(new_blob.as_ref(), new_content),
                &hunks,
            ));
        }
        files.push(file);
    }
    Ok(Change {
        id: oid.to_string(),
        author: author.email().unwrap_or_default().to_lowercase(),
        author_time: author.when().seconds(),
        commit_time: commit.time().seconds(),
        subject: message.lines().next().unwrap_or_default().to_owned(),
        fix: is_fix_message(&message),
        fixes: fixes_trailers(&message),
        files,
    })
}

/// The hunks of the line diff between two blobs (either may be absent), without context.
pub fn line_hunks(
    repository: &Repository,
    old: Option<&git2::Blob<'_>>,
    new: Option<&git2::Blob<'_>>,
) -> Result<Vec<Hunk>, git2::Error> {
    let mut hunks = Vec::new();
    if old.is_none() && new.is_none() {
        return Ok(hunks);
    }
    let mut options = DiffOptions::new();
    options.context_lines(0);
    let mut on_hunk = |_: git2::DiffDelta<'_>, hunk: git2::DiffHunk<'_>| {
        hunks.push(Hunk {
            old_start: hunk.old_start(),
            old_lines: hunk.old_lines(),
            new_start: hunk.new_start(),
            new_lines: hunk.new_lines(),
        });
        true
    };
    repository.diff_blobs(old, None, new, None, Some(&mut options), None, None, Some(&mut on_hunk), None)?;
    Ok(hunks)
}

/// Lines of a text (a last line without a newline counts).
pub fn count_lines(content: &[u8]) -> u32 {
    let newlines = memchr::memchr_iter(b'\n', content).count();
    let last = usize::from(content.last().is_some_and(|byte| *byte != b'\n'));
    u32::try_from(newlines + last).unwrap_or(u32::MAX)
}

/// Whether a message says it fixes a defect: a `Fixes:` trailer, or one of the words of Mockus
/// and Votta's defect-fix classifier (fix, bug, defect, fault, error, crash, …) in the subject.
pub fn is_fix_message(message: &str) -> bool {
    static WORDS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(fix(es|ed|ing)?|bug(s|fix)?|defect|fault|error|crash(es|ed)?|regression|incorrect|wrong|broken|leak(s|ed)?|overflow|segfault|oops|revert)\b")
            .expect("a valid pattern")
    });
    let subject = message.lines().next().unwrap_or_default();
    WORDS.is_match(subject) || !fixes_trailers(message).is_empty()
}

/// The ids named by the message's `Fixes: <sha> ("subject")` trailers, lower case, as written.
pub fn fixes_trailers(message: &str) -> Vec<String> {
    static TRAILER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?im)^\s*fixes:\s*(?:commit\s+)?([0-9a-f]{7,40})\b").expect("a valid pattern"));
    let mut ids: Vec<String> = TRAILER.captures_iter(message).map(|capture| capture[1].to_ascii_lowercase()).collect();
    ids.dedup();
    ids
}

/// Per changed file of a commit (by its path before the change), the parent's lines the commit
/// modifies or deletes, and for pure insertions the line before them: the lines whose coverage
/// in the parent says whether the change touched tested code.
pub fn changed_old_lines(repository: &Repository, oid: Oid) -> Result<Vec<(String, Vec<u32>)>, RiskError> {
    let failed = |what: &str| RiskError::git(format!("commit {oid}: {what}"));
    let commit = repository.find_commit(oid).map_err(failed("cannot read it"))?;
    if commit.parent_count() == 0 {
        return Ok(Vec::new());
    }
    let tree = commit.tree().map_err(failed("cannot read its tree"))?;
    let parent_tree = commit.parent(0).and_then(|parent| parent.tree()).map_err(failed("cannot read its parent"))?;
    let mut options = DiffOptions::new();
    options.context_lines(0);
    let diff = repository
        .diff_tree_to_tree(Some(&parent_tree), Some(&tree), Some(&mut options))
        .map_err(failed("cannot compare it with its parent"))?;
    let mut files: Vec<(String, Vec<u32>)> = Vec::new();
    diff.foreach(
        &mut |_, _| true,
        None,
        Some(&mut |delta, hunk| {
            if matches!(delta.status(), Delta::Added) {
                return true;
            }
            let Some(path) = delta.old_file().path().map(|path| path.to_string_lossy().into_owned()) else {
                return true;
            };
            if files.last().is_none_or(|(last, _)| *last != path) {
                files.push((path, Vec::new()));
            }
            let lines = &mut files.last_mut().expect("pushed above").1;
            if hunk.old_lines() == 0 {
                if hunk.old_start() >= 1 {
                    lines.push(hunk.old_start());
                }
            } else {
                lines.extend(hunk.old_start()..hunk.old_start() + hunk.old_lines());
            }
            true
        }),
        None,
    )
    .map_err(failed("cannot list its hunks"))?;
    Ok(files)
}
