//! The bot kit: one way to be a bot. A bot names itself, declares its settings and implements
//! one [`Bot::run`] returning a [`Report`]; the kit does the rest, the same way for every bot:
//! tracing, the layered configuration (file, Taskcluster secret, environment), the clients,
//! adopting the run opened for it (`SHIPIT_RUN_ID`) or opening one, progress, closing the run
//! whatever happens (success, error, panic, SIGINT or SIGTERM) and the exit status.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::api_client::{ApiClient, ApiClientError};
use crate::api_types::{NewRun, RunFinish, RunOutcome, RunProgress, RunStatus, RunTrigger};
use crate::config::{ConfigError, Layers};
use crate::http::{HttpError, RetryPolicy, UpstreamClient};
use crate::runner::RUN_ID_VARIABLE;
use crate::secrets::SecretError;
use crate::settings::{CommonSettings, TaskclusterSettings};
use crate::signals::{Stop, stop_requested};

/// The longest error summary the kit sends; longer ones keep their start and say so.
pub const SUMMARY_LIMIT: usize = 8 * 1024;

/// A bot: its name, its settings, and the work of one run.
pub trait Bot: Send + Sync + 'static {
    /// The bot's name, as in its runs and its hook (`hooks/<name>.json`).
    const NAME: &'static str;
    /// The bot's own settings, read from the same layers as the common sections (`[api]`,
    /// `[taskcluster]`, `[upstream]`), which it does not repeat.
    type Settings: DeserializeOwned + Send + Sync + 'static;
    /// Why a run failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// What started the run, when the bot opens its own.
    fn trigger(&self) -> RunTrigger {
        RunTrigger::Manual
    }

    /// The parameters recorded with a run the bot opens itself.
    fn parameters(&self) -> Map<String, Value> {
        Map::new()
    }

    /// The work of one run.
    fn run(&self, context: &Context<Self::Settings>) -> impl Future<Output = Result<Report, Self::Error>> + Send;
}

/// What a run ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Done, except for these items (one line each).
    Partial {
        failures: Vec<String>,
    },
    /// Not done, for this reason.
    Failed {
        reason: String,
    },
}

/// The outcome of a run and its counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub outcome: Outcome,
    pub counts: Map<String, Value>,
}

impl Report {
    /// Succeeded, or partial when `failures` is not empty.
    pub fn with_failures(failures: Vec<String>, counts: Map<String, Value>) -> Self {
        let outcome = if failures.is_empty() { Outcome::Succeeded } else { Outcome::Partial { failures } };
        Self { outcome, counts }
    }

    /// Failed for `reason`, with what was counted until then.
    pub fn failed(reason: impl Into<String>, counts: Map<String, Value>) -> Self {
        Self { outcome: Outcome::Failed { reason: reason.into() }, counts }
    }
}

/// How a bot's process ends, as its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Succeeded,
    /// 1: the run failed (its error summary says why).
    Failed,
    /// 2: the configuration is unusable; no run was recorded.
    Configuration,
    /// 3: done except for some items, listed in the run's error summary.
    Partial,
    /// 130 or 143: stopped by SIGINT or SIGTERM; the run was closed as failed.
    Stopped(Stop),
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Self::Succeeded => 0,
            Self::Failed => 1,
            Self::Configuration => 2,
            Self::Partial => 3,
            Self::Stopped(stop) => stop.exit_status(),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The ShipIt API is needed and not configured.
