//! Starting a bot run, one mechanism with two backends: Taskcluster Hooks (`triggerHook`,
//! Hawk-signed) in production, or spawning the bot binary on this machine.
//!
//! Every start is recorded: the run is opened in the API first, and its id is handed to the bot
//! (`SHIPIT_RUN_ID`), which reports progress and closes it. Parameters reach the bot the same way
//! with both backends: the hook's task template and the local spawn set one environment variable
//! per parameter, named by the parameter (`REPOSITORY`, `REVISION`). A parameter can never set
//! one of the runner's own variables ([`check_parameters`]): the hook's trigger payload carries
//! the run id apart from the parameters (`{"run_id", "parameters"}`), and the local spawn sets its
//! variables after the parameters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use secrecy::SecretString;
use serde_json::{Map, Value};
use url::Url;

use crate::api_client::{ApiClient, ApiClientError};
use crate::api_types::{NewRun, Run, RunFinish, RunOutcome, RunStatus, RunTrigger};
use crate::http::{HttpError, UpstreamClient};
use crate::taskcluster::{Credentials, Taskcluster, TaskclusterError};
use std::future::Future;

/// The environment variable naming the run a started bot reports to.
pub const RUN_ID_VARIABLE: &str = "SHIPIT_RUN_ID";

/// Variables starting with this (in any case) are the runner's and the bots' settings
/// (`SHIPIT_RUN_ID`, `SHIPIT_API__URL`, `SHIPIT_API__TOKEN`): no parameter may set one.
pub const RESERVED_PREFIX: &str = "SHIPIT_";

/// Variables that change how any program runs, refused as parameter names too.
const RESERVED_NAMES: &[&str] = &["PATH", "HOME", "SHELL", "IFS", "ENV", "BASH_ENV"];
const RESERVED_NAME_PREFIXES: &[&str] = &["LD_", "DYLD_"];

/// The longest parameter name.
pub const MAX_PARAMETER_NAME: usize = 64;

/// Refuses parameters that are not plain variable names (ASCII letters, digits and `_`,
/// starting with a letter), or that would set one of the runner's own variables or one that
/// changes how programs run. Names count as the environment sees them: in capitals.
pub fn check_parameters(parameters: &Map<String, Value>) -> Result<(), RunnerError> {
    for name in parameters.keys() {
        let variable = name.to_ascii_uppercase();
        let plain = name.len() <= MAX_PARAMETER_NAME
            && name.starts_with(|first: char| first.is_ascii_alphabetic())
            && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
        if !plain {
            return Err(RunnerError::Parameter {
                name: name.clone(),
                reason: format!(
                    "a parameter name is 1 to {MAX_PARAMETER_NAME} ASCII letters, digits and `_`, starting with a letter"
                ),
            });
        }
        let reserved = variable.starts_with(RESERVED_PREFIX)
            || RESERVED_NAMES.contains(&variable.as_str())
            || RESERVED_NAME_PREFIXES.iter().any(|prefix| variable.starts_with(prefix));
        if reserved {
            return Err(RunnerError::Parameter {
                name: name.clone(),
                reason: format!("`{variable}` is set by the runner or the system, never by a parameter"),
            });
        }
    }
    Ok(())
}

/// What to start.
#[derive(Clone, Debug)]
pub struct TriggerRequest {
    pub bot: String,
    pub trigger: RunTrigger,
    pub parameters: Map<String, Value>,
}

/// A started run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedRun {
    pub run_id: i64,
    /// The Taskcluster task id, or the local process id.
    pub reference: String,
}

/// Why a run could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The API refused or could not be reached, when opening or closing the run.
    #[error("cannot record the run: {0}")]
    Api(#[from] ApiClientError),
    /// Taskcluster refused the trigger or could not be reached.
    #[error("cannot trigger the hook: {0}")]
    Taskcluster(#[from] HttpError),
    /// Taskcluster answered, but not with a task.
    #[error("unexpected answer from Taskcluster: {0}")]
    Unexpected(String),
    /// The API's own database failed, when the API starts a run.
    #[error("cannot record the run: {0}")]
    Store(String),
    /// A parameter may not be passed to a bot.
    #[error("parameter `{name}` refused: {reason}")]
    Parameter { name: String, reason: String },
    /// The bot binary could not be started.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RunnerError {
    /// Whether trying again later may succeed (an upstream outage), as opposed to a request
    /// that will always be refused.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api(ApiClientError::Http(_)) | Self::Taskcluster(HttpError::ServerError { .. }) => true,
            Self::Taskcluster(HttpError::Transport { .. }) => true,
            Self::Api(error) => error.status().is_some_and(|status| status >= 500),
            Self::Store(_) => true,
            Self::Taskcluster(_) | Self::Unexpected(_) | Self::Parameter { .. } | Self::Spawn { .. } => false,
        }
    }
}

