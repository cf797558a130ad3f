//! In-memory grafts (cherry-picks) of commits onto a branch tip, merged by git itself.
//!
//! A graft never touches the repository: no checkout, no working tree, no index, no reference,
//! and no object written to it. Each commit of a chain is cherry-picked as `git cherry-pick`
//! does, by the same code: git's merge-ort (`git merge-tree --write-tree`, git's default
//! settings and the repository's configuration), a three-way merge of the branch tree and the
//! commit's tree whose base is the commit's parent tree. Merge commits are picked against their
//! first parent (`git cherry-pick -m 1`); a root commit against the empty tree. Verdicts, trees
//! and conflicting paths are therefore git's, histogram content merges and directory renames
//! included. The objects git writes go to a temporary object directory that has the repository's
//! as its alternate (`GIT_OBJECT_DIRECTORY`, `GIT_ALTERNATE_OBJECT_DIRECTORIES`), deleted with the
//! [`GraftRepository`]. libgit2 only reads commits and trees.
//!
//! Each clean result is the "branch" of the next commit of the chain; only trees are carried
//! along, no commit object is created. `git merge-tree --stdin` answers only once its input has
//! ended, so a chain's next merge (which needs the previous tree) is asked in the next round: round
//! `n` merges the `n`th commit of every chain still going, in one `git merge-tree --stdin` per
//! rayon worker. When git cannot answer (it is missing or too old, it fails or times out), the
//! chain's verdict is [`Error::Undecided`], never a guess.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::{Oid, Repository};
use rayon::prelude::*;
use shipit_shared::api_types::uplift::{GraftCommit, GraftStatus};

use crate::Error;

/// The oldest git whose `merge-tree --stdin` takes a merge base and trees (2.45).
pub const MINIMUM_GIT: (u32, u32) = (2, 45);

/// git's empty tree, which git knows without it being in the repository: the base of a root
/// commit.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// At most this much output from one `git merge-tree` (conflict lists of hostile commits).
const OUTPUT_LIMIT: u64 = 256 << 20;

/// A `git merge-tree` run may take this long, plus [`TIMEOUT_PER_MERGE`] per merge.
const TIMEOUT: Duration = Duration::from_secs(60);
const TIMEOUT_PER_MERGE: Duration = Duration::from_secs(5);

/// A repository opened for grafting: objects that grafts create go to a temporary directory,
/// never to the repository.
///
/// `git2::Repository` is not `Sync`: open one per thread. The temporary objects grow with the
/// trees its grafts create until it is dropped.
pub struct GraftRepository {
    repo: Repository,
    merger: Merger,
}

/// How to run git's merge on the repository; shared by the rayon workers of a round.
struct Merger {
    git: PathBuf,
    git_dir: PathBuf,
    alternates: OsString,
    objects: tempfile::TempDir,
    /// Why git cannot merge here (missing, too old), found when the repository was opened.
    unusable: Option<String>,
}

impl GraftRepository {
    /// Opens the repository at `path` (a working tree's top directory, or a bare repository),
    /// to be merged by the `git` found on `PATH`.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::open_with(path, Path::new("git"))
    }

    /// [`GraftRepository::open`], merged by the program `git`.
    pub fn open_with(path: &Path, git: &Path) -> Result<Self, Error> {
        let repo = Repository::open(path).map_err(Error::git(format!("cannot open {}", path.display())))?;
        let objects = tempfile::Builder::new()
            .prefix("shipit-graft-objects-")
            .tempdir()
            .map_err(|source| Error::Io { context: "cannot create a temporary object directory".into(), source })?;
        let merger = Merger {
            git: git.to_path_buf(),
            git_dir: repo.path().to_path_buf(),
            alternates: repo.commondir().join("objects").into_os_string(),
            objects,
            unusable: git_version(git).err(),
        };
        Ok(Self { repo, merger })
    }

    /// The repository, to resolve revisions.
    pub fn repository(&self) -> &Repository {
        &self.repo
    }
}

