//! The in-memory coverage model: what the parser reads and the writers print, and how one file's
//! records add into it (the parallel merge of many inputs is `merge.rs`).
//!
//! A [`Report`] interns each source path once and keeps, per file, line hits in a dense vector
//! indexed by line (with a sparse overflow for implausibly large line numbers), functions by
//! name and branches in a vector sorted by `(line, block, branch)`. All additions saturate at
//! `u64::MAX`.
//!
//! The parser hands each `SF` section over as a [`FileRecord`] through the [`RecordSink`]
//! trait, implemented by [`Report`] (one thread) and by [`SharedReport`] (all merge workers
//! adding into one report, locked per shard of files).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use rustc_hash::{FxHashMap, FxHasher};

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

    /// Adds many `(line, hits)` pairs, sizing the dense part once for all of them.
    pub fn add_all(&mut self, lines: &[(u32, u64)]) {
        let max_line = lines.iter().map(|&(line, _)| line).max().unwrap_or(0);
        self.reserve_lines(max_line, lines.len());
        if max_line as usize > self.hits.len() {
            for &(line, hits) in lines {
                self.add(line, hits);
            }
            return;
        }
        // Everything falls in the dense part (the usual case): no sparse check per line. Lines
        // come mostly in ascending order, so the presence bits of the current 64-line word are
        // gathered in a register and stored when the word changes: updating the bitset line by
        // line chained every line to the store of the previous one.
        let (present, counts) = (&mut self.present[..], &mut self.hits[..]);
        let mut added = 0;
        let (mut word, mut bits) = (0, 0u64);
        for &(line, hits) in lines {
            let Some(idx) = (line as usize).checked_sub(1) else { continue };
            if idx / 64 != word {
                added += (bits & !present[word]).count_ones() as usize;
                present[word] |= bits;
                (word, bits) = (idx / 64, 0);
            }
            bits |= 1 << (idx % 64);
            counts[idx] = counts[idx].saturating_add(hits);
        }
        if bits != 0 {
            added += (bits & !present[word]).count_ones() as usize;
            present[word] |= bits;
        }
        self.count += added;
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

/// The branches of one file: a vector sorted by key with no key twice. A sorted vector is
/// smaller than a map and is merged with one linear walk, and records list their branches in
/// order, so the common merge only updates counts in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branches(Vec<(BranchKey, Option<u64>)>);

impl Branches {
    /// Adds one branch count (see [`merge_taken`]).
    pub fn add(&mut self, key: BranchKey, taken: Option<u64>) {
        match self.0.binary_search_by(|(known, _)| known.cmp(&key)) {
            Ok(i) => self.0[i].1 = merge_taken(self.0[i].1, taken),
            Err(i) => self.0.insert(i, (key, taken)),
        }
    }

    /// Adds every branch of `new` (any order, keys may repeat) and leaves it empty.
    fn add_all(&mut self, new: &mut Vec<(BranchKey, Option<u64>)>) {
        new.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let known = self.0.len();
        let mut i = 0;
        'new: for (key, taken) in new.drain(..) {
            // Both sides are sorted: one walk over the known branches finds them all.
            while i < known {
                match self.0[i].0.cmp(&key) {
                    Ordering::Less => i += 1,
                    Ordering::Equal => {
                        self.0[i].1 = merge_taken(self.0[i].1, taken);
                        continue 'new;
                    }
                    Ordering::Greater => break,
                }
            }
            self.0.push((key, taken));
        }
        if self.0.len() > known {
            // New keys went to the end, sorted among themselves: a stable sort merges the two
            // runs in linear time, then repeated new keys are folded together.
            self.0.sort_by(|a, b| a.0.cmp(&b.0));
            self.0.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 = merge_taken(kept.1, later.1);
                }
                same
            });
        }
    }

    /// The count of a branch: `None` when the branch is unknown, `Some(None)` for `-`.
    pub fn get(&self, key: &BranchKey) -> Option<Option<u64>> {
        self.0.binary_search_by(|(known, _)| known.cmp(key)).ok().map(|i| self.0[i].1)
    }

    /// Branches in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&BranchKey, &Option<u64>)> {
        self.0.iter().map(|(key, taken)| (key, taken))
    }

    /// Counts in key order.
    pub fn values(&self) -> impl Iterator<Item = &Option<u64>> {
        self.0.iter().map(|(_, taken)| taken)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `branches[&key]` is the count of a known branch; panics on an unknown one, like a map.
impl std::ops::Index<&BranchKey> for Branches {
    type Output = Option<u64>;

    fn index(&self, key: &BranchKey) -> &Option<u64> {
        match self.0.binary_search_by(|(known, _)| known.cmp(key)) {
            Ok(i) => &self.0[i].1,
            Err(_) => panic!("no branch {key:?}"),
        }
    }
}

/// One `SF` ... `end_of_record` section as read, before it is added to a report. The parser
/// fills one per input and hands it to a [`RecordSink`] at the end of each section; its
/// buffers are reused, so reading a section allocates nothing once they are warm, and the
/// report is only touched (and, when shared, locked) once per section.
#[derive(Debug, Clone, Default)]
pub struct FileRecord {
    lines: Vec<(u32, u64)>,
    /// Function names as read (bytes, not yet checked to be UTF-8), one after the other;
    /// `functions` holds ranges into it.
    names: Vec<u8>,
    /// Every `FN`, `FNDA` and `FNA` record as a partial [`Function`]: adding them one by one to
    /// the file gives the same result as combining them first, so no lookup by name is needed
    /// while reading.
    functions: Vec<(Range<usize>, Function)>,
    /// Where the next `FNDA` most likely finds its function: `FNDA` records usually list the
    /// functions in the order of the `FN` records. Only an optimisation (a miss adds an entry).
    fnda_cursor: usize,
    branches: Vec<(BranchKey, Option<u64>)>,
}

impl FileRecord {
    #[inline]
    pub fn add_line(&mut self, line: u32, hits: u64) {
        self.lines.push((line, hits));
    }

    /// Adds a function record. The name is taken as read: invalid UTF-8 is replaced when the
    /// name first enters a report, and a name already known costs no conversion at all.
    pub fn add_function(&mut self, name: &[u8], function: Function) {
        if function.location.is_none()
            && let Some((range, known)) = self.functions.get_mut(self.fnda_cursor)
            && self.names[range.clone()] == *name
        {
            known.merge(&function);
            self.fnda_cursor += 1;
            return;
        }
        let start = self.names.len();
        self.names.extend_from_slice(name);
        self.functions.push((start..self.names.len(), function));
    }

    #[inline]
    pub fn add_branch(&mut self, key: BranchKey, taken: Option<u64>) {
        self.branches.push((key, taken));
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.functions.is_empty() && self.branches.is_empty()
    }

    /// Forgets the data, keeping the buffers.
    pub fn clear(&mut self) {
        self.lines.clear();
        self.names.clear();
        self.functions.clear();
        self.fnda_cursor = 0;
        self.branches.clear();
    }
}

/// No next entry in a [`Functions`] hash chain.
const NO_ENTRY: u32 = u32::MAX;

/// The functions of one file by name. Names are stored one after the other in a single string
/// and entries in first-seen order, found through a map from the name's hash. Inputs list a
/// file's functions in the same order every time, so a lookup first tries the entry after the
/// one found last: merging a record then walks the file's functions sequentially instead of
/// chasing one heap pointer per name (those cache misses were a tenth of the merge time).
#[derive(Debug, Clone, Default)]
pub struct Functions {
    names: String,
    entries: Vec<FunctionEntry>,
    /// Name hash to the first entry with that hash; entries with equal hashes are chained.
    by_hash: FxHashMap<u64, u32>,
    /// The entry the next lookup tries first.
    hint: usize,
}

#[derive(Debug, Clone)]
struct FunctionEntry {
    name: Range<usize>,
    function: Function,
    /// Next entry whose name has the same hash, or [`NO_ENTRY`].
    next: u32,
}

impl Functions {
    fn hash(name: &str) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(name)
    }

    fn name(&self, entry: &FunctionEntry) -> &str {
        &self.names[entry.name.clone()]
    }

    /// The index of the entry named `name`.
    fn find(&self, name: &str) -> Option<usize> {
        // After the last function of a record comes the first one of the next record.
        let hint = if self.hint < self.entries.len() { self.hint } else { 0 };
        if let Some(entry) = self.entries.get(hint)
            && self.name(entry) == name
        {
            return Some(hint);
        }
        let mut index = *self.by_hash.get(&Self::hash(name))?;
        while index != NO_ENTRY {
            let entry = &self.entries[index as usize];
            if self.name(entry) == name {
                return Some(index as usize);
            }
            index = entry.next;
        }
        None
    }

    pub fn get(&self, name: &str) -> Option<&Function> {
        self.find(name).map(|index| &self.entries[index].function)
    }

    /// The function named `name`, created (without location or hits) on first sight.
    pub fn get_or_insert(&mut self, name: &str) -> &mut Function {
        let index = match self.find(name) {
            Some(index) => index,
            None => {
                let index = self.entries.len();
                // 4 billion functions in one file would need hundreds of GB; were it to happen,
                // names sharing this hash would stop being found (and get duplicate entries)
                // rather than make us panic.
                let id = u32::try_from(index).unwrap_or(NO_ENTRY);
                let head = self.by_hash.entry(Self::hash(name)).or_insert(NO_ENTRY);
                let next = std::mem::replace(head, id);
                let start = self.names.len();
                self.names.push_str(name);
                self.entries.push(FunctionEntry { name: start..self.names.len(), function: Function::default(), next });
                index
            }
        };
        self.hint = index + 1;
        &mut self.entries[index].function
    }

    /// [`Functions::get_or_insert`] for a name as read from a tracefile: when it is the
    /// expected next function, found without checking or converting its bytes.
    pub fn get_or_insert_bytes(&mut self, name: &[u8]) -> &mut Function {
        let hint = if self.hint < self.entries.len() { self.hint } else { 0 };
        if let Some(entry) = self.entries.get(hint)
            && self.names.as_bytes()[entry.name.clone()] == *name
        {
            self.hint = hint + 1;
            return &mut self.entries[hint].function;
        }
        // Names are almost always ASCII; a stray Latin-1 byte should not lose the record.
        let name = match std::str::from_utf8(name) {
            Ok(name) => std::borrow::Cow::Borrowed(name),
            Err(_) => String::from_utf8_lossy(name),
        };
        self.get_or_insert(&name)
    }

    /// Functions in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Function)> {
        self.entries.iter().map(|entry| (self.name(entry), &entry.function))
    }

    pub fn values(&self) -> impl Iterator<Item = &Function> {
        self.entries.iter().map(|entry| &entry.function)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `functions["name"]` is a known function; panics on an unknown one, like a map.
impl std::ops::Index<&str> for Functions {
    type Output = Function;

    fn index(&self, name: &str) -> &Function {
        self.get(name).unwrap_or_else(|| panic!("no function {name:?}"))
    }
}

/// The same functions with the same data, whatever the order they were first seen in.
impl PartialEq for Functions {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(name, function)| other.get(name) == Some(function))
    }
}

