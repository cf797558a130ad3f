//! Analyses with the real Debian analyzers on repositories made here: what is published, what is
//! not, and what happens when things go wrong.

use shipit_static_analysis::analysis::{Analysis, Reported};
use shipit_static_analysis::analyzers::AnalyzerOverrides;
use shipit_static_analysis::config::Settings;
use shipit_static_analysis::workspace::Head;
use shipit_static_analysis::{Error, Level, Options, analyze};

use crate::repo::TestRepo;

const ALL: [&str; 5] = ["clang_tidy", "clang_format", "cppcheck", "flake8", "shellcheck"];

/// Settings running only `analyzers`.
fn only(analyzers: &[&str]) -> Settings {
    let mut settings = Settings::default();
    for name in ALL {
        let enabled = analyzers.contains(&name);
        settings.analyzers.insert(name.to_owned(), AnalyzerOverrides { enabled: Some(enabled), ..Default::default() });
    }
    settings
}

fn find<'a>(analysis: &'a Analysis, check: &str) -> &'a Reported {
    analysis
        .issues
        .iter()
        .find(|reported| reported.issue.check == check)
        .unwrap_or_else(|| panic!("no {check} in {:#?}", analysis.issues))
}

fn published(analysis: &Analysis) -> Vec<(String, u32, String)> {
    analysis
        .publishable()
        .map(|reported| (reported.issue.path.clone(), reported.issue.line, reported.issue.check.clone()))
        .collect()
}

const PY_BASE: &str = "import os\n\n\ndef old():\n    return undefined_a\n";
const PY_HEAD: &str = "import os\n\n\ndef old():\n    return undefined_a\n\n\ndef new():\n    y=2\n    return y\n";

#[test]
fn warnings_are_published_on_changed_lines_and_errors_always() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", PY_BASE)]);
    let head = repo.commit(&[("a.py", PY_HEAD)]);

    let analysis = analyze(repo.path(), &base, Head::Rev(&head), &only(&["flake8"]), &Options::default()).unwrap();

    assert_eq!(analysis.files, ["a.py"]);
    let new_warning = find(&analysis, "E225");
    assert_eq!((new_warning.issue.line, new_warning.issue.level), (9, Level::Warning));
    assert!(new_warning.in_patch && new_warning.publishable);
    let old_warning = find(&analysis, "F401");
    assert!(!old_warning.in_patch && !old_warning.publishable, "a warning outside the patch is not published");
    let old_error = find(&analysis, "F821");
    assert_eq!(old_error.issue.level, Level::Error);
    assert!(!old_error.in_patch && old_error.publishable, "errors are always published");
    assert_eq!(published(&analysis), [("a.py".into(), 5, "F821".into()), ("a.py".into(), 9, "E225".into())]);
}

#[test]
fn before_after_publishes_only_new_issues_and_moved_code_is_not_new() {
    let repo = TestRepo::new();
    let moved = "def moved():\n    z=3\n    return z\n";
    // Longer than the moved function, so that git's diff keeps it and moves the other.
    let old = "def old():\n    a = 1\n    b = 2\n    c = 3\n    d = 4\n    e = 5\n    return undefined_a + a + b + c + d + e\n";
    let base = repo.commit(&[("a.py", &format!("import os\n\n\n{moved}\n\n{old}"))]);
    // The function with a warning moves below, and a new warning is added.
    let head_text = format!("import os\n\n\n{old}\n\n{moved}\n\ndef new():\n    y=2\n    return y\n");
    let head = repo.commit(&[("a.py", &head_text)]);
    let moved_line = head_text.lines().position(|line| line.contains("z=3")).unwrap() as u32 + 1;
    let new_line = head_text.lines().position(|line| line.contains("y=2")).unwrap() as u32 + 1;

    let in_patch = analyze(repo.path(), &base, Head::Rev(&head), &only(&["flake8"]), &Options::default()).unwrap();
    let moved_issue = in_patch.issues.iter().find(|reported| reported.issue.line == moved_line).unwrap();
    assert!(moved_issue.in_patch && moved_issue.publishable, "without before/after, moved code looks new");

    let options = Options { before_after: true, ..Options::default() };
    let analysis = analyze(repo.path(), &base, Head::Rev(&head), &only(&["flake8"]), &options).unwrap();

    let moved_issue = analysis.issues.iter().find(|reported| reported.issue.line == moved_line).unwrap();
    assert_eq!(moved_issue.issue.check, "E225");
    assert!(moved_issue.in_patch && !moved_issue.is_new && !moved_issue.publishable);
    assert!(!find(&analysis, "F821").publishable, "an error present at base is not new");
    let new_issues: Vec<(u32, &str)> =
        analysis.publishable().map(|reported| (reported.issue.line, reported.issue.check.as_str())).collect();
    assert_eq!(new_issues, [(new_line, "E225")]);
}

