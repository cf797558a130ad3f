//! lcov tracefile parser.
//!
//! Reads the whole lcov grammar (`TN`, `SF`, `VER`, `FN` in both forms, `FNL`/`FNA`, `FNDA`,
//! `FNF`, `FNH`, `BRDA`, `BRF`, `BRH`, `DA` with an optional checksum, `LF`, `LH`,
//! `end_of_record`) straight from byte buffers into a [`Report`], without allocating per line.
//! Summary records (`LF`, `FNF`, ...) are checked for shape and otherwise ignored: the writers
//! recompute them.

use std::io::{ErrorKind, Read};

use memchr::{memchr, memrchr};
use rustc_hash::FxHashMap;

use crate::error::CoverageError;
use crate::paths::PrefixMap;
use crate::report::{BranchId, BranchKey, FileId, FnLocation, Report};

/// How many malformed-record warnings one input logs before going quiet (all are counted).
const MAX_WARNINGS_PER_INPUT: u64 = 20;

/// Size of the read buffer when streaming an input.
const CHUNK: usize = 4 << 20;

/// Options shared by every input of a run.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    pub prefix_map: PrefixMap,
    /// Turn malformed records into an error instead of a warning.
    pub strict: bool,
}

/// Counters of one parse, added up into the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    pub bytes: u64,
    pub lines: u64,
    pub records: u64,
    pub malformed: u64,
}

impl ParseStats {
    pub fn add(&mut self, other: &ParseStats) {
        self.bytes += other.bytes;
        self.lines += other.lines;
        self.records += other.records;
        self.malformed += other.malformed;
    }
}

/// Incremental parser for one input. Feed it whole lines with [`Parser::feed`], then call
/// [`Parser::finish`].
pub struct Parser<'a> {
    input: &'a str,
    options: &'a ParseOptions,
    current: Option<FileId>,
    /// `FNL` locations of the current record, by function index, for the `FNA` lines after them.
    fn_locations: FxHashMap<u32, FnLocation>,
    /// `DA` lines of the current record, applied at its end so the file's line vector can be
    /// sized exactly once. Reused across records: no allocation per record once warm.
    pending: Vec<(u32, u64)>,
    stats: ParseStats,
}

impl<'a> Parser<'a> {
    /// `input` names the source in messages (a path, or `archive.zip!entry.info`).
    pub fn new(input: &'a str, options: &'a ParseOptions) -> Self {
        Self {
            input,
            options,
            current: None,
            fn_locations: FxHashMap::default(),
            pending: Vec::new(),
            stats: ParseStats::default(),
        }
    }

    /// Parses `data`, which must hold whole lines (the last one may lack its newline).
    pub fn feed(&mut self, report: &mut Report, data: &[u8]) -> Result<(), CoverageError> {
        if memchr(0, data).is_some() {
            return Err(self.not_lcov("it contains binary data (NUL bytes)"));
        }
        self.stats.bytes += data.len() as u64;
        let mut rest = data;
        while !rest.is_empty() {
            let end = memchr(b'\n', rest).unwrap_or(rest.len());
            let mut line = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or_default();
            self.stats.lines += 1;
            if let [head @ .., b'\r'] = line {
                line = head;
            }
            if line.is_empty() {
                continue;
            }
            if let Err(message) = self.record(report, line) {
                self.malformed(message)?;
            }
        }
        Ok(())
    }

    /// Applies the buffered `DA` lines to the current file.
    fn flush_lines(&mut self, report: &mut Report) {
        let Some(id) = self.current else { return };
        if self.pending.is_empty() {
            return;
        }
        let max_line = self.pending.iter().map(|&(line, _)| line).max().unwrap_or(0);
        let lines = &mut report.file_mut(id).lines;
        lines.reserve_lines(max_line, self.pending.len());
        for &(line, hits) in &self.pending {
            lines.add(line, hits);
        }
        self.pending.clear();
    }

    /// Ends the input. An input that had lines but not one valid record is not lcov at all.
    pub fn finish(mut self, report: &mut Report) -> Result<ParseStats, CoverageError> {
        self.flush_lines(report);
        if self.stats.records == 0 && self.stats.malformed > 0 {
            return Err(self.not_lcov("no valid lcov record found"));
        }
        Ok(self.stats)
    }

    fn not_lcov(&self, reason: &str) -> CoverageError {
        CoverageError::NotLcov { input: self.input.to_owned(), reason: reason.to_owned() }
    }

    fn malformed(&mut self, message: &'static str) -> Result<(), CoverageError> {
        self.stats.malformed += 1;
        let line = self.stats.lines;
        if self.options.strict {
            return Err(CoverageError::Malformed { input: self.input.to_owned(), line, message: message.to_owned() });
        }
        if self.stats.malformed <= MAX_WARNINGS_PER_INPUT {
            tracing::warn!(input = self.input, line, "malformed record skipped: {message}");
        } else if self.stats.malformed == MAX_WARNINGS_PER_INPUT + 1 {
            tracing::warn!(input = self.input, "more malformed records; further warnings for this input are hidden");
        }
        Ok(())
    }

