//! SZZ on a repository whose introducing commits are known: through a rename, past a
//! whitespace-only change, for a fix that only adds lines, and not at all for fixes that only
//! touch whitespace or comments; `Fixes:` trailers as ground truth.

use std::path::Path;

use shipit_risk::dataset::{CacheChoice, Dataset, DatasetOptions};
use shipit_risk::labels::{self, SzzOptions};

use crate::common::{commit, git, init};

struct Known {
    introduced: String,
    reindented: String,
    helper: String,
    fix_in_renamed: String,
    add_only_fix: String,
    whitespace_fix: String,
    comment_fix: String,
}

fn history(dir: &Path) -> Known {
    init(dir);
    let v1 = "int f(int x)\n{\n  int y = x * 2;\n  return y;\n}\n";
    let introduced = commit(dir, "Alice", "2024-01-01T00:00:00Z", "Add f", &[("src/a.c", Some(v1))]);
    // Only the indentation of the computation changes: blame must look through it.
    let v2 = "int f(int x)\n{\n    int y = x * 2;\n    return y;\n}\n";
    let reindented = commit(dir, "Bob", "2024-01-02T00:00:00Z", "Reindent f", &[("src/a.c", Some(v2))]);
    let v3 = format!("{v2}\n/* g's helper */\nint g(int x)\n{{\n    return f(x) + 1;\n}}\n");
    let helper = commit(dir, "Carol", "2024-01-03T00:00:00Z", "Add g", &[("src/a.c", Some(&v3))]);
    git(dir, &["mv", "src/a.c", "src/b.c"]);
    commit(dir, "Dave", "2024-01-04T00:00:00Z", "Rename a.c to b.c", &[]);
    // The fix changes the computation, in the renamed file.
    let v5 = v3.replace("int y = x * 2;", "int y = x * 3;");
    let fix_in_renamed = commit(
        dir,
        "Erin",
        "2024-01-05T00:00:00Z",
        &format!("Fix f's factor\n\nFixes: {}", &introduced[..12]),
        &[("src/b.c", Some(&v5))],
    );
    // A fix that only adds a line, inside g.
    let v6 = v5.replace("    return f(x) + 1;\n", "    if (x < 0)\n        return 0;\n    return f(x) + 1;\n");
    let add_only_fix = commit(dir, "Erin", "2024-01-06T00:00:00Z", "Fix g for negative x", &[("src/b.c", Some(&v6))]);
    // Fixes that change only whitespace, or only a comment, blame nothing.
    let v7 = v6.replace("return f(x) + 1;", "return  f(x) + 1;");
    let whitespace_fix = commit(dir, "Erin", "2024-01-07T00:00:00Z", "Fix spacing", &[("src/b.c", Some(&v7))]);
    let v8 = v7.replace("/* g's helper */", "/* the helper of g */");
    let comment_fix = commit(dir, "Erin", "2024-01-08T00:00:00Z", "Fix comment", &[("src/b.c", Some(&v8))]);
    Known { introduced, reindented, helper, fix_in_renamed, add_only_fix, whitespace_fix, comment_fix }
}

fn dataset(dir: &Path) -> Dataset {
    Dataset::build(dir, &DatasetOptions { cache: CacheChoice::None, ..DatasetOptions::default() }).unwrap()
}

#[test]
fn szz_blames_the_introducing_commits_through_renames_and_whitespace() {
    let dir = tempfile::tempdir().unwrap();
    let known = history(dir.path());
    let git_dir = dir.path().join(".git");
    let options = SzzOptions::default();

    let renamed = labels::introducers(&git_dir, &known.fix_in_renamed, &options).unwrap();
    assert_eq!(
        renamed.into_iter().collect::<Vec<_>>(),
        std::slice::from_ref(&known.introduced),
        "not the reindent {}",
        known.reindented
    );

    let add_only = labels::introducers(&git_dir, &known.add_only_fix, &options).unwrap();
    assert!(add_only.contains(&known.helper), "the lines around the insertion are g's: {add_only:?}");
    assert!(!add_only.contains(&known.introduced), "{add_only:?}");

    assert!(labels::introducers(&git_dir, &known.whitespace_fix, &options).unwrap().is_empty());
    assert!(labels::introducers(&git_dir, &known.comment_fix, &options).unwrap().is_empty());
}

