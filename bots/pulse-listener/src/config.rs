//! The listener's configuration: the broker, where to trigger bots and record events, and the
//! rules, each with its own queue and bindings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use shipit_shared::settings::{ApiSettings, TaskclusterSettings};

/// Everything the listener needs, loaded with `shipit_shared::config::load`. Unknown top-level
/// keys are allowed: every `SHIPIT_*` variable (`SHIPIT_LOG_FORMAT`) reaches this struct.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ListenerConfig {
    pub broker: BrokerConfig,
    /// The Queue API for task-group listings, and the hooks that start bots.
    pub taskcluster: TaskclusterSettings,
    /// Where events and runs are recorded; the token needs `project:shipit:runs/manage` and
    /// `project:shipit:events/manage`.
    pub api: ApiSettings,
    /// Where `/__heartbeat__`, `/__lbheartbeat__`, `/__version__` and `/metrics` are served;
    /// none serves nothing.
    pub listen: Option<SocketAddr>,
    pub delivery: DeliveryConfig,
    pub rules: Vec<RuleConfig>,
    /// Start bots on this machine, as the API's local runner does, instead of through their
    /// Taskcluster hooks.
    pub local_runner: Option<LocalRunnerSettings>,
}

/// `[local_runner]`: the bots are the binaries `<bin_dir>/<bot>-bot`, each given the listener's
/// `[api]` URL and token.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalRunnerSettings {
    pub bin_dir: PathBuf,
    /// Where each run's output is written (`<bot>-<run id>.log`).
    #[serde(default = "default_log_dir")]
    pub log_dir: PathBuf,
    /// The command line of a bot, binary first (`coverage = ["coverage-bot", "run", "--config",
    /// "coverage.toml"]`); a bot without one runs `<bot>-bot run`.
    #[serde(default)]
    pub commands: BTreeMap<String, Vec<String>>,
}

fn default_log_dir() -> PathBuf {
    PathBuf::from("logs")
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            broker: BrokerConfig::default(),
            taskcluster: TaskclusterSettings::default(),
            api: ApiSettings::default(),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 8081))),
            delivery: DeliveryConfig::default(),
            rules: Vec::new(),
            local_runner: None,
        }
    }
}

/// The AMQP broker: RabbitMQ locally, Pulse in production.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `amqp://127.0.0.1:5672/%2f` locally, `amqps://pulse.mozilla.org:5671` for Pulse.
    pub url: String,
    /// The Pulse user; it also owns the queues (`queue/<user>/<name>`) and the dead-letter
    /// exchange (`exchange/<user>/<name>`), as Pulse requires.
    pub user: String,
    pub password: Option<SecretString>,
    /// Unacknowledged messages the broker may hand each rule's consumer at once; that many
    /// messages of a rule are handled concurrently.
    pub prefetch: u16,
    /// The name of the dead-letter queue and exchange: `queue/<user>/<dead_letter>`.
    pub dead_letter: String,
    /// Declare the rules' exchanges (topic, durable) when missing: for a local broker only,
    /// since Pulse's exchanges belong to their publishers.
    pub declare_exchanges: bool,
    /// Shown by the broker's management tools.
    pub connection_name: String,
    /// First wait before reconnecting after the broker is lost; it doubles up to the maximum.
    pub reconnect_initial_ms: u64,
    pub reconnect_max_ms: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            url: "amqp://127.0.0.1:5672/%2f".to_owned(),
            user: "guest".to_owned(),
            password: None,
            prefetch: 32,
            dead_letter: "dead-letter".to_owned(),
            declare_exchanges: false,
            connection_name: "shipit-pulse-listener".to_owned(),
            reconnect_initial_ms: 500,
            reconnect_max_ms: 30_000,
        }
    }
}

impl BrokerConfig {
    /// The queue of the binding set `name`.
    pub fn queue_name(&self, name: &str) -> String {
        format!("queue/{}/{name}", self.user)
    }

    /// The dead-letter exchange.
    pub fn dead_letter_exchange(&self) -> String {
        format!("exchange/{}/{}", self.user, self.dead_letter)
    }

    /// The queue holding dead-lettered messages.
    pub fn dead_letter_queue(&self) -> String {
        self.queue_name(&self.dead_letter)
    }
}

/// What happens to a message whose trigger failed for a reason that may pass.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Wait before requeueing a message after its first transient failure; it doubles with
    /// each further failure of the same event, up to the maximum.
    pub requeue_initial_ms: u64,
    pub requeue_max_ms: u64,
    /// After this many transient failures of one event, the message is dead-lettered.
    pub max_attempts: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self { requeue_initial_ms: 1_000, requeue_max_ms: 60_000, max_attempts: 20 }
    }
}

impl DeliveryConfig {
    /// The wait before requeueing after the `attempt`-th failure (from 1).
    pub fn requeue_backoff(&self, attempt: u32) -> Duration {
        backoff(self.requeue_initial_ms, self.requeue_max_ms, attempt)
    }
}

