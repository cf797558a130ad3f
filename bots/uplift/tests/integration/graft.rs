//! Parity tests of the in-memory graft against `git cherry-pick` (the git CLI, default settings):
//! same verdict (clean, conflict, empty), same tree, same conflicting paths, and the repository
//! left exactly as it was (every file under it, `.git` included, byte for byte).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use shipit_shared::api_types::uplift::{GraftCommit, GraftStatus};
use shipit_shared::testing::git;
use shipit_uplift::graft::{self, GraftJob, GraftRepository};

/// `git` in `dir`, with a fixed identity and no user or system configuration.
fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args);
    command
}

/// `n` numbered lines, some replaced: `(line number, text)`.
fn lines(n: usize, replaced: &[(usize, &str)]) -> String {
    (1..=n)
        .map(|number| match replaced.iter().find(|(at, _)| *at == number) {
            Some((_, text)) => format!("{text}\n"),
            None => format!("line {number} of a text long enough for rename detection\n"),
        })
        .collect()
}

/// A scratch repository built with the git CLI, on `main`.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, path: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    fn remove(&self, path: &str) -> &Self {
        git(self.path(), &["rm", "-rq", path]);
        self
    }

    fn rename(&self, from: &str, to: &str) -> &Self {
        std::fs::create_dir_all(self.path().join(to).parent().unwrap()).unwrap();
        git(self.path(), &["mv", from, to]);
        self
    }

    fn make_executable(&self, path: &str) -> &Self {
        std::fs::set_permissions(self.path().join(path), std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// Commits everything; gives the commit id.
    fn commit(&self, message: &str) -> String {
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-qm", message]);
        git(self.path(), &["rev-parse", "HEAD"])
    }

    /// Switches to `branch` (created from HEAD when new).
    fn switch(&self, branch: &str) -> &Self {
        if git_command(self.path(), &["rev-parse", "--verify", "-q", branch]).output().unwrap().status.success() {
            git(self.path(), &["switch", "-q", branch]);
        } else {
            git(self.path(), &["switch", "-qc", branch]);
        }
        self
    }
}

/// Every file under `dir` (`.git` included) with its content and mode.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let metadata = std::fs::symlink_metadata(&path).unwrap();
            if metadata.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), (metadata.permissions().mode(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files
}

/// Our graft of `commits` onto `branch`, asserting it left the repository untouched.
fn graft(repo: &Path, branch: &str, commits: &[&str]) -> Vec<GraftCommit> {
    let before = snapshot(repo);
    let grafter = GraftRepository::open(repo).unwrap();
    let resolve = |spec: &str| grafter.repository().revparse_single(spec).unwrap().peel_to_commit().unwrap().id();
    let commits: Vec<_> = commits.iter().map(|commit| resolve(commit)).collect();
    let result = graft::graft_chain(&grafter, resolve(branch), &commits).unwrap();
    drop(grafter);
    assert!(snapshot(repo) == before, "the graft changed files of the repository");
    result
}

/// `git cherry-pick` of `commits`, one after the other, onto `branch` (in a clone), stopping at
/// the first conflict as the graft does.
fn cherry_pick(repo: &Path, branch: &str, commits: &[&str]) -> Vec<GraftCommit> {
    cherry_pick_with(repo, branch, commits, &[])
}

/// [`cherry_pick`] with git configuration (`name=value`).
fn cherry_pick_with(repo: &Path, branch: &str, commits: &[&str], config: &[&str]) -> Vec<GraftCommit> {
    let clone = scratch_clone(repo);
    pick_in(clone.path(), &format!("origin/{branch}"), commits, config)
}

/// A clone of `repo` to cherry-pick in, its files not checked out yet.
pub(crate) fn scratch_clone(repo: &Path) -> tempfile::TempDir {
    let clone = tempfile::tempdir().unwrap();
    git(clone.path(), &["clone", "-q", "--shared", "--no-checkout", repo.to_str().unwrap(), "."]);
    clone
}

/// `git cherry-pick` of `commits`, one after the other, onto `onto` in the clone `clone` (reset
/// there first), stopping at the first conflict as the graft does.
pub(crate) fn pick_in(clone: &Path, onto: &str, commits: &[&str], config: &[&str]) -> Vec<GraftCommit> {
    git(clone, &["checkout", "-q", "--force", "--detach", onto]);
    let mut results: Vec<GraftCommit> = Vec::new();
    for commit in commits {
        let commit = git(clone, &["rev-parse", &format!("{commit}^{{commit}}")]);
        let mut result =
            GraftCommit { commit: commit.clone(), status: GraftStatus::Skipped, tree: None, conflicts: vec![] };
        if results.last().is_some_and(|last| !last.status.is_success()) {
            results.push(result);
            continue;
        }
        let merge = git(clone, &["rev-list", "--parents", "-n1", &commit]).split(' ').count() > 2;
        let mut args: Vec<&str> = config.iter().flat_map(|setting| ["-c", setting]).collect();
        args.push("cherry-pick");
        if merge {
            args.extend(["-m", "1"]);
        }
        args.push(&commit);
        let picked = git_command(clone, &args).output().unwrap();
        let unmerged: BTreeSet<_> = git(clone, &["ls-files", "-u"])
            .lines()
            .filter_map(|line| line.split_once('\t').map(|(_, path)| path.to_owned()))
            .collect();
        if picked.status.success() {
            result.status = GraftStatus::Merged;
        } else if !unmerged.is_empty() {
            result.status = GraftStatus::Failed;
            result.conflicts = unmerged.into_iter().collect();
        } else if git_command(clone, &["diff", "--cached", "--quiet", "HEAD"]).status().unwrap().success() {
            result.status = GraftStatus::AlreadyApplied;
        } else {
            panic!("git cherry-pick {commit}: {}", String::from_utf8_lossy(&picked.stderr));
        }
        if result.status.is_success() {
            result.tree = Some(git(clone, &["rev-parse", "HEAD^{tree}"]));
        }
        if !picked.status.success() {
            git(clone, &["cherry-pick", "--abort"]);
        }
        results.push(result);
    }
    results
}

/// Grafts with both and asserts the same results; gives them.
fn assert_parity(repo: &Path, branch: &str, commits: &[&str]) -> Vec<GraftCommit> {
    let ours = graft(repo, branch, commits);
    assert_eq!(ours, cherry_pick(repo, branch, commits));
    ours
}

fn statuses(results: &[GraftCommit]) -> Vec<GraftStatus> {
    results.iter().map(|result| result.status).collect()
}

/// A repository with `a.txt` and `b.txt`, and a `release` branch from the first commit.
fn two_files() -> Repo {
    let repo = Repo::new();
    repo.write("a.txt", lines(20, &[])).write("b.txt", lines(20, &[])).commit("base");
    git(repo.path(), &["branch", "release"]);
    repo
}

#[test]
fn clean_pick_beside_branch_changes() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(18, "main fix")])).commit("fix");
    repo.switch("release").write("a.txt", lines(20, &[(2, "release change")])).commit("release change");
    assert_eq!(statuses(&assert_parity(repo.path(), "release", &[&fix])), [GraftStatus::Merged]);
}

