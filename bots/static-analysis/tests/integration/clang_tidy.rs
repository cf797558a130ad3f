//! The clang-tidy parser on output recorded from the original bot's runs.

use shipit_static_analysis::Level;
use shipit_static_analysis::analyzers::clang_tidy;

use crate::fixture;

#[test]
fn recorded_output_yields_the_recorded_issues() {
    let issues = clang_tidy::parse(&fixture("clang-output.txt"), "/app/tmp/sa-central");

    let text: Vec<String> = issues.iter().map(|issue| issue.as_text()).collect();
    assert_eq!(text.join("\n--------------------\n"), fixture("clang-issues.txt"));
    assert_eq!(issues.len(), 13);
    let first = &issues[0];
    assert_eq!(first.path, "js/src/ctypes/libffi/src/prep_cif.c");
    assert_eq!((first.line, first.column, first.level), (88, Some(3), Level::Warning));
    assert_eq!(first.check, "readability-else-after-return");
    let error = &issues[1];
    assert_eq!((error.path.as_str(), error.line, error.level), ("js/src/jsapi.cpp", 132, Level::Error));
    assert!(issues.iter().all(|issue| issue.check != "clang-diagnostic-error"), "compile errors are dropped");
}

#[test]
fn repeated_issues_are_kept_once() {
    let issues = clang_tidy::parse(&fixture("clang-repeats.txt"), "{REPO}");

    let places: Vec<(&str, u32, &str)> =
        issues.iter().map(|issue| (issue.path.as_str(), issue.line, issue.check.as_str())).collect();
    assert_eq!(
        places,
        [
            ("test_repeats.cpp", 1, "modernize-loop-convert"),
            ("test_repeats.cpp", 2, "modernize-use-auto"),
            ("test_repeats.cpp", 3, "modernize-use-equals-default"),
        ]
    );
}
