//! The streaming reader of coverage uploads: the report's key and its covdir tree, read from a
//! `Read` as the body arrives, in bounded memory whatever the size of the report.
//!
//! Each directory and file becomes a [`PathRow`] as soon as it is read, written to a
//! [`RowSpool`] (an unnamed temporary file) rather than kept in memory; a file's per-line hits go
//! straight from the JSON into its compressed array. Totals are recomputed from the per-line
//! data and the declared ones must match them, so that no counter can wrap or lie. Every string
//! and every other JSON token is bounded ([`MAX_TOKEN_BYTES`]), as are the lines of a file and
//! the zero-coverage list; nesting is bounded by serde_json's recursion limit.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use shipit_shared::api_types::coverage::ZeroCoverageFile;

use crate::db::coverage::PathRow;
use crate::error::ApiError;

/// The longest string, number or other JSON token of an upload, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// The most lines one file may have.
pub const MAX_FILE_LINES: usize = 2_000_000;
/// The most entries of the zero-coverage list.
pub const MAX_ZERO_COVERAGE_FILES: usize = 200_000;
/// The longest name of a directory or file, in bytes.
const MAX_NAME_BYTES: usize = 255;

/// The key and metadata of an uploaded report, and where its rows are.
#[derive(Debug)]
pub struct ParsedUpload {
    pub repository: String,
    pub revision: String,
    pub push_id: i64,
    pub push_date: DateTime<Utc>,
    pub suite: String,
    pub platform: String,
    pub zero_coverage: Vec<ZeroCoverageFile>,
    /// The totals of the root.
    pub root: Totals,
    /// Every directory and file, children before their parent.
    pub rows: RowSpool,
}

/// Line totals of a node, as recomputed from its lines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub lines_total: i64,
    pub lines_covered: i64,
}

impl Totals {
    fn missed(self) -> i64 {
        self.lines_total - self.lines_covered
    }

    /// The percentage rounded to 2 decimals, as grcov and the coverage bot compute it.
    pub fn percent(self) -> f64 {
        if self.lines_total == 0 {
            return 0.0;
        }
        (self.lines_covered as f64 / self.lines_total as f64 * 10_000.0).round() / 100.0
    }

    fn add(self, other: Self) -> Option<Self> {
        Some(Self {
            lines_total: self.lines_total.checked_add(other.lines_total)?,
            lines_covered: self.lines_covered.checked_add(other.lines_covered)?,
        })
    }
}

/// Reads an upload from `reader`, which yields at most `limit_bytes` (a 413 past them).
/// Malformed JSON, a wrong field or totals that disagree with the lines are a 400 naming the
/// field.
pub fn read_upload(reader: impl Read, limit_bytes: usize) -> Result<ParsedUpload, ApiError> {
    let spool = RowSpool::new().map_err(spool_error)?;
    let reader = BufReader::with_capacity(64 * 1024, Guarded::new(reader, limit_bytes));
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut state = State { spool, failure: None };
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(&mut deserializer, &mut track);
    let result = UploadSeed { state: &mut state }.deserialize(tracked);
    if let Some(error) = state.failure.take() {
        return Err(spool_error(error));
    }
    let upload = result.map_err(|error| {
        let field = track.path().to_string();
        match read_error(&error, limit_bytes) {
            Some(problem) => problem,
            None if field == "." => ApiError::bad_request(format!("invalid report: {error}")),
            None => ApiError::invalid_field(field, format!("invalid report: {error}")),
        }
    })?;
    deserializer.end().map_err(|error| {
        read_error(&error, limit_bytes).unwrap_or_else(|| ApiError::bad_request(format!("invalid report: {error}")))
    })?;
    Ok(ParsedUpload { rows: state.spool, ..upload })
}

