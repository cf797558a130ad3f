//! In-memory grafts (cherry-picks) of commits onto a branch tip with libgit2.
//!
//! A graft never touches the repository: no checkout, no working tree, no index, no reference,
//! and no object written to disk. [`GraftRepository::open`] puts an in-memory object database in
//! front of the repository's own, so the trees a graft creates live in memory only. Bare
//! repositories work the same.
//!
//! Each commit of a chain is cherry-picked as `git cherry-pick` does: a three-way merge (with
//! rename detection) of the branch tree and the commit's tree, whose base is the commit's parent
//! tree. Merge commits are picked against their first parent (`git cherry-pick -m 1`); a root
//! commit against the empty tree. Each clean result is the "branch" of the next commit; only
//! trees are carried along the chain, no commit object is created.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use git2::{MergeOptions, Oid, Repository, Tree};
use rayon::prelude::*;
use shipit_shared::api_types::uplift::{GraftCommit, GraftStatus};

use crate::Error;

/// Above the on-disk backends (loose objects 1, packs 2): libgit2 writes new objects to the
/// writable backend of highest priority, so they all go to memory.
const MEMORY_BACKEND_PRIORITY: i32 = 1000;

/// git's rename limit of merges when neither `merge.renameLimit` nor `diff.renameLimit` is set
/// (libgit2's own default is 1000).
const GIT_DEFAULT_RENAME_LIMIT: u32 = 7000;

/// A repository opened for grafting: objects that grafts create go to memory, never to disk.
///
/// `git2::Repository` is not `Sync`: open one per thread. The memory it holds grows with the trees
/// its grafts create (a few per graft) until it is dropped.
pub struct GraftRepository {
    repo: Repository,
    rename_limit: u32,
}

impl GraftRepository {
    /// Opens the repository at `path` (a working tree's top directory, or a bare repository).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let repo = Repository::open(path).map_err(Error::git(format!("cannot open {}", path.display())))?;
        repo.odb()
            .and_then(|odb| odb.add_new_mempack_backend(MEMORY_BACKEND_PRIORITY).map(drop))
            .map_err(Error::git("cannot add an in-memory object database"))?;
        let rename_limit = repo
            .config()
            .ok()
            .and_then(|config| config.get_i32("merge.renameLimit").or_else(|_| config.get_i32("diff.renameLimit")).ok())
            .and_then(|limit| u32::try_from(limit).ok())
            .unwrap_or(GIT_DEFAULT_RENAME_LIMIT);
        Ok(Self { repo, rename_limit })
    }

    /// The repository, to resolve revisions. Objects written through it go to memory too.
    pub fn repository(&self) -> &Repository {
        &self.repo
    }
}

/// One chain of commits to graft onto one branch tip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraftJob {
    /// The branch tip (a commit).
    pub onto: Oid,
    /// The commits, in graft order.
    pub commits: Vec<Oid>,
}

/// Grafts `commits`, in order, onto the commit `onto`: one result per commit.
///
/// Each commit is `merged` (its tree is given), `already_applied` (the pick changes nothing: the
/// branch already holds the change, or the commit is empty), or `failed` (the conflicting paths
/// are given: every path of every side of each conflict, so a file one side renamed is named by
/// its old and its new path, where git names the new one only). After a failure every remaining commit
/// is `skipped`. An error means a commit or a tree could not be read.
pub fn graft_chain(repo: &GraftRepository, onto: Oid, commits: &[Oid]) -> Result<Vec<GraftCommit>, Error> {
    let git = &repo.repo;
    let mut options = MergeOptions::new();
    options.find_renames(true).target_limit(repo.rename_limit).skip_reuc(true);
    let mut tip = git
        .find_commit(onto)
        .and_then(|commit| commit.tree())
        .map_err(Error::git(format!("cannot read the branch tip {onto}")))?;
    let mut results = Vec::with_capacity(commits.len());
    for &commit in commits {
        let result = if results.last().is_some_and(|last: &GraftCommit| !last.status.is_success()) {
            GraftCommit { commit: commit.to_string(), status: GraftStatus::Skipped, tree: None, conflicts: Vec::new() }
        } else {
            let (result, tree) =
                graft_commit(git, &tip, commit, &options).map_err(Error::git(format!("cannot graft {commit}")))?;
            if let Some(tree) = tree {
                tip = tree;
            }
            result
        };
        results.push(result);
    }
    Ok(results)
}

/// Grafts each job's chain onto its branch tip, in parallel on the rayon pool, with one
/// [`GraftRepository`] per worker. Results are in the order of `jobs`.
pub fn graft_many(repo_path: &Path, jobs: &[GraftJob]) -> Vec<Result<Vec<GraftCommit>, Error>> {
    jobs.par_iter()
        .map_init(
            || None,
            |repo: &mut Option<GraftRepository>, job| {
                let repo = match repo {
                    Some(repo) => repo,
                    None => repo.insert(GraftRepository::open(repo_path)?),
                };
                graft_chain(repo, job.onto, &job.commits)
            },
        )
        .collect()
}