#[test]
fn fixing_an_issue_leaves_nothing_to_publish() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", PY_HEAD)]);
    let head = repo.commit(&[("a.py", &PY_HEAD.replace("y=2", "y = 2"))]);

    let options = Options { before_after: true, ..Options::default() };
    let analysis = analyze(repo.path(), &base, Head::Rev(&head), &only(&["flake8"]), &options).unwrap();

    assert!(analysis.issues.iter().all(|reported| reported.issue.check != "E225"));
    assert_eq!(published(&analysis), Vec::<(String, u32, String)>::new());
}

#[test]
fn third_party_paths_and_unpublished_checks_are_dropped() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("README", "x\n")]);
    let head = repo.commit(&[
        ("third_party/vendored.py", "x=1\n"),
        ("ours.py", "x=1\ny = 'q'\n"),
        ("third-party.txt", "# vendored code\nthird_party/\n"),
    ]);
    let mut settings = only(&["flake8"]);
    settings.third_party_file = Some("third-party.txt".into());
    settings.analyzers.get_mut("flake8").unwrap().checks = Some(vec![
        shipit_static_analysis::analyzers::CheckRule { name: "E225".into(), publish: false },
        shipit_static_analysis::analyzers::CheckRule { name: "*".into(), publish: true },
    ]);
    settings.analyzers.get_mut("flake8").unwrap().command = Some(vec!["flake8".into(), "--select=E225,W".into()]);

    let analysis = analyze(repo.path(), &base, Head::Rev(&head), &settings, &Options::default()).unwrap();

    let vendored = analysis.issues.iter().find(|reported| reported.issue.path.starts_with("third_party/")).unwrap();
    assert!(vendored.third_party && !vendored.publishable);
    let ours = analysis.issues.iter().find(|reported| reported.issue.path == "ours.py").unwrap();
    assert!(ours.in_patch && !ours.check_published && !ours.publishable);
    assert_eq!(analysis.publishable().count(), 0);
}

#[test]
fn c_analyzers_report_with_fixes_and_python_and_shell_run_alongside() {
    let repo = TestRepo::new();
    let base = repo.commit(&[(".clang-format", "BasedOnStyle: LLVM\n"), ("src/ok.c", "int ok(void) { return 0; }\n")]);
    let c = "int dead(void) {\n  int x = 1;\n  x = 2;\n  return 0;\n}\n\nint oob(void) {\n  int a[2];\n  a[2] = 0;\n  return 0;\n}\n\nint  badly (int y){return y;}\n";
    let head = repo.commit(&[("src/a.c", c), ("tools/run.sh", "#!/bin/sh\necho $1\n"), ("tools/x.py", "x=1\n")]);

    let analysis = analyze(repo.path(), &base, Head::Rev(&head), &Settings::default(), &Options::default()).unwrap();

    let dead_store = find(&analysis, "clang-analyzer-deadcode.DeadStores");
    assert_eq!((dead_store.issue.path.as_str(), dead_store.issue.line), ("src/a.c", 3));
    assert!(dead_store.publishable);
    assert!(dead_store.issue.body.as_deref().unwrap().contains("x = 2;"));
    let out_of_bounds = find(&analysis, "arrayIndexOutOfBounds");
    assert_eq!((out_of_bounds.issue.analyzer.as_str(), out_of_bounds.issue.level), ("cppcheck", Level::Error));
    let style = find(&analysis, "style");
    assert_eq!((style.issue.analyzer.as_str(), style.issue.line), ("clang-format", 13));
    assert_eq!(style.issue.suggestion.as_deref(), Some("int badly(int y) { return y; }"));
    assert_eq!(find(&analysis, "SC2086").issue.path, "tools/run.sh");
    assert_eq!(find(&analysis, "E225").issue.path, "tools/x.py");
    let names: Vec<&str> = analysis.analyzers.iter().map(|analyzer| analyzer.name.as_str()).collect();
    assert_eq!(names, ["clang-tidy", "clang-format", "cppcheck", "flake8", "shellcheck"]);
    assert!(!analysis.has_failures());
    assert!(analysis.issues.iter().all(|reported| reported.issue.hash.len() == 64));
}

