//! Inputs: zip archives read in place, directories searched recursively, corrupt archives, and
//! the `coverage-bot merge` command end to end.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use shipit_coverage::{CoverageError, Input, ParseOptions, discover, merge_inputs};
use zip::write::SimpleFileOptions;

use crate::fixtures;

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    for (name, data) in entries {
        zip.start_file(*name, SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated))
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

fn fixture(name: &str) -> Vec<u8> {
    fs::read(fixtures().join(name)).unwrap()
}

#[test]
fn zip_input_reads_info_entries_only() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("code-coverage-grcov.zip");
    write_zip(
        &archive,
        &[
            ("grcov_lcov_output.info", &fixture("upstream/grcov.info")),
            ("nested/jsvm.info", &fixture("upstream/jsvm.info")),
            ("README.txt", b"not coverage"),
        ],
    );
    let inputs = discover(std::slice::from_ref(&archive)).unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[1].display_name(), format!("{}!nested/jsvm.info", archive.display()));
    let outcome = merge_inputs(&inputs, &ParseOptions::default(), false).unwrap();
    assert!(outcome.report.get("js/src/jit/BitSet.cpp").is_some());
    assert!(outcome.report.get("toolkit/components/osfile/osfile.jsm").is_some());
    assert_eq!(outcome.report.totals().lines, 4);
    // Nothing was extracted next to the archive.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn directory_input_is_searched_recursively() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("a/b")).unwrap();
    fs::write(dir.path().join("a/one.info"), fixture("upstream/jsvm.info")).unwrap();
    fs::write(dir.path().join("a/b/two.info"), fixture("upstream/jsvm_uncovered_function.info")).unwrap();
    fs::write(dir.path().join("a/b/notes.txt"), "ignored").unwrap();
    write_zip(&dir.path().join("a/b/c.zip"), &[("three.info", &fixture("upstream/jsvm.info"))]);

    let inputs = discover(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(inputs.len(), 3);
    assert_eq!(inputs.iter().filter(|i| matches!(i, Input::ZipEntry { .. })).count(), 1);
    let outcome = merge_inputs(&inputs, &ParseOptions::default(), false).unwrap();
    let file = outcome.report.get("toolkit/components/osfile/osfile.jsm").unwrap();
    // 42 + 42 + 42 on lines 1-2, lines 3-4 only in one input and never hit.
    assert_eq!(file.lines.iter().collect::<Vec<_>>(), [(1, 126), (2, 126), (3, 0), (4, 0)]);
    assert_eq!(file.functions["open"].hits, 3);
    assert_eq!(file.functions["read"].hits, 0);
}

#[test]
fn corrupt_and_truncated_zips_are_errors_naming_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.zip");
    write_zip(&good, &[("a.info", &fixture("c-project.info"))]);
    let bytes = fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.zip");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = discover(std::slice::from_ref(&truncated)).unwrap_err();
    assert!(matches!(&err, CoverageError::Zip { input, .. } if input.ends_with("truncated.zip")), "{err:?}");

    let garbage = dir.path().join("garbage.zip");
    fs::write(&garbage, b"PK\x03\x04 this is no archive").unwrap();
    assert!(matches!(discover(&[garbage]).unwrap_err(), CoverageError::Zip { .. }));

    // Damage the compressed data but keep the directory: reading the entry fails, with its name.
    let mut damaged = bytes.clone();
    for byte in &mut damaged[40..120] {
        *byte ^= 0x5a;
    }
    let damaged_path = dir.path().join("damaged.zip");
    fs::write(&damaged_path, &damaged).unwrap();
    let inputs = discover(&[damaged_path]).unwrap();
    let err = merge_inputs(&inputs, &ParseOptions::default(), false).unwrap_err();
    assert!(err.to_string().contains("damaged.zip!a.info"), "{err}");
}

#[test]
fn missing_input_is_an_error() {
    let err = discover(&["/nonexistent/coverage.info".into()]).unwrap_err();
    assert!(matches!(err, CoverageError::NotFound(_)));
}

fn bot() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coverage-bot"));
    command.env("RUST_LOG", "warn");
    command
}

#[test]
fn cli_merge_formats() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged.info");
    let status = bot()
        .args(["merge", "--format", "lcov", "-o"])
        .arg(&out)
        .arg(fixtures().join("upstream"))
        .arg(fixtures().join("c-project.info"))
        .status()
        .unwrap();
    assert!(status.success());
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text.matches("end_of_record").count(), 8, "6 upstream files + 2 C files");
    assert!(text.contains("SF:c-project/stats.c\n"));
    assert!(text.contains("BRDA:34,0,0,-\n"));

    // The lcov output reads back to the same numbers.
    let summary = bot().args(["merge", "--format", "summary"]).arg(&out).output().unwrap();
    assert!(summary.status.success());
    let summary = String::from_utf8(summary.stdout).unwrap();
    assert!(summary.contains("files:             8\n"), "{summary}");
    assert!(summary.contains("lines:             49\n"), "{summary}");

    let covdir = bot().args(["merge"]).arg(fixtures().join("c-project.info")).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&covdir.stdout).unwrap();
    assert_eq!(json["linesTotal"], 35);
}

#[test]
fn cli_strict_fails_and_lenient_warns() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.info");
    fs::write(&bad, "SF:a.c\nDA:1,1\nDA:oops\nend_of_record\n").unwrap();

    let lenient = bot().args(["merge", "--format", "summary"]).arg(&bad).output().unwrap();
    assert!(lenient.status.success());
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("malformed records: 1"));
    let stderr = String::from_utf8_lossy(&lenient.stderr);
    assert!(stderr.contains("bad.info") && stderr.contains("malformed"), "{stderr}");

    let strict = bot().args(["merge", "--strict"]).arg(&bad).output().unwrap();
    assert!(!strict.status.success());
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(stderr.contains("bad.info:3: malformed record"), "{stderr}");
}
