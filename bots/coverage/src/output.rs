//! The lcov and summary writers.

use std::io::{self, Write};

use crate::lcov::ParseStats;
use crate::model::{BranchId, Report, Totals};

/// Writes `report` as one lcov tracefile, files sorted by path, with the summary records
/// (`FNF`/`FNH`, `BRF`/`BRH`, `LF`/`LH`) recomputed from the merged data.
pub fn write_lcov(report: &Report, w: &mut impl Write) -> io::Result<()> {
    let mut buf = itoa::Buffer::new();
    w.write_all(b"TN:\n")?;
    for (path, cov) in report.sorted_files() {
        let totals = cov.totals();
        w.write_all(b"SF:")?;
        w.write_all(path.as_bytes())?;
        w.write_all(b"\n")?;

        let mut functions: Vec<_> = cov.functions.iter().collect();
        functions.sort_unstable_by(|a, b| (a.1.location, a.0).cmp(&(b.1.location, b.0)));
        let mut aliases = 0u32;
        for (name, function) in &functions {
            // A function only ever named by FNDA has no location to print.
            let Some(location) = function.location else { continue };
            if location.end.is_none() && reads_as_end_line(name) {
                // `FN:<start>,12,x` would read back as the function `x` ending at line 12: say
                // it the lcov 2 way, which also carries the hits (so no FNDA below).
                w.write_all(b"FNL:")?;
                w.write_all(buf.format(aliases).as_bytes())?;
                w.write_all(b",")?;
                w.write_all(buf.format(location.start).as_bytes())?;
                w.write_all(b"\nFNA:")?;
                w.write_all(buf.format(aliases).as_bytes())?;
                w.write_all(b",")?;
                w.write_all(buf.format(function.hits).as_bytes())?;
                w.write_all(b",")?;
                w.write_all(name.as_bytes())?;
                w.write_all(b"\n")?;
                aliases += 1;
                continue;
            }
            w.write_all(b"FN:")?;
            w.write_all(buf.format(location.start).as_bytes())?;
            if let Some(end) = location.end {
                w.write_all(b",")?;
                w.write_all(buf.format(end).as_bytes())?;
            }
            w.write_all(b",")?;
            w.write_all(name.as_bytes())?;
            w.write_all(b"\n")?;
        }
        for (name, function) in &functions {
            if function.location.is_some_and(|l| l.end.is_none()) && reads_as_end_line(name) {
                continue;
            }
            w.write_all(b"FNDA:")?;
            w.write_all(buf.format(function.hits).as_bytes())?;
            w.write_all(b",")?;
            w.write_all(name.as_bytes())?;
            w.write_all(b"\n")?;
        }
        write_count(w, b"FNF:", totals.functions)?;
        write_count(w, b"FNH:", totals.functions_covered)?;

        for (key, taken) in cov.branches.iter() {
            w.write_all(b"BRDA:")?;
            w.write_all(buf.format(key.line).as_bytes())?;
            w.write_all(if key.exception { b",e" } else { b"," })?;
            w.write_all(buf.format(key.block).as_bytes())?;
            w.write_all(b",")?;
            match &key.branch {
                BranchId::Index(index) => w.write_all(buf.format(*index).as_bytes())?,
                BranchId::Expr(expr) => w.write_all(expr.as_bytes())?,
            }
            w.write_all(b",")?;
            match taken {
                Some(n) => w.write_all(buf.format(*n).as_bytes())?,
                None => w.write_all(b"-")?,
            }
            w.write_all(b"\n")?;
        }
        write_count(w, b"BRF:", totals.branches)?;
        write_count(w, b"BRH:", totals.branches_covered)?;

        for (line, hits) in cov.lines.iter() {
            w.write_all(b"DA:")?;
            w.write_all(buf.format(line).as_bytes())?;
            w.write_all(b",")?;
            w.write_all(buf.format(hits).as_bytes())?;
            w.write_all(b"\n")?;
        }
        write_count(w, b"LF:", totals.lines)?;
        write_count(w, b"LH:", totals.lines_covered)?;
        w.write_all(b"end_of_record\n")?;
    }
    Ok(())
}

/// Whether `FN:<start>,<name>` would read `name`'s first field as an end line (`12,x`).
fn reads_as_end_line(name: &str) -> bool {
    name.split_once(',').is_some_and(|(first, _)| !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()))
}

fn write_count(w: &mut impl Write, key: &[u8], value: u64) -> io::Result<()> {
    w.write_all(key)?;
    w.write_all(itoa::Buffer::new().format(value).as_bytes())?;
    w.write_all(b"\n")
}

/// `covered` out of `total` as a percentage with 2 decimals (0 when there is nothing).
pub fn percent(covered: u64, total: u64) -> f64 {
    if total == 0 { 0.0 } else { (covered as f64 / total as f64 * 10_000.0).round() / 100.0 }
}

/// Writes the human-readable totals of a merge.
pub fn write_summary(totals: &Totals, stats: &ParseStats, inputs: usize, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "inputs:            {inputs}")?;
    writeln!(w, "malformed records: {}", stats.malformed)?;
    writeln!(w, "files:             {}", totals.files)?;
    writeln!(w, "lines:             {}", totals.lines)?;
    writeln!(w, "covered:           {}", totals.lines_covered)?;
    writeln!(w, "percent:           {:.2}", percent(totals.lines_covered, totals.lines))?;
    writeln!(
        w,
        "functions:         {} ({} covered, {:.2}%)",
        totals.functions,
        totals.functions_covered,
        percent(totals.functions_covered, totals.functions)
    )?;
    writeln!(
        w,
        "branches:          {} ({} covered, {:.2}%)",
        totals.branches,
        totals.branches_covered,
        percent(totals.branches_covered, totals.branches)
    )
}
