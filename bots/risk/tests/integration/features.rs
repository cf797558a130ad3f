//! Kamei's 14 features on a repository built here, with answers worked out by hand; the cache.

use std::path::Path;

use shipit_risk::dataset::{CacheChoice, Dataset, DatasetOptions};
use shipit_risk::features::Row;

use crate::common::{commit, git, init, lines};

/// Five commits by alice, bob and carol over a year, a rename, and a merged side branch.
fn history(dir: &Path) -> Vec<String> {
    init(dir);
    let x = lines("x", 10);
    let c1 = commit(
        dir,
        "Alice",
        "2020-01-01T00:00:00Z",
        "Add x, y and a README",
        &[("a/x.c", Some(&x)), ("b/y.c", Some(&lines("y", 5))), ("README", Some("hello\nworld\n"))],
    );
    let x2 = x.replace("x3;", "x3 = 0;").replace("x4;", "x4 = 0;");
    let c2 = commit(dir, "Bob", "2020-01-11T00:00:00Z", "Fix overflow in x", &[("a/x.c", Some(&x2))]);
    let x3 = format!("{x2}x11;\n");
    let y3 = lines("y", 4);
    let c3 = commit(dir, "Alice", "2021-01-11T00:00:00Z", "Tidy up", &[("a/x.c", Some(&x3)), ("b/y.c", Some(&y3))]);
    std::fs::create_dir(dir.join("c")).unwrap();
    git(dir, &["mv", "a/x.c", "c/x.c"]);
    let x4 = x3.replacen("x1;", "x1 = 1;", 1);
    let c4 = commit(dir, "Carol", "2021-01-12T00:00:00Z", "Move x to c", &[("c/x.c", Some(&x4))]);
    let x5 = x4.replacen("x2;", "x2 = 2;", 1);
    let c5 = commit(
        dir,
        "Alice",
        "2021-01-13T00:00:00Z",
        "Update docs",
        &[("c/x.c", Some(&x5)), ("README", Some("hello\nworld!\n"))],
    );
    git(dir, &["checkout", "--quiet", "-b", "side"]);
    let c6 = commit(dir, "Dave", "2021-01-14T00:00:00Z", "Add z", &[("d/z.c", Some("z;\n"))]);
    git(dir, &["checkout", "--quiet", "main"]);
    git(dir, &["merge", "--quiet", "--no-ff", "-m", "Merge side", "side"]);
    vec![c1, c2, c3, c4, c5, c6]
}

fn build(dir: &Path, cache: CacheChoice) -> Dataset {
    Dataset::build(dir, &DatasetOptions { cache, ..DatasetOptions::default() }).unwrap()
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() < 1e-9, "{what}: {actual} ≠ {expected}");
}

/// The 14 features of a row, in Kamei's order.
fn kamei(row: &Row) -> [f64; 14] {
    let values = row.values();
    std::array::from_fn(|i| values[i])
}

#[test]
fn each_of_the_fourteen_features_has_its_hand_computed_value() {
    let dir = tempfile::tempdir().unwrap();
    let ids = history(dir.path());
    let dataset = build(dir.path(), CacheChoice::None);

    assert_eq!(dataset.rows.len(), 6, "the merge is not a change of its own");
    assert_eq!(dataset.stats.merges, 1);
    let row = |n: usize| dataset.row(&ids[n]).unwrap();
    let entropy = |shares: &[f64]| -> f64 {
        let total: f64 = shares.iter().sum();
        -shares.iter().map(|s| s / total * (s / total).log2()).sum::<f64>()
    };
    const DAY: f64 = 1.0;

    //            ns   nd   nf   entropy                   la    ld   lt    fix  ndev age          nuc  exp  rexp sexp
    let expected: [[f64; 14]; 5] = [
        [3.0, 3.0, 3.0, entropy(&[10.0, 5.0, 2.0]), 17.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 1.0, 0.0, 2.0, 2.0, 10.0, 1.0, 1.0, 10.0 * DAY, 1.0, 0.0, 0.0, 0.0],
        [2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 15.0, 0.0, 2.0, (366.0 + 376.0) / 2.0, 2.0, 1.0, 0.5, 1.0],
        // The rename keeps the file's history: three earlier changes, two developers.
        [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 11.0, 0.0, 2.0, 1.0, 3.0, 0.0, 0.0, 0.0],
        // c/x.c (1 day old, changed by alice, bob, carol) and README (378 days, alice).
        [2.0, 2.0, 2.0, 1.0, 2.0, 2.0, 13.0, 0.0, 3.0, (1.0 + 378.0) / 2.0, 4.0, 2.0, 0.5 + 1.0, 1.0],
    ];
    let names = ["ns", "nd", "nf", "entropy", "la", "ld", "lt", "fix", "ndev", "age", "nuc", "exp", "rexp", "sexp"];
    for (n, expected) in expected.iter().enumerate() {
        let actual = kamei(row(n));
        for (i, name) in names.iter().enumerate() {
            close(actual[i], expected[i], &format!("c{} {name}", n + 1));
        }
    }
    assert_eq!(row(1).author, "bob@example.com");
    assert_eq!(row(0).author_time, 1_577_836_800);
    // The side branch's commit is a change too, after the commits it descends from.
    assert_eq!(row(5).nf, 1.0);
    assert_eq!(dataset.index[&ids[5]], 5);
}

