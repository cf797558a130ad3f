//! The rdjson and SARIF files the bot writes, from a real analysis, against the published
//! schemas (reviewdog's `DiagnosticResult.jsonschema`, OASIS's `sarif-schema-2.1.0.json`), which
//! are checked to refuse what the formats forbid, so that passing them means something.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Value, json};
use shipit_static_analysis::analysis::Analysis;
use shipit_static_analysis::analyzers::AnalyzerOverrides;
use shipit_static_analysis::config::Settings;
use shipit_static_analysis::report::{self, Format};
use shipit_static_analysis::workspace::Head;
use shipit_static_analysis::{Level, Options, analyze};

use crate::fixture;
use crate::repo::TestRepo;

fn sarif_schema() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(&fixture("schemas/sarif-schema-2.1.0.json")).unwrap();
        jsonschema::draft7::options().should_validate_formats(true).build(&schema).unwrap()
    })
}

fn rdjson_schema() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(&fixture("schemas/DiagnosticResult.jsonschema")).unwrap();
        jsonschema::draft4::options().should_validate_formats(true).build(&schema).unwrap()
    })
}

/// Every violation, with where it is, or an empty list.
fn violations(validator: &Validator, document: &Value) -> Vec<String> {
    validator.iter_errors(document).map(|error| format!("{}: {error}", error.instance_path())).collect()
}

