//! The bot's job, as `check` runs it: clone or fetch the repository when asked, get the change
//! (revision, patch or Phabricator diff), analyze it off the async executor, leave out the issues
//! the ShipIt API already knows at base (unless the base was analyzed too), record the run and
//! the issues in the API, and comment on Phabricator.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::static_analysis::{
    IssueBatch, IssueBatchResult, KnownIssues, KnownIssuesQuery, NewIssue,
};
use shipit_shared::api_types::{NewRun, RunFinish, RunOutcome, RunProgress, RunTrigger};
use shipit_shared::http::{RetryPolicy, UpstreamClient};

use crate::analysis::{self, Analysis, Options, Reported};
use crate::config::Settings;
use crate::error::Error;
use crate::phabricator::{self, Conduit, Published};
use crate::report;
use crate::workspace::Head;

/// The bot's name in the API's runs.
pub const BOT_NAME: &str = "static-analysis";

/// Where the change comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A revision of the repository.
    Rev(String),
    /// A unified diff to apply on the base.
    Patch(Vec<u8>),
    /// A Phabricator diff id.
    Phabricator(i64),
}

/// What `check` was asked to do.
#[derive(Clone, Debug)]
pub struct CheckRequest {
    pub repository: PathBuf,
    /// Required unless the source is a Phabricator diff that knows its base.
    pub base: Option<String>,
    pub source: Source,
    pub before_after: bool,
    pub jobs: Option<usize>,
    /// Post inline comments on the Phabricator revision.
    pub comment: bool,
    /// (diff id, revision id) to record the issues under, for sources other than Phabricator.
    pub diff: Option<(i64, i64)>,
    /// The command that reproduces the analysis, for the summary.
    pub reproduce: String,
    /// A repository URL to clone into `repository` (or fetch into it) before the analysis.
    pub fetch: Option<String>,
}

/// What `check` did.
#[derive(Debug)]
pub struct CheckOutcome {
    pub analysis: Analysis,
    pub uploaded: Option<IssueBatchResult>,
    pub published: Option<Published>,
}

/// Runs the check, recording it as a run in the API when the API is configured.
pub async fn check(settings: &Settings, request: &CheckRequest) -> Result<CheckOutcome, Error> {
    let http = UpstreamClient::new(Duration::from_secs(60), RetryPolicy::default())?;
    let api = settings.api.url.clone().map(|url| ApiClient::new(url, settings.api.token.clone(), http.clone()));
    let Some(api) = api else { return check_inner(settings, request, &http, None).await };

    let trigger = if matches!(request.source, Source::Phabricator(_)) { RunTrigger::Pulse } else { RunTrigger::Manual };
    let mut parameters = Map::new();
    parameters.insert("repository".into(), json!(request.repository.display().to_string()));
    parameters.insert("base".into(), json!(request.base));
    parameters.insert("before_after".into(), json!(request.before_after));
    if let Source::Phabricator(id) = request.source {
        parameters.insert("phabricator_diff".into(), json!(id));
    }
    if let Some(url) = &request.fetch {
        parameters.insert("fetch".into(), json!(url));
    }
    let run_id = match settings.run_id {
        Some(id) => id,
        None => api.open_run(&NewRun { bot: BOT_NAME.into(), trigger, parameters }).await?.id,
    };
    let result = check_inner(settings, request, &http, Some((&api, run_id))).await;
    let finish = match &result {
        Ok(outcome) => RunFinish {
            status: if outcome.analysis.has_failures() { RunOutcome::Partial } else { RunOutcome::Succeeded },
            error_summary: outcome.analysis.has_failures().then(|| "some analyzers failed".to_owned()),
            counts: counts(&outcome.analysis),
        },
        Err(error) => {
            RunFinish { status: RunOutcome::Failed, error_summary: Some(error.to_string()), counts: Map::new() }
        }
    };
    if let Err(error) = api.finish_run(run_id, &finish).await {
        tracing::warn!(run.id = run_id, %error, "cannot close the run");
    }
    result
}