/// The answer to an error of the reader rather than of the report's content.
fn read_error(error: &serde_json::Error, limit_bytes: usize) -> Option<ApiError> {
    Some(match error.io_error_kind()? {
        io::ErrorKind::FileTooLarge => ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("the report is larger than {limit_bytes} bytes once decompressed"),
        ),
        io::ErrorKind::InvalidData => ApiError::bad_request(format!("invalid report: {error}")),
        _ => ApiError::bad_request(format!("cannot read the body: {error}")),
    })
}

fn spool_error(error: io::Error) -> ApiError {
    tracing::error!(%error, "cannot spool a coverage upload");
    ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

struct State {
    spool: RowSpool,
    /// A failure to write the spool, told apart from the report's own errors.
    failure: Option<io::Error>,
}

impl State {
    fn push<E: de::Error>(&mut self, row: &PathRow) -> Result<(), E> {
        self.spool.push(row).map_err(|error| {
            self.failure = Some(error);
            E::custom("cannot store the report")
        })
    }
}

struct UploadSeed<'a> {
    state: &'a mut State,
}

impl<'de> DeserializeSeed<'de> for UploadSeed<'_> {
    type Value = ParsedUpload;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

const UPLOAD_FIELDS: &[&str] =
    &["repository", "revision", "push_id", "push_date", "suite", "platform", "covdir", "zero_coverage"];

impl<'de> Visitor<'de> for UploadSeed<'_> {
    type Value = ParsedUpload;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a coverage upload")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut repository, mut revision, mut push_id, mut push_date) = (None, None, None, None);
        let (mut suite, mut platform, mut root, mut zero_coverage) = (None, None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "repository" => repository = Some(checked_text(map.next_value::<String>()?)?),
                "revision" => revision = Some(checked_text(map.next_value::<String>()?)?),
                "push_id" => push_id = Some(map.next_value::<i64>()?),
                "push_date" => push_date = Some(map.next_value::<DateTime<Utc>>()?),
                "suite" => suite = Some(checked_text(map.next_value::<String>()?)?),
                "platform" => platform = Some(checked_text(map.next_value::<String>()?)?),
                "covdir" if root.is_none() => {
                    let seed = NodeSeed { state: &mut *self.state, path: String::new(), parent: None };
                    root = Some(map.next_value_seed(seed)?);
                }
                "zero_coverage" => zero_coverage = Some(map.next_value_seed(ZeroCoverageSeed)?),
                "covdir" => return Err(de::Error::duplicate_field("covdir")),
                other => return Err(de::Error::unknown_field(other, UPLOAD_FIELDS)),
            }
        }
        let missing = |field| de::Error::missing_field(field);
        Ok(ParsedUpload {
            repository: repository.ok_or_else(|| missing("repository"))?,
            revision: revision.ok_or_else(|| missing("revision"))?,
            push_id: push_id.ok_or_else(|| missing("push_id"))?,
            push_date: push_date.ok_or_else(|| missing("push_date"))?,
            suite: suite.ok_or_else(|| missing("suite"))?,
            platform: platform.ok_or_else(|| missing("platform"))?,
            zero_coverage: zero_coverage.unwrap_or_default(),
            root: root.ok_or_else(|| missing("covdir"))?,
            rows: RowSpool::default(),
        })
    }
}

fn checked_text<E: de::Error>(text: String) -> Result<String, E> {
    if text.contains('\0') {
        return Err(E::custom("text may not contain NUL characters"));
    }
    Ok(text)
}

/// A node of the tree at `path`: read, checked, stored; its totals returned to its parent.
struct NodeSeed<'a> {
    state: &'a mut State,
    path: String,
    parent: Option<String>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Totals;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

