//! Property tests: the merge is commutative and associative, totals add up, and printing a
//! report as lcov then parsing it gives the same report back.

use proptest::prelude::*;
use shipit_coverage::Report;
use shipit_coverage::model::{BranchId, BranchKey, FnLocation};
use shipit_coverage::output::write_lcov;

use crate::parse;

/// Name, optional (start, end) location, hits.
type FunctionSpec = (String, Option<(u32, Option<u32>)>, u64);
/// Line, exception flag, block, branch number or expression, taken count.
type BranchSpec = (u32, bool, u32, Result<u32, String>, Option<u64>);

#[derive(Debug, Clone)]
struct FileSpec {
    path: String,
    lines: Vec<(u32, u64)>,
    functions: Vec<FunctionSpec>,
    branches: Vec<BranchSpec>,
}

/// Hit counts below `max`; with `saturate`, sometimes near `u64::MAX` so that additions saturate.
fn hits(max: u64, saturate: bool) -> impl Strategy<Value = u64> {
    let huge = if saturate { 1 } else { 0 };
    prop_oneof![8 => 0..max, 1 => Just(0u64), huge => (u64::MAX - 3)..=u64::MAX]
}

fn file_spec(max_hits: u64, saturate: bool) -> impl Strategy<Value = FileSpec> {
    let path = "[a-d]{1,2}(/[a-d]{1,2}){0,2}\\.(c|h)";
    // Mostly small line numbers, sometimes a far one that lands in the sparse part.
    let line = prop_oneof![9 => 1u32..400, 1 => 30_000u32..5_000_000];
    let function = (
        "[a-z_][a-zA-Z0-9_:<>(), ]{0,10}",
        proptest::option::of((1u32..500, proptest::option::of(1u32..900))),
        hits(max_hits, saturate),
    );
    let branch = (
        1u32..300,
        any::<bool>(),
        0u32..4,
        prop_oneof![3 => (0u32..4).prop_map(Ok), 1 => "[a-z][a-z0-9 ,&|()]{0,8}".prop_map(Err)],
        proptest::option::of(hits(max_hits, saturate)),
    );
    (
        path,
        proptest::collection::vec((line, hits(max_hits, saturate)), 0..40),
        proptest::collection::vec(function, 0..5),
        proptest::collection::vec(branch, 0..8),
    )
        .prop_map(|(path, lines, functions, branches)| FileSpec { path, lines, functions, branches })
}

fn build(files: &[FileSpec]) -> Report {
    let mut report = Report::default();
    for spec in files {
        let id = report.intern(&spec.path);
        let file = report.file_mut(id);
        for &(line, hits) in &spec.lines {
            file.lines.add(line, hits);
        }
        for (name, location, hits) in &spec.functions {
            let function = file.function_mut(name);
            let location = location.map(|(start, end)| FnLocation { start, end });
            function.merge(&shipit_coverage::model::Function { location, hits: *hits });
        }
        for (line, exception, block, branch, taken) in &spec.branches {
            let branch = match branch {
                Ok(index) => BranchId::Index(*index),
                Err(expr) => BranchId::Expr(expr.as_str().into()),
            };
            file.add_branch(BranchKey { line: *line, exception: *exception, block: *block, branch }, *taken);
        }
    }
    report
}

fn report(max_hits: u64) -> impl Strategy<Value = Report> {
    // Large counts come with saturating ones; small ones never saturate.
    proptest::collection::vec(file_spec(max_hits, max_hits > 1 << 32), 0..6).prop_map(|files| build(&files))
}

fn merged(a: &Report, b: &Report) -> Report {
    Report::merged(a.clone(), b.clone())
}

/// Sum of every line hit, function hit and taken count, without saturation.
fn hit_sum(report: &Report) -> u128 {
    report
        .files()
        .map(|(_, f)| {
            f.lines.iter().map(|(_, h)| u128::from(h)).sum::<u128>()
                + f.functions.values().map(|func| u128::from(func.hits)).sum::<u128>()
                + f.branches.values().map(|t| u128::from(t.unwrap_or(0))).sum::<u128>()
        })
        .sum()
}

proptest! {
    // Failures are reported with their minimal case; no regression files in the source tree.
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_commutative(a in report(1 << 40), b in report(1 << 40)) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn merge_is_associative(a in report(1 << 40), b in report(1 << 40), c in report(1 << 40)) {
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn merge_with_empty_is_identity(a in report(1 << 40)) {
        prop_assert_eq!(merged(&a, &Report::default()), a.clone());
    }

    #[test]
    fn hits_of_merge_are_sum_of_parts(a in report(1000), b in report(1000)) {
        prop_assert_eq!(hit_sum(&merged(&a, &b)), hit_sum(&a) + hit_sum(&b));
    }

    #[test]
    fn totals_of_disjoint_files_add_up(a in report(1000), b in report(1000)) {
        // Make b's paths disjoint from a's.
        let mut renamed = Report::default();
        for (path, file) in b.files() {
            let id = renamed.intern(&format!("other/{path}"));
            renamed.file_mut(id).merge(file.clone());
        }
        let mut expected = a.totals();
        expected.add(&renamed.totals());
        prop_assert_eq!(merged(&a, &renamed).totals(), expected);
    }

    #[test]
    fn line_totals_count_the_union(a in report(1000), b in report(1000)) {
        let m = merged(&a, &b);
        let mut union = std::collections::BTreeSet::new();
        for r in [&a, &b] {
            for (path, f) in r.files() {
                union.extend(f.lines.iter().map(|(line, _)| (path.to_owned(), line)));
            }
        }
        prop_assert_eq!(m.totals().lines, union.len() as u64);
    }

    #[test]
    fn parse_of_print_is_identity(a in report(1 << 40)) {
        let mut text = Vec::new();
        write_lcov(&a, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let parsed = parse(&text);
        prop_assert_eq!(parsed, a, "{}", text);
    }
}