#[test]
fn ignored_revisions_are_looked_through() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let introduced = commit(dir.path(), "Alice", "2024-01-01T00:00:00Z", "Add", &[("a.py", Some("x = 1\ny = 2\n"))]);
    let sweep =
        commit(dir.path(), "Bob", "2024-01-02T00:00:00Z", "Style sweep", &[("a.py", Some("x = 1\ny = 2  # two\n"))]);
    let fix = commit(dir.path(), "Carol", "2024-01-03T00:00:00Z", "Fix y", &[("a.py", Some("x = 1\ny = 3  # two\n"))]);
    let git_dir = dir.path().join(".git");
    assert_eq!(labels::introducers(&git_dir, &fix, &SzzOptions::default()).unwrap().first(), Some(&sweep));
    let ignore = dir.path().join("ignore-revs");
    std::fs::write(&ignore, format!("# formatting\n{sweep}\n")).unwrap();
    let options = SzzOptions { ignore_revs: Some(ignore) };
    assert_eq!(labels::introducers(&git_dir, &fix, &options).unwrap().first(), Some(&introduced));
}

#[test]
fn trailers_are_ground_truth_and_szz_is_measured_against_them() {
    let dir = tempfile::tempdir().unwrap();
    let known = history(dir.path());
    let dataset = dataset(dir.path());
    let (truth, stats) = labels::from_trailers(&dataset);
    assert_eq!((stats.trailers, stats.unresolved, stats.fixes, stats.introducing), (1, 0, 1, 1));
    assert_eq!(truth.labels[0].commit, known.introduced);
    assert_eq!(truth.labels[0].fix, known.fix_in_renamed);

    let found =
        labels::szz(dir.path(), &dataset, std::slice::from_ref(&known.fix_in_renamed), &SzzOptions::default()).unwrap();
    let agreement = labels::agreement(&truth, &found);
    assert_eq!((agreement.precision, agreement.recall, agreement.empty), (1.0, 1.0, 0));

    // The label file round trip: written, read back the same.
    let path = dir.path().join("labels.csv");
    let mut file = std::fs::File::create(&path).unwrap();
    truth.write_csv(&mut file).unwrap();
    let read = labels::Labels::read(&path, &dataset).unwrap();
    assert_eq!(read.labels, truth.labels);
}

#[test]
fn a_fix_list_gives_szz_labels() {
    let dir = tempfile::tempdir().unwrap();
    let known = history(dir.path());
    let dataset = dataset(dir.path());
    let list = dir.path().join("fixes.txt");
    std::fs::write(&list, format!("{}\n{}\n# not a fix\n", &known.fix_in_renamed[..10], known.add_only_fix)).unwrap();
    let fixes = labels::read_fix_list(&list, &dataset).unwrap();
    assert_eq!(fixes.len(), 2);
    let found = labels::szz(dir.path(), &dataset, &fixes, &SzzOptions::default()).unwrap();
    let commits = found.commits();
    assert!(commits.contains(known.introduced.as_str()) && commits.contains(known.helper.as_str()), "{commits:?}");
    assert!(found.labels.iter().all(|label| label.method == "szz" && label.fix_time > 0));
}

#[tokio::test]
async fn bugzilla_labels_the_landings_of_the_bugs_a_defect_was_regressed_by() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let regressor = commit(
        dir.path(),
        "Alice",
        "2024-01-01T00:00:00Z",
        "Bug 1000 - Add the cache. r=bob",
        &[("a.c", Some("x;\n"))],
    );
    let unrelated =
        commit(dir.path(), "Bob", "2024-01-02T00:00:00Z", "Bug 1001 - Tidy. r=alice", &[("b.c", Some("y;\n"))]);
    let fix = commit(
        dir.path(),
        "Carol",
        "2024-01-03T00:00:00Z",
        "Bug 2000 - Fix the cache crash. r=alice",
        &[("a.c", Some("x = 1;\n"))],
    );
    let dataset = dataset(dir.path());
    let bugzilla = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/bug"))
        .and(query_param("id", "1000,1001,2000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"bugs": [
            {"id": 1000, "type": "enhancement", "regressed_by": []},
            {"id": 1001, "type": "task", "regressed_by": []},
            {"id": 2000, "type": "defect", "regressed_by": [1000]},
        ]})))
        .expect(1)
        .mount(&bugzilla)
        .await;
    let http = shipit_shared::http::UpstreamClient::new(std::time::Duration::from_secs(5), Default::default()).unwrap();
    let url: url::Url = format!("{}/", bugzilla.uri()).parse().unwrap();
    let labels = shipit_risk::bugzilla::labels(&http, &url, &dataset).await.unwrap();
    assert_eq!(labels.labels.len(), 1);
    assert_eq!((labels.labels[0].commit.as_str(), labels.labels[0].fix.as_str()), (regressor.as_str(), fix.as_str()));
    assert_eq!(labels.labels[0].method, "bugzilla");
    assert!(!labels.commits().contains(unrelated.as_str()));
}
