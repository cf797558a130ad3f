//! One coverage run of a push, as the Taskcluster hook starts it: find the push's coverage
//! builds in the Index, the test tasks of their task groups, the best task per (platform,
//! suite, chunk); download their coverage artifacts (a bounded pool, retried, cached on disk);
//! merge them into reports for all, per suite and per platform; upload the reports with the
//! zero-coverage report. Tasks or artifacts that are missing, failed or corrupt make the run
//! partial, and are listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use futures::StreamExt;
use regex::Regex;
use serde::Deserialize;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::coverage::{ALL, CovdirNode, CoverageUpload, ZeroCoverageFile};
use shipit_shared::http::UpstreamClient;
use shipit_shared::pushlog;

use crate::push_history::PushHistory;
use crate::taskcluster::{Download, GroupTask, Taskcluster};
use crate::{CoverageError, ParseOptions, PrefixMap, Report, covdir, discover, merge_inputs};

/// What a coverage run reads from its configuration (`shipit.toml`, `SHIPIT_*`), besides the
/// common `[api]`, `[taskcluster]` and `[upstream]` sections.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// Index routes of the coverage builds of a revision; `{repository}` and `{revision}` are
    /// replaced.
    pub build_routes: Vec<String>,
    /// The Index route of the newest coverage build, for runs without a revision.
    pub latest_route: String,
    /// Test task names to take, with named groups `platform`, `suite` and optional `chunk`.
    pub test_task_pattern: String,
    /// Only these platforms; all when empty.
    pub platforms: Vec<String>,
    /// Artifacts of each test task holding its coverage.
    pub artifacts: Vec<String>,
    /// Where artifacts are kept between runs (`SHIPIT_CACHE_DIR`).
    pub cache_dir: PathBuf,
    /// Downloads at once.
    pub download_concurrency: usize,
    /// `FROM=TO` rewrites of source paths (build directories to repository paths).
    pub prefix_map: Vec<String>,
    /// hg.mozilla.org, for the push of the revision and the pushlog.
    pub hgmo_url: url::Url,
    /// Whether the zero-coverage report carries each file's first and last push and commits,
    /// from the pushlog (read once, then only the new pushes; kept in `cache_dir`).
    pub push_history: bool,
    /// Pushes per pushlog request.
    pub pushlog_page: i64,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            build_routes: vec![
                "gecko.v2.{repository}.revision.{revision}.firefox.linux64-ccov-opt".into(),
                "gecko.v2.{repository}.revision.{revision}.firefox.win64-ccov-opt".into(),
            ],
            latest_route: "gecko.v2.{repository}.latest.firefox.linux64-ccov-opt".into(),
            test_task_pattern: r"^test-(?P<platform>[a-z0-9.-]+?-(?:ccov|jsdcov))/(?:opt|debug)-(?P<suite>.+?)(?:-e10s)?(?:-(?P<chunk>\d+))?$".into(),
            platforms: Vec::new(),
            artifacts: vec!["public/test_info/code-coverage-grcov.zip".into(), "public/test_info/code-coverage-jsvm.zip".into()],
            cache_dir: PathBuf::from(".shipit/coverage-cache"),
            download_concurrency: 8,
            prefix_map: Vec::new(),
            hgmo_url: "https://hg.mozilla.org/".parse().expect("a valid URL"),
            push_history: true,
            pushlog_page: 200,
        }
    }
}

/// A test task chosen for a (platform, suite, chunk).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestTask {
    pub task_id: String,
    pub name: String,
    pub platform: String,
    pub suite: String,
    pub chunk: Option<u32>,
    pub state: String,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub revision: String,
    pub push_id: i64,
    /// `(suite, platform)` of every report uploaded.
    pub reports: Vec<(String, String)>,
    pub artifacts: usize,
    /// What is missing from the reports, one line each.
    pub missing: Vec<String>,
}

/// What the run needs from outside.
pub struct RunContext<'a> {
    pub config: &'a RunConfig,
    pub taskcluster: &'a Taskcluster,
    pub http: &'a UpstreamClient,
    pub api: &'a ApiClient,
}

