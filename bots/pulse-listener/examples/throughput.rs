//! The listener's throughput against a bare lapin consumer that only acknowledges, on the same
//! broker in the same run (`benches/pulse-listener/run.sh` runs it).
//!
//! Both drain a queue holding the same number of `task-completed` messages with the same
//! prefetch. The listener does all its work for each one: decode, rule, claim the event in the
//! API (which opens its run), trigger the hook, confirm the event, acknowledge; claims and
//! confirmations are batched across the messages handled at once. The API and Taskcluster are an in-process HTTP mock that decodes the API's
//! requests and answers at once, so what is measured is the listener.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::SecretString;
use serde_json::json;
use shipit_pulse_listener::config::{BrokerConfig, DeliveryConfig};
use shipit_pulse_listener::stats::ACKED;
use shipit_pulse_listener::{Listener, ListenerConfig, RuleConfig, RuleKind, Upstreams};
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::events::{ClaimOutcome, ClaimOutcomes, EventClaims, HandledCount, HandledEvents};
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::runner::{Runner, TaskclusterRunnerConfig};

/// The allocator of the listener's binary, so that the benchmark measures what runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROUTE: &str = "project.relman.codereview.v1.try_ending";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20_000);
    let prefetch: u16 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(64);
    let broker = std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://127.0.0.1:5672/%2f".to_owned());
    let id = std::process::id();
    let exchange = format!("exchange/bench-{id}/taskcluster-queue/v1/task-completed");

    let connection = Connection::connect(&broker, ConnectionProperties::default()).await?;
    let publisher = connection.create_channel().await?;
    publisher.confirm_select(ConfirmSelectOptions::default()).await?;
    publisher
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;

    // The bare consumer.
    let bare_queue = format!("queue/guest/bench-bare-{id}");
    publisher
        .queue_declare(
            bare_queue.as_str().into(),
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    publisher
        .queue_bind(
            bare_queue.as_str().into(),
            exchange.as_str().into(),
            format!("route.{ROUTE}").into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    publish(&publisher, &exchange, messages, "bare").await?;
    let bare = bare_consumer(&connection, &bare_queue, messages, prefetch).await?;
    publisher.queue_delete(bare_queue.as_str().into(), QueueDeleteOptions::default()).await?;

    // The listener: a first run declares its queue, then the queue is filled and drained.
    let mock = mock_upstreams().await?;
    let config = listener_config(&broker, &exchange, id, prefetch);
    let http = UpstreamClient::new(Duration::from_secs(10), RetryPolicy::default())?;
    let api = ApiClient::new(format!("{mock}/").parse()?, Some(SecretString::from("token")), http.clone());
    let runner = Runner::taskcluster(
        TaskclusterRunnerConfig {
            root_url: mock.parse()?,
            client_id: "bench".to_owned(),
            access_token: SecretString::from("secret"),
            hook_group: "project-relman".to_owned(),
            hook_prefix: "shipit-".to_owned(),
        },
        http.clone(),
        api.clone(),
    );
    let upstreams = Upstreams { http, taskcluster: mock.parse()? };
    let listener = Arc::new(Listener::new(config.clone(), runner, api, upstreams)?);
    run_until(&listener, || listener.stats().connected()).await;
    publish(&publisher, &exchange, messages, "listener").await?;
    let started = Instant::now();
    let rule = config.rules[0].name.clone();
    run_until(&listener, || listener.stats().get(ACKED, &rule) >= messages as u64).await;
    let through_listener = started.elapsed();
    assert_eq!(listener.stats().get_labelled(ACKED, &rule, "triggered"), messages as u64, "every message triggered");

    publisher.queue_delete(config.broker.queue_name(&rule).as_str().into(), QueueDeleteOptions::default()).await?;
    publisher.queue_delete(config.broker.dead_letter_queue().as_str().into(), QueueDeleteOptions::default()).await?;
    publisher
        .exchange_delete(config.broker.dead_letter_exchange().as_str().into(), ExchangeDeleteOptions::default())
        .await?;
    publisher.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default()).await?;

    let bare_rate = messages as f64 / bare.as_secs_f64();
    let listener_rate = messages as f64 / through_listener.as_secs_f64();
    let mut out = std::io::stdout().lock();
    writeln!(out, "| consumer | messages | prefetch | seconds | messages/s |")?;
    writeln!(out, "| --- | ---: | ---: | ---: | ---: |")?;
    writeln!(out, "| bare lapin, ack only | {messages} | {prefetch} | {:.2} | {bare_rate:.0} |", bare.as_secs_f64())?;
    writeln!(
        out,
        "| pulse-listener (decode, rule, batched claim + run, hook trigger, batched confirm, ack) | {messages} | {prefetch} | {:.2} | {listener_rate:.0} ({:.0}% of bare) |",
        through_listener.as_secs_f64(),
        100.0 * listener_rate / bare_rate
    )?;
    Ok(())
}