/// Where Taskcluster hooks live and the credentials that may trigger them.
#[derive(Clone, Debug)]
pub struct TaskclusterRunnerConfig {
    /// e.g. `https://firefox-ci-tc.services.mozilla.com`.
    pub root_url: Url,
    pub client_id: String,
    pub access_token: SecretString,
    /// e.g. `project-relman`.
    pub hook_group: String,
    /// The hook of bot `coverage` is `<hook_prefix>coverage`, e.g. `shipit-coverage`.
    pub hook_prefix: String,
}

/// How bots are spawned locally.
#[derive(Clone, Debug)]
pub struct LocalRunnerConfig {
    /// Where the bot binaries are (`<bot>-bot`).
    pub bin_dir: PathBuf,
    /// Where each run's output is written (`<bot>-<run id>.log`).
    pub log_dir: PathBuf,
    /// Extra environment for every bot (the API's URL and a token, typically).
    pub environment: BTreeMap<String, String>,
    /// The command line of each bot, binary first, as its hook's task runs it; a bot without one
    /// runs `<bot>-bot run`.
    pub commands: BTreeMap<String, Vec<String>>,
}

/// Where runs are recorded: the API through its client (bots, the pulse listener), or the
/// API's own database (the API's scheduler and reruns).
pub trait RunStore: Clone + Send + Sync + 'static {
    /// Opens a run.
    fn open(&self, run: &NewRun) -> impl Future<Output = Result<Run, RunnerError>> + Send;
    /// One run.
    fn get(&self, id: i64) -> impl Future<Output = Result<Run, RunnerError>> + Send;
    /// Closes a run.
    fn finish(&self, id: i64, finish: &RunFinish) -> impl Future<Output = Result<Run, RunnerError>> + Send;
}

impl RunStore for ApiClient {
    async fn open(&self, run: &NewRun) -> Result<Run, RunnerError> {
        Ok(self.open_run(run).await?)
    }

    async fn get(&self, id: i64) -> Result<Run, RunnerError> {
        Ok(self.run(id).await?)
    }

    async fn finish(&self, id: i64, finish: &RunFinish) -> Result<Run, RunnerError> {
        Ok(self.finish_run(id, finish).await?)
    }
}

#[derive(Clone, Debug)]
enum Backend {
    Taskcluster { config: TaskclusterRunnerConfig, http: UpstreamClient },
    Local(LocalRunnerConfig),
}

/// Starts bot runs and records them.
#[derive(Clone, Debug)]
pub struct Runner<S: RunStore = ApiClient> {
    backend: Backend,
    store: S,
}

impl<S: RunStore> Runner<S> {
    /// A runner triggering Taskcluster hooks.
    pub fn taskcluster(config: TaskclusterRunnerConfig, http: UpstreamClient, store: S) -> Self {
        Self { backend: Backend::Taskcluster { config, http }, store }
    }

    /// A runner spawning bot binaries on this machine.
    pub fn local(config: LocalRunnerConfig, store: S) -> Self {
        Self { backend: Backend::Local(config), store }
    }

    /// Opens a run, then starts it.
    pub async fn start(&self, request: &TriggerRequest) -> Result<StartedRun, RunnerError> {
        let new_run =
            NewRun { bot: request.bot.clone(), trigger: request.trigger, parameters: request.parameters.clone() };
        let run = self.store.open(&new_run).await?;
        self.launch(run.id, request).await
    }

    /// Starts a run already opened in the API. When the start fails, the run is closed as
    /// failed with the reason, so that no run stays open for a bot that never started.
    pub async fn launch(&self, run_id: i64, request: &TriggerRequest) -> Result<StartedRun, RunnerError> {
        let started = match (check_parameters(&request.parameters), &self.backend) {
            (Err(error), _) => Err(error),
            (Ok(()), Backend::Taskcluster { config, http }) => trigger_hook(config, http, run_id, request).await,
            (Ok(()), Backend::Local(config)) => spawn_local(config, self.store.clone(), run_id, request).await,
        };
        match started {
            Ok(reference) => {
                tracing::info!(run.id = run_id, bot.name = %request.bot, reference, "run started");
                Ok(StartedRun { run_id, reference })
            }
            Err(error) => {
                let finish = RunFinish {
                    status: RunOutcome::Failed,
                    error_summary: Some(error.to_string()),
                    counts: Map::new(),
                };
                if let Err(close_error) = self.store.finish(run_id, &finish).await {
                    tracing::warn!(run.id = run_id, error = %close_error, "cannot close the run that failed to start");
                }
                Err(error)
            }
        }
    }
}