#[test]
fn rename_on_the_branch_then_edited() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(18, "main fix")])).commit("fix");
    repo.switch("release").rename("a.txt", "lib/renamed.txt").commit("rename");
    repo.write("lib/renamed.txt", lines(20, &[(2, "release change")])).commit("edit after the rename");
    let results = assert_parity(repo.path(), "release", &[&fix]);
    assert_eq!(statuses(&results), [GraftStatus::Merged]);
}

#[test]
fn rename_and_edit_in_one_branch_commit() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(18, "main fix")])).commit("fix");
    repo.switch("release").rename("a.txt", "moved/a.txt");
    repo.write("moved/a.txt", lines(20, &[(2, "release change"), (5, "another")])).commit("rename and edit");
    assert_eq!(statuses(&assert_parity(repo.path(), "release", &[&fix])), [GraftStatus::Merged]);
}

#[test]
fn rename_in_the_commit() {
    let repo = two_files();
    repo.rename("a.txt", "src/a.txt");
    let fix = repo.write("src/a.txt", lines(20, &[(18, "main fix")])).commit("rename and fix");
    repo.switch("release").write("a.txt", lines(20, &[(2, "release change")])).commit("release change");
    assert_eq!(statuses(&assert_parity(repo.path(), "release", &[&fix])), [GraftStatus::Merged]);
}

#[test]
fn binary_files() {
    let binary = |byte: u8| [b"\0\x01binary\0".as_slice(), &[byte; 64]].concat();
    let repo = two_files();
    repo.write("data.bin", binary(1)).write("other.bin", binary(1)).commit("binaries");
    git(repo.path(), &["branch", "-f", "release"]);
    let fix = repo.write("data.bin", binary(2)).commit("change a binary");
    repo.switch("release").write("other.bin", binary(3)).commit("change the other binary");
    assert_eq!(statuses(&assert_parity(repo.path(), "release", &[&fix])), [GraftStatus::Merged]);
    repo.write("data.bin", binary(4)).commit("change the same binary");
    let results = assert_parity(repo.path(), "release", &[&fix]);
    assert_eq!(results[0].conflicts, ["data.bin"]);
}

