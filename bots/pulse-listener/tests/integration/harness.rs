//! The test harness: a listener wired to a broker namespace, an API and a mock Taskcluster of
//! its own.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::SecretString;
use shipit_api::testing::TestApp;
use shipit_pulse_listener::config::{BrokerConfig, DeliveryConfig};
use shipit_pulse_listener::{Listener, ListenerConfig, RuleConfig, RuleKind, Stats, Upstreams};
use shipit_shared::api_client::ApiClient;
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::runner::{Runner, TaskclusterRunnerConfig};
use shipit_shared::settings::TaskclusterSettings;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wiremock::MockServer;

pub(crate) const BROKER: &str = "amqp://127.0.0.1:5672/%2f";
pub(crate) const ROUTE: &str = "project.relman.codereview.v1.try_ending";
pub(crate) const CENTRAL: &str = "https://hg.mozilla.org/mozilla-central";

/// One test's world.
pub(crate) struct Harness {
    /// Unique to this test: in exchange, queue and connection names.
    pub(crate) id: String,
    pub(crate) app: TestApp,
    pub(crate) taskcluster: MockServer,
    pub(crate) publisher: Channel,
    _publisher_connection: Connection,
    api_token: String,
}

/// A listener running in the background.
pub(crate) struct Running {
    pub(crate) stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops the listener and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(40), &mut self.task).await.expect("the listener stops").unwrap();
    }
}