#[test]
fn a_second_build_reads_only_the_new_commits() {
    let dir = tempfile::tempdir().unwrap();
    let ids = history(dir.path());
    let cache = dir.path().join("cache/changes.jsonl");
    let cold = build(dir.path(), CacheChoice::File(cache.clone()));
    assert_eq!((cold.stats.read, cold.stats.cached), (6, 0));

    let warm = build(dir.path(), CacheChoice::File(cache.clone()));
    assert_eq!((warm.stats.read, warm.stats.cached), (0, 6));
    assert_eq!(warm.rows, cold.rows, "cached changes give the same rows");

    commit(dir.path(), "Bob", "2021-02-01T00:00:00Z", "More y", &[("b/y.c", Some(&lines("y", 6)))]);
    let next = build(dir.path(), CacheChoice::File(cache.clone()));
    assert_eq!((next.stats.read, next.stats.cached), (1, 6));
    assert_eq!(next.rows.len(), 7);
    assert_eq!(&next.rows[..6], &cold.rows[..], "earlier rows do not change");

    // A cache cut short by a crash is read as far as it is whole, then rewritten.
    let text = std::fs::read_to_string(&cache).unwrap();
    std::fs::write(&cache, &text[..text.len() - 20]).unwrap();
    let repaired = build(dir.path(), CacheChoice::File(cache.clone()));
    assert_eq!((repaired.stats.read, repaired.stats.cached), (1, 6));
    let again = build(dir.path(), CacheChoice::File(cache));
    assert_eq!(again.stats.read, 0);
    assert_eq!(again.rows, next.rows);
    let _ = ids;
}

#[test]
fn function_change_sets_name_what_a_change_added_removed_and_modified() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let before = "static int parse(int x)\n{\n\treturn x;\n}\n\nint old_helper(void)\n{\n\treturn 0;\n}\n\nint main(void)\n{\n\treturn parse(1);\n}\n";
    let after = "static int parse(int x)\n{\n\tif (x < 0)\n\t\treturn 0;\n\treturn x;\n}\n\nint new_helper(void)\n{\n\treturn 1;\n}\n\nint main(void)\n{\n\treturn parse(1);\n}\n";
    commit(
        dir.path(),
        "Alice",
        "2024-01-01T00:00:00Z",
        "Add the parser",
        &[("src/parse.c", Some(before)), ("NOTES", Some("x\n"))],
    );
    let change =
        commit(dir.path(), "Alice", "2024-01-02T00:00:00Z", "Check negative values", &[("src/parse.c", Some(after))]);
    let dataset = build(dir.path(), CacheChoice::None);
    let file = &dataset.changes[dataset.index[&change]].files[0];
    let functions = file.functions.as_ref().expect("C has a grammar");
    assert_eq!(functions.added, ["new_helper"]);
    assert_eq!(functions.removed, ["old_helper"]);
    assert_eq!(functions.modified, ["parse"], "main is untouched");
    let row = dataset.row(&change).unwrap();
    assert_eq!((row.fa, row.fr, row.fm), (1.0, 1.0, 1.0));
    let first = &dataset.changes[0];
    assert!(first.files.iter().find(|file| file.path == "NOTES").unwrap().functions.is_none(), "no grammar for NOTES");
}