/// Checks that `git` runs and is at least [`MINIMUM_GIT`].
fn git_version(git: &Path) -> Result<(), String> {
    let output = Command::new(git)
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {}: {error}", git.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.trim().strip_prefix("git version ").unwrap_or_default();
    let mut numbers = version.split(|c: char| !c.is_ascii_digit()).map(|part| part.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) if (major, minor) >= MINIMUM_GIT => Ok(()),
        _ => Err(format!(
            "{} is {:?}; grafts need git {}.{} or later",
            git.display(),
            text.trim(),
            MINIMUM_GIT.0,
            MINIMUM_GIT.1
        )),
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
/// are given, as `git ls-files -u` lists them after `git cherry-pick`). After a failure every
/// remaining commit is `skipped`. An error means a commit or a tree could not be read, or that
/// git could not decide ([`Error::Undecided`]).
pub fn graft_chain(repo: &GraftRepository, onto: Oid, commits: &[Oid]) -> Result<Vec<GraftCommit>, Error> {
    let job = GraftJob { onto, commits: commits.to_vec() };
    graft_jobs(repo, std::slice::from_ref(&job)).pop().expect("one result per job")
}

/// Grafts each job's chain onto its branch tip, in rounds (see the module's documentation), the
/// merges of each round in parallel on the rayon pool. Results are in the order of `jobs`.
pub fn graft_many(repo_path: &Path, jobs: &[GraftJob]) -> Result<Vec<Result<Vec<GraftCommit>, Error>>, Error> {
    Ok(graft_jobs(&GraftRepository::open(repo_path)?, jobs))
}

/// One commit's merge: trees.
struct Merge {
    base: Oid,
    ours: Oid,
    theirs: Oid,
}

/// What git made of a merge.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The merged tree.
    Clean(Oid),
    /// The conflicting paths, sorted, without repeats.
    Conflicts(Vec<String>),
}

/// A chain being grafted.
struct Chain {
    /// The tree each commit is merged onto, then the commits' (base, own) trees.
    tip: Oid,
    picks: Vec<(Oid, Oid)>,
    results: Vec<GraftCommit>,
    error: Option<Error>,
}

fn graft_jobs(repo: &GraftRepository, jobs: &[GraftJob]) -> Vec<Result<Vec<GraftCommit>, Error>> {
    let mut chains: Vec<Chain> = jobs
        .iter()
        .map(|job| match read_job(&repo.repo, job) {
            Ok((tip, picks)) => Chain { tip, picks, results: Vec::new(), error: None },
            Err(error) => Chain { tip: job.onto, picks: Vec::new(), results: Vec::new(), error: Some(error) },
        })
        .collect();
    let rounds = jobs.iter().map(|job| job.commits.len()).max().unwrap_or(0);
    for round in 0..rounds {
        let going: Vec<usize> = (0..chains.len())
            .filter(|&index| {
                let chain = &chains[index];
                chain.error.is_none() && round < chain.picks.len() && chain.results.len() == round
            })
            .collect();
        let merges: Vec<Merge> = going
            .iter()
            .map(|&index| {
                let (base, theirs) = chains[index].picks[round];
                Merge { base, ours: chains[index].tip, theirs }
            })
            .collect();
        let outcomes = repo.merger.merge_all(&merges);
        for (index, outcome) in going.into_iter().zip(outcomes) {
            let chain = &mut chains[index];
            let commit = jobs[index].commits[round].to_string();
            match outcome {
                Ok(Outcome::Clean(tree)) => {
                    let status = if tree == chain.tip { GraftStatus::AlreadyApplied } else { GraftStatus::Merged };
                    chain.results.push(GraftCommit { commit, status, tree: Some(tree.to_string()), conflicts: vec![] });
                    chain.tip = tree;
                }
                Ok(Outcome::Conflicts(conflicts)) => {
                    chain.results.push(GraftCommit { commit, status: GraftStatus::Failed, tree: None, conflicts });
                    for skipped in &jobs[index].commits[round + 1..] {
                        chain.results.push(GraftCommit {
                            commit: skipped.to_string(),
                            status: GraftStatus::Skipped,
                            tree: None,
                            conflicts: vec![],
                        });
                    }
                }
                Err(reason) => chain.error = Some(Error::Undecided { commit, reason }),
            }
        }
    }
    chains.into_iter().map(|chain| chain.error.map_or(Ok(chain.results), Err)).collect()
}

