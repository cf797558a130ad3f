//! Reporters that write an analysis to a file: the whole analysis as JSON, the published issues
//! as rdjson (reviewdog), SARIF 2.1.0, or a markdown summary for people.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::analysis::{Analysis, Reported};
use crate::issue::Level;

/// The issues listed one by one in a markdown summary; the others are only counted.
pub const MARKDOWN_LIST_LIMIT: usize = 30;

/// An output format of `check`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Format {
    /// Everything: every issue with its classification, every analyzer with its failures.
    Json,
    /// reviewdog's diagnostic format, published issues only.
    Rdjson,
    /// SARIF 2.1.0, one run per analyzer, published issues only.
    Sarif,
    /// The summary comment.
    Markdown,
}

/// Writes `analysis` in `format`; `reproduce` is the command that runs the same analysis locally.
pub fn write(analysis: &Analysis, format: Format, reproduce: &str, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, analysis)?;
            writeln!(out)
        }
        Format::Rdjson => {
            serde_json::to_writer_pretty(&mut *out, &rdjson(analysis))?;
            writeln!(out)
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &sarif(analysis))?;
            writeln!(out)
        }
        Format::Markdown => out.write_all(markdown(analysis, reproduce).as_bytes()),
    }
}

/// The published issues in reviewdog's `rdjson` format (`DiagnosticResult`).
pub fn rdjson(analysis: &Analysis) -> Value {
    let diagnostics: Vec<Value> = analysis
        .publishable()
        .map(|reported| {
            let issue = &reported.issue;
            let mut start = json!({"line": issue.line.max(1)});
            if let Some(column) = issue.column {
                start["column"] = json!(column);
            }
            let mut diagnostic = json!({
                "message": issue.message,
                "location": {
                    "path": issue.path,
                    "range": {"start": start, "end": {"line": issue.line.max(1) + issue.nb_lines.max(1) - 1}},
                },
                "severity": match issue.level { Level::Error => "ERROR", Level::Warning => "WARNING" },
                "source": {"name": issue.analyzer},
                "code": {"value": issue.check},
            });
            if let Some(suggestion) = &issue.suggestion {
                // Whole lines are replaced: from the start of the first to the start of the line
                // after the last.
                let text = if suggestion.is_empty() { String::new() } else { format!("{suggestion}\n") };
                diagnostic["suggestions"] = json!([{
                    "range": {
                        "start": {"line": issue.line.max(1), "column": 1},
                        "end": {"line": issue.line.max(1) + issue.nb_lines.max(1), "column": 1},
                    },
                    "text": text,
                }]);
            }
            diagnostic
        })
        .collect();
    json!({
        "source": {"name": "static-analysis-bot", "url": "https://github.com/mozilla/release-services"},
        "diagnostics": diagnostics,
    })
}

