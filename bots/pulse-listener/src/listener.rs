//! The listener: connects, declares its queues, consumes, and hands each message to its rule;
//! when the broker goes away it reconnects with backoff and declares everything again.
//!
//! Delivery is at least once. A message is acknowledged only once its bot run has started and
//! the event is confirmed in the API (or once it is known to need nothing); a transient failure
//! gives it back to the broker after a backoff; a message that can never be handled is rejected
//! into the dead-letter queue. Before triggering, the listener claims the event in the API, which
//! opens its run in the same step; a redelivered message or a restarted listener finds the event
//! handled and does not trigger twice. A claim whose bot could not be started (its run failed) or
//! that was never confirmed (the listener died) lapses, so that the event is not lost. Claims and
//! confirmations of the messages handled at once go to the API in batches.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use serde::Deserialize;
use serde_json::{Map, Value};
use shipit_shared::api_client::{ApiClient, ApiClientError};
use shipit_shared::api_types::events::{
    ClaimOutcome, DEFAULT_LEASE_SECS, EventClaim, EventClaims, HandledEvent, HandledEvents, MAX_CLAIM_BATCH,
    MAX_HANDLED_BATCH,
};
use shipit_shared::api_types::{NewRun, RunTrigger};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::config::ListenerConfig;
use crate::error::ListenerError;
use crate::rules::{Decision, Rule, Upstreams};
use crate::stats::{self, Stats};
use crate::trigger::{Trigger, TriggerRequest};

/// How long a shutdown waits for messages being handled.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What became of a message.
#[derive(Debug)]
pub enum Outcome {
    /// It started run `run_id`: acknowledge it.
    Triggered { run_id: i64 },
    /// Acknowledge it: `duplicate` or `skipped`.
    Ack(&'static str),
    /// Give it back to the broker after a backoff.
    Requeue { attempt_key: String, error: ListenerError },
    /// Reject it into the dead-letter queue.
    DeadLetter(ListenerError),
}

/// A message as Pulse delivered it, recorded in a file (the shape Pulse's inspector exports).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedMessage {
    pub exchange: String,
    pub routing_key: String,
    pub payload: Value,
}

/// The Pulse listener.
pub struct Listener<T: Trigger> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    config: ListenerConfig,
    rules: Vec<Rule>,
    upstreams: Upstreams,
    api: ApiClient,
    trigger: T,
    stats: Arc<Stats>,
    /// Transient failures per event, for the requeue backoff. In memory on purpose: after a
    /// restart the backoff starts over, which is harmless.
    attempts: Mutex<HashMap<String, u32>>,
    in_flight: KeyLocks,
    claims: Batcher<EventClaim, ClaimOutcome>,
    confirmations: Batcher<HandledEvent, ()>,
}

