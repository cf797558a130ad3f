//! grcov's `covdir` JSON report: a tree of directories down to files, every node carrying
//! `linesTotal`, `linesCovered`, `linesMissed`, `coveragePercent` and `name`, directories their
//! `children` and files a `coverage` array (index 0 is line 1; -1 marks a line that cannot be
//! covered). The JSON is streamed out rather than built as a `serde_json::Value`, which would
//! cost tens of bytes per line on a mozilla-central sized report.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::model::{FileCoverage, Report};

/// Line counts of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    pub total: u64,
    pub covered: u64,
}

impl LineStats {
    pub fn missed(&self) -> u64 {
        self.total - self.covered
    }

    /// The percentage rounded to 2 decimals, computed exactly as grcov does so that the
    /// floating point results (and their JSON spelling) are identical.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        (self.covered as f64 / self.total as f64 * 10_000.0).round() / 100.0
    }
}

#[derive(Default)]
struct Dir<'a> {
    dirs: BTreeMap<&'a str, Dir<'a>>,
    files: BTreeMap<&'a str, (&'a FileCoverage, LineStats)>,
    stats: LineStats,
}

impl<'a> Dir<'a> {
    fn insert(&mut self, path: &'a str, cov: &'a FileCoverage) {
        let stats = LineStats { total: cov.lines.len() as u64, covered: cov.lines.covered() as u64 };
        let (dirs, file) = match path.rsplit_once('/') {
            Some((dirs, file)) => (dirs, file),
            None => ("", path),
        };
        let mut node = &mut *self;
        node.add(stats);
        // An absolute path hangs under a directory named "/", as in grcov.
        if path.starts_with('/') {
            node = node.dirs.entry("/").or_default();
            node.add(stats);
        }
        for part in dirs.split('/').filter(|part| !part.is_empty()) {
            node = node.dirs.entry(part).or_default();
            node.add(stats);
        }
        node.files.insert(file, (cov, stats));
    }

    fn add(&mut self, stats: LineStats) {
        self.stats.total += stats.total;
        self.stats.covered += stats.covered;
    }

    fn write(&self, name: &str, w: &mut impl Write) -> io::Result<()> {
        w.write_all(b"{\"children\":{")?;
        let mut first = true;
        // grcov puts files and directories in one JSON object, so keys come out sorted, and a
        // directory replaces a file of the same name.
        let mut dirs = self.dirs.iter().peekable();
        let mut files = self.files.iter().filter(|(file, _)| !self.dirs.contains_key(*file)).peekable();
        loop {
            let take_dir = match (dirs.peek(), files.peek()) {
                (Some((d, _)), Some((f, _))) => d < f,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            if take_dir {
                let (dir_name, dir) = dirs.next().unwrap_or_else(|| unreachable!());
                write_str(w, dir_name)?;
                w.write_all(b":")?;
                dir.write(dir_name, w)?;
            } else {
                let (file_name, (cov, stats)) = files.next().unwrap_or_else(|| unreachable!());
                write_str(w, file_name)?;
                w.write_all(b":")?;
                write_file(w, file_name, cov, stats)?;
            }
        }
        w.write_all(b"},")?;
        write_stats(w, name, &self.stats)?;
        w.write_all(b"}")
    }
}

fn write_file(w: &mut impl Write, name: &str, cov: &FileCoverage, stats: &LineStats) -> io::Result<()> {
    w.write_all(b"{\"coverage\":[")?;
    let mut buf = itoa::Buffer::new();
    let mut next_line = 1u32;
    let mut separator: &[u8] = b"";
    for (line, hits) in cov.lines.iter() {
        while next_line < line {
            w.write_all(separator)?;
            w.write_all(b"-1")?;
            separator = b",";
            next_line += 1;
        }
        w.write_all(separator)?;
        w.write_all(buf.format(hits).as_bytes())?;
        separator = b",";
        next_line = line.saturating_add(1);
    }
    w.write_all(b"],")?;
    write_stats(w, name, stats)?;
    w.write_all(b"}")
}

/// The keys every node shares, in grcov's (alphabetical) order.
fn write_stats(w: &mut impl Write, name: &str, stats: &LineStats) -> io::Result<()> {
    let mut buf = itoa::Buffer::new();
    w.write_all(b"\"coveragePercent\":")?;
    serde_json::to_writer(&mut *w, &stats.percent())?;
    w.write_all(b",\"linesCovered\":")?;
    w.write_all(buf.format(stats.covered).as_bytes())?;
    w.write_all(b",\"linesMissed\":")?;
    w.write_all(buf.format(stats.missed()).as_bytes())?;
    w.write_all(b",\"linesTotal\":")?;
    w.write_all(buf.format(stats.total).as_bytes())?;
    w.write_all(b",\"name\":")?;
    write_str(w, name)
}

fn write_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(w, s).map_err(io::Error::from)
}

/// Writes the covdir report of `report`.
pub fn write_covdir(report: &Report, w: &mut impl Write) -> io::Result<()> {
    let mut root = Dir::default();
    for (path, cov) in report.files() {
        root.insert(path, cov);
    }
    root.write("", w)
}