/// `POST {root}/api/hooks/v1/hooks/{group}/{hook}/trigger`, signed with Hawk as Taskcluster
/// requires. The trigger payload is `{"run_id": "<id>", "parameters": {…}}`: the hook's task
/// takes `SHIPIT_RUN_ID` from `payload.run_id` and each parameter from `payload.parameters`.
async fn trigger_hook(
    config: &TaskclusterRunnerConfig,
    http: &UpstreamClient,
    run_id: i64,
    request: &TriggerRequest,
) -> Result<String, RunnerError> {
    let taskcluster = Taskcluster {
        root_url: config.root_url.clone(),
        credentials: Some(Credentials {
            client_id: config.client_id.clone(),
            access_token: config.access_token.clone(),
        }),
        http: http.clone(),
    };
    let hook = format!("{}{}", config.hook_prefix, request.bot);
    let payload = serde_json::json!({"run_id": run_id.to_string(), "parameters": request.parameters});
    taskcluster.trigger_hook(&config.hook_group, &hook, &payload).await.map_err(|error| match error {
        TaskclusterError::Http(error) => RunnerError::Taskcluster(error),
        other => RunnerError::Unexpected(other.to_string()),
    })
}

/// Spawns the bot's command (`<bin_dir>/<bot>-bot run` by default) with the parameters in its
/// environment, then the runner's own variables (set last, so that nothing overrides them), and
/// watches it: a bot that exits without closing its run gets it closed as failed, with the end of
/// its log.
async fn spawn_local(
    config: &LocalRunnerConfig,
    store: impl RunStore,
    run_id: i64,
    request: &TriggerRequest,
) -> Result<String, RunnerError> {
    let default_command = [format!("{}-bot", request.bot), "run".to_owned()];
    let command_line = config
        .commands
        .get(&request.bot)
        .filter(|command| !command.is_empty())
        .map_or(&default_command[..], Vec::as_slice);
    let binary = config.bin_dir.join(&command_line[0]);
    let spawn_error = |source| RunnerError::Spawn { binary: binary.clone(), source };
    tokio::fs::create_dir_all(&config.log_dir).await.map_err(spawn_error)?;
    let log_path = config.log_dir.join(format!("{}-{run_id}.log", request.bot));
    let log = std::fs::File::create(&log_path).map_err(spawn_error)?;
    let parameters = parameter_environment(&request.parameters);
    if let Some((name, _)) = parameters.iter().find(|(name, _)| config.environment.contains_key(name)) {
        return Err(RunnerError::Parameter {
            name: name.clone(),
            reason: format!("`{name}` is set by the runner, never by a parameter"),
        });
    }
    let mut command = tokio::process::Command::new(&binary);
    command
        .args(&command_line[1..])
        .envs(parameters)
        .envs(&config.environment)
        .env(RUN_ID_VARIABLE, run_id.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(spawn_error)?)
        .stderr(log)
        .kill_on_drop(false);
    let mut child = command.spawn().map_err(spawn_error)?;
    let pid = child.id().map_or_else(|| "exited".to_owned(), |pid| pid.to_string());
    let bot = request.bot.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        let exit = match &status {
            Ok(status) if status.success() => return,
            Ok(status) => status.to_string(),
            Err(error) => format!("cannot wait for the bot: {error}"),
        };
        let tail = log_tail(&log_path).await;
        tracing::warn!(run.id = run_id, bot.name = %bot, exit, "bot failed");
        close_if_open(&store, run_id, format!("{bot}-bot {exit}; last lines of its log:\n{tail}")).await;
    });
    Ok(pid)
}

/// One variable per parameter, named by it in capitals; strings as they are, other values as JSON.
pub fn parameter_environment(parameters: &Map<String, Value>) -> Vec<(String, String)> {
    parameters
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.to_uppercase(), value)
        })
        .collect()
}

async fn close_if_open(store: &impl RunStore, run_id: i64, summary: String) {
    match store.get(run_id).await {
        Ok(run) if run.status == RunStatus::Running => {
            let finish = RunFinish { status: RunOutcome::Failed, error_summary: Some(summary), counts: Map::new() };
            if let Err(error) = store.finish(run_id, &finish).await {
                tracing::warn!(run.id = run_id, %error, "cannot close the failed run");
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(run.id = run_id, %error, "cannot look up the failed run"),
    }
}

/// The last lines of a log, short enough for a run's error summary.
async fn log_tail(path: &std::path::Path) -> String {
    const TAIL_LINES: usize = 20;
    const TAIL_CHARS: usize = 16 * 1024;
    let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    let skip = tail.chars().count().saturating_sub(TAIL_CHARS);
    tail.chars().skip(skip).collect()
}