#[test]
fn mode_changes() {
    let repo = two_files();
    repo.write("run.sh", lines(20, &[])).commit("script");
    git(repo.path(), &["branch", "-f", "release"]);
    let executable = repo.make_executable("run.sh").commit("make it executable");
    let edit = repo.write("b.txt", lines(20, &[(3, "main fix")])).make_executable("b.txt").commit("edit and chmod");
    repo.switch("release").write("run.sh", lines(20, &[(2, "release change")])).commit("edit the script");
    repo.write("b.txt", lines(20, &[(18, "release change")])).commit("edit b");
    let results = assert_parity(repo.path(), "release", &[&executable, &edit]);
    assert_eq!(statuses(&results), [GraftStatus::Merged, GraftStatus::Merged]);
    git(repo.path(), &["cherry-pick", &executable, &edit]);
    assert_eq!(results[1].tree, Some(git(repo.path(), &["rev-parse", "HEAD^{tree}"])));
    assert!(git(repo.path(), &["ls-tree", "HEAD", "run.sh", "b.txt"]).lines().all(|line| line.starts_with("100755")));
}

#[test]
fn deletions_and_additions() {
    let repo = two_files();
    repo.write("dir/one.txt", lines(5, &[])).write("dir/sub/two.txt", lines(5, &[])).commit("a directory");
    git(repo.path(), &["branch", "-f", "release"]);
    let delete_file = repo.remove("b.txt").commit("delete b");
    let delete_dir = repo.remove("dir").commit("delete dir");
    let add = repo.write("new/deep/file.txt", lines(3, &[])).write("c.txt", lines(3, &[])).commit("additions");
    let file_to_dir = repo.remove("c.txt").write("c.txt/inside.txt", lines(3, &[])).commit("file to directory");
    repo.switch("release").write("a.txt", lines(20, &[(1, "release change")])).commit("release change");
    let results = assert_parity(repo.path(), "release", &[&delete_file, &delete_dir, &add, &file_to_dir]);
    assert_eq!(statuses(&results), [GraftStatus::Merged; 4]);
}

#[test]
fn content_conflict() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(10, "main fix")])).commit("fix");
    repo.switch("release").write("a.txt", lines(20, &[(10, "release change")])).commit("release change");
    let results = assert_parity(repo.path(), "release", &[&fix]);
    assert_eq!(statuses(&results), [GraftStatus::Failed]);
    assert_eq!(results[0].conflicts, ["a.txt"]);
}

#[test]
fn modify_delete_conflicts() {
    let repo = two_files();
    let modify = repo.write("a.txt", lines(20, &[(10, "main fix")])).commit("modify a");
    let delete = repo.remove("b.txt").commit("delete b");
    repo.switch("release").remove("a.txt").write("b.txt", lines(20, &[(1, "release change")])).commit("release");
    assert_eq!(assert_parity(repo.path(), "release", &[&modify])[0].conflicts, ["a.txt"]);
    assert_eq!(assert_parity(repo.path(), "release", &[&delete])[0].conflicts, ["b.txt"]);
}

#[test]
fn already_applied() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(10, "main fix")])).commit("fix");
    let next = repo.write("b.txt", lines(20, &[(10, "main fix")])).commit("next");
    repo.switch("release").write("b.txt", lines(20, &[(1, "release change")])).commit("release change");
    git(repo.path(), &["cherry-pick", &fix]);
    let results = assert_parity(repo.path(), "release", &[&fix, &next]);
    assert_eq!(statuses(&results), [GraftStatus::AlreadyApplied, GraftStatus::Merged]);
    assert_eq!(results[0].tree.as_deref(), Some(git(repo.path(), &["rev-parse", "release^{tree}"]).as_str()));
}

#[test]
fn chain_where_a_commit_needs_the_previous_one() {
    let repo = two_files();
    let first = repo.write("a.txt", lines(20, &[(10, "new function")])).commit("add a function");
    let second = repo.write("a.txt", lines(20, &[(10, "new function, fixed")])).commit("fix it");
    repo.switch("release").write("a.txt", lines(20, &[(1, "release change")])).commit("release change");
    let results = assert_parity(repo.path(), "release", &[&first, &second]);
    assert_eq!(statuses(&results), [GraftStatus::Merged, GraftStatus::Merged]);
    let alone = assert_parity(repo.path(), "release", &[&second]);
    assert_eq!(statuses(&alone), [GraftStatus::Failed], "the second commit does not apply without the first");
}