#[test]
fn compile_commands_give_clang_tidy_the_project_flags() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("README", "x\n")]);
    let c = "#ifdef WITH_FEATURE\nint feature(void) {\n  int x = 1;\n  x = 2;\n  return 0;\n}\n#endif\n";
    let root = repo.path().canonicalize().unwrap();
    let database = format!(
        r#"[{{"directory": "{root}", "file": "{root}/f.c", "command": "cc -DWITH_FEATURE -c f.c"}}]"#,
        root = root.display()
    );
    let head = repo.commit(&[("f.c", c)]);
    let settings = only(&["clang_tidy"]);

    let without = analyze(repo.path(), &base, Head::Rev(&head), &settings, &Options::default()).unwrap();
    assert!(without.issues.is_empty(), "{:#?}", without.issues);

    // Generated in the working tree, not committed: it is used all the same.
    std::fs::write(repo.path().join("compile_commands.json"), database).unwrap();
    let with = analyze(repo.path(), &base, Head::Rev(&head), &settings, &Options::default()).unwrap();
    assert_eq!(published(&with), [("f.c".into(), 4, "clang-analyzer-deadcode.DeadStores".into())]);
}

#[test]
fn a_crashing_analyzer_is_recorded_and_the_others_go_on() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("README", "x\n")]);
    let head = repo.commit(&[("a.py", "x=1\n"), ("b.sh", "#!/bin/sh\necho $1\n")]);
    let crasher = repo.path().join("crash.sh");
    std::fs::write(&crasher, "#!/bin/sh\necho 'about to crash' >&2\nkill -SEGV $$\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&crasher).unwrap().permissions(), 0o755);
    std::fs::set_permissions(&crasher, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut settings = only(&["flake8", "shellcheck"]);
    settings.analyzers.get_mut("flake8").unwrap().command = Some(vec![crasher.display().to_string()]);

    let analysis = analyze(repo.path(), &base, Head::Rev(&head), &settings, &Options::default()).unwrap();

    let flake8 = analysis.analyzers.iter().find(|analyzer| analyzer.name == "flake8").unwrap();
    assert_eq!(flake8.failures.len(), 1);
    assert_eq!(flake8.failures[0].files, ["a.py"]);
    assert!(flake8.failures[0].error.contains("signal 11"), "{}", flake8.failures[0].error);
    assert!(flake8.failures[0].error.contains("about to crash"));
    assert!(analysis.has_failures());
    assert_eq!(published(&analysis), [("b.sh".into(), 2, "SC2086".into())]);
}

#[test]
fn a_missing_analyzer_names_its_debian_package() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("README", "x\n")]);
    let head = repo.commit(&[("a.c", "int main(void) { return 0; }\n")]);
    let mut settings = only(&["cppcheck"]);
    settings.analyzers.get_mut("cppcheck").unwrap().command = Some(vec!["cppcheck-not-installed".into()]);

    let error = analyze(repo.path(), &base, Head::Rev(&head), &settings, &Options::default()).unwrap_err();

    assert!(matches!(error, Error::MissingAnalyzer { .. }));
    assert_eq!(
        error.to_string(),
        "cppcheck is needed for 1 touched file(s) but `cppcheck-not-installed` is not installed: apt-get install cppcheck"
    );
    // Not needed, not required: no C file touched.
    let python = repo.commit(&[("a.py", "x = 1\n")]);
    assert!(analyze(repo.path(), &head, Head::Rev(&python), &settings, &Options::default()).is_ok());
}