/// A C, Python and shell change analyzed by the real analyzers, with clang-tidy crashing so that
/// the SARIF log carries a tool execution notification, and a line deleted by clang-format.
fn analysis() -> Analysis {
    let repo = TestRepo::new();
    let base = repo.commit(&[(".clang-format", "BasedOnStyle: LLVM\n"), ("a.py", "import os\n")]);
    let head = repo.commit(&[
        ("a.py", "import os\nx=1\nprint(undefined_name)\n"),
        ("src/b.c", "int  f (void){return 0;}\n\n\n\nint oob(void) {\n  int a[2];\n  a[2] = 0;\n  return 0;\n}\n"),
        ("tools/run.sh", "#!/bin/sh\necho $1\n"),
    ]);
    let crasher = repo.path().join("crash.sh");
    std::fs::write(&crasher, "#!/bin/sh\necho 'clang-tidy crashed' >&2\nexit 139\n").unwrap();
    std::fs::set_permissions(&crasher, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut settings = Settings::default();
    settings.analyzers.insert(
        "clang_tidy".into(),
        AnalyzerOverrides { command: Some(vec![crasher.display().to_string()]), ..Default::default() },
    );
    analyze(repo.path(), &base, Head::Rev(&head), &settings, &Options::default()).unwrap()
}

fn written(analysis: &Analysis, format: Format) -> Value {
    let mut bytes = Vec::new();
    report::write(analysis, format, "static-analysis-bot check", &mut bytes).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn the_reports_of_a_real_analysis_validate_against_the_published_schemas() {
    let analysis = analysis();
    let published: Vec<(&str, &str)> = analysis
        .publishable()
        .map(|reported| (reported.issue.analyzer.as_str(), reported.issue.check.as_str()))
        .collect();
    for expected in [("clang-format", "style"), ("cppcheck", "arrayIndexOutOfBounds"), ("flake8", "F821")] {
        assert!(published.contains(&expected), "{expected:?} not in {published:?}");
    }
    assert!(published.iter().any(|(analyzer, _)| *analyzer == "shellcheck"), "{published:?}");
    assert!(analysis.publishable().any(|reported| reported.issue.level == Level::Error));
    assert!(analysis.publishable().any(|reported| reported.issue.suggestion.is_some()));
    assert!(analysis.has_failures(), "clang-tidy's crash is in the report");

    let sarif = written(&analysis, Format::Sarif);
    assert_eq!(violations(sarif_schema(), &sarif), Vec::<String>::new(), "{sarif:#}");
    let results: usize =
        sarif["runs"].as_array().unwrap().iter().map(|run| run["results"].as_array().unwrap().len()).sum();
    assert_eq!(results, published.len());
    let tidy =
        sarif["runs"].as_array().unwrap().iter().find(|run| run["tool"]["driver"]["name"] == "clang-tidy").unwrap();
    assert_eq!(tidy["invocations"][0]["executionSuccessful"], false);

    let rdjson = written(&analysis, Format::Rdjson);
    assert_eq!(violations(rdjson_schema(), &rdjson), Vec::<String>::new(), "{rdjson:#}");
    let diagnostics = rdjson["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), published.len());
    // The schema leaves these to reviewdog.proto: a severity is one of its enum's names, and a
    // range has a start.
    for diagnostic in diagnostics {
        assert!(["ERROR", "WARNING", "INFO"].contains(&diagnostic["severity"].as_str().unwrap()), "{diagnostic}");
        assert!(diagnostic["location"]["range"]["start"]["line"].as_u64().unwrap() >= 1, "{diagnostic}");
        for suggestion in diagnostic["suggestions"].as_array().into_iter().flatten() {
            assert!(suggestion["range"]["start"]["line"].is_u64(), "{suggestion}");
        }
    }
}

#[test]
fn an_analysis_without_issues_writes_valid_empty_reports() {
    let repo = TestRepo::new();
    let base = repo.commit(&[("README", "x\n")]);
    let head = repo.commit(&[("a.py", "x = 1\n")]);
    let analysis = analyze(repo.path(), &base, Head::Rev(&head), &Settings::default(), &Options::default()).unwrap();
    assert_eq!(analysis.issues.len(), 0, "{:#?}", analysis.issues);

    let sarif = written(&analysis, Format::Sarif);
    assert_eq!(violations(sarif_schema(), &sarif), Vec::<String>::new(), "{sarif:#}");
    assert_eq!(sarif["runs"][0]["results"], json!([]));
    let rdjson = written(&analysis, Format::Rdjson);
    assert_eq!(violations(rdjson_schema(), &rdjson), Vec::<String>::new(), "{rdjson:#}");
    assert_eq!(rdjson["diagnostics"], json!([]));
}

#[test]
fn the_schemas_refuse_what_the_formats_forbid() {
    let valid = json!({"version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "flake8"}},
        "results": [{"message": {"text": "m"}, "level": "warning",
                     "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.py"}, "region": {"startLine": 1}}}]}],
    }]});
    assert_eq!(violations(sarif_schema(), &valid), Vec::<String>::new());
    let mut bad_level = valid.clone();
    bad_level["runs"][0]["results"][0]["level"] = json!("fatal");
    let mut no_message = valid.clone();
    no_message["runs"][0]["results"][0].as_object_mut().unwrap().remove("message");
    let mut extra = valid.clone();
    extra["runs"][0]["results"][0]["line"] = json!(1);
    let mut line_zero = valid.clone();
    line_zero["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = json!(0);
    let mut no_driver_name = valid.clone();
    no_driver_name["runs"][0]["tool"]["driver"] = json!({});
    for (what, document) in [
        ("an unknown level", bad_level),
        ("a result without message", no_message),
        ("an unknown property", extra),
        ("line 0", line_zero),
        ("a driver without name", no_driver_name),
        ("another version", json!({"version": "2.0.0", "runs": []})),
    ] {
        assert!(!violations(sarif_schema(), &document).is_empty(), "SARIF accepts {what}");
    }

    let valid =
        json!({"diagnostics": [{"message": "m", "location": {"path": "a.py", "range": {"start": {"line": 1}}}}]});
    assert_eq!(violations(rdjson_schema(), &valid), Vec::<String>::new());
    for (what, document) in [
        ("a line as text", json!({"diagnostics": [{"message": "m", "location": {"range": {"start": {"line": "1"}}}}]})),
        ("a numeric message", json!({"diagnostics": [{"message": 3}]})),
        ("diagnostics as an object", json!({"diagnostics": {"message": "m"}})),
        ("a numeric suggestion text", json!({"diagnostics": [{"suggestions": [{"text": 1}]}]})),
    ] {
        assert!(!violations(rdjson_schema(), &document).is_empty(), "rdjson accepts {what}");
    }
}
