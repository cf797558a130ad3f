//! The lcov parser on every record kind, on merge semantics and on malformed input.

use std::io::Read;

use shipit_coverage::model::{BranchId, BranchKey, FnLocation, Function};
use shipit_coverage::{CoverageError, ParseOptions, PrefixMap, Report, parse_bytes, parse_reader};

use crate::{fixtures, parse};

fn branch(line: u32, block: u32, branch: u32) -> BranchKey {
    BranchKey { line, exception: false, block, branch: BranchId::Index(branch) }
}

#[test]
fn lcov2_fixture_reads_every_record_kind() {
    let text = std::fs::read_to_string(fixtures().join("lcov2-syntax.info")).unwrap();
    let report = parse(&text);
    // `./src/lib/../lib/parse.cpp` normalises to the same file, so there is one.
    assert_eq!(report.len(), 1);
    let file = report.get("src/lib/parse.cpp").unwrap();

    // DA: checksums ignored, negative counts are 0, overflowing counts saturate, the second
    // record's hits add to the first's.
    let lines: Vec<_> = file.lines.iter().collect();
    assert_eq!(lines, [(3, 8), (4, 7), (5, 0), (6, 0), (12, 0), (20, 7), (21, u64::MAX), (22, u64::MAX), (30, 2)]);

    // FNL + FNA: each alias is a function at the FNL location; FN with and without an end line.
    let loc = |start, end| Some(FnLocation { start, end });
    assert_eq!(file.functions["parse(char const*)"], Function { location: loc(3, Some(9)), hits: 5 });
    assert_eq!(file.functions["parse_alias"], Function { location: loc(3, Some(9)), hits: 2 });
    assert_eq!(file.functions["unused(int, int)"], Function { location: loc(12, None), hits: 0 });
    assert_eq!(file.functions["helper"], Function { location: loc(20, Some(24)), hits: 7 });
    assert_eq!(file.functions.len(), 4);

    // BRDA: "-" kept as not taken, exception blocks and lcov 2 branch expressions.
    assert_eq!(file.branches[&branch(4, 0, 0)], Some(3));
    assert_eq!(file.branches[&branch(4, 0, 1)], None);
    let exception = BranchKey { line: 5, exception: true, block: 0, branch: BranchId::Index(0) };
    assert_eq!(file.branches[&exception], Some(1));
    let expr = BranchKey { line: 5, exception: false, block: 0, branch: BranchId::Expr("(x > 0) && y".into()) };
    assert_eq!(file.branches[&expr], Some(2));

    let totals = report.totals();
    assert_eq!((totals.lines, totals.lines_covered), (9, 6));
    assert_eq!((totals.functions, totals.functions_covered), (4, 3));
    assert_eq!((totals.branches, totals.branches_covered), (4, 3));
}

#[test]
fn lcov1_fn_and_fnda_and_summary_records() {
    let report = parse(
        "TN:\nSF:a.c\nFN:1,f\nFN:5,g\nFNDA:3,f\nFNDA:0,g\nFNDA:2,only_fnda\nFNF:2\nFNH:1\nDA:1,3\nDA:5,0\nLF:2\nLH:1\n\
         BRF:0\nBRH:0\nend_of_record\n",
    );
    let file = report.get("a.c").unwrap();
    assert_eq!(file.functions["f"], Function { location: Some(FnLocation { start: 1, end: None }), hits: 3 });
    assert_eq!(file.functions["g"].hits, 0);
    assert_eq!(file.functions["only_fnda"], Function { location: None, hits: 2 });
    // The stated FNF/LF are not trusted: totals come from the data.
    assert_eq!(report.totals().functions, 3);
    assert_eq!(report.totals().lines, 2);
}

#[test]
fn windows_line_endings_and_missing_final_newline() {
    let report = parse("SF:a.c\r\nDA:1,1\r\nDA:2,0\r\nend_of_record");
    assert_eq!(report.get("a.c").unwrap().lines.iter().collect::<Vec<_>>(), [(1, 1), (2, 0)]);
}