/// Runs the whole flow for `repository` at `revision` (the newest coverage build when `None`).
pub async fn run(
    context: &RunContext<'_>,
    repository: &str,
    revision: Option<&str>,
) -> Result<RunSummary, CoverageError> {
    let config = context.config;
    let pattern = Regex::new(&config.test_task_pattern)
        .map_err(|error| CoverageError::Config(format!("test_task_pattern: {error}")))?;
    let revision = match revision {
        Some(revision) => revision.to_owned(),
        None => latest_revision(context, repository).await?,
    };
    let push = pushlog::push_of(context.http, config.hgmo_url.as_str(), repository, &revision)
        .await?
        .ok_or_else(|| CoverageError::NoBuild(format!("{revision} is in no push of {repository}")))?;
    let (push_id, push_date) = (push.id, push.date);
    let mut summary = RunSummary { revision: revision.clone(), push_id, ..RunSummary::default() };

    let mut groups = BTreeSet::new();
    for template in &config.build_routes {
        let route = template.replace("{repository}", repository).replace("{revision}", &revision);
        match context.taskcluster.find_indexed_task(&route).await? {
            Some(task_id) => {
                groups.insert(context.taskcluster.task(&task_id).await?.task_group_id);
            }
            None => summary.missing.push(format!("no coverage build indexed at {route}")),
        }
    }
    if groups.is_empty() {
        return Err(CoverageError::NoBuild(format!("no coverage build for {repository} {revision}")));
    }
    let mut tasks = Vec::new();
    for group in &groups {
        tasks.extend(context.taskcluster.task_group(group).await?);
    }
    let selected = select_test_tasks(&tasks, &pattern, &config.platforms);
    tracing::info!(groups = groups.len(), tasks = tasks.len(), test_tasks = selected.len(), "test tasks found");

    let mut artifacts = Vec::new();
    let mut downloads = Vec::new();
    for task in &selected {
        if task.state != "completed" {
            summary.missing.push(format!("{} ({}): {}", task.name, task.task_id, task.state));
            continue;
        }
        for name in &config.artifacts {
            downloads.push((task.clone(), name.clone()));
        }
    }
    // indicatif draws nothing when stderr is not a terminal: log lines stand in for the bar.
    let total = downloads.len() as u64;
    let progress = indicatif::ProgressBar::new(total).with_message("artifacts");
    let fetched: Vec<_> = futures::stream::iter(downloads)
        .map(|(task, name)| async move {
            let outcome = context.taskcluster.download_artifact(&task.task_id, &name, &config.cache_dir).await;
            (task, name, outcome)
        })
        .buffer_unordered(config.download_concurrency.max(1))
        .inspect(|_| {
            progress.inc(1);
            let done = progress.position();
            if progress.is_hidden() && (done == total || done.is_multiple_of(50)) {
                tracing::info!(done, total, "artifacts downloaded");
            }
        })
        .collect()
        .await;
    progress.finish_and_clear();
    let mut without_artifacts: BTreeMap<String, &TestTask> =
        selected.iter().filter(|task| task.state == "completed").map(|task| (task.task_id.clone(), task)).collect();
    for (task, name, outcome) in fetched {
        match outcome {
            Ok(Download::Fetched(path) | Download::Cached(path)) => {
                without_artifacts.remove(&task.task_id);
                artifacts.push(Artifact { path, suite: task.suite.clone(), platform: task.platform.clone() });
            }
            // A task without the JavaScript artifact, say, is normal; a task without any
            // coverage artifact is reported below.
            Ok(Download::Missing) => tracing::debug!(task.id = %task.task_id, artifact = %name, "no such artifact"),
            Err(error) => summary.missing.push(format!("{} ({}) {name}: {error}", task.name, task.task_id)),
        }
    }
    for task in without_artifacts.values() {
        summary.missing.push(format!("{} ({}): no coverage artifact", task.name, task.task_id));
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    summary.artifacts = artifacts.len();

    let history = if config.push_history && !artifacts.is_empty() {
        Some(read_push_history(context, repository, push_id, &mut summary.missing).await?)
    } else {
        None
    };
    let options = ParseOptions { prefix_map: PrefixMap::parse(&config.prefix_map)?, strict: false };
    for (suite, platform) in report_keys(&artifacts) {
        let Some((covdir, mut zero_coverage)) =
            merge_group(&mut artifacts, &suite, &platform, &options, &mut summary.missing).await?
        else {
            continue;
        };
        if let Some(history) = &history {
            history.annotate(&mut zero_coverage);
        }
        let upload = CoverageUpload {
            repository: repository.to_owned(),
            revision: revision.clone(),
            push_id,
            push_date,
            suite: suite.clone(),
            platform: platform.clone(),
            covdir,
            zero_coverage,
        };
        context.api.upload_coverage(&upload).await?;
        tracing::info!(suite, platform, "report uploaded");
        summary.reports.push((suite, platform));
    }
    Ok(summary)
}

/// The push history of `repository` up to `push_id`, read on from the one kept in the cache and
/// saved again. A pushlog that fails is a missing item, not a failed run: the zero-coverage
/// report then has what was read so far, and the next run reads on from there.
async fn read_push_history(
    context: &RunContext<'_>,
    repository: &str,
    push_id: i64,
    missing: &mut Vec<String>,
) -> Result<PushHistory, CoverageError> {
    let config = context.config;
    if !(1..=10_000).contains(&config.pushlog_page) {
        return Err(CoverageError::Config("pushlog_page must be between 1 and 10000".into()));
    }
    let path = PushHistory::file_in(&config.cache_dir, repository);
    let mut history = PushHistory::load(&path, repository);
    let read = history.update(context.http, config.hgmo_url.as_str(), push_id, config.pushlog_page).await;
    history.save(&path)?;
    if let Err(error) = read {
        tracing::warn!(%error, read_up_to = history.last_push_id, "the pushlog failed; push dates stop there");
        missing.push(format!("pushlog after push {}: {error}", history.last_push_id));
    }
    tracing::info!(files = history.len(), up_to = history.last_push_id, "push history read");
    Ok(history)
}

/// A downloaded artifact and the test task it came from.
#[derive(Clone, Debug)]
struct Artifact {
    path: PathBuf,
    suite: String,
    platform: String,
}

/// `all`/`all` first (it finds corrupt artifacts for the others), then each suite, then each
/// platform.
fn report_keys(artifacts: &[Artifact]) -> Vec<(String, String)> {
    let suites: BTreeSet<&str> = artifacts.iter().map(|artifact| artifact.suite.as_str()).collect();
    let platforms: BTreeSet<&str> = artifacts.iter().map(|artifact| artifact.platform.as_str()).collect();
    let mut keys = vec![(ALL.to_owned(), ALL.to_owned())];
    keys.extend(suites.into_iter().map(|suite| (suite.to_owned(), ALL.to_owned())));
    keys.extend(platforms.into_iter().map(|platform| (ALL.to_owned(), platform.to_owned())));
    keys
}

/// Merges the artifacts of a (suite, platform) into covdir, and the zero-coverage report for
/// `all`/`all`; `None` when no artifact is left for it. An artifact that cannot be read is
/// dropped from this and later merges, and listed as missing.
async fn merge_group(
    artifacts: &mut Vec<Artifact>,
    suite: &str,
    platform: &str,
    options: &ParseOptions,
    missing: &mut Vec<String>,
) -> Result<Option<(CovdirNode, Vec<ZeroCoverageFile>)>, CoverageError> {
    loop {
        let paths: Vec<PathBuf> = artifacts
            .iter()
            .filter(|artifact| {
                (suite == ALL || artifact.suite == suite) && (platform == ALL || artifact.platform == platform)
            })
            .map(|artifact| artifact.path.clone())
            .collect();
        if paths.is_empty() {
            return Ok(None);
        }
        let options = options.clone();
        let with_zero = suite == ALL && platform == ALL;
        let merged = tokio::task::spawn_blocking(move || merge_files(&paths, &options, with_zero))
            .await
            .map_err(|error| CoverageError::Config(format!("the merge panicked: {error}")))?;
        match merged {
            Ok(merged) => return Ok(Some(merged)),
            Err(error) => {
                let Some(bad) = unreadable_artifact(&error, artifacts) else {
                    return Err(error);
                };
                tracing::warn!(artifact = %bad.display(), %error, "dropping an unreadable artifact");
                missing.push(format!("{}: {error}", bad.display()));
                artifacts.retain(|artifact| artifact.path != bad);
            }
        }
    }
}

fn merge_files(
    paths: &[PathBuf],
    options: &ParseOptions,
    with_zero: bool,
) -> Result<(CovdirNode, Vec<ZeroCoverageFile>), CoverageError> {
    let inputs = discover(paths)?;
    let outcome = merge_inputs(&inputs, options, true)?;
    let mut json = Vec::new();
    covdir::write_covdir(&outcome.report, &mut json).map_err(CoverageError::Output)?;
    let covdir =
        serde_json::from_slice(&json).map_err(|error| CoverageError::Config(format!("covdir output: {error}")))?;
    let zero = if with_zero { zero_coverage(&outcome.report) } else { Vec::new() };
    Ok((covdir, zero))
}

/// The downloaded artifact an input error names.
fn unreadable_artifact(error: &CoverageError, artifacts: &[Artifact]) -> Option<PathBuf> {
    let input = match error {
        CoverageError::Io { input, .. } | CoverageError::Zip { input, .. } | CoverageError::NotLcov { input, .. } => {
            input
        }
        _ => return None,
    };
    artifacts.iter().map(|artifact| &artifact.path).find(|path| input.starts_with(&path.display().to_string())).cloned()
}

/// Files in which no line is covered, with their functions; the JavaScript `top-level`
/// pseudo-function is not counted, as the original report did.
pub fn zero_coverage(report: &Report) -> Vec<ZeroCoverageFile> {
    let mut files: Vec<ZeroCoverageFile> = report
        .files()
        .filter(|(_, file)| !file.lines.is_empty() && file.lines.covered() == 0)
        .map(|(path, file)| {
            let functions: Vec<u64> = file
                .functions
                .iter()
                .filter(|(name, _)| *name != "top-level")
                .map(|(_, function)| function.hits)
                .collect();
            ZeroCoverageFile {
                name: path.to_owned(),
                funcs: functions.len() as u64,
                uncovered_funcs: functions.iter().filter(|hits| **hits == 0).count() as u64,
                size: file.lines.len() as u64,
                first_push_date: None,
                last_push_date: None,
                commits: 0,
            }
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// The best test task of each (platform, suite, chunk): completed over failed over exception
/// over anything else, the newest among equals.
pub fn select_test_tasks(tasks: &[GroupTask], pattern: &Regex, platforms: &[String]) -> Vec<TestTask> {
    let mut best: BTreeMap<(String, String, Option<u32>), TestTask> = BTreeMap::new();
    for task in tasks {
        let name = &task.task.metadata.name;
        let Some(captures) = pattern.captures(name) else { continue };
        let (Some(platform), Some(suite)) = (captures.name("platform"), captures.name("suite")) else { continue };
        if !platforms.is_empty() && !platforms.iter().any(|allowed| allowed == platform.as_str()) {
            continue;
        }
        let candidate = TestTask {
            task_id: task.status.task_id.clone(),
            name: name.clone(),
            platform: platform.as_str().to_owned(),
            suite: suite.as_str().to_owned(),
            chunk: captures.name("chunk").and_then(|chunk| chunk.as_str().parse().ok()),
            state: task.status.state.clone(),
        };
        let key = (candidate.platform.clone(), candidate.suite.clone(), candidate.chunk);
        match best.get(&key) {
            Some(current) if state_rank(&current.state) > state_rank(&candidate.state) => {}
            _ => {
                best.insert(key, candidate);
            }
        }
    }
    best.into_values().collect()
}

fn state_rank(state: &str) -> u8 {
    match state {
        "completed" => 3,
        "failed" => 2,
        "exception" => 1,
        _ => 0,
    }
}

async fn latest_revision(context: &RunContext<'_>, repository: &str) -> Result<String, CoverageError> {
    let route = context.config.latest_route.replace("{repository}", repository);
    let task_id = context
        .taskcluster
        .find_indexed_task(&route)
        .await?
        .ok_or_else(|| CoverageError::NoBuild(format!("no coverage build indexed at {route}")))?;
    let task = context.taskcluster.task(&task_id).await?;
    task.payload["env"]["GECKO_HEAD_REV"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CoverageError::NoBuild(format!("the build {task_id} names no GECKO_HEAD_REV")))
}