#[derive(Debug, thiserror::Error)]
#[error("api.url is not set (SHIPIT_API__URL): {0} records its results in the ShipIt API")]
pub struct ApiNotConfigured(pub &'static str);

/// What a run can reach: its settings, the clients, and its run record.
#[derive(Debug)]
pub struct Context<S> {
    /// The bot's own settings.
    pub settings: S,
    pub taskcluster: TaskclusterSettings,
    /// For upstream services; it replays recorded answers when `upstream.replay_dir` is set.
    pub http: UpstreamClient,
    bot: &'static str,
    api: Option<ApiClient>,
    run_id: Option<i64>,
}

impl<S> Context<S> {
    /// A context outside the kit's lifecycle (a library's caller, a test): no run is recorded.
    pub fn unrecorded(bot: &'static str, settings: S, http: UpstreamClient, api: Option<ApiClient>) -> Self {
        Self { settings, taskcluster: TaskclusterSettings::default(), http, bot, api, run_id: None }
    }

    /// The ShipIt API client.
    pub fn api(&self) -> Result<&ApiClient, ApiNotConfigured> {
        self.api.as_ref().ok_or(ApiNotConfigured(self.bot))
    }

    /// The run being recorded, when the API is configured.
    pub fn run_id(&self) -> Option<i64> {
        self.run_id
    }

    /// Reports progress in the log and to the run; a failure to report is logged, never fatal.
    pub async fn progress(&self, done: i64, total: i64, message: &str, counts: Map<String, Value>) {
        tracing::info!(done, total, message, "progress");
        let (Some(api), Some(id)) = (&self.api, self.run_id) else { return };
        let progress = RunProgress { done: Some(done), total: Some(total), message: Some(message.to_owned()), counts };
        if let Err(error) = api.report_progress(id, &progress).await {
            tracing::warn!(run.id = id, %error, "cannot report progress");
        }
    }
}

/// Why the kit could not start a run.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] HttpError),
    #[error("cannot record the run in the ShipIt API: {0}")]
    Api(#[from] ApiClientError),
    /// `SHIPIT_RUN_ID` names a run this bot may not report to.
    #[error("run {id} given by {RUN_ID_VARIABLE} {reason}")]
    Adoption { id: String, reason: String },
}

/// The whole life of a bot process: logging, a runtime, [`execute`], the exit status.
pub fn main<B: Bot>(bot: B, config_file: Option<&Path>) -> ExitCode {
    crate::telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return Exit::Failed.into();
        }
    };
    let adopted = std::env::var(RUN_ID_VARIABLE).ok();
    let exit = runtime.block_on(execute(bot, config_file, adopted));
    // Work a signal or a failure left running in blocking threads is not waited for.
    runtime.shutdown_background();
    exit.into()
}

/// Loads the settings, begins the run (adopting run `adopted` when given: `SHIPIT_RUN_ID`), runs
/// the bot and closes the run with its outcome.
pub async fn execute<B: Bot>(bot: B, config_file: Option<&Path>, adopted: Option<String>) -> Exit {
    let (context, run_id) = match prepare(&bot, config_file, adopted).await {
        Ok(prepared) => prepared,
        Err(error @ (KitError::Config(_) | KitError::Secret(_) | KitError::Http(_))) => {
            tracing::error!(bot.name = B::NAME, error = %error, "cannot configure the bot");
            return Exit::Configuration;
        }
        Err(error) => {
            tracing::error!(bot.name = B::NAME, error = %error, "cannot begin the run");
            return Exit::Failed;
        }
    };
    let context = Arc::new(context);
    let bot = Arc::new(bot);
    let work = tokio::spawn({
        let (bot, context) = (bot.clone(), context.clone());
        async move { bot.run(&context).await }
    });
    let (finish, exit) = tokio::select! {
        joined = work => match joined {
            Ok(Ok(report)) => closing(report),
            Ok(Err(error)) => {
                let summary = error_chain(&error);
                tracing::error!(bot.name = B::NAME, error = %summary, "the run failed");
                (finish(RunOutcome::Failed, Some(summary), Map::new()), Exit::Failed)
            }
            Err(join_error) => {
                let summary = format!("the bot panicked: {}", panic_message(join_error));
                tracing::error!(bot.name = B::NAME, error = %summary, "the run failed");
                (finish(RunOutcome::Failed, Some(summary), Map::new()), Exit::Failed)
            }
        },
        stop = stop_requested() => {
            let summary = format!("stopped by {} before the end of the run", stop.name());
            (finish(RunOutcome::Failed, Some(summary), Map::new()), Exit::Stopped(stop))
        }
    };
    let (Some(api), Some(id)) = (&context.api, run_id) else { return exit };
    match api.finish_run(id, &finish).await {
        Ok(_) => {
            tracing::info!(run.id = id, bot.name = B::NAME, outcome = ?finish.status, "run closed");
            exit
        }
        Err(error) => {
            tracing::error!(run.id = id, %error, "cannot close the run; the API will mark it failed after its timeout");
            if exit == Exit::Succeeded { Exit::Failed } else { exit }
        }
    }
}