impl Eq for Functions {}

/// Everything known about one source file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCoverage {
    pub lines: LineHits,
    pub functions: Functions,
    pub branches: Branches,
}

impl FileCoverage {
    /// The function named `name`, created on first sight (the name is only copied then).
    pub fn function_mut(&mut self, name: &str) -> &mut Function {
        self.functions.get_or_insert(name)
    }

    /// Applies `update` to a function, creating it on first sight.
    pub fn update_function(&mut self, name: &str, update: impl FnOnce(&mut Function)) {
        update(self.functions.get_or_insert(name));
    }

    pub fn add_branch(&mut self, key: BranchKey, taken: Option<u64>) {
        self.branches.add(key, taken);
    }

    /// Adds the data of a record and leaves it empty (its buffers kept for the next one).
    pub fn apply(&mut self, record: &mut FileRecord) {
        self.lines.add_all(&record.lines);
        for (range, function) in &record.functions {
            self.functions.get_or_insert_bytes(&record.names[range.clone()]).merge(function);
        }
        self.branches.add_all(&mut record.branches);
        record.clear();
    }

    pub fn merge(&mut self, mut other: FileCoverage) {
        self.lines.merge(&other.lines);
        for (name, function) in other.functions.iter() {
            self.functions.get_or_insert(name).merge(function);
        }
        self.branches.add_all(&mut other.branches.0);
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

/// Receives each `SF` section the parser finishes.
pub trait RecordSink {
    /// Adds `record` to the file `path` (already normalised) and leaves the record empty.
    fn add_record(&mut self, path: &str, record: &mut FileRecord);
}

impl RecordSink for Report {
    fn add_record(&mut self, path: &str, record: &mut FileRecord) {
        let id = self.intern(path);
        self.file_mut(id).apply(record);
    }
}

/// Number of [`SharedReport`] shards: many more than workers, so that two workers rarely want
/// the same lock at the same time.
const SHARDS: usize = 256;

/// One report filled by several threads at once. Files are spread over shards by a hash of
/// their path, each shard a [`Report`] behind its own lock, held only while one record is
/// added. All workers thus build a single report, instead of one full report each that would
/// then have to be merged (which doubled the peak memory).
#[derive(Debug)]
pub struct SharedReport {
    shards: Box<[Mutex<Report>]>,
}

impl Default for SharedReport {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect() }
    }
}