impl Harness {
    pub(crate) async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let app = TestApp::spawn().await;
        let api_token = app.token(&["project:shipit:runs/manage", "project:shipit:events/manage"]).await;
        let taskcluster = MockServer::start().await;
        let connection = Connection::connect(BROKER, ConnectionProperties::default()).await.expect("RabbitMQ answers");
        let publisher = connection.create_channel().await.unwrap();
        publisher.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
        let harness = Self { id, app, taskcluster, publisher, _publisher_connection: connection, api_token };
        for exchange in [harness.coverage_exchange(), harness.push_exchange(), harness.completed_exchange()] {
            harness
                .publisher
                .exchange_declare(
                    exchange.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions { durable: true, ..Default::default() },
                    FieldTable::default(),
                )
                .await
                .unwrap();
        }
        harness
    }

    pub(crate) fn coverage_exchange(&self) -> String {
        format!("exchange/test-{}/taskcluster-queue/v1/task-group-resolved", self.id)
    }

    pub(crate) fn push_exchange(&self) -> String {
        format!("exchange/test-{}/hgpushes/v2", self.id)
    }

    pub(crate) fn completed_exchange(&self) -> String {
        format!("exchange/test-{}/taskcluster-queue/v1/task-completed", self.id)
    }

    pub(crate) fn rule_name(&self, rule: &str) -> String {
        format!("{rule}-{}", self.id)
    }

    pub(crate) fn connection_name(&self) -> String {
        format!("pulse-listener-test-{}", self.id)
    }

    /// The configuration of a listener with the three rules.
    pub(crate) fn config(&self) -> ListenerConfig {
        ListenerConfig {
            broker: BrokerConfig {
                url: BROKER.to_owned(),
                user: "guest".to_owned(),
                password: Some(SecretString::from("guest")),
                prefetch: 8,
                dead_letter: format!("dead-{}", self.id),
                declare_exchanges: true,
                connection_name: self.connection_name(),
                reconnect_initial_ms: 100,
                reconnect_max_ms: 1_000,
            },
            taskcluster: TaskclusterSettings::default(),
            api: Default::default(),
            listen: None,
            local_runner: None,
            delivery: DeliveryConfig { requeue_initial_ms: 50, requeue_max_ms: 200, max_attempts: 10 },
            rules: vec![
                RuleConfig {
                    name: self.rule_name("coverage"),
                    bot: "coverage".to_owned(),
                    exchange: self.coverage_exchange(),
                    routing_keys: vec!["*.*.gecko-level-3._".to_owned()],
                    kind: RuleKind::CodeCoverage {
                        repositories: vec![CENTRAL.to_owned()],
                        build_prefixes: vec!["build-linux64-ccov".to_owned(), "build-win64-ccov".to_owned()],
                    },
                },
                RuleConfig {
                    name: self.rule_name("risk"),
                    bot: "risk".to_owned(),
                    exchange: self.push_exchange(),
                    routing_keys: vec!["mozilla-central".to_owned()],
                    kind: RuleKind::Risk {
                        repositories: vec![CENTRAL.to_owned()],
                        extensions: vec!["cpp".to_owned(), "h".to_owned()],
                    },
                },
                RuleConfig {
                    name: self.rule_name("static-analysis"),
                    bot: "static-analysis".to_owned(),
                    exchange: self.completed_exchange(),
                    routing_keys: vec![format!("route.{ROUTE}")],
                    kind: RuleKind::StaticAnalysis { route: ROUTE.to_owned(), diff_tag: "phabricator-diff".to_owned() },
                },
            ],
        }
    }

    /// An HTTP client that does not retry, so that failures show at once.
    fn http(&self) -> UpstreamClient {
        UpstreamClient::new(
            Duration::from_secs(10),
            RetryPolicy { max_attempts: 1, initial_backoff: Duration::ZERO, max_backoff: Duration::ZERO },
        )
        .unwrap()
    }

    pub(crate) fn api(&self) -> ApiClient {
        ApiClient::new(
            format!("{}/", self.app.base_url).parse().unwrap(),
            Some(SecretString::from(self.api_token.clone())),
            self.http(),
        )
    }

    /// The real runner: opens the run in the API, triggers the hook on the mock Taskcluster.
    pub(crate) fn runner(&self) -> Runner {
        Runner::taskcluster(
            TaskclusterRunnerConfig {
                root_url: self.taskcluster.uri().parse().unwrap(),
                client_id: "project/relman/shipit".to_owned(),
                access_token: SecretString::from("not-a-real-token"),
                hook_group: "project-relman".to_owned(),
                hook_prefix: "shipit-".to_owned(),
            },
            self.http(),
            self.api(),
        )
    }

    /// A listener starting its bots with `runner` (the local runner, say).
    pub(crate) fn listener_with(&self, config: ListenerConfig, runner: Runner) -> Listener<Runner> {
        let upstreams = Upstreams { http: self.http(), taskcluster: self.taskcluster.uri().parse().unwrap() };
        Listener::new(config, runner, self.api(), upstreams).unwrap()
    }

    /// Starts a listener and waits until it consumes.
    pub(crate) async fn start(&self, config: ListenerConfig) -> Running {
        self.start_with(config, self.runner()).await
    }

    /// Starts a listener triggering through `runner` and waits until it consumes.
    pub(crate) async fn start_with(&self, config: ListenerConfig, runner: Runner) -> Running {
        let listener = self.listener_with(config, runner);
        let stats = listener.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            listener
                .run(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        wait_until("the listener consumes", Duration::from_secs(10), || {
            let stats = stats.clone();
            async move { stats.connected() }
        })
        .await;
        Running { stats, stop: Some(stop), task }
    }

    pub(crate) async fn publish(&self, exchange: &str, routing_key: &str, body: &[u8]) {
        self.publisher
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2).with_content_type("application/json".into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Messages waiting in `queue` (ready, not those handed to a consumer).
    pub(crate) async fn ready(&self, queue: &str) -> u32 {
        let declared = self
            .publisher
            .queue_declare(
                queue.into(),
                QueueDeclareOptions { passive: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .unwrap();
        declared.message_count()
    }

    /// Takes every message of the dead-letter queue.
    pub(crate) async fn dead_letters(&self, config: &ListenerConfig) -> Vec<Vec<u8>> {
        let queue = config.broker.dead_letter_queue();
        let mut bodies = Vec::new();
        while let Some(message) =
            self.publisher.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap()
        {
            bodies.push(message.delivery.data.clone());
        }
        bodies
    }

    /// Deletes this test's queues and exchanges.
    pub(crate) async fn cleanup(&self, config: &ListenerConfig) {
        let mut queues: Vec<String> = config.rules.iter().map(|rule| config.broker.queue_name(&rule.name)).collect();
        queues.push(config.broker.dead_letter_queue());
        for queue in queues {
            let _ = self.publisher.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
        }
        for exchange in [
            self.coverage_exchange(),
            self.push_exchange(),
            self.completed_exchange(),
            config.broker.dead_letter_exchange(),
        ] {
            let _ = self.publisher.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default()).await;
        }
    }

    /// Hook triggers Taskcluster received for `bot`.
    /// The trigger payloads the hook of `bot` received, each checked against the hook's
    /// `triggerSchema` (`hooks/<bot>.json`, when the bot has one) as the Hooks service checks it.
    pub(crate) async fn hook_calls(&self, bot: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/hooks/v1/hooks/project-relman/shipit-{bot}/trigger");
        let calls: Vec<serde_json::Value> = self
            .taskcluster
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|request| request.url.path() == path)
            .map(|request| serde_json::from_slice(&request.body).unwrap())
            .collect();
        let hook = format!("{}/../../hooks/{bot}.json", env!("CARGO_MANIFEST_DIR"));
        if let Ok(definition) = std::fs::read(&hook) {
            let definition: serde_json::Value = serde_json::from_slice(&definition).unwrap();
            let schema = jsonschema::validator_for(&definition["triggerSchema"]).unwrap();
            for call in &calls {
                let errors: Vec<String> = schema.iter_errors(call).map(|error| error.to_string()).collect();
                assert!(errors.is_empty(), "hooks/{bot}.json refuses the trigger {call}: {errors:?}");
            }
        }
        calls
    }
}

/// Polls `condition` until it holds, or panics naming `what`.
pub(crate) async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the listener's counter `metric` of `rule` is at least `count`.
pub(crate) async fn wait_for_count(stats: &Stats, metric: &str, rule: &str, count: u64) {
    let what = format!("{metric} of {rule} reaches {count}");
    wait_until(&what, Duration::from_secs(20), || std::future::ready(stats.get(metric, rule) >= count)).await;
}

/// A task group as the fixture recorded it, with its continuation token or without.
pub(crate) fn task_group_page(name: &str, keep_token: bool) -> serde_json::Value {
    let path = format!("{}/../../fixtures/pulse-listener/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let mut page: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    if !keep_token {
        page.as_object_mut().unwrap().remove("continuationToken");
    }
    page
}

/// A `task-group-resolved` message.
pub(crate) fn group_resolved(group: &str) -> Vec<u8> {
    serde_json::json!({"version": 1, "taskGroupId": group, "schedulerId": "gecko-level-3"}).to_string().into_bytes()
}

/// The routing key of a `task-group-resolved` message.
pub(crate) fn group_key(group: &str) -> String {
    format!("primary.{group}.gecko-level-3._")
}

/// A `task-completed` message of the code-review workflow's try-ending task.
pub(crate) fn try_ending(task: &str, group: &str, diff: &str) -> Vec<u8> {
    serde_json::json!({
        "version": 1,
        "status": {
            "taskId": task, "provisionerId": "gecko-t", "workerType": "t-linux-large", "schedulerId": "gecko-level-1",
            "taskGroupId": group, "deadline": "2026-09-01T00:00:00.000Z", "expires": "2027-09-01T00:00:00.000Z",
            "retriesLeft": 5, "state": "completed",
            "runs": [{"runId": 0, "state": "completed", "reasonCreated": "scheduled", "reasonResolved": "completed"}],
        },
        "runId": 0,
        "task": {"tags": {"phabricator-diff": diff, "revision": "5b3ad5f5a1fa3c6d29c9a4ab1e4c0f2ba4c2d0de"}},
        "workerGroup": "us-east-1",
        "workerId": "i-0123456789",
    })
    .to_string()
    .into_bytes()
}

/// An `hgpushes/v2` `changegroup.1` message as Pulse delivers it.
pub(crate) fn push(repo_url: &str, pushid: u64, head: &str, pushlog_url: &str) -> Vec<u8> {
    serde_json::json!({
        "payload": {
            "type": "changegroup.1",
            "data": {
                "repo_url": repo_url,
                "heads": [head],
                "pushlog_pushes": [{
                    "pushid": pushid, "time": 1_700_000_000, "user": "someone@mozilla.com",
                    "push_json_url": format!("{pushlog_url}&full=0"),
                    "push_full_json_url": pushlog_url,
                }],
                "source": "serve",
            },
        },
        "_meta": {"exchange": "exchange/hgpushes/v2", "routing_key": "mozilla-central", "serializer": "json", "sent": "2026-08-01T00:00:00"},
    })
    .to_string()
    .into_bytes()
}

/// A full pushlog answer of one push touching `files`.
pub(crate) fn pushlog(pushid: u64, node: &str, files: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "lastpushid": pushid,
        "pushes": {pushid.to_string(): {
            "changesets": [{"node": node, "author": "A <a@mozilla.com>", "branch": "default", "desc": "Bug 1 - x", "files": files, "parents": ["0".repeat(40)], "tags": []}],
            "date": 1_700_000_000, "user": "someone@mozilla.com",
        }},
    })
}

/// A hook trigger's answer: the created task's status.
pub(crate) fn hook_answer(task: &str) -> serde_json::Value {
    serde_json::json!({"status": {"taskId": task, "state": "pending"}})
}
