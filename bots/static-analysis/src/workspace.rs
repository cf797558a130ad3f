//! The change to analyze, taken from a git repository without touching it: the base and head
//! trees (head from a revision or from a patch applied on base), the lines the change added or
//! changed, and checkouts of both trees in a temporary directory.
//!
//! Objects the bot creates (the tree of an applied patch) live in an in-memory object database,
//! and checkouts go to the temporary directory, so the user's repository, index and working
//! tree are never written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{Delta, Diff, DiffFindOptions, DiffOptions, FileMode, Repository, Tree};
use tempfile::TempDir;

use crate::error::Error;

/// Where the head of the change comes from.
#[derive(Clone, Copy, Debug)]
pub enum Head<'a> {
    /// A revision of the repository (`HEAD`, a branch, a commit id).
    Rev(&'a str),
    /// A unified diff (git's format) to apply on the base.
    Patch(&'a [u8]),
}

/// Lines added or changed by the change, per head path (from 1).
pub type ChangedLines = BTreeMap<String, BTreeSet<u32>>;

/// What a change does, in head terms.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// The base commit id.
    pub base: String,
    /// The head commit id, or the tree id of the patched base.
    pub head: String,
    /// Files present at head that the change added, modified, renamed or copied.
    pub touched: Vec<String>,
    pub changed: ChangedLines,
    /// Head path to base path, for renamed files.
    pub renames: BTreeMap<String, String>,
}

impl Change {
    /// Whether the change added or changed any of `lines` of `path`.
    pub fn touches(&self, path: &str, lines: std::ops::Range<u32>) -> bool {
        self.changed.get(path).is_some_and(|changed| changed.range(lines).next().is_some())
    }

    /// The base path of a head path (different for renamed files).
    pub fn base_path<'a>(&'a self, path: &'a str) -> &'a str {
        self.renames.get(path).map_or(path, String::as_str)
    }
}

/// The checkouts of a change, removed when dropped.
#[derive(Debug)]
pub struct Checkouts {
    _dir: TempDir,
    pub head: PathBuf,
    pub base: Option<PathBuf>,
}

/// Reads the change between `base` and `head` in the repository at `repository`, and checks out
/// the head tree (and the base tree when `with_base`) into a temporary directory.
pub fn prepare(repository: &Path, base: &str, head: Head<'_>, with_base: bool) -> Result<(Change, Checkouts), Error> {
    let repo = Repository::open(repository)
        .map_err(Error::git(format!("cannot open the repository {}", repository.display())))?;
    // Writes (the patched tree) go to memory: the highest priority backend takes them.
    repo.odb()
        .and_then(|odb| odb.add_new_mempack_backend(1000).map(drop))
        .map_err(Error::git("cannot set up an in-memory object database"))?;
    let base_commit = repo
        .revparse_single(base)
        .and_then(|object| object.peel_to_commit())
        .map_err(Error::git(format!("no commit `{base}`")))?;
    let base_tree = base_commit.tree().map_err(Error::git("cannot read the base tree"))?;
    let (head_tree, head_id) = match head {
        Head::Rev(rev) => {
            let commit = repo
                .revparse_single(rev)
                .and_then(|object| object.peel_to_commit())
                .map_err(Error::git(format!("no commit `{rev}`")))?;
            let id = commit.id().to_string();
            (commit.tree().map_err(Error::git("cannot read the head tree"))?, id)
        }
        Head::Patch(patch) => {
            let tree = apply_patch(&repo, &base_tree, patch, base)?;
            let id = tree.id().to_string();
            (tree, id)
        }
    };
    let mut change = changed_lines(&repo, &base_tree, &head_tree)?;
    change.base = base_commit.id().to_string();
    change.head = head_id;

    let dir = tempfile::Builder::new().prefix("static-analysis-").tempdir().map_err(Error::io(std::env::temp_dir()))?;
    // Tools print canonical paths (from `getcwd`); the checkout's must be the same to be stripped.
    let root = dir.path().canonicalize().map_err(Error::io(dir.path()))?;
    let head_dir = root.join("head");
    checkout(&repo, &head_tree, &head_dir)?;
    let base_dir = if with_base {
        let base_dir = root.join("base");
        checkout(&repo, &base_tree, &base_dir)?;
        Some(base_dir)
    } else {
        None
    };
    Ok((change, Checkouts { _dir: dir, head: head_dir, base: base_dir }))
}