/// Settings, clients and the run record.
async fn prepare<B: Bot>(
    bot: &B,
    config_file: Option<&Path>,
    adopted: Option<String>,
) -> Result<(Context<B::Settings>, Option<i64>), KitError> {
    let mut layers = Layers::read(config_file, None)?;
    let mut common: CommonSettings = layers.settings()?;
    if let Some(name) = common.taskcluster.secret.clone() {
        let http = UpstreamClient::new(common.upstream.timeout(), RetryPolicy::default())?;
        let secret = crate::secrets::fetch(&http, &common.taskcluster.proxy(), &name, B::NAME).await?;
        tracing::info!(secret = name, keys = secret.len(), "settings read from the Taskcluster secret");
        layers = Layers::read(config_file, Some(&secret))?;
        common = layers.settings()?;
    }
    let settings: B::Settings = layers.settings()?;

    let live = UpstreamClient::new(common.upstream.timeout(), RetryPolicy::default())?;
    let http = match &common.upstream.replay_dir {
        Some(directory) => {
            tracing::info!(directory = %directory.display(), "upstream answers are replayed from files");
            live.clone().replaying(directory)
        }
        None => live.clone(),
    };
    let api = common.api.url.clone().map(|url| ApiClient::new(url, common.api.token.clone(), live));
    let run_id = match &api {
        Some(api) => Some(begin_run(bot, api, adopted, common.upstream.replay_dir.is_some()).await?),
        None => {
            tracing::warn!(bot.name = B::NAME, "api.url is not set (SHIPIT_API__URL): this run is not recorded");
            None
        }
    };
    let context = Context { settings, taskcluster: common.taskcluster, http, bot: B::NAME, api, run_id };
    Ok((context, run_id))
}

/// Adopts run `adopted` (it must be an open run of this bot), or opens one. A run made from
/// recorded answers carries the parameter `SAMPLE`.
async fn begin_run<B: Bot>(bot: &B, api: &ApiClient, adopted: Option<String>, replayed: bool) -> Result<i64, KitError> {
    if let Some(given) = adopted.filter(|id| !id.trim().is_empty()) {
        let refuse = |reason: String| KitError::Adoption { id: given.clone(), reason };
        let id: i64 = given.trim().parse().map_err(|_| refuse("is not a run id".to_owned()))?;
        let run = api.run(id).await?;
        if run.bot != B::NAME {
            return Err(refuse(format!("is a run of {}, not of {}", run.bot, B::NAME)));
        }
        if run.status != RunStatus::Running {
            return Err(refuse("is closed already".to_owned()));
        }
        tracing::info!(run.id = id, bot.name = B::NAME, "run adopted");
        return Ok(id);
    }
    let mut parameters = bot.parameters();
    if replayed {
        parameters.insert("SAMPLE".to_owned(), Value::from("recorded upstream answers"));
    }
    let run = api.open_run(&NewRun { bot: B::NAME.to_owned(), trigger: bot.trigger(), parameters }).await?;
    tracing::info!(run.id = run.id, bot.name = B::NAME, "run opened");
    Ok(run.id)
}

fn closing(report: Report) -> (RunFinish, Exit) {
    match report.outcome {
        Outcome::Succeeded => (finish(RunOutcome::Succeeded, None, report.counts), Exit::Succeeded),
        Outcome::Partial { failures } => {
            tracing::warn!(failures = failures.len(), "the run is partial");
            (finish(RunOutcome::Partial, Some(failures.join("\n")), report.counts), Exit::Partial)
        }
        Outcome::Failed { reason } => {
            tracing::error!(error = %reason, "the run failed");
            (finish(RunOutcome::Failed, Some(reason), report.counts), Exit::Failed)
        }
    }
}

fn finish(status: RunOutcome, summary: Option<String>, counts: Map<String, Value>) -> RunFinish {
    RunFinish { status, error_summary: summary.map(bounded), counts }
}

/// `summary`, cut at [`SUMMARY_LIMIT`] bytes with a line saying how much was left out.
fn bounded(summary: String) -> String {
    if summary.len() <= SUMMARY_LIMIT {
        return summary;
    }
    let end = summary.floor_char_boundary(SUMMARY_LIMIT - 64);
    format!("{}\n… ({} more bytes left out)", &summary[..end], summary.len() - end)
}

/// The error and its sources, `outer: inner: innermost`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Errors that print their source already (`#[error("…: {0}")]`) are not repeated.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned()),
        Err(error) => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot reach the upstream")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_summary_holds_every_source_once() {
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&error), "cannot reach the upstream: connection refused");
    }

    #[test]
    fn long_summaries_are_cut_and_say_so() {
        let summary = bounded("é".repeat(SUMMARY_LIMIT));
        assert!(summary.len() <= SUMMARY_LIMIT, "{}", summary.len());
        assert!(summary.ends_with("more bytes left out)"));
        assert_eq!(bounded("short".to_owned()), "short");
    }

    #[test]
    fn exit_statuses_tell_the_outcomes_apart() {
        let codes: Vec<u8> = [
            Exit::Succeeded,
            Exit::Failed,
            Exit::Configuration,
            Exit::Partial,
            Exit::Stopped(Stop::Interrupt),
            Exit::Stopped(Stop::Terminate),
        ]
        .into_iter()
        .map(Exit::code)
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 130, 143]);
    }
}