#[test]
fn failure_skips_the_rest_of_the_chain() {
    let repo = two_files();
    let clean = repo.write("b.txt", lines(20, &[(18, "main fix")])).commit("clean");
    let conflict = repo.write("a.txt", lines(20, &[(10, "main fix")])).commit("conflicting");
    let later = repo.write("c.txt", lines(3, &[])).commit("would apply");
    repo.switch("release").write("a.txt", lines(20, &[(10, "release change")])).commit("release change");
    let results = assert_parity(repo.path(), "release", &[&clean, &conflict, &later, &clean]);
    let expected = [GraftStatus::Merged, GraftStatus::Failed, GraftStatus::Skipped, GraftStatus::Skipped];
    assert_eq!(statuses(&results), expected);
}

#[test]
fn merge_commit_is_picked_against_its_first_parent() {
    let repo = two_files();
    repo.switch("topic").write("b.txt", lines(20, &[(18, "topic change")])).commit("topic");
    repo.switch("main").write("a.txt", lines(20, &[(18, "main change")])).commit("main change");
    git(repo.path(), &["merge", "-q", "--no-ff", "-m", "merge topic", "topic"]);
    let merge = git(repo.path(), &["rev-parse", "HEAD"]);
    repo.switch("release").write("a.txt", lines(20, &[(1, "release change")])).commit("release change");
    let results = assert_parity(repo.path(), "release", &[&merge]);
    assert_eq!(statuses(&results), [GraftStatus::Merged]);
}

#[test]
fn bare_repository() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(18, "main fix")])).commit("fix");
    let conflict = repo.write("b.txt", lines(20, &[(2, "main fix")])).commit("conflicting");
    repo.switch("release").write("b.txt", lines(20, &[(2, "release change")])).commit("release change");
    let bare = tempfile::tempdir().unwrap();
    git(bare.path(), &["clone", "-q", "--bare", repo.path().to_str().unwrap(), "."]);
    let results = assert_parity(bare.path(), "release", &[&fix, &conflict]);
    assert_eq!(statuses(&results), [GraftStatus::Merged, GraftStatus::Failed]);
}

#[test]
fn several_branches_in_parallel() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(10, "main fix")])).commit("fix");
    repo.switch("release").write("a.txt", lines(20, &[(10, "release change")])).commit("release change");
    repo.switch("main").switch("beta").write("b.txt", lines(20, &[(1, "beta change")])).commit("beta change");
    let grafter = GraftRepository::open(repo.path()).unwrap();
    let resolve = |spec: &str| grafter.repository().revparse_single(spec).unwrap().peel_to_commit().unwrap().id();
    let jobs: Vec<_> = ["release", "beta", "release"]
        .into_iter()
        .map(|branch| GraftJob { onto: resolve(branch), commits: vec![resolve(&fix)] })
        .collect();
    let results: Vec<_> = graft::graft_many(repo.path(), &jobs).unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(results[0], cherry_pick(repo.path(), "release", &[&fix]));
    assert_eq!(results[1], cherry_pick(repo.path(), "beta", &[&fix]));
    assert_eq!(results[2], results[0]);
    assert!(graft::graft_many(Path::new("/nonexistent"), &jobs[..1]).is_err());
}

/// Directory renames, as git detects them: the branch renamed a directory and the commit adds a
/// file to its old name, so git (merge-ort, `merge.directoryRenames=conflict` by default) stops on
/// a "file location" conflict at the new name.
#[test]
fn directory_rename_on_the_branch() {
    let repo = two_files();
    repo.write("docs/one.txt", lines(20, &[])).write("docs/two.txt", lines(20, &[])).commit("docs");
    git(repo.path(), &["branch", "-f", "release"]);
    let add = repo.write("docs/three.txt", lines(5, &[])).commit("add a doc");
    repo.switch("release").rename("docs", "manual").commit("rename the directory");
    let results = assert_parity(repo.path(), "release", &[&add]);
    assert_eq!(statuses(&results), [GraftStatus::Failed]);
    assert_eq!(results[0].conflicts, ["manual/three.txt"]);
}