#[test]
fn a_patch_is_applied_on_base_without_touching_the_repository() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", PY_BASE)]);
    let head = repo.commit(&[("a.py", PY_HEAD)]);
    let patch = repo.diff(&base, &head);
    let from_rev = analyze(repo.path(), &base, Head::Rev(&head), &only(&["flake8"]), &Options::default()).unwrap();
    std::fs::write(repo.path().join("a.py"), "# local edit\n").unwrap();
    let before = repo.state();

    let options = Options { before_after: true, ..Options::default() };
    let from_patch = analyze(repo.path(), &base, Head::Patch(&patch), &only(&["flake8"]), &options).unwrap();

    assert_eq!(repo.state(), before, "no object, index or HEAD change");
    assert_eq!(std::fs::read_to_string(repo.path().join("a.py")).unwrap(), "# local edit\n");
    let hashes = |analysis: &Analysis| analysis.issues.iter().map(|r| r.issue.hash.clone()).collect::<Vec<_>>();
    assert_eq!(hashes(&from_patch), hashes(&from_rev));
    assert_eq!(published(&from_patch), [("a.py".into(), 9, "E225".into())]);
}

#[test]
fn a_patch_that_does_not_apply_is_a_clear_error() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", PY_BASE)]);
    let head = repo.commit(&[("a.py", PY_HEAD)]);
    let patch = repo.diff(&base, &head);
    let other = repo.commit(&[("a.py", "something else entirely\n")]);

    let error = analyze(repo.path(), &other, Head::Patch(&patch), &only(&["flake8"]), &Options::default()).unwrap_err();
    assert!(matches!(error, Error::PatchDoesNotApply { .. }), "{error}");
    assert!(error.to_string().starts_with(&format!("the patch does not apply on {other}: ")), "{error}");

    let error = analyze(repo.path(), &base, Head::Patch(b"hello\n"), &only(&["flake8"]), &Options::default());
    assert!(matches!(error, Err(Error::PatchDoesNotApply { .. })));
    let error = analyze(repo.path(), "no-such-rev", Head::Rev(&head), &only(&["flake8"]), &Options::default());
    assert!(error.unwrap_err().to_string().contains("no commit `no-such-rev`"));
}

#[test]
fn a_patch_holding_a_nul_byte_is_refused_before_it_is_applied() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", PY_BASE)]);
    // What the fuzzer found: libgit2 1.9 read past its buffer applying this new file.
    let patch = b"diff --git a/src/new.c b/src/new.c\nnew file mode 100644\n--- /dev/null\n+++ b/src/new.c\n\
                  @@ -0,0 +1,2 @@\n+i\0\0\0\0nt);\n+in gm";
    let error = analyze(repo.path(), &base, Head::Patch(patch), &only(&["clang-tidy"]), &Options::default());
    match error {
        Err(Error::PatchDoesNotApply { detail, .. }) => assert!(detail.contains("NUL byte (at byte 104)"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_patch_naming_a_path_outside_the_tree_is_refused() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("a.py", PY_BASE)]);
    let adding = |target: &str| {
        format!(
            "diff --git a/{target} b/{target}\nnew file mode 100644\n--- /dev/null\n+++ b/{target}\n@@ -0,0 +1 @@\n+x = 1\n"
        )
    };
    for target in ["../outside.py", "sub/../../outside.py", ".git/hooks/post-checkout"] {
        let patch = adding(target);
        let error = analyze(repo.path(), &base, Head::Patch(patch.as_bytes()), &only(&["flake8"]), &Options::default());
        assert!(matches!(error, Err(Error::PatchDoesNotApply { .. })), "{target}: {error:?}");
    }
    assert!(!repo.path().parent().unwrap().join("outside.py").exists());
    // An absolute path names a file of the tree, as `git apply` reads it.
    let patch = adding("/etc/inside.py");
    let analysis = analyze(repo.path(), &base, Head::Patch(patch.as_bytes()), &only(&["flake8"]), &Options::default());
    assert_eq!(analysis.unwrap().files, ["etc/inside.py"]);
}