const NODE_FIELDS: &[&str] =
    &["name", "linesTotal", "linesCovered", "linesMissed", "coveragePercent", "coverage", "children"];

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Totals;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a covdir node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let NodeSeed { state, path, parent } = self;
        let (mut name, mut declared_total, mut declared_covered, mut declared_missed) = (None, None, None, None);
        let mut percent_seen = false;
        let mut file: Option<(Totals, Vec<u8>)> = None;
        let mut directory: Option<(Totals, i64)> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => name = Some(checked_text(map.next_value::<String>()?)?),
                "linesTotal" => declared_total = Some(map.next_value::<u64>()?),
                "linesCovered" => declared_covered = Some(map.next_value::<u64>()?),
                "linesMissed" => declared_missed = Some(map.next_value::<u64>()?),
                // Recomputed from the lines.
                "coveragePercent" => {
                    map.next_value::<f64>()?;
                    percent_seen = true;
                }
                "coverage" if file.is_none() => file = Some(map.next_value_seed(LinesSeed)?),
                "children" if directory.is_none() => {
                    let seed = ChildrenSeed { state: &mut *state, path: &path };
                    directory = Some(map.next_value_seed(seed)?);
                }
                "coverage" | "children" => return Err(de::Error::custom(format!("`{key}` is given twice"))),
                other => return Err(de::Error::unknown_field(other, NODE_FIELDS)),
            }
        }
        let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
        if !percent_seen {
            return Err(de::Error::missing_field("coveragePercent"));
        }
        let (kind, totals, children, lines) = match (file, directory) {
            (Some((totals, lines)), None) => ("file", totals, None, Some(lines)),
            (None, Some((totals, children))) => ("directory", totals, Some(children), None),
            _ => return Err(de::Error::custom("a node has either `coverage` (a file) or `children` (a directory)")),
        };
        let declared =
            [("linesTotal", declared_total), ("linesCovered", declared_covered), ("linesMissed", declared_missed)];
        let actual = [totals.lines_total, totals.lines_covered, totals.missed()];
        for ((field, declared), actual) in declared.into_iter().zip(actual) {
            let declared = declared.ok_or_else(|| de::Error::missing_field(field))?;
            if i64::try_from(declared) != Ok(actual) {
                return Err(de::Error::custom(format!("{field} is {declared} where the {kind}'s lines give {actual}")));
            }
        }
        let row = PathRow {
            path,
            parent,
            kind,
            name,
            lines_total: totals.lines_total,
            lines_covered: totals.lines_covered,
            lines_missed: totals.missed(),
            coverage_percent: totals.percent(),
            children,
            lines,
        };
        state.push(&row)?;
        Ok(totals)
    }
}

/// The children of a directory: each one read and stored; their totals summed.
struct ChildrenSeed<'a> {
    state: &'a mut State,
    path: &'a str,
}

impl<'de> DeserializeSeed<'de> for ChildrenSeed<'_> {
    type Value = (Totals, i64);

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ChildrenSeed<'_> {
    type Value = (Totals, i64);

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("the children of a directory, by name")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut totals, mut count) = (Totals::default(), 0i64);
        while let Some(name) = map.next_key::<String>()? {
            let valid = !name.is_empty()
                && name.len() <= MAX_NAME_BYTES
                && name != "."
                && name != ".."
                && !name.contains(['/', '\0']);
            if !valid {
                return Err(de::Error::custom(format!(
                    "invalid child name {name:?}: 1 to {MAX_NAME_BYTES} bytes, no `/`, not `.` or `..`"
                )));
            }
            let path = if self.path.is_empty() { name } else { format!("{}/{name}", self.path) };
            let seed = NodeSeed { state: &mut *self.state, path, parent: Some(self.path.to_owned()) };
            let child = map.next_value_seed(seed)?;
            totals = totals.add(child).ok_or_else(|| de::Error::custom("the directory's totals overflow"))?;
            count += 1;
        }
        Ok((totals, count))
    }
}

/// A file's per-line hits (-1 where a line cannot be covered): counted, and compressed as they
/// come into the stored JSON array.
struct LinesSeed;