    /// The file the current record is about.
    fn current(&self) -> Result<FileId, &'static str> {
        self.current.ok_or("record outside of an SF section")
    }

    /// Parses one non-empty line. The error is the reason it is malformed.
    fn record(&mut self, report: &mut Report, line: &[u8]) -> Result<(), &'static str> {
        let Some(colon) = memchr(b':', line) else {
            if line == b"end_of_record" {
                self.flush_lines(report);
                self.current = None;
                self.fn_locations.clear();
                self.stats.records += 1;
                return Ok(());
            }
            return Err("not a `KEY:value` record");
        };
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        match key {
            // The hottest record first.
            b"DA" => {
                self.current()?;
                let (line_no, rest) = split_comma(value).ok_or("DA needs <line>,<hits>")?;
                let line_no = parse_line(line_no).ok_or("DA line number is not a positive integer")?;
                // An optional checksum may follow the count; it is not kept.
                let hits = split_comma(rest).map_or(rest, |(hits, _checksum)| hits);
                let hits = parse_hits(hits).ok_or("DA hit count is not an integer")?;
                self.pending.push((line_no, hits));
            }
            b"SF" => {
                // A record missing its end_of_record still keeps its lines.
                self.flush_lines(report);
                if value.is_empty() {
                    self.current = None;
                    return Err("SF without a path");
                }
                let path = self.options.prefix_map.apply(&String::from_utf8_lossy(value));
                if path.is_empty() || path == "/" {
                    self.current = None;
                    return Err("SF path names no file");
                }
                self.current = Some(report.intern(&path));
                self.fn_locations.clear();
            }
            b"FNDA" => {
                let id = self.current()?;
                let (hits, name) = split_comma(value).ok_or("FNDA needs <hits>,<name>")?;
                let hits = parse_hits(hits).ok_or("FNDA hit count is not an integer")?;
                let name = utf8_name(name)?;
                report.file_mut(id).update_function(&name, |f| f.hits = f.hits.saturating_add(hits));
            }
            b"FN" => {
                let id = self.current()?;
                // `FN:<start>,<name>` or `FN:<start>,<end>,<name>`: like lcov, a second field that
                // is all digits and followed by a comma is the end line.
                let (start, rest) = split_comma(value).ok_or("FN needs <line>,<name>")?;
                let start = parse_line(start).ok_or("FN line is not a positive integer")?;
                let (end, name) = match split_comma(rest) {
                    Some((end, name)) if is_digits(end) => {
                        (Some(parse_line(end).ok_or("FN end line is not a positive integer")?), name)
                    }
                    _ => (None, rest),
                };
                let name = utf8_name(name)?;
                let function = report.file_mut(id).function_mut(&name);
                let location = FnLocation { start, end };
                function.location = Some(function.location.map_or(location, |known| known.min(location)));
            }
            b"FNL" => {
                self.current()?;
                // FNL:<index>,<start>[,<end>]
                let (index, rest) = split_comma(value).ok_or("FNL needs <index>,<start>[,<end>]")?;
                let index = parse_u32(index).ok_or("FNL index is not an integer")?;
                let (start, end) = match split_comma(rest) {
                    Some((start, end)) => {
                        (start, Some(parse_line(end).ok_or("FNL end line is not a positive integer")?))
                    }
                    None => (rest, None),
                };
                let start = parse_line(start).ok_or("FNL start line is not a positive integer")?;
                self.fn_locations.insert(index, FnLocation { start, end });
            }
            b"FNA" => {
                let id = self.current()?;
                // FNA:<index>,<hits>,<name>: one line per alias of the function at <index>.
                let (index, rest) = split_comma(value).ok_or("FNA needs <index>,<hits>,<name>")?;
                let (hits, name) = split_comma(rest).ok_or("FNA needs <index>,<hits>,<name>")?;
                let index = parse_u32(index).ok_or("FNA index is not an integer")?;
                let hits = parse_hits(hits).ok_or("FNA hit count is not an integer")?;
                let location = *self.fn_locations.get(&index).ok_or("FNA refers to an index with no FNL")?;
                let name = utf8_name(name)?;
                let function = report.file_mut(id).function_mut(&name);
                function.location = Some(function.location.map_or(location, |known| known.min(location)));
                function.hits = function.hits.saturating_add(hits);
            }
            b"BRDA" => {
                let id = self.current()?;
                // BRDA:<line>,[e]<block>,<branch>,<taken>; lcov 2.x branch expressions may hold
                // commas, so the count is after the last comma.
                let (line_no, rest) = split_comma(value).ok_or("BRDA needs 4 fields")?;
                let (block, rest) = split_comma(rest).ok_or("BRDA needs 4 fields")?;
                let comma = memrchr(b',', rest).ok_or("BRDA needs 4 fields")?;
                let (branch, taken) = (&rest[..comma], &rest[comma + 1..]);
                let line_no = parse_line(line_no).ok_or("BRDA line is not a positive integer")?;
                let (exception, block) = match block {
                    [b'e', digits @ ..] => (true, digits),
                    _ => (false, block),
                };
                let block = parse_u32(block).ok_or("BRDA block is not an integer")?;
                let branch = if is_digits(branch) {
                    BranchId::Index(parse_u32(branch).ok_or("BRDA branch number is too large")?)
                } else if branch.is_empty() {
                    return Err("BRDA branch is empty");
                } else {
                    BranchId::Expr(utf8_name(branch)?.into())
                };
                let taken = if taken == b"-" {
                    None
                } else {
                    Some(parse_hits(taken).ok_or("BRDA taken count is neither an integer nor -")?)
                };
                report.file_mut(id).add_branch(BranchKey { line: line_no, exception, block, branch }, taken);
            }
            b"LF" | b"LH" | b"FNF" | b"FNH" | b"BRF" | b"BRH" => {
                self.current()?;
                parse_hits(value).ok_or("summary count is not an integer")?;
            }
            // The test name and the source version do not take part in a merge.
            b"TN" | b"VER" => {}
            _ if !key.is_empty() && key.iter().all(u8::is_ascii_uppercase) => {
                // A record type from a newer lcov (e.g. MCDC): well formed, just not merged.
                tracing::debug!(input = self.input, line = self.stats.lines, "unknown lcov record skipped");
            }
            _ => return Err("unknown record key"),
        }
        self.stats.records += 1;
        Ok(())
    }
}

