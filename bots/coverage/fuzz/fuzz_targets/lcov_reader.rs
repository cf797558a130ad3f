//! Fuzzes the lcov reader: any input must either be rejected with an error or give a report
//! that is the same whether read at once or streamed in small pieces, that reads back
//! unchanged from its own lcov output, and that writes valid covdir JSON. Never a panic.

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use shipit_coverage::output::write_lcov;
use shipit_coverage::{ParseOptions, Report, covdir, parse_bytes, parse_reader};

/// A reader that returns at most a few bytes per call, to cut lines at every possible place.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out.len().min(self.0.len()).min(7);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let options = ParseOptions::default();
    let mut report = Report::default();
    let at_once = parse_bytes("fuzz.info", data, &options, &mut report);

    let mut streamed = Report::default();
    let trickled = parse_reader("fuzz.info", Trickle(data), &options, &mut streamed);
    assert_eq!(at_once.is_ok(), trickled.is_ok(), "{at_once:?} / {trickled:?}");
    let Ok(stats) = at_once else { return };
    assert_eq!(Some(stats), trickled.ok());
    assert_eq!(report, streamed, "streaming changed the report");

    // Strict mode accepts exactly the inputs without malformed records.
    let strict = ParseOptions { strict: true, ..ParseOptions::default() };
    let strict_ok = parse_bytes("fuzz.info", data, &strict, &mut Report::default()).is_ok();
    assert_eq!(strict_ok, stats.malformed == 0);

    let mut text = Vec::new();
    write_lcov(&report, &mut text).unwrap();
    let mut again = Report::default();
    let reread = parse_bytes("again.info", &text, &strict, &mut again);
    assert!(reread.is_ok(), "own lcov output rejected: {reread:?}\n{}", String::from_utf8_lossy(&text));
    assert_eq!(again, report, "lcov round trip changed the report:\n{}", String::from_utf8_lossy(&text));

    // covdir has one entry per line up to the last: a few files near the line limit make
    // hundreds of MB, which are only written out, not kept and parsed back.
    // Likewise serde_json refuses to read JSON nested more than 128 levels, which covdir reaches
    // with paths of about 60 components.
    let entries: u64 = report.files().map(|(_, file)| u64::from(file.lines.max_line())).sum();
    let depth = report.files().map(|(path, _)| path.split('/').count()).max().unwrap_or(0);
    if entries > 1 << 20 || depth > 60 {
        covdir::write_covdir(&report, &mut std::io::sink()).unwrap();
        return;
    }
    let mut json = Vec::new();
    covdir::write_covdir(&report, &mut json).unwrap();
    serde_json::from_slice::<serde_json::Value>(&json).expect("covdir output is valid JSON");
});
