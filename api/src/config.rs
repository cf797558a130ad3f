//! The API's configuration: defaults here, overridden by `shipit.toml`, then by `SHIPIT_*`
//! variables, then by flags (see `shipit_shared::config` for the precedence).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// Settings of the API process and its database.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// Address to listen on (`SHIPIT_LISTEN`).
    pub listen: SocketAddr,
    /// PostgreSQL URL (`DATABASE_URL`); without it, the embedded cluster in `pg_dir` is used.
    pub database_url: Option<SecretString>,
    /// Data directory of the embedded cluster (`SHIPIT_PG_DIR`).
    pub pg_dir: PathBuf,
    /// Whether reads need no token (`SHIPIT_PUBLIC_READS`).
    pub public_reads: bool,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Requests taking longer get 503.
    pub request_timeout_secs: u64,
    /// An open run with no report for this long is marked failed.
    pub run_timeout_secs: u64,
    /// How often open runs are checked for that timeout.
    pub sweep_interval_secs: f64,
    /// Database connections at most.
    pub pool_size: usize,
    /// Longest wait for a database connection.
    pub db_timeout_secs: u64,
    /// Largest coverage report accepted, in bytes once decompressed.
    pub coverage_upload_limit_bytes: usize,
    /// Coverage uploads processed at once; more get 503 with `Retry-After`.
    pub coverage_upload_concurrency: usize,
    /// Pushlog lookups in flight at once (coverage reads of a changeset without a report);
    /// more get 503 with `Retry-After`.
    pub pushlog_concurrency: usize,
    /// Pushlog answers cached.
    pub pushlog_cache_entries: usize,
    /// How long "the pushlog does not know this changeset" is cached, in seconds.
    pub pushlog_not_found_ttl_secs: u64,
    /// hg.mozilla.org, whose pushlog places a changeset without a coverage report.
    pub hgmo_url: String,
    /// How reruns and scheduled runs are started.
    pub runner: RunnerKind,
    /// Whether `serve` runs the bots' schedules itself (deployments without Taskcluster).
    pub scheduler_enabled: bool,
    /// Where the local runner finds the bot binaries; the API binary's directory by default.
    pub bot_bin_dir: Option<PathBuf>,
    /// Where the local runner writes each run's output.
    pub bot_log_dir: PathBuf,
    /// Where the local runner's token is kept across restarts (mode 0600); beside `pg_dir` by
    /// default.
    pub runner_token_file: Option<PathBuf>,
    /// Taskcluster Hooks, for `runner = "taskcluster"`.
    pub taskcluster: Option<TaskclusterSettings>,
    /// The URL at which step services reach this API, for its built-in step services
    /// (`SHIPIT_PUBLIC_URL`); the address it listens on by default.
    pub public_url: Option<String>,
    /// The pipeline engine (`[pipelines]`).
    pub pipelines: PipelineSettings,
    /// Who may sign (`[signoff]`).
    pub signoff: SignoffSettings,
    /// Who is told of sign-off steps, and how (`[notifications]`).
    pub notifications: NotificationSettings,
    /// How long a dashboard sign-in lasts (`SHIPIT_UI_SESSION_HOURS`); the token's own expiry
    /// and revocation end it sooner.
    pub ui_session_hours: u32,
}

/// Rules of signing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignoffSettings {
    /// Only a person signed in with a second factor may sign (`SHIPIT_SIGNOFF__REQUIRE_MFA`).
    pub require_mfa: bool,
}

/// How people are told that a sign-off step waits for them, completed or expired: by email
/// over SMTP, by a webhook, both or neither.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct NotificationSettings {
    /// `smtp://host:port` (plain or STARTTLS when offered), `smtps://user:password@host` (TLS)
    /// (`SHIPIT_NOTIFICATIONS__SMTP_URL`); none sends no email.
    pub smtp_url: Option<SecretString>,
    /// The sender of the emails.
    pub from: String,
    /// Where a JSON document of each notification is POSTed (`SHIPIT_NOTIFICATIONS__WEBHOOK_URL`).
    pub webhook_url: Option<url::Url>,
    /// Deliveries tried before one is given up (the wait doubles from 5 s to an hour).
    pub max_attempts: u32,
    /// How often due notifications and expired sign-offs are looked for, in seconds.
    pub interval_secs: f64,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "ShipIt <shipit@localhost>".to_owned(),
            webhook_url: None,
            max_attempts: 12,
            interval_secs: 1.0,
        }
    }
}