impl BrokerConfig {
    /// The wait before the `attempt`-th reconnection (from 1).
    pub fn reconnect_backoff(&self, attempt: u32) -> Duration {
        backoff(self.reconnect_initial_ms, self.reconnect_max_ms, attempt)
    }
}

fn backoff(initial_ms: u64, max_ms: u64, attempt: u32) -> Duration {
    let factor = 1u64.checked_shl(attempt.saturating_sub(1).min(32)).unwrap_or(u64::MAX);
    Duration::from_millis(initial_ms.saturating_mul(factor).min(max_ms))
}

/// One rule: a binding set (its own durable queue), and what to do with its messages. (serde's
/// `deny_unknown_fields` does not work with the flattened `kind`.)
#[derive(Clone, Debug, Deserialize)]
pub struct RuleConfig {
    /// Names the queue (`queue/<user>/<name>`) and the events it records in the API: 1 to 63
    /// lowercase letters, digits and dashes.
    pub name: String,
    /// The bot the rule starts.
    pub bot: String,
    pub exchange: String,
    /// Routing-key patterns the queue is bound with (`#`, `*.*.gecko-level-3._`).
    pub routing_keys: Vec<String>,
    #[serde(flatten)]
    pub kind: RuleKind,
}

/// What a rule looks for.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RuleKind {
    /// `task-group-resolved`: the group holds a coverage build of one of the repositories.
    CodeCoverage {
        /// e.g. `https://hg.mozilla.org/mozilla-central`.
        repositories: Vec<String>,
        /// Task names that are coverage builds start with one of these.
        #[serde(default = "default_build_prefixes")]
        build_prefixes: Vec<String>,
    },
    /// `hgpushes/v2` `changegroup.1`: a push to one of the repositories touching a file with
    /// one of the extensions.
    Risk {
        repositories: Vec<String>,
        #[serde(default = "default_extensions")]
        extensions: Vec<String>,
    },
    /// `task-completed` carrying `route`: a try push of the code-review workflow is complete.
    StaticAnalysis {
        route: String,
        /// The task tag holding the Phabricator diff (its id or PHID), passed on as
        /// `PHABRICATOR_DIFF`; a task without it is skipped.
        #[serde(default = "default_diff_tag")]
        diff_tag: String,
    },
}

fn default_build_prefixes() -> Vec<String> {
    vec!["build-linux64-ccov".to_owned(), "build-win64-ccov".to_owned()]
}

fn default_extensions() -> Vec<String> {
    ["c", "cc", "cpp", "cxx", "h", "hxx", "hpp", "hh", "idl", "ipdl", "webidl"].map(str::to_owned).to_vec()
}

fn default_diff_tag() -> String {
    "phabricator-diff".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_file_configures_every_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("listener.toml");
        std::fs::write(
            &path,
            r##"
listen = "127.0.0.1:9000"
[broker]
url = "amqps://pulse.mozilla.org:5671"
user = "shipit"
password = "hunter2-pulse"
prefetch = 4
[[rules]]
name = "code-coverage"
bot = "coverage"
kind = "code-coverage"
exchange = "exchange/taskcluster-queue/v1/task-group-resolved"
routing_keys = ["#"]
repositories = ["https://hg.mozilla.org/mozilla-central"]
[[rules]]
name = "risk"
bot = "risk"
kind = "risk"
exchange = "exchange/hgpushes/v2"
routing_keys = ["mozilla-central"]
repositories = ["https://hg.mozilla.org/mozilla-central"]
extensions = ["cpp"]
[[rules]]
name = "static-analysis"
bot = "static-analysis"
kind = "static-analysis"
exchange = "exchange/taskcluster-queue/v1/task-completed"
routing_keys = ["route.project.relman.codereview.v1.try_ending"]
route = "project.relman.codereview.v1.try_ending"
"##,
        )
        .unwrap();
        let config: ListenerConfig = shipit_shared::config::load(Some(&path)).unwrap();
        assert_eq!(config.broker.queue_name("risk"), "queue/shipit/risk");
        assert_eq!(config.broker.dead_letter_exchange(), "exchange/shipit/dead-letter");
        assert_eq!(config.broker.prefetch, 4);
        assert!(!format!("{config:?}").contains("hunter2-pulse"), "the password stays out of Debug output");
        assert_eq!(config.rules.len(), 3);
        assert!(
            matches!(&config.rules[0].kind, RuleKind::CodeCoverage { build_prefixes, .. } if build_prefixes.len() == 2)
        );
        assert!(matches!(&config.rules[1].kind, RuleKind::Risk { extensions, .. } if extensions == &["cpp"]));
        assert!(
            matches!(&config.rules[2].kind, RuleKind::StaticAnalysis { diff_tag, .. } if diff_tag == "phabricator-diff")
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let delivery = DeliveryConfig { requeue_initial_ms: 100, requeue_max_ms: 1_000, max_attempts: 5 };
        assert_eq!(delivery.requeue_backoff(1), Duration::from_millis(100));
        assert_eq!(delivery.requeue_backoff(3), Duration::from_millis(400));
        assert_eq!(delivery.requeue_backoff(60), Duration::from_millis(1_000));
    }
}