async fn check_inner(
    settings: &Settings,
    request: &CheckRequest,
    http: &UpstreamClient,
    api: Option<(&ApiClient, i64)>,
) -> Result<CheckOutcome, Error> {
    if let Some(url) = &request.fetch {
        let (url, directory) = (url.clone(), request.repository.clone());
        tokio::task::spawn_blocking(move || shipit_shared::repository_cache::update(&url, &directory))
            .await
            .map_err(|error| Error::Config(format!("the fetch panicked: {error}")))??;
    }
    let mut conduit = None;
    let mut phabricator_diff = None;
    let (base, patch) = match &request.source {
        Source::Rev(_) | Source::Patch(_) => {
            (request.base.clone().ok_or_else(|| Error::Config("--base is required".into()))?, None)
        }
        Source::Phabricator(id) => {
            let client = conduit_client(settings, http)?;
            let diff = client.diff(*id).await?;
            let revision_id = client.revision_id(&diff.revision_phid).await?;
            let patch = client.raw_diff(*id).await?;
            let base = request.base.clone().or_else(|| diff.base.clone()).ok_or_else(|| {
                Error::Config(format!("Phabricator does not know the base of diff {id}: give --base"))
            })?;
            phabricator_diff = Some((diff, revision_id));
            conduit = Some(client);
            (base, Some(patch.into_bytes()))
        }
    };
    let options = Options { before_after: request.before_after, jobs: request.jobs };
    let mut analysis = {
        let (repository, settings, source) = (request.repository.clone(), settings.clone(), request.source.clone());
        tokio::task::spawn_blocking(move || {
            let head = match (&source, &patch) {
                (Source::Rev(rev), _) => Head::Rev(rev),
                (Source::Patch(patch), _) | (Source::Phabricator(_), Some(patch)) => Head::Patch(patch),
                (Source::Phabricator(_), None) => unreachable!("a Phabricator diff has been fetched"),
            };
            analysis::analyze(&repository, &base, head, &settings, &options)
        })
        .await
        .map_err(|error| Error::Config(format!("the analysis panicked: {error}")))??
    };
    tracing::info!(
        files = analysis.files.len(),
        issues = analysis.issues.len(),
        publishable = analysis.publishable().count(),
        "analysis done"
    );

    let repository = settings.api.repository.clone().unwrap_or_else(|| request.repository.display().to_string());
    if let Some((api, _)) = api
        && !request.before_after
    {
        let known = known_hashes(api, &repository, &analysis.files).await?;
        let excluded = analysis.exclude_known(&known);
        tracing::info!(known = known.len(), excluded, "issues known at base left out");
    }

    let mut uploaded = None;
    if let Some((api, run_id)) = api {
        let progress =
            RunProgress { message: Some("analyzed".into()), counts: counts(&analysis), ..Default::default() };
        if let Err(error) = api.report_progress(run_id, &progress).await {
            tracing::warn!(run.id = run_id, %error, "cannot report progress");
        }
        let ids = phabricator_diff.as_ref().map(|(diff, revision)| (diff.id, *revision)).or(request.diff);
        if let Some((diff_id, revision_id)) = ids {
            let batch = issue_batch(&analysis, revision_id, repository);
            let result = api.post_static_analysis_issues(diff_id, &batch).await?;
            tracing::info!(
                diff.id = diff_id,
                inserted = result.inserted,
                updated = result.updated,
                removed = result.removed,
                "issues recorded"
            );
            uploaded = Some(result);
        }
    }

    let mut published = None;
    if request.comment
        && let (Some(conduit), Some((diff, revision_id))) = (&conduit, &phabricator_diff)
    {
        let summary = report::markdown(&analysis, &request.reproduce);
        published = Some(phabricator::publish(conduit, diff, *revision_id, &analysis, &summary).await?);
    }
    Ok(CheckOutcome { analysis, uploaded, published })
}

/// The hashes of the issues the API knows at base in `repository`, for the touched `paths`.
async fn known_hashes(api: &ApiClient, repository: &str, paths: &[String]) -> Result<HashSet<String>, Error> {
    /// Requests in flight at once: a large diff must not open a connection per file.
    const CONCURRENCY: usize = 8;
    let answers: Vec<KnownIssues> = futures::stream::iter(paths)
        .map(|path| {
            let query = KnownIssuesQuery { repository: repository.to_owned(), path: Some(path.clone()) };
            async move { api.static_analysis_known_issues(&query).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(answers.into_iter().flat_map(|answer| answer.issues).map(|issue| issue.hash).collect())
}

fn conduit_client(settings: &Settings, http: &UpstreamClient) -> Result<Conduit, Error> {
    let url = settings.phabricator.url.clone().ok_or_else(|| Error::Config("phabricator.url is not set".into()))?;
    let token = settings
        .phabricator
        .api_token
        .clone()
        .ok_or_else(|| Error::Config("phabricator.api_token is not set".into()))?;
    Ok(Conduit::new(url, token, http.clone()))
}

/// The body of the API upload: every issue found at head, with its classification.
pub fn issue_batch(analysis: &Analysis, revision_id: i64, repository: String) -> IssueBatch {
    let to_i32 = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
    let issues = analysis
        .issues
        .iter()
        .map(|Reported { issue, in_patch, is_new, publishable, .. }| NewIssue {
            analyzer: issue.analyzer.clone(),
            path: issue.path.clone(),
            line: to_i32(issue.line),
            nb_lines: to_i32(issue.nb_lines.max(1)),
            column: issue.column.map(to_i32),
            level: issue.level,
            check: issue.check.clone(),
            message: issue.message.clone(),
            hash: issue.hash.clone(),
            in_patch: *in_patch,
            is_new: *is_new,
            publishable: *publishable,
        })
        .collect();
    IssueBatch { revision_id, repository, base: Some(analysis.base.clone()), head: Some(analysis.head.clone()), issues }
}

fn counts(analysis: &Analysis) -> Map<String, Value> {
    let mut counts = Map::new();
    counts.insert("files".into(), json!(analysis.files.len()));
    counts.insert("issues".into(), json!(analysis.issues.len()));
    counts.insert("publishable".into(), json!(analysis.publishable().count()));
    counts.insert("known".into(), json!(analysis.known));
    counts.insert(
        "analyzer_failures".into(),
        json!(analysis.analyzers.iter().map(|analyzer| analyzer.failures.len()).sum::<usize>()),
    );
    counts
}