/// The tree of the job's tip, and each commit's base tree (its first parent's, or the empty tree)
/// and own tree.
fn read_job(repo: &Repository, job: &GraftJob) -> Result<(Oid, Vec<(Oid, Oid)>), Error> {
    let tip = repo
        .find_commit(job.onto)
        .map(|commit| commit.tree_id())
        .map_err(Error::git(format!("cannot read the branch tip {}", job.onto)))?;
    let empty = Oid::from_str(EMPTY_TREE).expect("a valid object id");
    let picks = job
        .commits
        .iter()
        .map(|&id| {
            let commit = repo.find_commit(id)?;
            let base = match commit.parent_ids().next() {
                Some(parent) => repo.find_commit(parent)?.tree_id(),
                None => empty,
            };
            Ok((base, commit.tree_id()))
        })
        .collect::<Result<_, git2::Error>>()
        .map_err(Error::git("cannot read a commit to graft"))?;
    Ok((tip, picks))
}

impl Merger {
    /// Merges each of `merges`, in parallel: one `git merge-tree --stdin` per rayon worker. A run
    /// that fails is retried merge by merge, so that one bad merge does not undecide the others.
    fn merge_all(&self, merges: &[Merge]) -> Vec<Result<Outcome, String>> {
        if let Some(reason) = &self.unusable {
            return merges.iter().map(|_| Err(reason.clone())).collect();
        }
        let size = merges.len().div_ceil(rayon::current_num_threads()).max(1);
        merges
            .par_chunks(size)
            .flat_map_iter(|chunk| match self.merge_tree(chunk) {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(_) if chunk.len() > 1 => chunk
                    .iter()
                    .map(|merge| self.merge_tree(std::slice::from_ref(merge)).map(|mut one| one.remove(0)))
                    .collect(),
                Err(reason) => vec![Err(reason)],
            })
            .collect()
    }

    /// One `git merge-tree --write-tree --stdin -z --no-messages` for `merges`.
    fn merge_tree(&self, merges: &[Merge]) -> Result<Vec<Outcome>, String> {
        let mut child = Command::new(&self.git)
            .arg("--git-dir")
            .arg(&self.git_dir)
            .args(["merge-tree", "--write-tree", "--stdin", "-z", "--no-messages"])
            .env("GIT_OBJECT_DIRECTORY", self.objects.path())
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &self.alternates)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_COMMON_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", self.git.display()))?;
        let input: String =
            merges.iter().map(|merge| format!("{} -- {} {}\n", merge.base, merge.ours, merge.theirs)).collect();
        let (mut stdin, stdout, stderr) = (
            child.stdin.take().expect("piped"),
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        let deadline = Instant::now() + TIMEOUT + TIMEOUT_PER_MERGE * u32::try_from(merges.len()).unwrap_or(u32::MAX);
        let (status, output, errors) = std::thread::scope(|scope| {
            scope.spawn(move || stdin.write_all(input.as_bytes()));
            let output = scope.spawn(move || read_bounded(stdout));
            let errors = scope.spawn(move || read_bounded(stderr));
            let mut pause = Duration::from_millis(1);
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break Err("git merge-tree took too long".to_owned());
                    }
                    Ok(None) => {
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(Duration::from_millis(20));
                    }
                    Err(error) => break Err(format!("cannot wait for git merge-tree: {error}")),
                }
            };
            (status, output.join(), errors.join())
        });
        let status = status?;
        let output = output.map_err(|_| "reading git merge-tree's output panicked".to_owned())??;
        if !status.success() {
            let errors = errors.ok().and_then(Result::ok).unwrap_or_default();
            return Err(format!("git merge-tree failed ({status}): {}", String::from_utf8_lossy(&errors).trim()));
        }
        let outcomes = parse_outcomes(&output)?;
        if outcomes.len() != merges.len() {
            return Err(format!("git merge-tree answered {} merges of {}", outcomes.len(), merges.len()));
        }
        Ok(outcomes)
    }
}

