//! One analysis: run the analyzers on the touched files of a change, in parallel, and decide
//! which issues are published.
//!
//! Publication rules: an issue is never published under a third-party path, from a check the
//! configuration does not publish, or (clang-tidy) from inside a macro expansion. Otherwise, by
//! default, errors are always published and warnings only when they touch a line the patch added
//! or changed. With before/after, the base is analyzed too and only the issues whose hash is not
//! found at base are published, errors included: moved code is not reported again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::analyzers::{self, Analyzer, Context, JobResult, Kind};
use crate::config::Settings;
use crate::error::Error;
use crate::issue::{Issue, Level};
use crate::workspace::{self, Change, Head};

/// How to analyze.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Analyze base too, and publish only issues that are not there.
    pub before_after: bool,
    /// Analyzer processes at once (default: the settings', else the number of CPUs).
    pub jobs: Option<usize>,
}

/// The result of an analysis.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Analysis {
    pub base: String,
    pub head: String,
    pub before_after: bool,
    /// The touched files.
    pub files: Vec<String>,
    pub analyzers: Vec<AnalyzerSummary>,
    /// Every issue found at head, published or not.
    pub issues: Vec<Reported>,
    /// Issues left unpublished because the ShipIt API already knows their hash at base (see
    /// [`Analysis::exclude_known`]).
    #[serde(default)]
    pub known: usize,
    /// Wall-clock time of the analyzers, in milliseconds.
    pub duration_ms: u64,
}

impl Analysis {
    /// The issues to publish.
    pub fn publishable(&self) -> impl Iterator<Item = &Reported> {
        self.issues.iter().filter(|issue| issue.publishable)
    }

    /// Whether an analyzer failed on some of its files.
    pub fn has_failures(&self) -> bool {
        self.analyzers.iter().any(|analyzer| !analyzer.failures.is_empty())
    }

    /// Before/after across runs: the issues whose hash is in `known` (found at the base of
    /// diffs analyzed before) are not new and not published, errors included, as with
    /// `before_after`. Returns how many were published before.
    pub fn exclude_known(&mut self, known: &HashSet<String>) -> usize {
        let mut excluded = 0;
        for reported in self.issues.iter_mut().filter(|reported| known.contains(&reported.issue.hash)) {
            reported.is_new = false;
            if std::mem::take(&mut reported.publishable) {
                excluded += 1;
                if let Some(summary) = self.analyzers.iter_mut().find(|summary| summary.name == reported.issue.analyzer)
                {
                    summary.publishable -= 1;
                }
            }
        }
        self.known += excluded;
        excluded
    }
}

/// What one analyzer did.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct AnalyzerSummary {
    pub name: String,
    /// Head files it analyzed.
    pub files: usize,
    /// Processes it ran (head and base).
    pub processes: usize,
    /// Time spent in its processes, in milliseconds (they overlap).
    pub duration_ms: u64,
    pub issues: usize,
    pub publishable: usize,
    /// The processes that crashed.
    pub failures: Vec<AnalyzerFailure>,
}

/// An analyzer process that crashed or could not start.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct AnalyzerFailure {
    pub files: Vec<String>,
    /// `base` or `head`.
    pub side: String,
    pub error: String,
}

/// An issue with what was decided about it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Reported {
    #[serde(flatten)]
    pub issue: Issue,
    /// It touches a line the change added or changed.
    pub in_patch: bool,
    /// Its hash is not found at base: with before/after, in the base checkout; without, among
    /// the issues the ShipIt API knows at base (always true without either).
    pub is_new: bool,
    pub third_party: bool,
    /// Its check is published (and, for clang-tidy, it is not inside a macro expansion).
    pub check_published: bool,
    pub publishable: bool,
}

#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
enum Side {
    Base,
    Head,
}

struct Job<'a> {
    analyzer: &'a Analyzer,
    side: Side,
    files: Vec<String>,
}