#[test]
fn command_line() {
    let repo = two_files();
    let fix = repo.write("b.txt", lines(20, &[(18, "main fix")])).commit("clean");
    let conflict = repo.write("a.txt", lines(20, &[(10, "main fix")])).commit("conflicting");
    repo.switch("release").write("a.txt", lines(20, &[(10, "release change")])).commit("release change");
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_uplift-bot"))
            .arg("graft")
            .arg("--repo")
            .arg(repo.path())
            .args(args)
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8(output.stdout).unwrap())
    };

    let (code, out) = run(&["--onto", "release", &fix]);
    assert_eq!(code, Some(0));
    let line: GraftCommit = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line, cherry_pick(repo.path(), "release", &[&fix])[0]);

    let (code, out) = run(&["--onto", "release", "--onto", "main", "main~1", "main"]);
    assert_eq!(code, Some(1));
    let lines: Vec<serde_json::Value> = out.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let summary: Vec<_> = lines.iter().map(|line| (line["branch"].as_str(), line["status"].as_str())).collect();
    assert_eq!(
        summary,
        [
            (Some("release"), Some("merged")),
            (Some("release"), Some("failed")),
            (Some("main"), Some("already_applied")),
            (Some("main"), Some("already_applied")),
        ]
    );
    assert_eq!(lines[0]["commit"], fix.as_str());
    assert_eq!(lines[1]["conflicts"], serde_json::json!(["a.txt"]));

    let (code, out) = run(&["--onto", "release", "--format", "text", &conflict]);
    assert_eq!((code, out), (Some(1), format!("{conflict} failed a.txt\n")));
    assert_eq!(run(&["--onto", "release", "no-such-commit"]).0, Some(2));
    assert_eq!(run(&["--onto", "no-such-branch", &fix]).0, Some(2));
    assert_eq!(run(&["--onto", "release"]).0, Some(2), "a commit is required");
}

/// The conflicting paths of a file the branch renamed are git's: the new name only.
#[test]
fn conflict_on_a_file_the_branch_renamed() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(10, "main fix")])).commit("fix");
    let delete = repo.remove("a.txt").commit("delete a");
    repo.switch("release").rename("a.txt", "lib/renamed.txt").commit("rename");
    repo.write("lib/renamed.txt", lines(20, &[(10, "release change")])).commit("edit after the rename");
    for commit in [&fix, &delete] {
        let results = assert_parity(repo.path(), "release", &[commit]);
        assert_eq!(statuses(&results), [GraftStatus::Failed]);
        assert_eq!(results[0].conflicts, ["lib/renamed.txt"]);
    }
}

/// Where git (2.47, merge-ort) loses a file, the graft loses it too: the commit moves `d/a.txt`
/// to `moved/d/a.txt`, and the branch predates earlier moves of the rest of `d/` to `moved/d/`, so
/// that git sees the branch "renaming" `moved/d/` back to `d/`. git reports a "file location"
/// conflict, yet commits, and the file is gone from the result. Parity is the contract: a release
/// manager compares the bot's verdict with what `git cherry-pick` does.
#[test]
fn directory_rename_back_loses_the_file_as_in_git() {
    let repo = Repo::new();
    for name in ["a", "b", "c", "e"] {
        repo.write(&format!("d/{name}.txt"), lines(40, &[(1, name)]));
    }
    repo.commit("base");
    git(repo.path(), &["branch", "release"]);
    repo.rename("d/b.txt", "moved/d/b.txt").rename("d/c.txt", "moved/d/c.txt").commit("move b and c");
    repo.write("d/a.txt", lines(40, &[(1, "a"), (20, "main change")])).commit("edit a");
    let move_a = repo.rename("d/a.txt", "moved/d/a.txt").commit("move a");

    let results = assert_parity(repo.path(), "release", &[&move_a]);
    assert_eq!(statuses(&results), [GraftStatus::Merged]);
    let kept = cherry_pick_with(repo.path(), "release", &[&move_a], &["merge.directoryRenames=false"]);
    assert_ne!(kept[0].tree, results[0].tree);
    repo.switch("release");
    git(repo.path(), &["cherry-pick", &move_a]);
    assert_eq!(git(repo.path(), &["ls-tree", "-r", "--name-only", "HEAD"]), "d/b.txt\nd/c.txt\nd/e.txt");
}

/// Without a usable git there is no verdict: the graft says it cannot decide.
#[test]
fn without_git_a_graft_is_undecided() {
    let repo = two_files();
    let fix = repo.write("a.txt", lines(20, &[(18, "main fix")])).commit("fix");
    let grafter = GraftRepository::open_with(repo.path(), Path::new("/nonexistent/git")).unwrap();
    let resolve = |spec: &str| grafter.repository().revparse_single(spec).unwrap().peel_to_commit().unwrap().id();
    let error = graft::graft_chain(&grafter, resolve("release"), &[resolve(&fix)]).unwrap_err();
    assert!(
        matches!(&error, shipit_uplift::Error::Undecided { commit, reason } if *commit == fix && reason.contains("cannot run")),
        "{error}"
    );
}