/// Found by the fuzzer: a name ending in `\r` lost one `\r` per lcov write and read.
#[test]
fn repeated_carriage_returns_are_line_ending_not_name() {
    let report = parse("SF:a.c\r\r\nFN:1,f\r\r\r\nFNDA:1,f\r\nFNDA:2,g\r\r\nDA:1,1\r\r\nend_of_record\r\r\n");
    // Also when normalising the path leaves the `\r` at its end.
    let normalised = parse("SF:b\r\\\r\r\nDA:1,1\nend_of_record\n");
    assert!(normalised.get("b").is_some());
    assert_lcov_round_trip(&normalised);
    // And when dropping it leaves a trailing `/` (`c\r\\\r\\` is `c\r/\r/`, then `c\r/\r`).
    let twice = parse("SF:c\r\\\r\\\r\nDA:1,1\nend_of_record\n");
    assert!(twice.get("c").is_some(), "{:?}", twice.files().map(|(path, _)| path).collect::<Vec<_>>());
    assert_lcov_round_trip(&twice);
    let file = report.get("a.c").unwrap();
    assert_eq!(file.functions["f"], Function { location: Some(FnLocation { start: 1, end: None }), hits: 1 });
    assert_eq!(file.functions["g"].hits, 2);
    assert_eq!(file.functions.len(), 2);
    assert_lcov_round_trip(&report);
}

/// Found by the fuzzer's round-trip check: a function without an end line whose name starts
/// with `<digits>,` cannot be written as `FN:<start>,<name>` (it would read back as an end line).
#[test]
fn function_name_that_looks_like_an_end_line_survives_lcov_output() {
    let report = parse("SF:a.c\nFNL:0,3\nFNA:0,4,12,x\nFN:7,9,y\nFNDA:1,y\nend_of_record\n");
    let file = report.get("a.c").unwrap();
    assert_eq!(file.functions["12,x"], Function { location: Some(FnLocation { start: 3, end: None }), hits: 4 });
    assert_eq!(file.functions["y"], Function { location: Some(FnLocation { start: 7, end: Some(9) }), hits: 1 });
    assert_lcov_round_trip(&report);
}

/// Found by the fuzzer (out of memory): covdir writes one entry per line up to the last, so a
/// bogus huge line number must not get into a report.
#[test]
fn line_numbers_past_the_limit_are_malformed() {
    let mut report = Report::default();
    let text = "SF:a.c\nDA:16777216,1\nDA:16777217,1\nDA:4000000000,1\nBRDA:4000000000,0,0,1\nFN:4000000000,f\nend_of_record\n";
    let stats = parse_bytes("big.info", text.as_bytes(), &ParseOptions::default(), &mut report).unwrap();
    assert_eq!(stats.malformed, 4);
    let file = report.get("a.c").unwrap();
    assert_eq!(file.lines.iter().collect::<Vec<_>>(), [(shipit_coverage::lcov::MAX_LINE, 1)]);
    assert!(file.functions.is_empty() && file.branches.is_empty());
}

/// Found by the fuzzer (its JSON check hit serde_json's nesting limit): covdir nests one object
/// per directory and its writer recurses per level, so a path with 100,000 components would
/// overflow the stack.
#[test]
fn paths_with_too_many_components_are_malformed() {
    let limit = shipit_coverage::lcov::MAX_PATH_DEPTH;
    let deep = |depth: usize| format!("{}x.c", "d/".repeat(depth - 1));
    let text = format!("SF:{}\nDA:1,1\nend_of_record\nSF:{}\nDA:1,1\nend_of_record\n", deep(limit), deep(100_000));
    let mut report = Report::default();
    let stats = parse_bytes("deep.info", text.as_bytes(), &ParseOptions::default(), &mut report).unwrap();
    // The deep SF and the DA after it (outside of any section now).
    assert_eq!(stats.malformed, 2);
    assert_eq!(report.len(), 1);
    assert!(report.get(&deep(limit)).is_some());
}

fn assert_lcov_round_trip(report: &Report) {
    let mut text = Vec::new();
    shipit_coverage::output::write_lcov(report, &mut text).unwrap();
    let strict = ParseOptions { strict: true, ..ParseOptions::default() };
    let mut again = Report::default();
    parse_bytes("again.info", &text, &strict, &mut again).unwrap();
    assert_eq!(&again, report, "{}", String::from_utf8_lossy(&text));
}