impl<'de> DeserializeSeed<'de> for LinesSeed {
    type Value = (Totals, Vec<u8>);

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LinesSeed {
    type Value = (Totals, Vec<u8>);

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of hit counts, -1 for lines that cannot be covered")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
        let mut totals = Totals::default();
        let mut lines = 0usize;
        let write = |encoder: &mut DeflateEncoder<Vec<u8>>, bytes: &[u8]| {
            encoder.write_all(bytes).map_err(|error| de::Error::custom(error.to_string()))
        };
        write(&mut encoder, b"[")?;
        while let Some(hits) = seq.next_element::<i64>()? {
            if hits < -1 {
                return Err(de::Error::custom(format!("line {}: {hits} hits; a count is -1 or more", lines + 1)));
            }
            lines += 1;
            if lines > MAX_FILE_LINES {
                return Err(de::Error::custom(format!("a file has at most {MAX_FILE_LINES} lines")));
            }
            if lines > 1 {
                write(&mut encoder, b",")?;
            }
            write(&mut encoder, hits.to_string().as_bytes())?;
            if hits >= 0 {
                totals.lines_total += 1;
                totals.lines_covered += i64::from(hits > 0);
            }
        }
        write(&mut encoder, b"]")?;
        let compressed = encoder.finish().map_err(|error| de::Error::custom(error.to_string()))?;
        Ok((totals, compressed))
    }
}

/// The zero-coverage list, at most [`MAX_ZERO_COVERAGE_FILES`] entries.
struct ZeroCoverageSeed;

impl<'de> DeserializeSeed<'de> for ZeroCoverageSeed {
    type Value = Vec<ZeroCoverageFile>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ZeroCoverageSeed {
    type Value = Vec<ZeroCoverageFile>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list of files without covered lines")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut files = Vec::new();
        while let Some(file) = seq.next_element::<ZeroCoverageFile>()? {
            if files.len() == MAX_ZERO_COVERAGE_FILES {
                return Err(de::Error::custom(format!("at most {MAX_ZERO_COVERAGE_FILES} zero-coverage files")));
            }
            checked_text::<A::Error>(file.name.clone())?;
            files.push(file);
        }
        // Whatever follows is not read into memory.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(files)
    }
}

/// A reader that yields at most `limit` bytes (an `ErrorKind::FileTooLarge` error past them)
/// and refuses, with `ErrorKind::InvalidData`, any JSON string or other token longer than
/// [`MAX_TOKEN_BYTES`]: serde_json buffers a whole token, so a bounded token bounds its memory.
struct Guarded<R> {
    inner: R,
    limit: usize,
    read: usize,
    in_string: bool,
    escaped: bool,
    token: usize,
}

impl<R> Guarded<R> {
    fn new(inner: R, limit: usize) -> Self {
        Self { inner, limit, read: 0, in_string: false, escaped: false, token: 0 }
    }

    fn scan(&mut self, bytes: &[u8]) -> io::Result<()> {
        for &byte in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                    self.token = 0;
                    continue;
                }
            } else {
                match byte {
                    b'"' => {
                        self.in_string = true;
                        self.token = 0;
                        continue;
                    }
                    b'{' | b'}' | b'[' | b']' | b',' | b':' | b' ' | b'\n' | b'\r' | b'\t' => {
                        self.token = 0;
                        continue;
                    }
                    _ => {}
                }
            }
            self.token += 1;
            if self.token > MAX_TOKEN_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a string or value is longer than {MAX_TOKEN_BYTES} bytes"),
                ));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.read += count;
        if self.read > self.limit {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "the report is too large"));
        }
        self.scan(&buffer[..count])?;
        Ok(count)
    }
}

/// Rows written to an unnamed temporary file as they are read, and read back in the same order
/// to be stored: memory holds one row at a time.
#[derive(Debug, Default)]
pub struct RowSpool {
    file: Option<io::BufWriter<std::fs::File>>,
    count: u64,
}

impl RowSpool {
    fn new() -> io::Result<Self> {
        Ok(Self { file: Some(io::BufWriter::new(tempfile::tempfile()?)), count: 0 })
    }