/// Analyzes the change from `base` to `head` in the repository at `repository`.
pub fn analyze(
    repository: &Path,
    base: &str,
    head: Head<'_>,
    settings: &Settings,
    options: &Options,
) -> Result<Analysis, Error> {
    let analyzers = settings.analyzers()?;
    let (change, checkouts) = workspace::prepare(repository, base, head, options.before_after)?;
    tracing::info!(base = %change.base, head = %change.head, files = change.touched.len(), "change read");
    let mut third_party = settings.third_party.clone();
    if let Some(file) = &settings.third_party_file {
        let path = checkouts.head.join(file);
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        third_party.extend(
            text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')).map(str::to_owned),
        );
    }

    let head_files: Vec<(&Analyzer, Vec<String>)> = analyzers
        .iter()
        .map(|analyzer| {
            (analyzer, change.touched.iter().filter(|path| analyzer.matches(path)).cloned().collect::<Vec<_>>())
        })
        .filter(|(_, files)| !files.is_empty())
        .collect();
    for (analyzer, files) in &head_files {
        if !shipit_shared::programs::is_installed(&analyzer.command[0]) {
            return Err(Error::MissingAnalyzer {
                analyzer: analyzer.name().to_owned(),
                program: analyzer.command[0].clone(),
                package: analyzer.kind.debian_package().to_owned(),
                files: files.len(),
            });
        }
    }

    let mut jobs = Vec::new();
    for (analyzer, files) in &head_files {
        for chunk in files.chunks(analyzer.files_per_process) {
            jobs.push(Job { analyzer, side: Side::Head, files: chunk.to_vec() });
        }
        if let Some(base_root) = &checkouts.base {
            let base_files: Vec<String> = files
                .iter()
                .map(|path| change.base_path(path).to_owned())
                .filter(|path| base_root.join(path).is_file())
                .collect();
            for chunk in base_files.chunks(analyzer.files_per_process) {
                jobs.push(Job { analyzer, side: Side::Base, files: chunk.to_vec() });
            }
        }
    }
    let head_context = context(repository, &checkouts.head, &change.touched)?;
    let base_context = match &checkouts.base {
        Some(root) => Some(context(repository, root, &change.touched)?),
        None => None,
    };

    let threads = options.jobs.or(settings.jobs).unwrap_or_else(rayon::current_num_threads).max(1);
    let started = Instant::now();
    let results = run_jobs(&jobs, threads, &head_context, base_context.as_ref());
    let duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(jobs = jobs.len(), threads, duration_ms, "analyzers done");

    let base_paths: HashMap<&str, &str> =
        change.renames.iter().map(|(head, base)| (base.as_str(), head.as_str())).collect();
    let mut summaries: BTreeMap<Kind, AnalyzerSummary> = head_files
        .iter()
        .map(|(analyzer, files)| {
            (
                analyzer.kind,
                AnalyzerSummary {
                    name: analyzer.name().to_owned(),
                    files: files.len(),
                    processes: 0,
                    duration_ms: 0,
                    issues: 0,
                    publishable: 0,
                    failures: Vec::new(),
                },
            )
        })
        .collect();
    let mut head_issues: Vec<(Issue, &Analyzer)> = Vec::new();
    let mut base_counts: HashMap<String, usize> = HashMap::new();
    let mut sources = Sources::default();
    // clang-tidy reports a header's issues once per source file including it.
    let mut seen = HashSet::new();
    for (job, result) in jobs.iter().zip(results) {
        let summary = summaries.get_mut(&job.analyzer.kind).expect("every job's analyzer has a summary");
        summary.processes += 1;
        summary.duration_ms += result.duration.as_millis() as u64;
        let issues = match result.outcome {
            Ok(issues) => issues,
            Err(error) => {
                let side = if job.side == Side::Head { "head" } else { "base" };
                tracing::warn!(analyzer = job.analyzer.name(), side, files = ?job.files, error, "analyzer failed");
                summary.failures.push(AnalyzerFailure { files: job.files.clone(), side: side.to_owned(), error });
                continue;
            }
        };
        for mut issue in issues {
            let key =
                (job.side, issue.analyzer.clone(), issue.path.clone(), issue.line, issue.column, issue.message.clone());
            if !seen.insert(key) {
                continue;
            }
            match job.side {
                Side::Head => {
                    issue.compute_hash(sources.get(&checkouts.head, &issue.path));
                    head_issues.push((issue, job.analyzer));
                }
                Side::Base => {
                    let source_path = issue.path.clone();
                    // Hashed under its head path, so that renaming a file does not make its
                    // issues new.
                    if let Some(head_path) = base_paths.get(source_path.as_str()) {
                        issue.path = (*head_path).to_owned();
                    }
                    let root = checkouts.base.as_deref().expect("base jobs only exist with a base checkout");
                    issue.compute_hash(sources.get(root, &source_path));
                    *base_counts.entry(issue.hash).or_default() += 1;
                }
            }
        }
    }
    let mut issues = classify(head_issues, &change, &third_party, options.before_after.then_some(base_counts));
    issues.sort_by(|a, b| {
        (&a.issue.path, a.issue.line, a.issue.column, &a.issue.analyzer, &a.issue.check).cmp(&(
            &b.issue.path,
            b.issue.line,
            b.issue.column,
            &b.issue.analyzer,
            &b.issue.check,
        ))
    });
    for reported in &issues {
        let kind = Kind::ALL.into_iter().find(|kind| kind.name() == reported.issue.analyzer);
        if let Some(summary) = kind.and_then(|kind| summaries.get_mut(&kind)) {
            summary.issues += 1;
            summary.publishable += usize::from(reported.publishable);
        }
    }
    Ok(Analysis {
        base: change.base.clone(),
        head: change.head.clone(),
        before_after: options.before_after,
        files: change.touched.clone(),
        analyzers: summaries.into_values().collect(),
        issues,
        known: 0,
        duration_ms,
    })
}

