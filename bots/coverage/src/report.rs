//! The merged coverage model and the merge operation.
//!
//! A [`Report`] interns each source path once and keeps, per file, line hits in a dense vector
//! indexed by line (with a sparse overflow for implausibly large line numbers), functions by
//! name and branches by `(line, block, branch)`. All additions saturate at `u64::MAX`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

/// Lines below this index always go into the dense vector; beyond it, the dense vector only
/// grows while it stays within a few times the number of instrumented lines, so that a single
/// `DA:4000000000,1` cannot make us allocate gigabytes.
const DENSE_MIN: usize = 1 << 14;
const DENSE_FACTOR: usize = 4;

/// Per-line hit counts of one file.
#[derive(Debug, Clone, Default)]
pub struct LineHits {
    /// `hits[i]` is the count of line `i + 1`; only meaningful where `present` has the bit set.
    hits: Vec<u64>,
    /// Bitset over `hits`: which lines are instrumented at all (a count of 0 is "missed").
    present: Vec<u64>,
    /// Lines beyond the dense part. Invariant: every key is greater than `hits.len()`.
    sparse: BTreeMap<u32, u64>,
    /// Number of instrumented lines.
    count: usize,
}

impl LineHits {
    /// Adds `hits` to `line` (1-based), marking it instrumented. Line 0 is not a line: ignored.
    pub fn add(&mut self, line: u32, hits: u64) {
        let Some(idx) = (line as usize).checked_sub(1) else { return };
        if idx >= self.hits.len() {
            if idx < DENSE_MIN.max(self.count.saturating_mul(DENSE_FACTOR)) {
                self.grow(idx + 1);
            } else {
                let entry = self.sparse.entry(line).or_insert_with(|| {
                    self.count += 1;
                    0
                });
                *entry = entry.saturating_add(hits);
                return;
            }
        }
        let (word, bit) = (idx / 64, 1u64 << (idx % 64));
        if self.present[word] & bit == 0 {
            self.present[word] |= bit;
            self.count += 1;
        }
        self.hits[idx] = self.hits[idx].saturating_add(hits);
    }

    /// Makes room for lines up to `max_line` in the dense part with an exact allocation (when
    /// the dense limit allows), so that a file's vector is not left at up to twice its size by
    /// the amortised growth of line-by-line additions.
    pub fn reserve_lines(&mut self, max_line: u32, more_lines: usize) {
        let len = max_line as usize;
        if len > self.hits.len() && len <= DENSE_MIN.max((self.count + more_lines).saturating_mul(DENSE_FACTOR)) {
            self.hits.reserve_exact(len - self.hits.len());
            self.grow(len);
        }
    }

    /// Extends the dense part to `len` lines and moves the sparse lines it now covers into it.
    fn grow(&mut self, len: usize) {
        self.hits.resize(len, 0);
        self.present.resize(len.div_ceil(64), 0);
        if self.sparse.is_empty() {
            return;
        }
        let rest = self.sparse.split_off(&u32::try_from(len + 1).unwrap_or(u32::MAX));
        for (line, hits) in std::mem::replace(&mut self.sparse, rest) {
            let idx = line as usize - 1;
            self.present[idx / 64] |= 1u64 << (idx % 64);
            self.hits[idx] = hits;
        }
    }

    /// The hit count of `line`, or `None` when the line is not instrumented.
    pub fn get(&self, line: u32) -> Option<u64> {
        let idx = (line as usize).checked_sub(1)?;
        if idx < self.hits.len() {
            (self.present[idx / 64] & (1u64 << (idx % 64)) != 0).then(|| self.hits[idx])
        } else {
            self.sparse.get(&line).copied()
        }
    }

    /// Instrumented lines and their counts, in ascending line order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let dense = self.present.iter().enumerate().flat_map(move |(word_idx, &word)| {
            BitIter(word).map(move |bit| {
                let idx = word_idx * 64 + bit;
                // The dense part never exceeds u32::MAX lines: lines are u32.
                (idx as u32 + 1, self.hits[idx])
            })
        });
        dense.chain(self.sparse.iter().map(|(&line, &hits)| (line, hits)))
    }

    /// Number of instrumented lines.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of lines with at least one hit.
    pub fn covered(&self) -> usize {
        self.iter().filter(|&(_, hits)| hits > 0).count()
    }

    /// The highest instrumented line, 0 when there is none.
    pub fn max_line(&self) -> u32 {
        if let Some((&line, _)) = self.sparse.last_key_value() {
            return line;
        }
        for (word_idx, &word) in self.present.iter().enumerate().rev() {
            if word != 0 {
                return (word_idx * 64 + 63 - word.leading_zeros() as usize) as u32 + 1;
            }
        }
        0
    }

    /// Adds every line of `other` into `self`.
    pub fn merge(&mut self, other: &LineHits) {
        // Grow once up front rather than line by line when the other side is longer.
        let wanted = other.hits.len();
        if wanted > self.hits.len() && wanted <= DENSE_MIN.max((self.count + other.count).saturating_mul(DENSE_FACTOR))
        {
            self.grow(wanted);
        }
        for (line, hits) in other.iter() {
            self.add(line, hits);
        }
    }
}

