//! The commands on real history: iproute2's, from `../shared/real-repos/iproute2.bundle`
//! (skipped, saying so, when it is absent). A window of the early history keeps it quick.

use std::path::{Path, PathBuf};
use std::process::Command;

use shipit_risk::dataset::{CacheChoice, Dataset, DatasetOptions};
use shipit_risk::history::{ReadOptions, WalkOptions};

fn bundle() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/real-repos/iproute2.bundle");
    path.is_file().then_some(path)
}

/// A bare clone of the bundle with `main` checked out as HEAD.
fn clone(bundle: &Path, into: &Path) -> PathBuf {
    let target = into.join("iproute2.git");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--bare", "--branch", "main"])
        .arg(bundle)
        .arg(&target)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    assert!(status.success());
    target
}

fn rev_list(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git").arg("--git-dir").arg(repo).arg("rev-list").args(args).output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn features_labels_training_and_scores_run_on_the_real_history() {
    let Some(bundle) = bundle() else {
        #[expect(clippy::print_stderr, reason = "a skipped test says so in the test output")]
        {
            eprintln!("skipped: ../shared/real-repos/iproute2.bundle is absent");
        }
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = clone(&bundle, dir.path());
    // History up to the end of 2016: the first `Fixes:` trailers are there.
    let head = rev_list(&repo, &["-1", "--before=2017-01-01", "main"]);
    let options = DatasetOptions {
        walk: WalkOptions { head: Some(head.clone()), ..WalkOptions::default() },
        read: ReadOptions { functions: false, ..ReadOptions::default() },
        cache: CacheChoice::File(dir.path().join("changes.jsonl")),
    };
    let dataset = Dataset::build(&repo, &options).unwrap();
    let expected: usize = rev_list(&repo, &["--count", "--no-merges", &head]).parse().unwrap();
    assert_eq!(dataset.rows.len(), expected, "one row per non-merge commit");
    assert!(dataset.rows.iter().all(|row| row.nf >= 0.0 && row.entropy >= 0.0 && row.la >= 0.0));
    assert!(dataset.rows.iter().filter(|row| row.fix > 0.0).count() > 100, "fixes are recognised");

    let (truth, stats) = shipit_risk::labels::from_trailers(&dataset);
    assert!(stats.trailers >= 10 && stats.introducing >= 10, "{stats:?}");
    assert!(truth.labels.iter().all(|label| dataset.index.contains_key(&label.commit)));

    // Train before 2016-01-01 on what was known then, score the last commit.
    let until = shipit_risk::output::parse_date("2016-01-01").unwrap();
    let rows: Vec<_> = dataset.rows.iter().filter(|row| row.author_time < until).collect();
    let labels: Vec<bool> = rows.iter().map(|row| truth.commits().contains(row.commit.as_str())).collect();
    let model = shipit_risk::model::Model::train(&rows, &labels, until, &Default::default());
    match model {
        Ok(model) => {
            let score = model.score(dataset.rows.last().unwrap(), 3);
            assert!((0.0..=1.0).contains(&score.probability));
        }
        // Too few labels before 2016 to train is a legitimate answer, named as such.
        Err(error) => assert!(error.to_string().contains("cannot train"), "{error}"),
    }

    // The binary on the same window: rows for one revision, as CSV with the header.
    let output = Command::new(env!("CARGO_BIN_EXE_risk-bot"))
        .args(["features", "--no-functions", "--cache"])
        .arg(dir.path().join("changes.jsonl"))
        .arg("--repo")
        .arg(&repo)
        .arg("--head")
        .arg(&head)
        .arg(&head)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("commit,author,author_time,ns,nd,nf,entropy,la,ld,lt,fix,ndev,age,nuc,exp,rexp,sexp")
    );
    assert!(lines.next().unwrap().starts_with(&head));
}