/// Parses a whole in-memory buffer into `report`.
pub fn parse_bytes(
    input: &str,
    data: &[u8],
    options: &ParseOptions,
    report: &mut Report,
) -> Result<ParseStats, CoverageError> {
    let mut parser = Parser::new(input, options);
    parser.feed(report, data)?;
    parser.finish(report)
}

/// Streams `reader` through the parser in chunks, so that a huge tracefile (or a zip entry
/// being inflated) never has to be held in memory whole.
pub fn parse_reader<R: Read>(
    input: &str,
    reader: R,
    options: &ParseOptions,
    report: &mut Report,
) -> Result<ParseStats, CoverageError> {
    parse_reader_with_buffer(input, reader, options, report, &mut Vec::new())
}

/// [`parse_reader`] with a caller-owned read buffer. A worker reuses one buffer for all its
/// inputs: a fresh multi-megabyte buffer per input fragments the heap between the report's
/// small allocations and makes the peak memory grow with the number of inputs.
pub fn parse_reader_with_buffer<R: Read>(
    input: &str,
    mut reader: R,
    options: &ParseOptions,
    report: &mut Report,
    buf: &mut Vec<u8>,
) -> Result<ParseStats, CoverageError> {
    let mut parser = Parser::new(input, options);
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            // One line longer than the buffer: make room rather than split it.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match reader.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(source) => return Err(read_error(input, source)),
        };
        if n == 0 {
            parser.feed(report, &buf[..filled])?;
            return parser.finish(report);
        }
        filled += n;
        if let Some(newline) = memrchr(b'\n', &buf[..filled]) {
            parser.feed(report, &buf[..=newline])?;
            buf.copy_within(newline + 1..filled, 0);
            filled -= newline + 1;
        }
    }
}

/// A read failure. Zip decompression problems surface here as `InvalidData`-style errors.
fn read_error(input: &str, source: std::io::Error) -> CoverageError {
    CoverageError::Io { input: input.to_owned(), source }
}

fn split_comma(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let comma = memchr(b',', bytes)?;
    Some((&bytes[..comma], &bytes[comma + 1..]))
}

fn is_digits(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
}

fn parse_u32(bytes: &[u8]) -> Option<u32> {
    if !is_digits(bytes) {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, &b| acc.checked_mul(10)?.checked_add(u32::from(b - b'0')))
}

/// A 1-based line number.
fn parse_line(bytes: &[u8]) -> Option<u32> {
    parse_u32(bytes).filter(|&line| line > 0)
}

/// A hit count: counts past `u64::MAX` saturate, and negative counts (gcov's counter races
/// produce them) mean "instrumented, not hit", as in grcov.
fn parse_hits(bytes: &[u8]) -> Option<u64> {
    if let [b'-', digits @ ..] = bytes {
        return is_digits(digits).then_some(0);
    }
    if !is_digits(bytes) {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, &b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

/// A function name, or the reason it is not one.
fn utf8_name(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, &'static str> {
    if bytes.is_empty() {
        return Err("empty function name");
    }
    // Names are almost always ASCII; a stray Latin-1 byte should not lose the record.
    Ok(String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_parsers() {
        assert_eq!(parse_hits(b"42"), Some(42));
        assert_eq!(parse_hits(b"-3"), Some(0));
        assert_eq!(parse_hits(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_hits(b"1.5"), None);
        assert_eq!(parse_hits(b""), None);
        assert_eq!(parse_hits(b"-"), None);
        assert_eq!(parse_line(b"0"), None);
        assert_eq!(parse_line(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_line(b"4294967296"), None);
    }
}
