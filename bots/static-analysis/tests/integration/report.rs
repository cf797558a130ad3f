//! The reporters on a real analysis: rdjson, SARIF and the markdown summary.

use shipit_static_analysis::analysis::Analysis;
use shipit_static_analysis::analyzers::AnalyzerOverrides;
use shipit_static_analysis::config::Settings;
use shipit_static_analysis::report::{self, Format};
use shipit_static_analysis::workspace::Head;
use shipit_static_analysis::{Options, analyze};

use crate::repo::TestRepo;

fn analysis() -> Analysis {
    let repo = TestRepo::new();
    let base = repo.commit(&[(".clang-format", "BasedOnStyle: LLVM\n"), ("a.py", "import os\n")]);
    let head = repo.commit(&[("a.py", "import os\nx=1\n"), ("b.c", "int  f (void){return 0;}\n")]);
    let mut settings = Settings::default();
    for name in ["clang_tidy", "cppcheck", "shellcheck"] {
        settings.analyzers.insert(name.into(), AnalyzerOverrides { enabled: Some(false), ..Default::default() });
    }
    analyze(repo.path(), &base, Head::Rev(&head), &settings, &Options::default()).unwrap()
}

#[test]
fn rdjson_sarif_and_markdown_carry_the_published_issues() {
    let analysis = analysis();
    assert_eq!(analysis.publishable().count(), 2, "{:#?}", analysis.issues);

    let rdjson = report::rdjson(&analysis);
    let diagnostics = rdjson["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 2);
    assert_eq!(diagnostics[0]["location"]["path"], "a.py");
    assert_eq!(diagnostics[0]["location"]["range"]["start"]["line"], 2);
    assert_eq!(diagnostics[0]["severity"], "WARNING");
    assert_eq!(diagnostics[0]["code"]["value"], "E225");
    let fix = &diagnostics[1]["suggestions"][0];
    assert_eq!(diagnostics[1]["source"]["name"], "clang-format");
    assert_eq!(fix["text"], "int f(void) { return 0; }\n");
    assert_eq!((fix["range"]["start"]["line"].as_u64(), fix["range"]["end"]["line"].as_u64()), (Some(1), Some(2)));

    let sarif = report::sarif(&analysis);
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|run| run["tool"]["driver"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["clang-format", "flake8"]);
    let result = &runs[1]["results"][0];
    assert_eq!(result["ruleId"], "E225");
    assert_eq!(runs[1]["tool"]["driver"]["rules"][result["ruleIndex"].as_u64().unwrap() as usize]["id"], "E225");
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
    assert_eq!(result["partialFingerprints"]["shipitIssueHash/v1"].as_str().unwrap().len(), 64);
    assert_eq!(
        runs[0]["results"][0]["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"],
        "int f(void) { return 0; }\n"
    );
    assert_eq!(runs[0]["invocations"][0]["executionSuccessful"], true);

    let markdown = report::markdown(&analysis, "static-analysis-bot check --repo . --base a --head b");
    assert!(
        markdown.starts_with(
            "## Static analysis: 2 issues in this patch\n\n- 1 issue found by clang-format\n- 1 issue found by flake8\n"
        ),
        "{markdown}"
    );
    assert!(markdown.contains("| warning | `a.py` | 2 | flake8: `E225` | missing whitespace around operator |"));
    assert!(markdown.ends_with("```sh\nstatic-analysis-bot check --repo . --base a --head b\n```\n"));

    let mut json = Vec::new();
    report::write(&analysis, Format::Json, "", &mut json).unwrap();
    let back: Analysis = serde_json::from_slice(&json).unwrap();
    assert_eq!(back.issues, analysis.issues);
}
