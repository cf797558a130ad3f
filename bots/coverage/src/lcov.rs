//! lcov tracefile parser.
//!
//! Reads the whole lcov grammar (`TN`, `SF`, `VER`, `FN` in both forms, `FNL`/`FNA`, `FNDA`,
//! `FNF`, `FNH`, `BRDA`, `BRF`, `BRH`, `DA` with an optional checksum, `LF`, `LH`,
//! `end_of_record`) straight from byte buffers into a [`RecordSink`] (a [`crate::Report`], or
//! the [`crate::model::SharedReport`] of a parallel merge), without allocating per line.
//! Summary records (`LF`, `FNF`, ...) are checked for shape and otherwise ignored: the writers
//! recompute them.

use std::io::{ErrorKind, Read};

use memchr::{memchr, memrchr};
use rustc_hash::FxHashMap;

use crate::error::CoverageError;
use crate::model::{BranchId, BranchKey, FileRecord, FnLocation, Function, RecordSink};
use crate::paths::{PrefixMap, normalize};

/// How many malformed-record warnings one input logs before going quiet (all are counted).
const MAX_WARNINGS_PER_INPUT: u64 = 20;

/// The largest line number accepted, far above any real source file (the largest generated
/// sources have about a million lines). A record with a larger one is malformed: covdir writes
/// one array entry per line up to the last, so a single bogus `DA:4000000000,1` would otherwise
/// make a 12 GB report (grcov runs out of memory on it).
pub const MAX_LINE: u32 = 1 << 24;

/// The most components a source path may have (real ones have a few dozen at most). covdir
/// nests one JSON object per directory, and writing it (like dropping its tree) recurses once
/// per level: a path of 100,000 components would overflow the stack.
pub const MAX_PATH_DEPTH: usize = 256;

/// Size of the read buffer when streaming an input.
const CHUNK: usize = 1 << 20;

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
/// [`Parser::finish`]. Each `SF` section is gathered in a [`FileRecord`] and handed to the sink
/// when it ends (at `end_of_record`, at the next `SF`, or at the end of the input).
pub struct Parser<'a> {
    input: &'a str,
    options: &'a ParseOptions,
    /// The normalised path of the current section, `None` outside of one.
    path: Option<String>,
    record: FileRecord,
    /// `FNL` locations of the current record, by function index, for the `FNA` lines after them.
    fn_locations: FxHashMap<u32, FnLocation>,
    stats: ParseStats,
}

impl<'a> Parser<'a> {
    /// `input` names the source in messages (a path, or `archive.zip!entry.info`).
    pub fn new(input: &'a str, options: &'a ParseOptions) -> Self {
        Self {
            input,
            options,
            path: None,
            record: FileRecord::default(),
            fn_locations: FxHashMap::default(),
            stats: ParseStats::default(),
        }
    }

    /// Parses `data`, which must hold whole lines (the last one may lack its newline).
    pub fn feed<S: RecordSink + ?Sized>(&mut self, sink: &mut S, data: &[u8]) -> Result<(), CoverageError> {
        self.stats.bytes += data.len() as u64;
        let mut pos = 0;
        // Lines read by the fast paths, added to the stats before anything else looks at them:
        // a local counter stays in a register, a field is stored on every line.
        let mut fast = 0;
        while pos < data.len() {
            // Most lines are plain `DA:<line>,<hits>`: read them in one pass that finds the
            // end of the line while parsing the numbers. Anything unusual takes the general
            // path below, which accepts the whole grammar.
            if self.path.is_some() {
                if let Some((line, hits, next)) = fast_da(data, pos) {
                    self.record.add_line(line, hits);
                    fast += 1;
                    pos = next;
                    continue;
                }
                // Plain numeric branches are the second most common record.
                if let Some((key, taken, next)) = fast_brda(data, pos) {
                    self.record.add_branch(key, taken);
                    fast += 1;
                    pos = next;
                    continue;
                }
            }
            self.stats.lines += fast;
            self.stats.records += fast;
            fast = 0;
            let end = memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
            let mut line = &data[pos..end];
            pos = end + 1;
            self.stats.lines += 1;
            // `\r\n` endings; all trailing `\r` go, or a name ending in `\r` would lose one each
            // time it is written out and read back.
            while let [head @ .., b'\r'] = line {
                line = head;
            }
            if line.is_empty() {
                continue;
            }
            // The fast path only accepts digits, so binary data always ends up here.
            if memchr(0, line).is_some() {
                return Err(self.not_lcov("it contains binary data (NUL bytes)"));
            }
            if let Err(message) = self.record(sink, line) {
                self.malformed(message)?;
            }
        }
        self.stats.lines += fast;
        self.stats.records += fast;
        Ok(())
    }