/// How the pipeline engine runs.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PipelineSettings {
    /// Whether this process runs the engine (`SHIPIT_PIPELINES__ENGINE`).
    pub engine: bool,
    /// Whether the engine wakes on `NOTIFY` and goes on at once with what a step's end made
    /// runnable; off, it is a polling engine acting on its interval only (for comparison).
    pub listen: bool,
    /// How often the engine looks for work without being woken, in seconds.
    pub interval_secs: f64,
    /// First wait between status polls of a step; it doubles up to `poll_max_secs`.
    pub poll_initial_secs: f64,
    pub poll_max_secs: f64,
    /// First wait after a transient error of a step service; it doubles up to `retry_max_secs`.
    pub retry_initial_secs: f64,
    pub retry_max_secs: f64,
    /// How long a process holds a step it claimed before another may take it over (at least
    /// `request_timeout_secs` + 1).
    pub lease_secs: f64,
    /// Timeout of one request to a step service.
    pub request_timeout_secs: f64,
    /// Requests to step services in flight at once, per process.
    pub concurrency: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            engine: true,
            listen: true,
            interval_secs: 5.0,
            poll_initial_secs: 1.0,
            poll_max_secs: 60.0,
            retry_initial_secs: 1.0,
            retry_max_secs: 60.0,
            lease_secs: 60.0,
            request_timeout_secs: 30.0,
            concurrency: 32,
        }
    }
}

/// A number of seconds from the settings as a duration, within sane bounds.
pub fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.clamp(0.001, 86_400.0))
}

impl PipelineSettings {
    /// The engine's interval.
    pub fn interval(&self) -> Duration {
        seconds(self.interval_secs)
    }

    /// How long a claim holds: at least a second longer than a request to a step service may
    /// take, so that a slow answer is never overtaken by a second request.
    pub fn lease(&self) -> Duration {
        seconds(self.lease_secs.max(self.request_timeout_secs + 1.0))
    }

    /// The timeout of a request to a step service.
    pub fn request_timeout(&self) -> Duration {
        seconds(self.request_timeout_secs)
    }
}

/// How the API starts bot runs.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    /// Spawn the bot binaries on this machine.
    #[default]
    Local,
    /// Trigger the bots' Taskcluster hooks.
    Taskcluster,
    /// Start nothing: reruns answer 503 and schedules are off.
    None,
}

/// Where the bots' hooks are, and the client allowed to trigger them.
#[derive(Clone, Debug, Deserialize)]
pub struct TaskclusterSettings {
    pub root_url: url::Url,
    pub client_id: String,
    pub access_token: SecretString,
    #[serde(default = "default_hook_group")]
    pub hook_group: String,
    #[serde(default = "default_hook_prefix")]
    pub hook_prefix: String,
}

fn default_hook_group() -> String {
    "project-relman".to_owned()
}

fn default_hook_prefix() -> String {
    "shipit-".to_owned()
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: None,
            pg_dir: PathBuf::from(".shipit/pg"),
            public_reads: true,
            body_limit_bytes: 16 * 1024 * 1024,
            request_timeout_secs: 30,
            run_timeout_secs: 2 * 3600,
            sweep_interval_secs: 60.0,
            pool_size: 16,
            db_timeout_secs: 5,
            coverage_upload_limit_bytes: 1024 * 1024 * 1024,
            coverage_upload_concurrency: 2,
            pushlog_concurrency: 4,
            pushlog_cache_entries: 10_000,
            pushlog_not_found_ttl_secs: 300,
            hgmo_url: "https://hg.mozilla.org".to_owned(),
            runner: RunnerKind::Local,
            scheduler_enabled: true,
            bot_bin_dir: None,
            bot_log_dir: PathBuf::from(".shipit/logs"),
            runner_token_file: None,
            taskcluster: None,
            public_url: None,
            pipelines: PipelineSettings::default(),
            signoff: SignoffSettings::default(),
            notifications: NotificationSettings::default(),
            ui_session_hours: 8,
        }
    }
}

impl ApiConfig {
    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Where the local runner's token is kept: `runner_token_file`, or `local-runner.token`
    /// beside the private cluster's directory.
    pub fn runner_token_path(&self) -> PathBuf {
        self.runner_token_file.clone().unwrap_or_else(|| self.pg_dir.with_file_name("local-runner.token"))
    }

    /// The URL at which step services reach this API.
    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The wait for a database connection as a duration.
    pub fn db_timeout(&self) -> Duration {
        Duration::from_secs(self.db_timeout_secs)
    }
}