/// Two line maps are equal when they hold the same lines and counts, whatever their layout.
impl PartialEq for LineHits {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.iter().eq(other.iter())
    }
}

impl Eq for LineHits {}

/// Iterates the set bits of a word, lowest first.
struct BitIter(u64);

impl Iterator for BitIter {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

/// Where a function is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FnLocation {
    pub start: u32,
    pub end: Option<u32>,
}

/// A function's merged data. `location` is `None` when only `FNDA` records named it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Function {
    pub location: Option<FnLocation>,
    pub hits: u64,
}

impl Function {
    pub fn merge(&mut self, other: &Function) {
        // Taking the smaller known location keeps the merge commutative when inputs disagree.
        self.location = match (self.location, other.location) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.hits = self.hits.saturating_add(other.hits);
    }
}

/// The branch part of a `BRDA` key: a number, or (lcov 2.x) a free-form expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BranchId {
    Index(u32),
    Expr(Box<str>),
}

/// Identifies a branch: `BRDA:<line>,[e]<block>,<branch>,<taken>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BranchKey {
    pub line: u32,
    /// lcov 2.x marks exception branches with an `e` before the block number.
    pub exception: bool,
    pub block: u32,
    pub branch: BranchId,
}

/// Merges two branch counts: `None` ("-", the block was never reached) is the identity.
pub fn merge_taken(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.saturating_add(y)),
        (x, y) => x.or(y),
    }
}

/// Everything known about one source file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCoverage {
    pub lines: LineHits,
    pub functions: FxHashMap<Box<str>, Function>,
    pub branches: BTreeMap<BranchKey, Option<u64>>,
}

impl FileCoverage {
    /// Adds hits to a function, creating it on first sight (allocating its name only then).
    pub fn function_mut(&mut self, name: &str) -> &mut Function {
        if !self.functions.contains_key(name) {
            self.functions.insert(name.into(), Function::default());
        }
        // Just inserted when missing.
        self.functions.get_mut(name).unwrap_or_else(|| unreachable!())
    }

    /// Applies `update` to a function, creating it on first sight; one lookup when it exists.
    pub fn update_function(&mut self, name: &str, update: impl FnOnce(&mut Function)) {
        match self.functions.get_mut(name) {
            Some(function) => update(function),
            None => {
                let mut function = Function::default();
                update(&mut function);
                self.functions.insert(name.into(), function);
            }
        }
    }

    pub fn add_branch(&mut self, key: BranchKey, taken: Option<u64>) {
        let slot = self.branches.entry(key).or_insert(None);
        *slot = merge_taken(*slot, taken);
    }

    pub fn merge(&mut self, other: FileCoverage) {
        self.lines.merge(&other.lines);
        for (name, function) in other.functions {
            self.functions.entry(name).or_default().merge(&function);
        }
        for (key, taken) in other.branches {
            self.add_branch(key, taken);
        }
    }

    pub fn totals(&self) -> Totals {
        Totals {
            files: 1,
            lines: self.lines.len() as u64,
            lines_covered: self.lines.covered() as u64,
            functions: self.functions.len() as u64,
            functions_covered: self.functions.values().filter(|f| f.hits > 0).count() as u64,
            branches: self.branches.len() as u64,
            branches_covered: self.branches.values().filter(|t| matches!(t, Some(n) if *n > 0)).count() as u64,
        }
    }
}

/// Counts over a set of files, as printed by the summary and in `LF`/`LH`-style records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub lines: u64,
    pub lines_covered: u64,
    pub functions: u64,
    pub functions_covered: u64,
    pub branches: u64,
    pub branches_covered: u64,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        self.files += other.files;
        self.lines += other.lines;
        self.lines_covered += other.lines_covered;
        self.functions += other.functions;
        self.functions_covered += other.functions_covered;
        self.branches += other.branches;
        self.branches_covered += other.branches_covered;
    }
}

/// Index of an interned file within one [`Report`].
pub type FileId = usize;

/// A set of files' coverage, each path interned once.
#[derive(Debug, Clone, Default)]
pub struct Report {
    index: FxHashMap<Box<str>, FileId>,
    files: Vec<(Box<str>, FileCoverage)>,
}

impl Report {
    /// The id of `path`, adding an empty file for it on first sight.
    pub fn intern(&mut self, path: &str) -> FileId {
        if let Some(&id) = self.index.get(path) {
            return id;
        }
        let id = self.files.len();
        self.files.push((path.into(), FileCoverage::default()));
        self.index.insert(path.into(), id);
        id
    }

    pub fn file_mut(&mut self, id: FileId) -> &mut FileCoverage {
        &mut self.files[id].1
    }