/// Cherry-picks `commit` onto the tree `ours`; gives the new tree when it changed.
///
/// Rather than merging whole trees (tens of thousands of files in a large repository), it merges
/// *reduced* trees, which hold only the paths the commit changes (see [`reduced_tree`]), and
/// writes the result over `ours`: outside those paths the commit's tree equals its base, so the
/// three-way result is `ours` anyway. Renames stay visible to libgit2: the commit's own renames
/// are among its changed paths, and when a changed path is gone from (or is a directory on) the
/// branch, the paths the branch added since the commit's base join the reduced trees, so that the
/// branch's renames of those files are found. This is what `git merge-ort` does too (it only looks
/// for the renames that matter to the merge), and it makes a graft cost what the commit touches.
fn graft_commit<'repo>(
    repo: &'repo Repository,
    ours: &Tree<'repo>,
    commit: Oid,
    options: &MergeOptions,
) -> Result<(GraftCommit, Option<Tree<'repo>>), git2::Error> {
    let commit = repo.find_commit(commit)?;
    let theirs = commit.tree()?;
    let base = match commit.parents().next() {
        Some(parent) => parent.tree()?,
        None => write_tree(repo, None, &BTreeMap::new())?,
    };
    let mut paths = Vec::new();
    differences(repo, &base, &theirs, b"", false, &mut paths)?;
    let mut branch_renames_matter = false;
    for path in &paths {
        let in_base = entry_at(repo, &base, path)?;
        let in_ours = entry_at(repo, ours, path)?;
        branch_renames_matter |= in_base.is_some_and(|base| is_tree(base) || in_ours.is_none_or(is_tree));
    }
    if branch_renames_matter {
        differences(repo, &base, ours, b"", true, &mut paths)?;
    }

    let index = repo.merge_trees(
        &reduced_tree(repo, &base, &paths)?,
        &reduced_tree(repo, ours, &paths)?,
        &reduced_tree(repo, &theirs, &paths)?,
        Some(options),
    )?;
    let mut result =
        GraftCommit { commit: commit.id().to_string(), status: GraftStatus::Merged, tree: None, conflicts: Vec::new() };
    if index.has_conflicts() {
        let mut conflicts = BTreeSet::new();
        for conflict in index.conflicts()? {
            let conflict = conflict?;
            for entry in [conflict.ancestor, conflict.our, conflict.their].into_iter().flatten() {
                conflicts.insert(String::from_utf8_lossy(&entry.path).into_owned());
            }
        }
        result.status = GraftStatus::Failed;
        result.conflicts = conflicts.into_iter().collect();
        return Ok((result, None));
    }

    // The merged paths replace what `ours` has there.
    let merged: Vec<_> = index.iter().collect();
    let mut edits = BTreeMap::new();
    for path in &paths {
        if let Some((path, _)) = entry_on_path(repo, ours, path)? {
            edits.insert(path, None);
        }
    }
    for entry in &merged {
        edits.insert(&entry.path[..], Some((entry.id, entry.mode as i32)));
    }
    let tree = write_tree(repo, Some(ours), &edits)?;
    result.tree = Some(tree.id().to_string());
    if tree.id() == ours.id() {
        result.status = GraftStatus::AlreadyApplied;
        return Ok((result, None));
    }
    Ok((result, Some(tree)))
}

/// A tree entry: its object and file mode.
type Entry = (Oid, i32);

/// The file mode of a tree entry that is a tree.
const TREE_MODE: i32 = 0o040000;

fn is_tree(entry: Entry) -> bool {
    entry.1 == TREE_MODE
}

/// Appends to `paths` the paths (under `prefix`) where `old` and `new` differ, as shallow as
/// possible: subtrees that differ are descended into, and any other difference (a file changed,
/// added or removed, a whole subtree added or removed, a file that became a directory) is one
/// path. With `only_added`, only what `new` adds: entries `old` has nothing of the same kind for.
fn differences(
    repo: &Repository,
    old: &Tree<'_>,
    new: &Tree<'_>,
    prefix: &[u8],
    only_added: bool,
    paths: &mut Vec<Vec<u8>>,
) -> Result<(), git2::Error> {
    let join = |name: &[u8]| if prefix.is_empty() { name.to_vec() } else { [prefix, b"/", name].concat() };
    for entry in new.iter() {
        let new_entry = (entry.id(), entry.filemode());
        match old.get_name_bytes(entry.name_bytes()).map(|old| (old.id(), old.filemode())) {
            Some(old_entry) if old_entry == new_entry => {}
            Some(old_entry) if is_tree(old_entry) && is_tree(new_entry) => {
                let (old, new) = (repo.find_tree(old_entry.0)?, repo.find_tree(new_entry.0)?);
                differences(repo, &old, &new, &join(entry.name_bytes()), only_added, paths)?;
            }
            Some(old_entry) if only_added && is_tree(old_entry) == is_tree(new_entry) => {}
            _ => paths.push(join(entry.name_bytes())),
        }
    }
    if !only_added {
        for entry in old.iter() {
            if new.get_name_bytes(entry.name_bytes()).is_none() {
                paths.push(join(entry.name_bytes()));
            }
        }
    }
    Ok(())
}