    /// Hands the current section (if any) to the sink.
    fn end_section<S: RecordSink + ?Sized>(&mut self, sink: &mut S) {
        if let Some(path) = self.path.take() {
            sink.add_record(&path, &mut self.record);
        }
        self.record.clear();
        self.fn_locations.clear();
    }

    /// Ends the input. An input that had lines but not one valid record is not lcov at all.
    pub fn finish<S: RecordSink + ?Sized>(mut self, sink: &mut S) -> Result<ParseStats, CoverageError> {
        self.end_section(sink);
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

    /// Checks that a record is inside an `SF` section.
    fn in_section(&self) -> Result<(), &'static str> {
        if self.path.is_some() { Ok(()) } else { Err("record outside of an SF section") }
    }

    /// Parses one non-empty line. The error is the reason it is malformed.
    fn record<S: RecordSink + ?Sized>(&mut self, sink: &mut S, line: &[u8]) -> Result<(), &'static str> {
        let Some(colon) = memchr(b':', line) else {
            if line == b"end_of_record" {
                self.end_section(sink);
                self.stats.records += 1;
                return Ok(());
            }
            return Err("not a `KEY:value` record");
        };
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        match key {
            b"DA" => {
                self.in_section()?;
                let (line_no, rest) = split_comma(value).ok_or("DA needs <line>,<hits>")?;
                let line_no = parse_line(line_no).ok_or("DA line number is not a line number (1 to 2^24)")?;
                // An optional checksum may follow the count; it is not kept.
                let hits = split_comma(rest).map_or(rest, |(hits, _checksum)| hits);
                let hits = parse_hits(hits).ok_or("DA hit count is not an integer")?;
                self.record.add_line(line_no, hits);
            }
            b"SF" => {
                // A record missing its end_of_record still keeps its lines.
                self.end_section(sink);
                if value.is_empty() {
                    return Err("SF without a path");
                }
                let mut path = self.options.prefix_map.apply(&utf8(value));
                // Normalising `a\r/` leaves a trailing `\r`, which would read back as a line
                // ending once the path is written out: drop it like the line's own, and
                // normalise again in case that leaves a trailing `/` (`a/\r` is `a/`).
                while path.ends_with('\r') {
                    path = normalize(path.trim_end_matches('\r'));
                }
                if path.is_empty() || path == "/" {
                    return Err("SF path names no file");
                }
                if path.split('/').count() > MAX_PATH_DEPTH {
                    return Err("SF path has too many components");
                }
                self.path = Some(path);
            }
            b"FNDA" => {
                self.in_section()?;
                let (hits, name) = split_comma(value).ok_or("FNDA needs <hits>,<name>")?;
                let hits = parse_hits(hits).ok_or("FNDA hit count is not an integer")?;
                self.record.add_function(non_empty(name)?, Function { location: None, hits });
            }
            b"FN" => {
                self.in_section()?;
                // `FN:<start>,<name>` or `FN:<start>,<end>,<name>`: like lcov, a second field that
                // is all digits and followed by a comma is the end line.
                let (start, rest) = split_comma(value).ok_or("FN needs <line>,<name>")?;
                let start = parse_line(start).ok_or("FN line is not a line number (1 to 2^24)")?;
                let (end, name) = match split_comma(rest) {
                    Some((end, name)) if is_digits(end) => {
                        (Some(parse_line(end).ok_or("FN end line is not a line number (1 to 2^24)")?), name)
                    }
                    _ => (None, rest),
                };
                let location = Some(FnLocation { start, end });
                self.record.add_function(non_empty(name)?, Function { location, hits: 0 });
            }
            b"FNL" => {
                self.in_section()?;
                // FNL:<index>,<start>[,<end>]
                let (index, rest) = split_comma(value).ok_or("FNL needs <index>,<start>[,<end>]")?;
                let index = parse_u32(index).ok_or("FNL index is not an integer")?;
                let (start, end) = match split_comma(rest) {
                    Some((start, end)) => {
                        (start, Some(parse_line(end).ok_or("FNL end line is not a line number (1 to 2^24)")?))
                    }
                    None => (rest, None),
                };
                let start = parse_line(start).ok_or("FNL start line is not a line number (1 to 2^24)")?;
                self.fn_locations.insert(index, FnLocation { start, end });
            }
            b"FNA" => {
                self.in_section()?;
                // FNA:<index>,<hits>,<name>: one line per alias of the function at <index>.
                let (index, rest) = split_comma(value).ok_or("FNA needs <index>,<hits>,<name>")?;
                let (hits, name) = split_comma(rest).ok_or("FNA needs <index>,<hits>,<name>")?;
                let index = parse_u32(index).ok_or("FNA index is not an integer")?;
                let hits = parse_hits(hits).ok_or("FNA hit count is not an integer")?;
                let location = *self.fn_locations.get(&index).ok_or("FNA refers to an index with no FNL")?;
                self.record.add_function(non_empty(name)?, Function { location: Some(location), hits });
            }
            b"BRDA" => {
                self.in_section()?;
                // BRDA:<line>,[e]<block>,<branch>,<taken>; lcov 2.x branch expressions may hold
                // commas, so the count is after the last comma.
                let (line_no, rest) = split_comma(value).ok_or("BRDA needs 4 fields")?;
                let (block, rest) = split_comma(rest).ok_or("BRDA needs 4 fields")?;
                let comma = memrchr(b',', rest).ok_or("BRDA needs 4 fields")?;
                let (branch, taken) = (&rest[..comma], &rest[comma + 1..]);
                let line_no = parse_line(line_no).ok_or("BRDA line is not a line number (1 to 2^24)")?;
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
                    BranchId::Expr(utf8(branch).into())
                };
                let taken = if taken == b"-" {
                    None
                } else {
                    Some(parse_hits(taken).ok_or("BRDA taken count is neither an integer nor -")?)
                };
                self.record.add_branch(BranchKey { line: line_no, exception, block, branch }, taken);
            }
            b"LF" | b"LH" | b"FNF" | b"FNH" | b"BRF" | b"BRH" => {
                self.in_section()?;
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

/// Reads a plain `DA:<line>,<hits>\n` line starting at `pos`: the line number, the count and
/// where the next line starts. `None` for anything else (checksums, `\r\n`, signs, leading
/// zeros that make a number long, ...), which the general path then handles or rejects.
#[inline]
fn fast_da(data: &[u8], pos: usize) -> Option<(u32, u64, usize)> {
    let rest = &data[pos..];
    if !rest.starts_with(b"DA:") {
        return None;
    }
    let (line, after_line) = fast_number(rest, 3, 10)?;
    if line == 0 || line > u64::from(MAX_LINE) || rest.get(after_line) != Some(&b',') {
        return None;
    }
    let (hits, end) = fast_number(rest, after_line + 1, 19)?;
    match rest.get(end) {
        Some(b'\n') => Some((line as u32, hits, pos + end + 1)),
        None => Some((line as u32, hits, data.len())),
        Some(_) => None,
    }
}

/// The value of the first `len` (1 to 7) ASCII digits of `chunk` (the first digit in the lowest
/// byte), combined pairwise: 8 digits in three multiplications.
#[inline]
fn swar_value(chunk: u64, len: usize) -> u64 {
    // Left-align the digits so that the unused bytes become leading zeros.
    let digits = (chunk << (8 * (8 - len))) & 0x0F0F_0F0F_0F0F_0F0F;
    let pairs = (digits.wrapping_mul(10) + (digits >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    (quads.wrapping_mul(10_000) + (quads >> 32)) & 0xFFFF_FFFF
}

/// Reads a plain `BRDA:<line>,<block>,<branch>,<taken>\n` line (all numbers, or `-` for the
/// count) starting at `pos`, like [`fast_da`]; exception blocks, branch expressions and anything
/// else go to the general path.
#[inline]
fn fast_brda(data: &[u8], pos: usize) -> Option<(BranchKey, Option<u64>, usize)> {
    let rest = &data[pos..];
    if !rest.starts_with(b"BRDA:") {
        return None;
    }
    let (line, i) = fast_number(rest, 5, 10)?;
    if line == 0 || line > u64::from(MAX_LINE) || rest.get(i) != Some(&b',') {
        return None;
    }
    let (block, i) = fast_number(rest, i + 1, 10)?;
    if rest.get(i) != Some(&b',') {
        return None;
    }
    let (branch, i) = fast_number(rest, i + 1, 10)?;
    if rest.get(i) != Some(&b',') {
        return None;
    }
    let (taken, end) = if rest.get(i + 1) == Some(&b'-') {
        (None, i + 2)
    } else {
        fast_number(rest, i + 1, 19).map(|(n, end)| (Some(n), end))?
    };
    let next = match rest.get(end) {
        Some(b'\n') => pos + end + 1,
        None => data.len(),
        Some(_) => return None,
    };
    let key = BranchKey {
        line: u32::try_from(line).ok()?,
        exception: false,
        block: u32::try_from(block).ok()?,
        branch: BranchId::Index(u32::try_from(branch).ok()?),
    };
    Some((key, taken, next))
}

/// The decimal number at `rest[start..]` and the index after it; at least one and at most
/// `max_digits` digits (19 digits always fit in a `u64`).
#[inline]
fn fast_number(rest: &[u8], start: usize, max_digits: usize) -> Option<(u64, usize)> {
    // Most numbers are short: read 8 bytes at once and find where the digits end without a
    // branch per digit (they made the digit loop mispredict on every line).
    if let Some(bytes) = rest.get(start..start + 8)
        && let Ok(bytes) = <[u8; 8]>::try_from(bytes)
    {
        let chunk = u64::from_le_bytes(bytes);
        // A byte is a digit when its high nibble is 3 and adding 6 keeps it 3 (at most '9').
        // Bytes before the first non-digit are digits, so no carry reaches it.
        const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
        const THREES: u64 = 0x3030_3030_3030_3030;
        let non_digit = ((chunk & HIGH) ^ THREES) | ((chunk.wrapping_add(0x0606_0606_0606_0606) & HIGH) ^ THREES);
        let len = (non_digit.trailing_zeros() / 8) as usize;
        if len == 0 {
            return None;
        }
        if len < 8 {
            return Some((swar_value(chunk, len), start + len));
        }
    }
    let mut value = 0u64;
    let mut i = start;
    while let Some(&byte) = rest.get(i)
        && byte.is_ascii_digit()
    {
        if i - start == max_digits {
            return None;
        }
        value = value * 10 + u64::from(byte - b'0');
        i += 1;
    }
    (i > start).then_some((value, i))
}

/// Parses a whole in-memory buffer into `report` (a [`crate::Report`], or any other sink).
pub fn parse_bytes<S: RecordSink + ?Sized>(
    input: &str,
    data: &[u8],
    options: &ParseOptions,
    report: &mut S,
) -> Result<ParseStats, CoverageError> {
    let mut parser = Parser::new(input, options);
    parser.feed(report, data)?;
    parser.finish(report)
}

/// Streams `reader` through the parser in chunks, so that a huge tracefile (or a zip entry
/// being inflated) never has to be held in memory whole.
pub fn parse_reader<R: Read, S: RecordSink + ?Sized>(
    input: &str,
    reader: R,
    options: &ParseOptions,
    report: &mut S,
) -> Result<ParseStats, CoverageError> {
    parse_reader_with_buffer(input, reader, options, report, &mut Vec::new())
}

/// [`parse_reader`] with a caller-owned read buffer. A worker reuses one buffer for all its
/// inputs: a fresh multi-megabyte buffer per input fragments the heap between the report's
/// small allocations and makes the peak memory grow with the number of inputs.
pub fn parse_reader_with_buffer<R: Read, S: RecordSink + ?Sized>(
    input: &str,
    mut reader: R,
    options: &ParseOptions,
    report: &mut S,
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

/// A 1-based line number, at most [`MAX_LINE`].
fn parse_line(bytes: &[u8]) -> Option<u32> {
    parse_u32(bytes).filter(|&line| (1..=MAX_LINE).contains(&line))
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

/// A function name as read (converted to text only when it enters a report).
fn non_empty(bytes: &[u8]) -> Result<&[u8], &'static str> {
    if bytes.is_empty() { Err("empty function name") } else { Ok(bytes) }
}

/// `bytes` as text, invalid sequences replaced (names are almost always ASCII; a stray Latin-1
/// byte should not lose the record). The strict check first: on valid text it is
/// much faster than the lossy conversion.
fn utf8(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_numbers_agree_with_the_byte_loop() {
        for text in ["0", "7", "42", "1234567", "12345678", "123456789", "4294967295", "18446744073709551615"] {
            for tail in ["\n", ",5\n", "\nDA:1,1\n", "x", ""] {
                let line = format!("{text}{tail}");
                let expected = text.parse::<u64>().ok().filter(|_| text.len() <= 19).map(|n| (n, text.len()));
                assert_eq!(fast_number(line.as_bytes(), 0, 19), expected, "{line:?}");
            }
        }
        assert_eq!(fast_number(b"x1234567890", 0, 19), None);
        assert_eq!(fast_number(b"12345678901", 0, 10), None, "too many digits");
        assert_eq!(fast_da(b"DA:12,345\nDA:1,1\n", 0), Some((12, 345, 10)));
        assert_eq!(fast_da(b"DA:12,345\r\n", 0), None, "left to the general path");
        assert_eq!(fast_da(b"DA:0,1\n", 0), None);
        assert_eq!(fast_da(b"DA:4294967296,1\n", 0), None);
        assert_eq!(fast_da(b"DA:16777217,1\n", 0), None);
        assert_eq!(fast_brda(b"BRDA:16777217,0,0,1\n", 0), None);
    }

    #[test]
    fn number_parsers() {
        assert_eq!(parse_hits(b"42"), Some(42));
        assert_eq!(parse_hits(b"-3"), Some(0));
        assert_eq!(parse_hits(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_hits(b"1.5"), None);
        assert_eq!(parse_hits(b""), None);
        assert_eq!(parse_hits(b"-"), None);
        assert_eq!(parse_line(b"0"), None);
        assert_eq!(parse_line(b"16777216"), Some(MAX_LINE));
        assert_eq!(parse_line(b"16777217"), None);
        assert_eq!(parse_line(b"4294967295"), None);
        assert_eq!(parse_line(b"4294967296"), None);
    }
}