async fn publish(channel: &Channel, exchange: &str, messages: usize, tag: &str) -> anyhow::Result<()> {
    let mut confirms = Vec::with_capacity(messages);
    for n in 0..messages {
        let body = json!({
            "version": 1, "runId": 0, "workerGroup": "g", "workerId": "w",
            "status": {"taskId": format!("{tag}{n:016}"), "taskGroupId": "R3JvdXAwMDAwMDAwMDAwMA", "state": "completed"},
            "task": {"tags": {"phabricator-diff": format!("PHID-DIFF-{n}")}},
        });
        confirms.push(
            channel
                .basic_publish(
                    exchange.into(),
                    format!("route.{ROUTE}").into(),
                    BasicPublishOptions::default(),
                    body.to_string().as_bytes(),
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await?,
        );
    }
    for confirm in confirms {
        confirm.await?;
    }
    Ok(())
}

async fn bare_consumer(
    connection: &Connection,
    queue: &str,
    messages: usize,
    prefetch: u16,
) -> anyhow::Result<Duration> {
    let channel = connection.create_channel().await?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let started = Instant::now();
    let mut consumer = channel
        .basic_consume(queue.into(), "bare".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    let mut seen = 0;
    while let Some(delivery) = consumer.next().await {
        delivery?.ack(BasicAckOptions::default()).await?;
        seen += 1;
        if seen == messages {
            break;
        }
    }
    let elapsed = started.elapsed();
    channel.close(200, "done".into()).await?;
    Ok(elapsed)
}

/// Runs the listener until `done` holds.
async fn run_until<T: shipit_pulse_listener::Trigger>(listener: &Listener<T>, done: impl Fn() -> bool) {
    listener
        .run(async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
}

fn listener_config(broker: &str, exchange: &str, id: u32, prefetch: u16) -> ListenerConfig {
    ListenerConfig {
        broker: BrokerConfig {
            url: broker.to_owned(),
            prefetch,
            dead_letter: format!("bench-dead-{id}"),
            connection_name: format!("pulse-listener-bench-{id}"),
            ..BrokerConfig::default()
        },
        listen: None,
        local_runner: None,
        delivery: DeliveryConfig::default(),
        rules: vec![RuleConfig {
            name: format!("bench-{id}"),
            bot: "static-analysis".to_owned(),
            exchange: exchange.to_owned(),
            routing_keys: vec![format!("route.{ROUTE}")],
            kind: RuleKind::StaticAnalysis { route: ROUTE.to_owned(), diff_tag: "phabricator-diff".to_owned() },
        }],
        ..ListenerConfig::default()
    }
}

/// The API's event routes and Taskcluster hooks, answering at once.
async fn mock_upstreams() -> anyhow::Result<String> {
    static RUN_IDS: AtomicI64 = AtomicI64::new(1);
    let app = Router::new()
        .route(
            "/events/claims",
            post(|Json(batch): Json<EventClaims>| async move {
                let outcomes = batch
                    .claims
                    .iter()
                    .map(|_claim| ClaimOutcome::Granted { run_id: RUN_IDS.fetch_add(1, Ordering::Relaxed) })
                    .collect();
                Json(ClaimOutcomes { outcomes })
            }),
        )
        .route(
            "/events/handled",
            post(|Json(handled): Json<HandledEvents>| async move {
                Json(HandledCount { confirmed: handled.events.len() as u64 })
            }),
        )
        .route(
            "/api/hooks/v1/hooks/{group}/{hook}/trigger",
            post(|| async { Json(json!({"status": {"taskId": "QmVuY2gwMDAwMDAwMDAwMA"}})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
