//! Graft parity with `git cherry-pick` on real history nobody here wrote: libgit2's own. Each of
//! its maintenance branches `maint/v1.7`, `maint/v1.8` and `maint/v1.9` receives the newest
//! non-merge commits of `main` it lacks, one by one, in chains of four consecutive commits (oldest
//! first), and as one chain of all of them; every verdict, tree and conflict list must equal the
//! git CLI's. The test takes the 30 newest (a minute on 2 cores; the git side, a cherry-pick per
//! commit in a checked-out clone, is most of it); `benches/uplift/parity.sh` runs the full 200 with
//! `SHIPIT_REAL_REPOS_COMMITS=200`.
//!
//! The repository is cloned from `libgit2.bundle` in `SHIPIT_REAL_REPOS` (by default
//! `../shared/real-repos` beside the workspace); without it the test is skipped, saying so.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use shipit_shared::api_types::uplift::{GraftCommit, GraftStatus};
use shipit_shared::testing::git;
use shipit_uplift::graft::{self, GraftJob};

use crate::graft::{pick_in, scratch_clone};

const BRANCHES: [&str; 3] = ["maint/v1.7", "maint/v1.8", "maint/v1.9"];
const CHAIN: usize = 4;

fn bundle() -> Option<PathBuf> {
    let directory = std::env::var_os("SHIPIT_REAL_REPOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/real-repos"));
    let bundle = directory.join("libgit2.bundle");
    bundle.is_file().then_some(bundle)
}

/// One graft to compare: a chain of commits onto a branch.
struct Case {
    branch: &'static str,
    commits: Vec<String>,
}

#[test]
#[expect(clippy::print_stderr, reason = "a skipped test says so, and the counts are the test's report")]
fn grafts_of_libgit2_main_onto_its_maintenance_branches_are_git_cherry_pick_s() {
    let Some(bundle) = bundle() else {
        eprintln!(
            "skipped: no libgit2.bundle in SHIPIT_REAL_REPOS (default ../shared/real-repos beside the workspace)"
        );
        return;
    };
    let count: usize = std::env::var("SHIPIT_REAL_REPOS_COMMITS").ok().and_then(|n| n.parse().ok()).unwrap_or(30);
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["clone", "-q", "--bare", bundle.to_str().unwrap(), "."]);

    let mut cases = Vec::new();
    for branch in BRANCHES {
        let listed =
            git(repo.path(), &["rev-list", "--no-merges", "-n", &count.to_string(), "main", &format!("^{branch}")]);
        let mut commits: Vec<String> = listed.lines().map(str::to_owned).collect();
        assert_eq!(commits.len(), count, "{branch} lacks fewer commits of main than asked");
        commits.reverse();
        cases.extend(commits.iter().map(|commit| Case { branch, commits: vec![commit.clone()] }));
        cases.extend(commits.chunks(CHAIN).map(|chain| Case { branch, commits: chain.to_vec() }));
        cases.push(Case { branch, commits });
    }

    let grafter = graft::GraftRepository::open(repo.path()).unwrap();
    let resolve = |spec: &str| grafter.repository().revparse_single(spec).unwrap().peel_to_commit().unwrap().id();
    let jobs: Vec<GraftJob> = cases
        .iter()
        .map(|case| GraftJob { onto: resolve(case.branch), commits: case.commits.iter().map(|c| resolve(c)).collect() })
        .collect();
    drop(grafter);
    let ours: Vec<Vec<GraftCommit>> =
        graft::graft_many(repo.path(), &jobs).unwrap().into_iter().map(Result::unwrap).collect();

    // The git CLI: one scratch clone per rayon worker, its share of the cases in order (so mostly
    // one branch: a checkout of another branch rewrites thousands of files), reset before each.
    let share = cases.len().div_ceil(rayon::current_num_threads());
    let theirs: Vec<Vec<GraftCommit>> = cases
        .par_chunks(share)
        .flat_map_iter(|cases| {
            let clone = scratch_clone(repo.path());
            let picked: Vec<_> = cases
                .iter()
                .map(|case| {
                    let commits: Vec<&str> = case.commits.iter().map(String::as_str).collect();
                    pick_in(clone.path(), &format!("origin/{}", case.branch), &commits, &[])
                })
                .collect();
            picked
        })
        .collect();

    let mut differences = Vec::new();
    for ((case, ours), theirs) in cases.iter().zip(&ours).zip(&theirs) {
        for (ours, theirs) in ours.iter().zip(theirs) {
            if ours != theirs {
                differences.push(format!("onto {}: bot {ours:?}, git {theirs:?}", case.branch));
            }
        }
        assert_eq!(ours.len(), theirs.len());
    }
    for branch in BRANCHES {
        let count = |status: GraftStatus, singles: bool| {
            cases
                .iter()
                .zip(&ours)
                .filter(|(case, _)| case.branch == branch && (case.commits.len() == 1) == singles)
                .flat_map(|(_, results)| results)
                .filter(|result| result.status == status)
                .count()
        };
        let statuses = [GraftStatus::Merged, GraftStatus::AlreadyApplied, GraftStatus::Failed, GraftStatus::Skipped];
        let [singles, chained] = [true, false]
            .map(|singles| statuses.map(|status| format!("{} {}", count(status, singles), status.as_str())).join(", "));
        eprintln!("{branch}: one by one {singles}; in chains {chained}");
    }
    assert!(differences.is_empty(), "{} differences from git:\n{}", differences.len(), differences.join("\n"));
}