/// What `tree` has at `path`: the entry there, or the file (not a tree) at one of its parent
/// paths, with the path it is at.
fn entry_on_path<'path>(
    repo: &Repository,
    tree: &Tree<'_>,
    path: &'path [u8],
) -> Result<Option<(&'path [u8], Entry)>, git2::Error> {
    let mut tree = tree.clone();
    let mut end = 0;
    for name in path.split(|&byte| byte == b'/') {
        end += name.len();
        let Some(entry) = tree.get_name_bytes(name).map(|entry| (entry.id(), entry.filemode())) else {
            return Ok(None);
        };
        if end == path.len() || !is_tree(entry) {
            return Ok(Some((&path[..end], entry)));
        }
        tree = repo.find_tree(entry.0)?;
        end += 1;
    }
    Ok(None)
}

/// The entry of `tree` at `path` exactly.
fn entry_at(repo: &Repository, tree: &Tree<'_>, path: &[u8]) -> Result<Option<Entry>, git2::Error> {
    Ok(entry_on_path(repo, tree, path)?.and_then(|(at, entry)| (at.len() == path.len()).then_some(entry)))
}

/// `tree` reduced to `paths`: the entry at each path (a whole subtree when it is one), or the file
/// in the way of it (so that file/directory conflicts stay visible).
fn reduced_tree<'repo>(
    repo: &'repo Repository,
    tree: &Tree<'repo>,
    paths: &[Vec<u8>],
) -> Result<Tree<'repo>, git2::Error> {
    let mut entries = BTreeMap::new();
    for path in paths {
        if let Some((path, entry)) = entry_on_path(repo, tree, path)? {
            entries.insert(path, Some(entry));
        }
    }
    write_tree(repo, None, &entries)
}

/// Writes `tree` (none: the empty tree) with `edits` applied: each path set to an entry, or
/// removed (`None`).
fn write_tree<'repo>(
    repo: &'repo Repository,
    tree: Option<&Tree<'repo>>,
    edits: &BTreeMap<&[u8], Option<Entry>>,
) -> Result<Tree<'repo>, git2::Error> {
    let id = match edit_tree(repo, tree, edits)? {
        Some(id) => id,
        None => repo.treebuilder(None)?.write()?,
    };
    repo.find_tree(id)
}

/// [`write_tree`], one directory level: gives `None` when the tree ends up empty (git has no empty
/// subtrees).
fn edit_tree(
    repo: &Repository,
    tree: Option<&Tree<'_>>,
    edits: &BTreeMap<&[u8], Option<Entry>>,
) -> Result<Option<Oid>, git2::Error> {
    // Per name in this directory: the edit of the name itself, and the edits below it.
    type Edits<'a> = (Option<Option<Entry>>, BTreeMap<&'a [u8], Option<Entry>>);
    let mut by_name: BTreeMap<&[u8], Edits<'_>> = BTreeMap::new();
    for (&path, &edit) in edits {
        match path.iter().position(|&byte| byte == b'/') {
            None => by_name.entry(path).or_default().0 = Some(edit),
            Some(slash) => {
                by_name.entry(&path[..slash]).or_default().1.insert(&path[slash + 1..], edit);
            }
        }
    }
    let mut builder = repo.treebuilder(tree)?;
    for (name, (edit, below)) in by_name {
        let mut entry = match edit {
            Some(edit) => edit,
            None => builder.get(name)?.map(|entry| (entry.id(), entry.filemode())),
        };
        if !below.is_empty() {
            let subtree = entry.filter(|&entry| is_tree(entry)).map(|(id, _)| repo.find_tree(id)).transpose()?;
            entry = edit_tree(repo, subtree.as_ref(), &below)?.map(|id| (id, TREE_MODE));
        }
        match entry {
            Some((id, mode)) => {
                builder.insert(name, id, mode)?;
            }
            None if builder.get(name)?.is_some() => builder.remove(name)?,
            None => {}
        }
    }
    Ok(if builder.is_empty() { None } else { Some(builder.write()?) })
}
