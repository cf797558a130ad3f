//! The settings every bot reads the same way: how to reach the ShipIt API (`[api]`), Taskcluster
//! (`[taskcluster]`) and upstream services (`[upstream]`).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// The sections shared by every bot, loaded from the same layers as the bot's own settings.
/// Unknown top-level keys are the bot's own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommonSettings {
    pub api: ApiSettings,
    pub taskcluster: TaskclusterSettings,
    pub upstream: UpstreamSettings,
}

/// Where a bot records its runs and results: `[api] url, token` (`SHIPIT_API__URL`,
/// `SHIPIT_API__TOKEN`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// The ShipIt API's base URL.
    pub url: Option<Url>,
    /// A token with the scopes the bot writes with (`project:shipit:runs/manage` and its area's).
    pub token: Option<SecretString>,
}

/// Taskcluster, for the bots that read it (queue, index, hooks) and for the secret holding a
/// bot's credentials: `[taskcluster]` (`SHIPIT_TASKCLUSTER__ROOT_URL`, …).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskclusterSettings {
    /// e.g. `https://firefox-ci-tc.services.mozilla.com/`.
    pub root_url: Url,
    /// Credentials, for calls that need them (hooks); inside a task the proxy signs instead.
    pub client_id: String,
    pub access_token: Option<SecretString>,
    /// The hook group of the bots' hooks (`project-relman`).
    pub hook_group: String,
    /// The hook of bot `coverage` is `<hook_prefix>coverage`.
    pub hook_prefix: String,
    /// The task's taskcluster proxy (`features.taskclusterProxy`), which signs requests with the
    /// task's scopes. Default: `TASKCLUSTER_PROXY_URL` when the worker sets it, else
    /// `http://taskcluster/`.
    pub proxy_url: Option<Url>,
    /// A Taskcluster secret holding more settings (`project/relman/shipit/uplift`), read
    /// through the proxy at start: its `common` object, then its `<bot name>` object, both in
    /// the shape of the configuration file, layered between the file and the environment.
    pub secret: Option<String>,
}

impl Default for TaskclusterSettings {
    fn default() -> Self {
        Self {
            root_url: Url::parse("https://firefox-ci-tc.services.mozilla.com/").expect("a valid URL"),
            client_id: String::new(),
            access_token: None,
            hook_group: "project-relman".to_owned(),
            hook_prefix: "shipit-".to_owned(),
            proxy_url: None,
            secret: None,
        }
    }
}

impl TaskclusterSettings {
    /// The proxy to read the secret through.
    pub fn proxy(&self) -> Url {
        self.proxy_url
            .clone()
            .or_else(|| std::env::var("TASKCLUSTER_PROXY_URL").ok().and_then(|url| Url::parse(&url).ok()))
            .unwrap_or_else(|| Url::parse("http://taskcluster/").expect("a valid URL"))
    }
}

/// How upstream services (Bugzilla, Taskcluster, Phabricator, hg.mozilla.org) are reached:
/// `[upstream]` (`SHIPIT_UPSTREAM__TIMEOUT_SECS`, `SHIPIT_UPSTREAM__REPLAY_DIR`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Each request's timeout.
    pub timeout_secs: u64,
    /// Answer every upstream request from the recorded answers in this directory instead of the
    /// network (see `shipit_shared::http::Replay`): how the sample data is made offline. The
    /// ShipIt API is always reached for real.
    pub replay_dir: Option<PathBuf>,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self { timeout_secs: 60, replay_dir: None }
    }
}

impl UpstreamSettings {
    /// [`Self::timeout_secs`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }
}