/// Runs the jobs on `threads` workers, in order (slow analyzers first), and returns their
/// results in the order of `jobs`.
fn run_jobs(jobs: &[Job<'_>], threads: usize, head: &Context, base: Option<&Context>) -> Vec<JobResult> {
    let results: Mutex<Vec<Option<JobResult>>> = Mutex::new(jobs.iter().map(|_| None).collect());
    let run = |index: usize, job: &Job<'_>| {
        let context = match job.side {
            Side::Head => head,
            Side::Base => base.expect("base jobs only exist with a base context"),
        };
        let result = analyzers::run(job.analyzer, context, &job.files);
        results.lock().expect("no job panics while holding the lock")[index] = Some(result);
    };
    match rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("analyzer-{i}")).build() {
        // FIFO: jobs start in the order given, so the slowest analyzers start first.
        Ok(pool) => pool.scope_fifo(|scope| {
            for (index, job) in jobs.iter().enumerate() {
                scope.spawn_fifo(move |_| run(index, job));
            }
        }),
        Err(error) => {
            tracing::warn!(%error, "cannot start a thread pool, running the analyzers one by one");
            jobs.iter().enumerate().for_each(|(index, job)| run(index, job));
        }
    }
    results
        .into_inner()
        .expect("no job panics while holding the lock")
        .into_iter()
        .map(|result| result.expect("every job ran"))
        .collect()
}

/// Decides which issues are published; with `base_counts` (before/after), an issue is new when
/// its hash is not found at base as many times as at head. Issues outside the changed lines
/// are matched with base first, so that a line the patch copies is the one reported.
fn classify(
    issues: Vec<(Issue, &Analyzer)>,
    change: &Change,
    third_party: &[String],
    mut base_counts: Option<HashMap<String, usize>>,
) -> Vec<Reported> {
    let mut reported: Vec<Reported> = issues
        .into_iter()
        .map(|(issue, analyzer)| {
            let third_party = third_party.iter().any(|prefix| issue.path.starts_with(prefix.as_str()));
            let from_macro = analyzer.kind == Kind::ClangTidy && analyzers::clang_tidy::is_from_macro(&issue);
            Reported {
                in_patch: change.touches(&issue.path, issue.lines()),
                is_new: true,
                third_party,
                check_published: analyzer.publishes(&issue.check) && !from_macro,
                publishable: false,
                issue,
            }
        })
        .collect();
    if let Some(counts) = base_counts.as_mut() {
        for in_patch in [false, true] {
            for issue in reported.iter_mut().filter(|issue| issue.in_patch == in_patch) {
                if let Some(count) = counts.get_mut(&issue.issue.hash).filter(|count| **count > 0) {
                    *count -= 1;
                    issue.is_new = false;
                }
            }
        }
    }
    for issue in &mut reported {
        let relevant =
            if base_counts.is_some() { issue.is_new } else { issue.issue.level == Level::Error || issue.in_patch };
        issue.publishable = !issue.third_party && issue.check_published && relevant;
    }
    reported
}

/// The context of the analyzers in the checkout `root`.
fn context(repository: &Path, root: &Path, touched: &[String]) -> Result<Context, Error> {
    const HEADERS: &[&str] = &["*.h", "*.hh", "*.hpp", "*.hxx"];
    let headers = touched
        .iter()
        .filter(|path| HEADERS.iter().any(|pattern| analyzers::path_matches(pattern, path)))
        .cloned()
        .collect();
    Ok(Context { root: root.to_owned(), compile_commands: compile_commands(repository, root)?, headers })
}

/// The repository's `compile_commands.json` (committed, or generated in its working tree), with
/// the repository's paths replaced by the checkout's, written into the checkout.
fn compile_commands(repository: &Path, root: &Path) -> Result<Option<PathBuf>, Error> {
    const NAME: &str = "compile_commands.json";
    let in_checkout = root.join(NAME);
    let source = if in_checkout.is_file() { in_checkout.clone() } else { repository.join(NAME) };
    if !source.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&source).map_err(Error::io(&source))?;
    let repository = repository.canonicalize().map_err(Error::io(repository))?;
    let rewritten = text.replace(&*repository.to_string_lossy(), &root.to_string_lossy());
    std::fs::write(&in_checkout, rewritten).map_err(Error::io(&in_checkout))?;
    Ok(Some(root.to_owned()))
}

/// File contents read once per analysis, for hashing.
#[derive(Default)]
struct Sources {
    files: HashMap<PathBuf, Option<String>>,
}

impl Sources {
    fn get(&mut self, root: &Path, path: &str) -> Option<&str> {
        let full = root.join(path);
        self.files.entry(full).or_insert_with_key(|full| std::fs::read_to_string(full).ok()).as_deref()
    }
}