    /// How many rows it holds.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn push(&mut self, row: &PathRow) -> io::Result<()> {
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("no spool file"))?;
        encode(file, row)?;
        self.count += 1;
        Ok(())
    }

    /// Hands every row, in order, to `each`; stops at the first error.
    pub fn replay<E: From<io::Error>>(self, mut each: impl FnMut(PathRow) -> Result<(), E>) -> Result<(), E> {
        let Some(file) = self.file else { return Ok(()) };
        let mut file = file.into_inner().map_err(|error| error.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        let mut reader = BufReader::new(file);
        for _ in 0..self.count {
            each(decode(&mut reader)?)?;
        }
        Ok(())
    }
}

fn encode(out: &mut impl Write, row: &PathRow) -> io::Result<()> {
    fn bytes(out: &mut impl Write, value: &[u8]) -> io::Result<()> {
        out.write_all(&(value.len() as u64).to_le_bytes())?;
        out.write_all(value)
    }
    bytes(out, row.path.as_bytes())?;
    match &row.parent {
        Some(parent) => {
            out.write_all(&[1])?;
            bytes(out, parent.as_bytes())?;
        }
        None => out.write_all(&[0])?,
    }
    out.write_all(&[u8::from(row.kind == "file")])?;
    bytes(out, row.name.as_bytes())?;
    for number in [row.lines_total, row.lines_covered, row.lines_missed] {
        out.write_all(&number.to_le_bytes())?;
    }
    out.write_all(&row.coverage_percent.to_le_bytes())?;
    out.write_all(&row.children.unwrap_or(-1).to_le_bytes())?;
    match &row.lines {
        Some(lines) => {
            out.write_all(&[1])?;
            bytes(out, lines)
        }
        None => out.write_all(&[0]),
    }
}

fn decode(input: &mut impl BufRead) -> io::Result<PathRow> {
    fn byte(input: &mut impl Read) -> io::Result<u8> {
        let mut value = [0u8; 1];
        input.read_exact(&mut value)?;
        Ok(value[0])
    }
    fn eight(input: &mut impl Read) -> io::Result<[u8; 8]> {
        let mut value = [0u8; 8];
        input.read_exact(&mut value)?;
        Ok(value)
    }
    fn bytes(input: &mut impl Read) -> io::Result<Vec<u8>> {
        let length = u64::from_le_bytes(eight(input)?) as usize;
        let mut value = vec![0u8; length];
        input.read_exact(&mut value)?;
        Ok(value)
    }
    fn text(input: &mut impl Read) -> io::Result<String> {
        String::from_utf8(bytes(input)?).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }
    let path = text(input)?;
    let parent = if byte(input)? == 1 { Some(text(input)?) } else { None };
    let kind = if byte(input)? == 1 { "file" } else { "directory" };
    let name = text(input)?;
    let lines_total = i64::from_le_bytes(eight(input)?);
    let lines_covered = i64::from_le_bytes(eight(input)?);
    let lines_missed = i64::from_le_bytes(eight(input)?);
    let coverage_percent = f64::from_le_bytes(eight(input)?);
    let children = Some(i64::from_le_bytes(eight(input)?)).filter(|&count| count >= 0);
    let lines = if byte(input)? == 1 { Some(bytes(input)?) } else { None };
    Ok(PathRow {
        path,
        parent,
        kind,
        name,
        lines_total,
        lines_covered,
        lines_missed,
        coverage_percent,
        children,
        lines,
    })
}

