//! The bot's job, as `check` runs it: clone or fetch the repository when asked, get the change
//! (revision, patch or Phabricator diff), analyze it off the async executor, leave out the issues
//! the ShipIt API already knows at base (unless the base was analyzed too), record the run and
//! the issues in the API, and comment on Phabricator.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::RunTrigger;
use shipit_shared::api_types::static_analysis::{
    IssueBatch, IssueBatchResult, KnownIssues, KnownIssuesQuery, NewIssue,
};
use shipit_shared::bot::{Bot, Context, Report};
use shipit_shared::http::UpstreamClient;

use crate::analysis::{self, Analysis, Options, Reported};
use crate::config::Settings;
use crate::error::Error;
use crate::phabricator::{self, Conduit, DiffReference, Published};
use crate::report::{self, Format};
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
    /// A Phabricator diff.
    Phabricator(DiffReference),
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
    /// The repository name the issues are recorded under (default: the repository path).
    pub repository_name: Option<String>,
}

/// What `check` did.
#[derive(Debug)]
pub struct CheckOutcome {
    pub analysis: Analysis,
    pub uploaded: Option<IssueBatchResult>,
    pub published: Option<Published>,
}

/// `static-analysis-bot check` on the bot kit: the check, then its report written out.
#[derive(Clone, Debug)]
pub struct StaticAnalysisBot {
    pub request: CheckRequest,
    pub format: Format,
    /// The report's file; standard output when absent.
    pub output: Option<PathBuf>,
}

impl Bot for StaticAnalysisBot {
    const NAME: &'static str = BOT_NAME;
    type Settings = Settings;
    type Error = Error;

    fn trigger(&self) -> RunTrigger {
        if matches!(self.request.source, Source::Phabricator(_)) { RunTrigger::Pulse } else { RunTrigger::Manual }
    }

    fn parameters(&self) -> Map<String, Value> {
        let request = &self.request;
        let mut parameters = Map::new();
        parameters.insert("repository".into(), json!(request.repository.display().to_string()));
        parameters.insert("base".into(), json!(request.base));
        parameters.insert("before_after".into(), json!(request.before_after));
        if let Source::Phabricator(diff) = &request.source {
            parameters.insert("phabricator_diff".into(), json!(diff.to_string()));
        }
        if let Some(url) = &request.fetch {
            parameters.insert("fetch".into(), json!(url));
        }
        parameters
    }

    async fn run(&self, context: &Context<Settings>) -> Result<Report, Error> {
        let outcome = check(context, &self.request).await?;
        let write = || -> std::io::Result<()> {
            let sink: Box<dyn Write> = match &self.output {
                Some(path) => Box::new(std::fs::File::create(path)?),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut out = std::io::BufWriter::new(sink);
            report::write(&outcome.analysis, self.format, &self.request.reproduce, &mut out)?;
            out.flush()
        };
        let report_path = self.output.clone().unwrap_or_else(|| PathBuf::from("standard output"));
        write().map_err(|source| Error::Io { path: report_path, source })?;
        let analysis = &outcome.analysis;
        let failures = analysis
            .analyzers
            .iter()
            .flat_map(|analyzer| {
                analyzer.failures.iter().map(move |failure| {
                    format!("{} ({}, {}): {}", analyzer.name, failure.side, failure.files.join(" "), failure.error)
                })
            })
            .collect();
        Ok(Report::with_failures(failures, counts(analysis)))
    }
}

/// Runs the check; with the API configured, leaves out what it knows at base, reports progress
/// to the context's run and records the issues.
pub async fn check(context: &Context<Settings>, request: &CheckRequest) -> Result<CheckOutcome, Error> {
    let (settings, http, api) = (&context.settings, &context.http, context.api().ok());
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
        Source::Phabricator(reference) => {
            let client = conduit_client(settings, http)?;
            let diff = client.diff(reference).await?;
            let revision_id = client.revision_id(&diff.revision_phid).await?;
            let patch = client.raw_diff(diff.id).await?;
            let base = request.base.clone().or_else(|| diff.base.clone()).ok_or_else(|| {
                Error::Config(format!("Phabricator does not know the base of diff {reference}: give --base"))
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

    let repository = request.repository_name.clone().unwrap_or_else(|| request.repository.display().to_string());
    if let Some(api) = api
        && !request.before_after
    {
        let known = known_hashes(api, &repository, &analysis.files).await?;
        let excluded = analysis.exclude_known(&known);
        tracing::info!(known = known.len(), excluded, "issues known at base left out");
    }

    let mut uploaded = None;
    if let Some(api) = api {
        let files = i64::try_from(analysis.files.len()).unwrap_or(i64::MAX);
        context.progress(files, files, "analyzed", counts(&analysis)).await;
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
    let queries: Vec<KnownIssuesQuery> = paths
        .iter()
        .map(|path| KnownIssuesQuery { repository: repository.to_owned(), path: Some(path.clone()) })
        .collect();
    // Owned queries and a cloned client keep the futures `Send` for any lifetime.
    let answers: Vec<KnownIssues> = futures::stream::iter(queries)
        .map(|query| {
            let api = api.clone();
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