/// The published issues as a SARIF 2.1.0 log: one run per analyzer, with its failures as tool
/// execution notifications and the line-independent hash as a partial fingerprint.
pub fn sarif(analysis: &Analysis) -> Value {
    let runs: Vec<Value> = analysis
        .analyzers
        .iter()
        .map(|analyzer| {
            let issues: Vec<&Reported> =
                analysis.publishable().filter(|reported| reported.issue.analyzer == analyzer.name).collect();
            let mut rules: Vec<&str> = issues.iter().map(|reported| reported.issue.check.as_str()).collect();
            rules.sort_unstable();
            rules.dedup();
            let results: Vec<Value> = issues
                .iter()
                .map(|reported| {
                    let issue = &reported.issue;
                    let mut region = json!({"startLine": issue.line.max(1), "endLine": issue.line.max(1) + issue.nb_lines.max(1) - 1});
                    if let Some(column) = issue.column {
                        region["startColumn"] = json!(column);
                    }
                    let mut result = json!({
                        "ruleId": issue.check,
                        "ruleIndex": rules.binary_search(&issue.check.as_str()).unwrap_or_default(),
                        "level": match issue.level { Level::Error => "error", Level::Warning => "warning" },
                        "message": {"text": issue.message},
                        "locations": [{"physicalLocation": {
                            "artifactLocation": {"uri": issue.path, "uriBaseId": "SRCROOT"},
                            "region": region,
                        }}],
                        "partialFingerprints": {"shipitIssueHash/v1": issue.hash},
                        "baselineState": if reported.is_new { "new" } else { "unchanged" },
                    });
                    if let Some(suggestion) = &issue.suggestion {
                        let text = if suggestion.is_empty() { String::new() } else { format!("{suggestion}\n") };
                        result["fixes"] = json!([{
                            "description": {"text": "Apply the analyzer's suggestion"},
                            "artifactChanges": [{
                                "artifactLocation": {"uri": issue.path, "uriBaseId": "SRCROOT"},
                                "replacements": [{
                                    "deletedRegion": {"startLine": issue.line.max(1), "startColumn": 1,
                                                      "endLine": issue.line.max(1) + issue.nb_lines.max(1), "endColumn": 1},
                                    "insertedContent": {"text": text},
                                }],
                            }],
                        }]);
                    }
                    result
                })
                .collect();
            let notifications: Vec<Value> = analyzer
                .failures
                .iter()
                .map(|failure| {
                    json!({
                        "level": "error",
                        "message": {"text": format!("{} ({}: {})", failure.error, failure.side, failure.files.join(", "))},
                    })
                })
                .collect();
            json!({
                "tool": {"driver": {
                    "name": analyzer.name,
                    "informationUri": "https://github.com/mozilla/release-services",
                    "rules": rules.iter().map(|rule| json!({"id": rule})).collect::<Vec<_>>(),
                }},
                "invocations": [{
                    "executionSuccessful": analyzer.failures.is_empty(),
                    "toolExecutionNotifications": notifications,
                }],
                "versionControlProvenance": [{
                    "repositoryUri": "file:///",
                    "revisionId": analysis.head,
                }],
                "results": results,
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": runs,
    })
}

/// The summary: "N issues in this patch", a count per analyzer, the first issues, analyzer
/// failures, and the command that reproduces the analysis locally.
pub fn markdown(analysis: &Analysis, reproduce: &str) -> String {
    let published: Vec<&Reported> = analysis.publishable().collect();
    let mut text = format!("## Static analysis: {}\n\n", plural(published.len(), "issue", "in this patch"));
    for analyzer in analysis.analyzers.iter().filter(|analyzer| analyzer.publishable > 0) {
        text.push_str(&format!("- {} found by {}\n", plural(analyzer.publishable, "issue", ""), analyzer.name));
    }
    if analysis.known > 0 {
        text.push_str(&format!(
            "\n{} already present before this patch {} left out.\n",
            plural(analysis.known, "issue", ""),
            if analysis.known == 1 { "is" } else { "are" }
        ));
    }
    if !published.is_empty() {
        text.push_str("\n| | File | Line | Check | Message |\n| --- | --- | --- | --- | --- |\n");
        for reported in published.iter().take(MARKDOWN_LIST_LIMIT) {
            let issue = &reported.issue;
            let level = match issue.level {
                Level::Error => "error",
                Level::Warning => "warning",
            };
            text.push_str(&format!(
                "| {level} | `{}` | {} | {}: `{}` | {} |\n",
                issue.path,
                issue.line,
                issue.analyzer,
                issue.check,
                issue.message.replace('|', "\\|")
            ));
        }
        if published.len() > MARKDOWN_LIST_LIMIT {
            text.push_str(&format!("\nOnly the first {MARKDOWN_LIST_LIMIT} are listed here.\n"));
        }
    }
    let failures: Vec<String> = analysis
        .analyzers
        .iter()
        .flat_map(|analyzer| {
            analyzer.failures.iter().map(|failure| {
                format!(
                    "- {} failed on `{}` ({}): {}\n",
                    analyzer.name,
                    failure.files.join("`, `"),
                    failure.side,
                    failure.error.lines().next().unwrap_or("")
                )
            })
        })
        .collect();
    if !failures.is_empty() {
        text.push_str("\nSome analyzers failed; their issues are missing:\n\n");
        text.extend(failures);
    }
    text.push_str(&format!("\nYou can run this analysis locally with:\n\n```sh\n{reproduce}\n```\n"));
    text
}

fn plural(count: usize, noun: &str, tail: &str) -> String {
    let noun = if count == 1 { noun.to_owned() } else { format!("{noun}s") };
    format!("{count} {noun} {tail}").trim_end().to_owned()
}