#[test]
fn same_file_across_inputs_adds_up() {
    let mut report =
        parse("SF:a.c\nFN:1,f\nFNDA:1,f\nBRDA:2,0,0,-\nBRDA:2,0,1,-\nBRDA:2,0,2,4\nDA:1,1\nend_of_record\n");
    report.merge(parse(
        "SF:a.c\nFN:1,f\nFNDA:2,f\nBRDA:2,0,0,-\nBRDA:2,0,1,3\nBRDA:2,0,2,-\nDA:1,2\nDA:3,0\nend_of_record\n",
    ));
    let file = report.get("a.c").unwrap();
    assert_eq!(file.lines.iter().collect::<Vec<_>>(), [(1, 3), (3, 0)]);
    assert_eq!(file.functions["f"].hits, 3);
    assert_eq!(file.branches[&branch(2, 0, 0)], None, "- + - stays -");
    assert_eq!(file.branches[&branch(2, 0, 1)], Some(3), "- + n = n");
    assert_eq!(file.branches[&branch(2, 0, 2)], Some(4), "n + - = n");
}

#[test]
fn prefix_map_applies_to_sf() {
    let options = ParseOptions { prefix_map: PrefixMap::parse(&["/builds/gecko="]).unwrap(), strict: false };
    let mut report = Report::default();
    parse_bytes("x.info", b"SF:/builds/gecko/js/a.cpp\nDA:1,1\nend_of_record\n", &options, &mut report).unwrap();
    assert!(report.get("js/a.cpp").is_some());
}

const MALFORMED: &str = "SF:a.c\nDA:1,1\nDA:x,1\nDA:2\nDA:0,4\nFN:abc\nFNDA:1\nBRDA:1,0,0\nBRDA:1,0,0,maybe\nFNA:9,1,f\n\
                         LF:many\nwhat is this\nDA:3,1.5\nDA:4,2\nend_of_record\nDA:5,1\n";

#[test]
fn malformed_records_are_counted_and_skipped() {
    let mut report = Report::default();
    let stats = parse_bytes("bad.info", MALFORMED.as_bytes(), &ParseOptions::default(), &mut report).unwrap();
    assert_eq!(stats.malformed, 12);
    // Only the good records made it in.
    assert_eq!(report.get("a.c").unwrap().lines.iter().collect::<Vec<_>>(), [(1, 1), (4, 2)]);
    assert!(report.get("a.c").unwrap().functions.is_empty());
    assert!(report.get("a.c").unwrap().branches.is_empty());
}

#[test]
fn strict_mode_fails_naming_input_and_line() {
    let options = ParseOptions { strict: true, ..ParseOptions::default() };
    let err = parse_bytes("bad.info", MALFORMED.as_bytes(), &options, &mut Report::default()).unwrap_err();
    match &err {
        CoverageError::Malformed { input, line, .. } => {
            assert_eq!(input, "bad.info");
            assert_eq!(*line, 3);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().starts_with("bad.info:3: malformed record"), "{err}");
}

#[test]
fn binary_garbage_is_an_error_not_a_panic() {
    // A deterministic pseudo-random byte soup, NULs included.
    let mut state = 0x2545_f491_u32;
    let garbage: Vec<u8> = (0..10_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let err = parse_bytes("garbage.info", &garbage, &ParseOptions::default(), &mut Report::default()).unwrap_err();
    assert!(matches!(&err, CoverageError::NotLcov { input, .. } if input == "garbage.info"), "{err:?}");

    // Text that is not lcov at all, with no NUL byte, is refused too.
    let err =
        parse_bytes("prose.info", b"hello\nworld\n", &ParseOptions::default(), &mut Report::default()).unwrap_err();
    assert!(matches!(err, CoverageError::NotLcov { .. }), "{err:?}");

    // Invalid UTF-8 without NULs: the path is kept lossily, nothing panics.
    let report = parse_bytes(
        "latin1.info",
        b"SF:caf\xe9.c\nFN:1,\xff\xfe\nDA:1,1\nend_of_record\n",
        &ParseOptions::default(),
        &mut Report::default(),
    );
    assert!(report.is_ok());
}

/// Hands out data a few bytes at a time, to split lines across reads.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn streaming_reader_equals_whole_buffer() {
    let text = std::fs::read(fixtures().join("c-project.info")).unwrap();
    let whole = {
        let mut report = Report::default();
        parse_bytes("c", &text, &ParseOptions::default(), &mut report).unwrap();
        report
    };
    let mut streamed = Report::default();
    let stats = parse_reader("c", Trickle { data: &text, step: 0 }, &ParseOptions::default(), &mut streamed).unwrap();
    assert_eq!(stats.bytes, text.len() as u64);
    assert_eq!(whole, streamed);
    assert_eq!(whole.totals().lines, 44 - 9, "c-project.info has 35 instrumented lines");
}