    pub fn get(&self, path: &str) -> Option<&FileCoverage> {
        self.index.get(path).map(|&id| &self.files[id].1)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Files in no particular order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &FileCoverage)> {
        self.files.iter().map(|(path, cov)| (&**path, cov))
    }

    /// Files sorted by path, for stable output.
    pub fn sorted_files(&self) -> Vec<(&str, &FileCoverage)> {
        let mut files: Vec<_> = self.files().collect();
        files.sort_unstable_by(|a, b| a.0.cmp(b.0));
        files
    }

    /// Merges `other` into `self`.
    pub fn merge(&mut self, other: Report) {
        for (path, cov) in other.files {
            match self.index.get(&path) {
                Some(&id) => self.files[id].1.merge(cov),
                None => {
                    self.index.insert(path.clone(), self.files.len());
                    self.files.push((path, cov));
                }
            }
        }
    }

    /// Merges two reports, folding the smaller one into the larger (cheaper, same result).
    pub fn merged(a: Report, b: Report) -> Report {
        let (mut big, small) = match a.len().cmp(&b.len()) {
            Ordering::Less => (b, a),
            _ => (a, b),
        };
        big.merge(small);
        big
    }

    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for (_, cov) in &self.files {
            totals.add(&cov.totals());
        }
        totals
    }
}

/// Reports are equal when they hold the same files with the same data, in any order.
impl PartialEq for Report {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.files().all(|(path, cov)| other.get(path) == Some(cov))
    }
}

impl Eq for Report {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_hits_dense_and_sparse_agree() {
        let mut lines = LineHits::default();
        lines.add(3, 5);
        lines.add(1, 0);
        lines.add(4_000_000_000, 7);
        lines.add(3, u64::MAX);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.get(1), Some(0));
        assert_eq!(lines.get(2), None);
        assert_eq!(lines.get(3), Some(u64::MAX));
        assert_eq!(lines.get(4_000_000_000), Some(7));
        assert_eq!(lines.max_line(), 4_000_000_000);
        assert_eq!(lines.covered(), 2);
        assert_eq!(lines.iter().collect::<Vec<_>>(), vec![(1, 0), (3, u64::MAX), (4_000_000_000, 7)]);
        // Line 0 does not exist.
        lines.add(0, 1);
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn line_hits_sparse_lines_move_to_dense_when_it_grows() {
        let mut lines = LineHits::default();
        lines.add(20_000, 1);
        assert_eq!(lines.hits.len(), 0, "beyond the dense minimum with few lines: sparse");
        for line in 1..=6_000 {
            lines.add(line, 1);
        }
        lines.add(20_001, 2);
        assert!(lines.sparse.is_empty(), "growth must absorb the sparse lines");
        assert_eq!(lines.get(20_000), Some(1));
        assert_eq!(lines.get(20_001), Some(2));
        assert_eq!(lines.len(), 6_002);
    }

    #[test]
    fn line_hits_equality_ignores_layout() {
        let mut sparse = LineHits::default();
        sparse.add(100_000, 1);
        let mut dense = LineHits::default();
        dense.grow(100_000);
        dense.add(100_000, 1);
        assert_eq!(sparse, dense);
        dense.add(1, 0);
        assert_ne!(sparse, dense);
    }

    #[test]
    fn branch_and_function_merge_rules() {
        assert_eq!(merge_taken(None, None), None);
        assert_eq!(merge_taken(None, Some(0)), Some(0));
        assert_eq!(merge_taken(Some(3), None), Some(3));
        assert_eq!(merge_taken(Some(u64::MAX), Some(1)), Some(u64::MAX));

        let mut a = Function { location: None, hits: 2 };
        a.merge(&Function { location: Some(FnLocation { start: 9, end: None }), hits: 1 });
        assert_eq!(a, Function { location: Some(FnLocation { start: 9, end: None }), hits: 3 });
        a.merge(&Function { location: Some(FnLocation { start: 4, end: Some(8) }), hits: 0 });
        assert_eq!(a.location, Some(FnLocation { start: 4, end: Some(8) }));
    }

    #[test]
    fn report_merge_adds_lines_and_keeps_disjoint_files() {
        let mut a = Report::default();
        let id = a.intern("x.c");
        a.file_mut(id).lines.add(1, 2);
        let mut b = Report::default();
        let id = b.intern("x.c");
        b.file_mut(id).lines.add(1, 3);
        b.file_mut(id).lines.add(2, 0);
        let id = b.intern("y.c");
        b.file_mut(id).lines.add(1, 1);
        let merged = Report::merged(a, b);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged.get("x.c").unwrap().lines.get(1), Some(5));
        assert_eq!(merged.get("x.c").unwrap().lines.get(2), Some(0));
        assert_eq!(merged.totals().lines, 3);
        assert_eq!(merged.totals().lines_covered, 2);
    }
}