/// Reads an upload held in memory (tests and the fuzz target).
pub fn read_upload_slice(bytes: &[u8]) -> Result<(ParsedUpload, Vec<PathRow>), ApiError> {
    let mut upload = read_upload(bytes, usize::MAX)?;
    let mut rows = Vec::new();
    let spool = std::mem::take(&mut upload.rows);
    spool
        .replay(|row| -> Result<(), io::Error> {
            rows.push(row);
            Ok(())
        })
        .map_err(spool_error)?;
    Ok((upload, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upload(covdir: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "repository": "mozilla-central", "revision": "a".repeat(40), "push_id": 1,
            "push_date": "2026-01-01T00:00:00Z", "suite": "all", "platform": "all", "covdir": covdir,
        }))
        .unwrap()
    }

    fn file(name: &str, coverage: &[i64], total: u64, covered: u64) -> serde_json::Value {
        json!({"name": name, "coverage": coverage, "linesTotal": total, "linesCovered": covered,
            "linesMissed": total - covered, "coveragePercent": 0.0})
    }

    #[test]
    fn totals_are_recomputed_from_the_lines_and_rows_come_children_first() {
        let tree = json!({"name": "", "linesTotal": 3, "linesCovered": 2, "linesMissed": 1, "coveragePercent": 1.0,
            "children": {"a.c": file("a.c", &[-1, 2, 0], 2, 1), "b.c": file("b.c", &[5], 1, 1)}});
        let (parsed, rows) = read_upload_slice(&upload(tree)).unwrap();
        assert_eq!(parsed.root, Totals { lines_total: 3, lines_covered: 2 });
        let paths: Vec<&str> = rows.iter().map(|row| row.path.as_str()).collect();
        assert_eq!(paths, ["a.c", "b.c", ""]);
        assert_eq!(rows[2].coverage_percent, 66.67);
        assert_eq!((rows[0].parent.as_deref(), rows[2].children), (Some(""), Some(2)));
    }

    #[test]
    fn declared_totals_that_disagree_with_the_lines_are_refused_naming_the_node() {
        let wrapped = json!({"name": "", "linesTotal": 1, "linesCovered": u64::MAX, "linesMissed": 0,
            "coveragePercent": 1.0, "children": {"a.c": file("a.c", &[1], 1, 1)}});
        let error = read_upload_slice(&upload(wrapped)).unwrap_err();
        assert_eq!(error.problem().field.as_deref(), Some("covdir"), "{:?}", error.problem());
        let lying = json!({"name": "", "linesTotal": 1, "linesCovered": 1, "linesMissed": 0,
            "coveragePercent": 1.0, "children": {"a.c": file("a.c", &[0], 1, 1)}});
        let error = read_upload_slice(&upload(lying)).unwrap_err();
        assert_eq!(error.problem().field.as_deref(), Some("covdir.children.a.c"), "{:?}", error.problem());
    }

    #[test]
    fn long_tokens_and_oversized_bodies_are_refused_before_they_are_buffered() {
        let long = upload(json!({"name": "x".repeat(MAX_TOKEN_BYTES + 1)}));
        assert_eq!(read_upload_slice(&long).unwrap_err().status(), 400);
        let digits = format!("{{\"push_id\": {}}}", "1".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(read_upload_slice(digits.as_bytes()).unwrap_err().status(), 400);
        let body = upload(json!({"name": "", "linesTotal": 0, "linesCovered": 0, "linesMissed": 0,
            "coveragePercent": 0.0, "children": {}}));
        assert!(read_upload(&body[..], body.len()).is_ok());
        assert_eq!(read_upload(&body[..], body.len() - 1).unwrap_err().status(), 413);
    }

    #[test]
    fn spooled_rows_read_back_equal() {
        let mut spool = RowSpool::new().unwrap();
        let row = PathRow {
            path: "a/b.c".into(),
            parent: Some("a".into()),
            kind: "file",
            name: "b.c".into(),
            lines_total: 3,
            lines_covered: 1,
            lines_missed: 2,
            coverage_percent: 33.33,
            children: None,
            lines: Some(vec![1, 2, 3]),
        };
        let root = PathRow {
            path: String::new(),
            parent: None,
            kind: "directory",
            children: Some(1),
            lines: None,
            ..row.clone()
        };
        spool.push(&row).unwrap();
        spool.push(&root).unwrap();
        let mut back = Vec::new();
        spool
            .replay(|row| -> io::Result<()> {
                back.push(row);
                Ok(())
            })
            .unwrap();
        assert_eq!(back, [row, root]);
    }
}