impl SharedReport {
    /// Adds a record to the file `path`; callable from any number of threads.
    pub fn add_record(&self, path: &str, record: &mut FileRecord) {
        // The hash maps inside the shards use the low bits and the top 7 bits of the same hash:
        // picking the shard from those would pile each shard's files onto a few buckets.
        let hash = BuildHasherDefault::<FxHasher>::default().hash_one(path);
        let shard = (hash >> 32) as usize % self.shards.len();
        // A panic elsewhere cannot leave a shard half-updated in a way that matters more than
        // the panic itself, so a poisoned lock is simply taken over.
        let mut report = self.shards[shard].lock().unwrap_or_else(PoisonError::into_inner);
        report.add_record(path, record);
    }

    /// The finished report. Shards hold disjoint files, so this only moves them.
    pub fn into_report(self) -> Report {
        let mut all = Report::default();
        for shard in self.shards {
            all.merge(shard.into_inner().unwrap_or_else(PoisonError::into_inner));
        }
        all
    }
}

impl RecordSink for &SharedReport {
    fn add_record(&mut self, path: &str, record: &mut FileRecord) {
        SharedReport::add_record(self, path, record);
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

    fn key(line: u32, branch: u32) -> BranchKey {
        BranchKey { line, exception: false, block: 0, branch: BranchId::Index(branch) }
    }

    #[test]
    fn branches_add_all_sorts_and_folds_repeated_keys() {
        let mut branches = Branches::default();
        branches.add(key(5, 0), Some(1));
        let mut new = vec![(key(9, 1), None), (key(5, 0), Some(2)), (key(1, 0), None), (key(9, 1), Some(4))];
        branches.add_all(&mut new);
        assert!(new.is_empty());
        let all: Vec<_> = branches.iter().map(|(k, t)| (k.line, *t)).collect();
        assert_eq!(all, [(1, None), (5, Some(3)), (9, Some(4))]);
        branches.add_all(&mut vec![(key(9, 1), Some(1)), (key(1, 0), Some(0))]);
        assert_eq!(branches.get(&key(9, 1)), Some(Some(5)));
        assert_eq!(branches.get(&key(1, 0)), Some(Some(0)));
        assert_eq!(branches.get(&key(2, 0)), None);
    }

    #[test]
    fn functions_found_in_and_out_of_order() {
        let mut functions = Functions::default();
        for name in ["a", "b", "c"] {
            functions.get_or_insert(name).hits += 1;
        }
        // Same order again (the hint wraps around), then reversed (hash lookups).
        for name in ["a", "b", "c", "c", "b", "a"] {
            functions.get_or_insert_bytes(name.as_bytes()).hits += 1;
        }
        assert_eq!(functions.len(), 3);
        assert!(functions.values().all(|f| f.hits == 3));
        // Invalid UTF-8 is replaced once and then found by its replaced name.
        functions.get_or_insert_bytes(b"caf\xe9").hits += 1;
        functions.get_or_insert_bytes(b"caf\xe9").hits += 1;
        assert_eq!(functions["caf\u{fffd}"].hits, 2);
        assert_eq!(functions.len(), 4);
    }

    #[test]
    fn shared_report_from_threads_equals_one_report() {
        let shared = SharedReport::default();
        let mut expected = Report::default();
        std::thread::scope(|scope| {
            for worker in 0..4u64 {
                let shared = &shared;
                scope.spawn(move || {
                    let mut record = FileRecord::default();
                    for file in 0..50u32 {
                        record.add_line(file + 1, worker);
                        record.add_function(b"f", Function { location: None, hits: 1 });
                        record.add_branch(key(1, 0), Some(worker));
                        shared.add_record(&format!("d/{file}.c"), &mut record);
                        assert!(record.is_empty());
                    }
                });
            }
        });
        for worker in 0..4u64 {
            let mut record = FileRecord::default();
            for file in 0..50u32 {
                record.add_line(file + 1, worker);
                record.add_function(b"f", Function { location: None, hits: 1 });
                record.add_branch(key(1, 0), Some(worker));
                expected.add_record(&format!("d/{file}.c"), &mut record);
            }
        }
        let report = shared.into_report();
        assert_eq!(report, expected);
        assert_eq!(report.len(), 50);
        assert_eq!(report.get("d/7.c").unwrap().lines.get(8), Some(6));
        assert_eq!(report.get("d/7.c").unwrap().functions["f"].hits, 4);
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