fn apply_patch<'r>(repo: &'r Repository, base_tree: &Tree<'r>, patch: &[u8], base: &str) -> Result<Tree<'r>, Error> {
    let refused = |detail: String| Error::PatchDoesNotApply { base: base.to_owned(), detail };
    if patch.iter().all(u8::is_ascii_whitespace) {
        return Err(refused("the patch is empty".to_owned()));
    }
    // A unified diff is text (binary files travel as base85 `GIT binary patch` sections). A NUL
    // byte in a hunk line makes libgit2 1.9's apply read past its buffer (found by the
    // `unified_diff` fuzz target): refused before libgit2 sees it.
    if let Some(offset) = patch.iter().position(|byte| *byte == 0) {
        return Err(refused(format!("the patch holds a NUL byte (at byte {offset}): a unified diff is text")));
    }
    let diff = Diff::from_buffer(patch).map_err(|error| refused(format!("not a unified diff: {}", error.message())))?;
    if diff.deltas().len() == 0 {
        return Err(refused("the patch changes no file".to_owned()));
    }
    let mut index = repo.apply_to_tree(base_tree, &diff, None).map_err(|error| refused(error.message().to_owned()))?;
    let tree_id = index.write_tree_to(repo).map_err(Error::git("cannot write the patched tree"))?;
    repo.find_tree(tree_id).map_err(Error::git("cannot read the patched tree"))
}

fn changed_lines(repo: &Repository, base: &Tree<'_>, head: &Tree<'_>) -> Result<Change, Error> {
    let mut options = DiffOptions::new();
    options.context_lines(0).ignore_submodules(true);
    let mut diff = repo
        .diff_tree_to_tree(Some(base), Some(head), Some(&mut options))
        .map_err(Error::git("cannot compare base and head"))?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true).copies(false)))
        .map_err(Error::git("cannot find renamed files"))?;
    let mut change = Change::default();
    let path_of = |file: git2::DiffFile<'_>| file.path().map(|path| path.to_string_lossy().into_owned());
    for delta in diff.deltas() {
        let analyzable = matches!(delta.new_file().mode(), FileMode::Blob | FileMode::BlobExecutable);
        let kept = matches!(delta.status(), Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied);
        let Some(path) = path_of(delta.new_file()) else { continue };
        if !(analyzable && kept) {
            continue;
        }
        if delta.status() == Delta::Renamed
            && let Some(old) = path_of(delta.old_file())
        {
            change.renames.insert(path.clone(), old);
        }
        change.touched.push(path);
    }
    let changed = &mut change.changed;
    diff.foreach(
        &mut |_, _| true,
        None,
        None,
        Some(&mut |delta, _, line| {
            if line.origin() == '+'
                && let (Some(path), Some(number)) = (path_of(delta.new_file()), line.new_lineno())
            {
                changed.entry(path).or_default().insert(number);
            }
            true
        }),
    )
    .map_err(Error::git("cannot read the changed lines"))?;
    change.touched.sort();
    change.touched.dedup();
    Ok(change)
}

fn checkout(repo: &Repository, tree: &Tree<'_>, target: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(target).map_err(Error::io(target))?;
    let mut builder = CheckoutBuilder::new();
    builder.target_dir(target).force().recreate_missing(true).update_index(false);
    repo.checkout_tree(tree.as_object(), Some(&mut builder))
        .map_err(Error::git(format!("cannot check out into {}", target.display())))
}
