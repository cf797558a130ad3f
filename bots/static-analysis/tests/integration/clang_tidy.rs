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

mod properties {
    //! parse(print(issues)) == issues for clang-tidy's text format.

    use proptest::prelude::*;
    use shipit_static_analysis::analyzers::clang_tidy;
    use shipit_static_analysis::issue::{self, Issue, Level};

    /// An issue as clang-tidy prints it: header, optional source and caret, notes.
    fn issue() -> impl Strategy<Value = Issue> {
        (
            "[a-z]{1,8}(/[a-z_]{1,8}){0,2}\\.(c|cpp|h)",
            1u32..100_000,
            1u32..500,
            prop_oneof![Just(Level::Warning), Just(Level::Error)],
            "(bugprone|modernize|clang-analyzer|performance)-[a-z]{2,10}(\\.[A-Z][a-z]{2,8})?",
            "[A-Za-z0-9][A-Za-z0-9 ,'()=<>_\\[\\]-]{0,40}[A-Za-z0-9.)\\]]",
            proptest::option::of("[a-z =;(){}0-9]{0,30}"),
            proptest::collection::vec("[a-z][a-z ']{0,20}[a-z']", 0..3),
        )
            .prop_map(|(path, line, column, level, check, message, source, notes)| {
                let mut issue = Issue::new("clang-tidy", path, line, Some(column), level, check, message);
                issue.body = source.map(|source| format!("  {source}\n  ^"));
                issue.notes = notes;
                issue
            })
    }

    fn print(issues: &[Issue]) -> String {
        let mut text = String::new();
        for issue in issues {
            let level = match issue.level {
                Level::Error => "error",
                Level::Warning => "warning",
            };
            text.push_str(&format!(
                "/r/{}:{}:{}: {level}: {} [{}]\n",
                issue.path,
                issue.line,
                issue.column.unwrap(),
                issue.message,
                issue.check
            ));
            if let Some(body) = &issue.body {
                text.push_str(body);
                text.push('\n');
            }
            for note in &issue.notes {
                text.push_str(&format!("/r/{}:1:1: note: {note}\n  M\n  ^\n", issue.path));
            }
        }
        text.push_str(&format!("{} warnings generated.\n", issues.len()));
        text
    }

    proptest! {
        #[test]
        fn parsing_printed_issues_gives_them_back(issues in proptest::collection::vec(issue(), 0..8)) {
            let mut expected = issues.clone();
            issue::dedup(&mut expected);
            prop_assert_eq!(clang_tidy::parse(&print(&issues), "/r"), expected);
        }

        #[test]
        fn an_issue_repeated_by_every_translation_unit_is_kept_once(issue in issue(), times in 1usize..5) {
            let issues = vec![issue.clone(); times];
            prop_assert_eq!(clang_tidy::parse(&print(&issues), "/r"), vec![issue]);
        }
    }
}