impl<T: Trigger> Listener<T> {
    /// A listener with `config`'s rules, starting bots through `trigger`, recording events
    /// through `api` and asking upstreams through `upstreams`.
    pub fn new(
        config: ListenerConfig,
        trigger: T,
        api: ApiClient,
        upstreams: Upstreams,
    ) -> Result<Self, ListenerError> {
        let rules = config.rules.iter().cloned().map(Rule::new).collect::<Result<Vec<_>, _>>()?;
        if rules.is_empty() {
            return Err(ListenerError::Config("no rule is configured".to_owned()));
        }
        let mut names: Vec<&str> = rules.iter().map(Rule::name).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) || names.contains(&config.broker.dead_letter.as_str()) {
            return Err(ListenerError::Config(
                "rule names must differ from each other and from dead_letter".to_owned(),
            ));
        }
        if config.broker.prefetch == 0 {
            return Err(ListenerError::Config("prefetch must be at least 1".to_owned()));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                rules,
                upstreams,
                api,
                trigger,
                stats: Arc::new(Stats::default()),
                attempts: Mutex::new(HashMap::new()),
                in_flight: KeyLocks::default(),
                claims: Batcher::new(MAX_CLAIM_BATCH),
                confirmations: Batcher::new(MAX_HANDLED_BATCH),
            }),
        })
    }

    /// The listener's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.inner.stats.clone()
    }

    /// Handles a recorded message as each rule bound to its exchange and routing key would
    /// have consumed it, retrying transient failures with the requeue backoff up to
    /// `delivery.max_attempts`: what each of those rules did with it.
    pub async fn replay(&self, message: &RecordedMessage) -> Vec<(String, Outcome)> {
        let body = message.payload.to_string().into_bytes();
        let delivery = &self.inner.config.delivery;
        let mut outcomes = Vec::new();
        for rule in self.inner.rules.iter().filter(|rule| rule.binds(&message.exchange, &message.routing_key)) {
            let mut attempt = 0;
            let outcome = loop {
                match self.inner.process(rule, &message.exchange, &message.routing_key, &body).await {
                    Outcome::Requeue { error, .. } if attempt + 1 < delivery.max_attempts => {
                        attempt += 1;
                        tracing::warn!(rule = rule.name(), %error, attempt, "transient failure: trying again");
                        tokio::time::sleep(delivery.requeue_backoff(attempt)).await;
                    }
                    Outcome::Requeue { error, .. } => break Outcome::DeadLetter(error),
                    outcome => break outcome,
                }
            };
            outcomes.push((rule.name().to_owned(), outcome));
        }
        outcomes
    }

    /// Consumes until `shutdown` completes, reconnecting whenever the broker is lost.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        loop {
            match self.session(&mut shutdown, &mut failures).await {
                Ok(()) => return,
                Err(error) => {
                    self.inner.stats.set_connected(false);
                    failures += 1;
                    let wait = self.inner.config.broker.reconnect_backoff(failures);
                    tracing::warn!(%error, attempt = failures, wait_ms = wait.as_millis() as u64, "broker lost, reconnecting");
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    self.inner.stats.reconnected();
                }
            }
        }
    }

    /// One connection's life: `Ok` when shut down, an error when the broker was lost.
    async fn session(
        &self,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        failures: &mut u32,
    ) -> Result<(), ListenerError> {
        let broker = &self.inner.config.broker;
        let connection = connect(&self.inner.config).await?;
        let mut consumers: Vec<BoxStream<'static, (usize, Option<lapin::Result<lapin::message::Delivery>>)>> =
            Vec::new();
        let topology = connection.create_channel().await?;
        let dead_letter = broker.dead_letter_exchange();
        topology
            .exchange_declare(
                dead_letter.as_str().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions { durable: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        let dead_queue = broker.dead_letter_queue();
        topology
            .queue_declare(
                dead_queue.as_str().into(),
                QueueDeclareOptions { durable: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        topology
            .queue_bind(
                dead_queue.as_str().into(),
                dead_letter.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        for (index, rule) in self.inner.rules.iter().enumerate() {
            if broker.declare_exchanges {
                topology
                    .exchange_declare(
                        rule.config.exchange.as_str().into(),
                        ExchangeKind::Topic,
                        ExchangeDeclareOptions { durable: true, ..Default::default() },
                        FieldTable::default(),
                    )
                    .await?;
            }
            // A channel per rule, so that each rule has its own prefetch window.
            let channel = connection.create_channel().await?;
            channel.basic_qos(broker.prefetch, BasicQosOptions { global: false }).await?;
            let queue = broker.queue_name(rule.name());
            let mut arguments = FieldTable::default();
            arguments
                .insert("x-dead-letter-exchange".into(), AMQPValue::LongString(LongString::from(dead_letter.as_str())));
            channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions { durable: true, ..Default::default() },
                    arguments,
                )
                .await?;
            for routing_key in &rule.config.routing_keys {
                channel
                    .queue_bind(
                        queue.as_str().into(),
                        rule.config.exchange.as_str().into(),
                        routing_key.as_str().into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
            let consumer = channel
                .basic_consume(
                    queue.as_str().into(),
                    format!("{}/{}", broker.connection_name, rule.name()).into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            // A consumer's end is a lost broker too: mark it with `None`.
            consumers.push(
                consumer
                    .map(move |delivery| (index, Some(delivery)))
                    .chain(stream::once(async move { (index, None) }))
                    .boxed(),
            );
        }
        self.inner.stats.set_connected(true);
        *failures = 0;
        tracing::info!(rules = self.inner.rules.len(), prefetch = broker.prefetch, "consuming");

        let mut deliveries = stream::select_all(consumers);
        let mut handlers = JoinSet::new();
        let lost = loop {
            tokio::select! {
                () = &mut *shutdown => break None,
                next = deliveries.next() => match next {
                    Some((index, Some(Ok(delivery)))) => {
                        let inner = self.inner.clone();
                        handlers.spawn(async move { inner.handle(index, delivery).await });
                    }
                    Some((_, Some(Err(error)))) => break Some(ListenerError::Broker(error)),
                    Some((index, None)) => {
                        break Some(ListenerError::Config(format!("the consumer of rule `{}` was cancelled", self.inner.rules[index].name())));
                    }
                    None => break Some(ListenerError::Config("no consumer left".to_owned())),
                },
                Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
            }
        };
        self.inner.stats.set_connected(false);
        match lost {
            Some(error) => {
                // Messages being handled finish on their own: their acknowledgement will fail
                // and the broker delivers them again, which the API's event records make
                // harmless. Aborting them could leave a started run unrecorded.
                handlers.detach_all();
                Err(error)
            }
            None => {
                tracing::info!(in_flight = handlers.len(), "shutting down");
                let drained =
                    tokio::time::timeout(DRAIN_TIMEOUT, async { while handlers.join_next().await.is_some() {} });
                if drained.await.is_err() {
                    tracing::warn!("messages still being handled at shutdown are left to the broker");
                }
                if let Err(error) = connection.close(200, "shutdown".into()).await {
                    tracing::debug!(%error, "closing the connection");
                }
                Ok(())
            }
        }
    }
}

async fn connect(config: &ListenerConfig) -> Result<Connection, ListenerError> {
    let broker = &config.broker;
    let mut uri: AMQPUri =
        broker.url.parse().map_err(|error| ListenerError::Config(format!("bad broker URL: {error}")))?;
    if !broker.user.is_empty() {
        uri.authority.userinfo.username = broker.user.clone();
    }
    if let Some(password) = &broker.password {
        uri.authority.userinfo.password = secrecy::ExposeSecret::expose_secret(password).to_owned();
    }
    let properties =
        ConnectionProperties::default().with_connection_name(LongString::from(broker.connection_name.as_str()));
    Ok(Connection::connect_uri(uri, properties).await?)
}

impl<T: Trigger> Inner<T> {
    async fn handle(&self, index: usize, delivery: lapin::message::Delivery) {
        let rule = &self.rules[index];
        self.stats.add(stats::RECEIVED, rule.name(), "");
        let outcome =
            self.process(rule, delivery.exchange.as_str(), delivery.routing_key.as_str(), &delivery.data).await;
        let acker = &delivery.acker;
        let settled = match outcome {
            Outcome::Triggered { .. } => {
                self.stats.add(stats::ACKED, rule.name(), "triggered");
                acker.ack(BasicAckOptions::default()).await
            }
            Outcome::Ack(kind) => {
                self.stats.add(stats::ACKED, rule.name(), kind);
                acker.ack(BasicAckOptions::default()).await
            }
            Outcome::Requeue { attempt_key, error } => {
                let attempt = self.bump_attempts(&attempt_key);
                if attempt >= self.config.delivery.max_attempts {
                    self.forget_attempts(&attempt_key);
                    tracing::error!(rule = rule.name(), %error, attempt, "giving up after repeated failures: dead-lettered");
                    self.stats.add(stats::DEAD_LETTERED, rule.name(), "attempts");
                    acker.reject(BasicRejectOptions { requeue: false }).await
                } else {
                    let wait = self.config.delivery.requeue_backoff(attempt);
                    tracing::warn!(rule = rule.name(), %error, attempt, wait_ms = wait.as_millis() as u64, "transient failure: requeueing");
                    tokio::time::sleep(wait).await;
                    self.stats.add(stats::REQUEUED, rule.name(), error.reason());
                    acker.nack(BasicNackOptions { requeue: true, multiple: false }).await
                }
            }
            Outcome::DeadLetter(error) => {
                tracing::error!(
                    rule = rule.name(),
                    %error,
                    exchange = %delivery.exchange,
                    routing_key = %delivery.routing_key,
                    "message cannot be handled: dead-lettered"
                );
                self.stats.add(stats::DEAD_LETTERED, rule.name(), error.reason());
                acker.reject(BasicRejectOptions { requeue: false }).await
            }
        };
        if let Err(error) = settled {
            tracing::warn!(rule = rule.name(), %error, "cannot settle the message; the broker will deliver it again");
        }
    }

    async fn process(&self, rule: &Rule, exchange: &str, routing_key: &str, body: &[u8]) -> Outcome {
        let candidate = match rule.parse(exchange, routing_key, body) {
            Ok(Some(candidate)) => candidate,
            Ok(None) => return Outcome::Ack("skipped"),
            Err(error) => return Outcome::DeadLetter(error),
        };
        let source = rule.name();
        let attempt_key = format!("{source}/{}", candidate.key);
        // Two copies of one event (delivery is at least once) handled at once would race for
        // its claim, and the loser would be requeued: handle one at a time. This also keeps an
        // event from appearing twice in one batch of claims, which the API refuses.
        let _in_flight = self.in_flight.lock(&attempt_key).await;
        let failed = |error: ListenerError| {
            if error.is_transient() {
                Outcome::Requeue { attempt_key: attempt_key.clone(), error }
            } else {
                Outcome::DeadLetter(error)
            }
        };
        let duplicate = || {
            tracing::info!(rule = source, event.key = %candidate.key, "handled before: not triggering again");
            self.forget_attempts(&attempt_key);
            Outcome::Ack("duplicate")
        };
        // The claim below is what deduplicates; this lookup only spares upstreams a duplicate.
        if candidate.asks_upstreams() {
            match self.api.event(source, &candidate.key).await {
                Ok(Some(record)) if record.handled => return duplicate(),
                Ok(_) => {}
                Err(error) => return failed(error.into()),
            }
        }
        let parameters = match rule.decide(&candidate, &self.upstreams).await {
            Ok(Decision::Trigger(parameters)) => parameters,
            Ok(Decision::Skip(reason)) => {
                tracing::info!(rule = source, event.key = %candidate.key, reason, "nothing to do");
                self.forget_attempts(&attempt_key);
                return Outcome::Ack("skipped");
            }
            Err(error) => return failed(error),
        };
        // The bot is the run's; the details keep what the run does not.
        let mut details = Map::new();
        details.insert("routing_key".to_owned(), Value::String(routing_key.to_owned()));
        let claim = EventClaim {
            source: source.to_owned(),
            key: candidate.key.clone(),
            run: NewRun { bot: rule.config.bot.clone(), trigger: RunTrigger::Pulse, parameters: parameters.clone() },
            details,
            lease_secs: DEFAULT_LEASE_SECS,
        };
        let claimed =
            self.claims.submit(claim, |claims| async { self.api.claim_events(&EventClaims { claims }).await }).await;
        let run_id = match claimed {
            Ok(ClaimOutcome::Granted { run_id }) => run_id,
            Ok(ClaimOutcome::Handled { .. }) => return duplicate(),
            Ok(ClaimOutcome::Busy { .. }) => return failed(ListenerError::Busy(candidate.key.clone())),
            Err(error) => return failed(ListenerError::Api(error)),
        };
        let request = TriggerRequest { bot: rule.config.bot.clone(), trigger: RunTrigger::Pulse, parameters };
        // A failed start closes the run as failed, which lets the claim lapse: the requeued
        // message claims the event again.
        let started = match self.trigger.launch(run_id, &request).await {
            Ok(started) => started,
            Err(error) => return failed(error),
        };
        self.stats.add(stats::TRIGGERED, source, "");
        self.forget_attempts(&attempt_key);
        tracing::info!(rule = source, event.key = %candidate.key, bot.name = %request.bot, run.id = run_id, reference = %started.reference, "bot triggered");
        let mut details = Map::new();
        details.insert("reference".to_owned(), Value::String(started.reference));
        let event = HandledEvent { source: source.to_owned(), key: candidate.key.clone(), run_id, details };
        let confirmed = self
            .confirmations
            .submit(event, |events| async {
                let count = events.len();
                self.api.events_handled(&HandledEvents { events }).await.map(|_confirmed| vec![(); count])
            })
            .await;
        if let Err(error) = confirmed {
            // The bot started: acknowledging is right. Requeueing would start it again now; an
            // unconfirmed claim only lapses after its lease, for a later copy of the message.
            tracing::error!(rule = source, event.key = %candidate.key, %error, "cannot confirm the handled event");
            self.stats.add(stats::RECORD_FAILED, source, "");
        }
        Outcome::Triggered { run_id }
    }

    fn bump_attempts(&self, key: &str) -> u32 {
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let attempt = attempts.entry(key.to_owned()).or_default();
        *attempt += 1;
        *attempt
    }

    fn forget_attempts(&self, key: &str) {
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

/// Sends items to the API many in one request: each caller queues its item and waits for its
/// turn; the holder of the turn sends whatever is queued (its own item, unless an earlier turn
/// took it) and hands each caller its own answer. Under load one request carries the items of
/// many messages.
struct Batcher<I, O> {
    max: usize,
    queue: Mutex<Vec<(I, Reply<O>)>>,
    turn: tokio::sync::Mutex<()>,
}

/// Where a queued item's answer goes.
type Reply<O> = oneshot::Sender<Result<O, Arc<ApiClientError>>>;

impl<I, O> Batcher<I, O> {
    /// A batcher sending at most `max` items at once.
    fn new(max: usize) -> Self {
        Self { max, queue: Mutex::new(Vec::new()), turn: tokio::sync::Mutex::new(()) }
    }

    /// `item`'s answer; `send` sends a batch and answers one output per item, in order.
    async fn submit<F>(&self, item: I, send: impl FnOnce(Vec<I>) -> F) -> Result<O, Arc<ApiClientError>>
    where
        F: Future<Output = Result<Vec<O>, ApiClientError>>,
    {
        let (reply, answer) = oneshot::channel();
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push((item, reply));
        {
            let _turn = self.turn.lock().await;
            let batch: Vec<_> = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                let taken = queue.len().min(self.max);
                queue.drain(..taken).collect()
            };
            if !batch.is_empty() {
                let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                match send(items).await {
                    Ok(outputs) => {
                        for (reply, output) in replies.into_iter().zip(outputs) {
                            let _receiver_gone = reply.send(Ok(output));
                        }
                    }
                    Err(error) => {
                        let error = Arc::new(error);
                        for reply in replies {
                            let _receiver_gone = reply.send(Err(error.clone()));
                        }
                    }
                }
            }
        }
        // The client checks that the API answers every item: only a turn holder cancelled at
        // shutdown leaves one unanswered.
        answer.await.unwrap_or_else(|_| {
            Err(Arc::new(ApiClientError::Unexpected {
                status: StatusCode::OK,
                body: "no answer for this item".to_owned(),
            }))
        })
    }
}

/// One lock per key being handled.
#[derive(Default)]
struct KeyLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct KeyGuard<'a> {
    owner: &'a KeyLocks,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let lock = self.locks.lock().unwrap_or_else(PoisonError::into_inner).entry(key.to_owned()).or_default().clone();
        KeyGuard { owner: self, key: key.to_owned(), guard: Some(lock.lock_owned().await) }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut locks = self.owner.locks.lock().unwrap_or_else(PoisonError::into_inner);
        self.guard = None;
        // Nobody else holds or waits for it when the map has the only reference.
        if locks.get(&self.key).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            locks.remove(&self.key);
        }
    }
}
