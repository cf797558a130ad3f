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
    /// Bytes of coverage nodes kept in memory (see [`crate::coverage_cache`]); 0 keeps none.
    pub coverage_cache_bytes: u64,
    /// How long the report answering a coverage read is trusted without asking the database,
    /// in seconds: how late another API process on the same database sees an upload. 0 asks
    /// every time.
    pub coverage_lookup_ttl_secs: f64,
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
    /// Who is told of sign-off steps, and how (`[notifications]`).
    pub notifications: NotificationSettings,
    /// How long a dashboard sign-in lasts (`SHIPIT_UI_SESSION_HOURS`); the token's own expiry
    /// and revocation end it sooner.
    pub ui_session_hours: u32,
    /// Sign-offs by people (`[signoff]`).
    pub signoff: SignoffSettings,
    /// The identity provider whose ID tokens identify people (`[oidc]`); without it, only local
    /// users (`shipit-api user create`) can act as people.
    pub oidc: Option<OidcSettings>,
}

/// How people sign off.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct SignoffSettings {
    /// Whether a sign-off needs a person who signed in with a second factor
    /// (`SHIPIT_SIGNOFF__REQUIRE_MFA`).
    pub require_mfa: bool,
    /// How long a local user's person token (`POST /auth/sessions`) lasts, in minutes
    /// (`SHIPIT_SIGNOFF__SESSION_MINUTES`).
    pub session_minutes: u32,
}

impl Default for SignoffSettings {
    fn default() -> Self {
        Self { require_mfa: false, session_minutes: 60 }
    }
}

/// An OpenID Connect provider (Mozilla's Auth0): its ID tokens, as bearer tokens, identify people,
/// and the dashboard signs people in with it (the authorization-code flow with PKCE, redirecting
/// back to `<public_url>/ui/sign-in/oidc/callback`).
#[derive(Clone, Debug, Deserialize)]
pub struct OidcSettings {
    /// The issuer, matched exactly against the tokens' `iss` (an issuer without a path also
    /// with or without its final `/`, which `Url` always adds).
    pub issuer: url::Url,
    /// The client id the tokens must name in `aud`; the dashboard's sign-in is this client.
    pub audience: String,
    /// The client's secret, sent to the token endpoint when set; without it the client is
    /// public and proves itself with PKCE alone. Never printed.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// The scopes the dashboard's sign-in asks for, separated by spaces (`openid` is always
    /// asked for).
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// The provider's keys; discovered from `<issuer>/.well-known/openid-configuration` when absent.
    #[serde(default)]
    pub jwks_url: Option<url::Url>,
    /// The claim holding the person's email.
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    /// The claim holding the person's groups, a list of strings (absent: no groups).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Values of the `amr` claim that mean a second factor was used.
    #[serde(default = "default_mfa_values")]
    pub mfa_values: Vec<String>,
    /// The keys are fetched again, when a token names an unknown key, at most this often.
    #[serde(default = "default_jwks_refresh_secs")]
    pub jwks_refresh_secs: u64,
}

impl OidcSettings {
    /// Settings for `issuer` and `audience`, with the defaults for the rest.
    pub fn new(issuer: url::Url, audience: impl Into<String>) -> Self {
        Self {
            issuer,
            audience: audience.into(),
            client_secret: None,
            scopes: default_scopes(),
            jwks_url: None,
            email_claim: default_email_claim(),
            groups_claim: default_groups_claim(),
            mfa_values: default_mfa_values(),
            jwks_refresh_secs: default_jwks_refresh_secs(),
        }
    }

    /// The `scope` of an authorization request: the configured scopes, `openid` first and once.
    pub fn scope(&self) -> String {
        let others = self.scopes.split_whitespace().filter(|scope| *scope != "openid");
        std::iter::once("openid").chain(others).collect::<Vec<_>>().join(" ")
    }
}

fn default_scopes() -> String {
    "openid email profile".to_owned()
}

fn default_email_claim() -> String {
    "email".to_owned()
}

fn default_groups_claim() -> String {
    "https://sso.mozilla.com/claim/groups".to_owned()
}

fn default_mfa_values() -> Vec<String> {
    ["mfa", "otp", "hwk", "swk", "sms"].map(str::to_owned).to_vec()
}

fn default_jwks_refresh_secs() -> u64 {
    60
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
    /// The hosts of the external step services a pipeline step may name in `api_url`; none by
    /// default, so that a pipeline cannot make the API send requests anywhere it can reach.
    pub step_service_hosts: Vec<String>,
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
            step_service_hosts: Vec::new(),
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
            coverage_cache_bytes: 256 * 1024 * 1024,
            coverage_lookup_ttl_secs: 2.0,
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
            notifications: NotificationSettings::default(),
            ui_session_hours: 8,
            signoff: SignoffSettings::default(),
            oidc: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_settings_have_defaults_and_oidc_needs_only_its_issuer_and_audience() {
        let config = ApiConfig::default();
        assert!(!config.signoff.require_mfa);
        assert_eq!(config.signoff.session_minutes, 60);
        assert!(config.oidc.is_none());

        let config: ApiConfig = serde_json::from_value(serde_json::json!({
            "signoff": {"require_mfa": true},
            "oidc": {"issuer": "https://auth.mozilla.auth0.com/", "audience": "shipit"},
        }))
        .unwrap();
        assert!(config.signoff.require_mfa);
        assert_eq!(config.signoff.session_minutes, 60);
        let oidc = config.oidc.unwrap();
        assert_eq!((oidc.issuer.as_str(), oidc.audience.as_str()), ("https://auth.mozilla.auth0.com/", "shipit"));
        assert_eq!(oidc.jwks_url, None);
        assert_eq!(oidc.email_claim, "email");
        assert_eq!(oidc.groups_claim, "https://sso.mozilla.com/claim/groups");
        assert_eq!(oidc.mfa_values, ["mfa", "otp", "hwk", "swk", "sms"]);
        assert_eq!(oidc.jwks_refresh_secs, 60);
        assert!(oidc.client_secret.is_none(), "a public client by default");
        assert_eq!(oidc.scopes, "openid email profile");

        let confidential: OidcSettings = serde_json::from_value(serde_json::json!({
            "issuer": "https://auth.mozilla.auth0.com/", "audience": "shipit", "client_secret": "hunter2-s3cret",
            "scopes": "openid email",
        }))
        .unwrap();
        assert_eq!(
            confidential.client_secret.as_ref().map(secrecy::ExposeSecret::expose_secret),
            Some("hunter2-s3cret")
        );
        assert_eq!(confidential.scopes, "openid email");
        assert!(!format!("{confidential:?}").contains("hunter2"), "the secret is never printed");
        assert_eq!(confidential.scope(), "openid email");
        let without_openid = OidcSettings { scopes: "email  profile openid".to_owned(), ..confidential };
        assert_eq!(without_openid.scope(), "openid email profile");

        let missing =
            serde_json::from_value::<ApiConfig>(serde_json::json!({"oidc": {"issuer": "https://a.example/"}}));
        assert!(missing.is_err(), "an [oidc] section without an audience is refused");
    }
}