/// All of `from`, or an error past [`OUTPUT_LIMIT`].
fn read_bounded(from: impl Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    from.take(OUTPUT_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read git merge-tree's output: {error}"))?;
    if bytes.len() as u64 > OUTPUT_LIMIT {
        return Err(format!("git merge-tree wrote more than {OUTPUT_LIMIT} bytes"));
    }
    Ok(bytes)
}

/// Reads `git merge-tree --stdin -z --no-messages` output: per merge, its status (`1` clean, `0`
/// conflicts), the tree, the conflicted entries (`<mode> <object> <stage>\t<path>`), and an empty
/// field.
fn parse_outcomes(output: &[u8]) -> Result<Vec<Outcome>, String> {
    let mut fields = output.split(|&byte| byte == 0);
    let mut outcomes = Vec::new();
    let odd = |what: &str| format!("git merge-tree's output is not as documented: {what}");
    while let Some(status) = fields.next() {
        if status.is_empty() && fields.clone().all(<[u8]>::is_empty) {
            break;
        }
        let tree = fields.next().ok_or_else(|| odd("no tree"))?;
        let tree =
            std::str::from_utf8(tree).ok().and_then(|tree| Oid::from_str(tree).ok()).ok_or_else(|| odd("tree"))?;
        let mut conflicts = std::collections::BTreeSet::new();
        loop {
            let entry = fields.next().ok_or_else(|| odd("unterminated conflicts"))?;
            if entry.is_empty() {
                break;
            }
            let tab = entry.iter().position(|&byte| byte == b'\t').ok_or_else(|| odd("conflict entry"))?;
            conflicts.insert(String::from_utf8_lossy(&entry[tab + 1..]).into_owned());
        }
        outcomes.push(match status {
            b"1" if conflicts.is_empty() => Outcome::Clean(tree),
            b"0" if !conflicts.is_empty() => Outcome::Conflicts(conflicts.into_iter().collect()),
            b"0" => return Err("git reports a conflict without a conflicting path".into()),
            _ => return Err(odd("status")),
        });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_tree_output_is_read_per_merge() {
        let tree = "9253f22edac59e12dfb65c05d796900f5a602c2e";
        let output = format!(
            "0\0{tree}\0100644 55aff5f4f01607931bac10272f9d4b2d90de4e11 1\tdeps/print.h\0\
             100644 d010a5613929a4eb44c57268cee48fe4b7e00e65 3\tdeps/print.h\0\
             100644 d010a5613929a4eb44c57268cee48fe4b7e00e65 2\ta b.c\0\0\
             1\0{tree}\0\0"
        );
        let tree = Oid::from_str(tree).unwrap();
        assert_eq!(
            parse_outcomes(output.as_bytes()).unwrap(),
            [Outcome::Conflicts(vec!["a b.c".into(), "deps/print.h".into()]), Outcome::Clean(tree)]
        );
        assert_eq!(parse_outcomes(b"").unwrap(), []);
    }

    #[test]
    fn odd_merge_tree_output_is_an_error_not_a_verdict() {
        let tree = "9253f22edac59e12dfb65c05d796900f5a602c2e";
        for output in [
            format!("1\0{tree}"),
            "1\0nothex\0\0".to_owned(),
            format!("2\0{tree}\0\0"),
            format!("0\0{tree}\0\0"),
            format!("1\0{tree}\0100644 x 1\ta.txt\0\0"),
            format!("0\0{tree}\0no tab\0\0"),
        ] {
            assert!(parse_outcomes(output.as_bytes()).is_err(), "{output:?}");
        }
    }

    #[test]
    fn a_missing_or_old_git_is_refused() {
        assert!(git_version(Path::new("/nonexistent/git")).unwrap_err().contains("cannot run"));
        assert!(git_version(Path::new("true")).unwrap_err().contains("need git 2.45"));
        assert_eq!(git_version(Path::new("git")), Ok(()));
    }
}
