//! Losing the broker mid-stream loses nothing: the broker closes the listener's connection
//! (as it does when it restarts or a Pulse admin kills it) while messages are being handled;
//! the listener reconnects, declares everything again and every message triggers exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use shipit_pulse_listener::stats::TRIGGERED;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::{Harness, ROUTE, hook_answer, try_ending, wait_for_count, wait_until};

/// A slow Taskcluster, so that messages are being handled when the connection goes.
async fn mount_slow_hook(harness: &Harness) {
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-relman/shipit-static-analysis/trigger"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(hook_answer("U3RhdGljMDAwMDAwMDAwMA"))
                .set_delay(Duration::from_millis(40)),
        )
        .mount(&harness.taskcluster)
        .await;
}

/// The diff of each try task: a PHID made of its id.
fn diff_of(task: &str) -> String {
    format!("PHID-DIFF-{}", task.replace(['-', '_'], ""))
}

/// How many times each try task's diff triggered the hook.
async fn triggers_per_task(harness: &Harness) -> BTreeMap<String, usize> {
    let mut per_task = BTreeMap::new();
    for call in harness.hook_calls("static-analysis").await {
        *per_task.entry(call["parameters"]["PHABRICATOR_DIFF"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    per_task
}

/// Publishes a `task-completed` message for each try task.
async fn publish_completed(harness: &Harness, routed: &str, tasks: impl Iterator<Item = String>) {
    for task in tasks {
        harness
            .publish(
                &harness.completed_exchange(),
                routed,
                &try_ending(&task, "R3JvdXAwMDAwMDAwMDAwMA", &diff_of(&task)),
            )
            .await;
    }
}

/// Closes, through `rabbitmqctl`, every connection whose client named itself `name`.
async fn close_connections_named(name: &str) -> usize {
    let listed = tokio::process::Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "--no-table-headers", "pid", "client_properties"])
        .output()
        .await
        .expect("rabbitmqctl runs");
    assert!(listed.status.success(), "rabbitmqctl list_connections: {}", String::from_utf8_lossy(&listed.stderr));
    let mut closed = 0;
    // One line per connection: the pid (`<rabbit@host.1.2.3>`), a tab, the client properties.
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let Some((pid, properties)) = line.split_once('\t') else { continue };
        if !properties.contains(name) {
            continue;
        }
        let pid = pid.trim().to_owned();
        let status = tokio::process::Command::new("rabbitmqctl")
            .args(["close_connection", &pid, "test: broker going away"])
            .output()
            .await
            .expect("rabbitmqctl runs");
        assert!(status.status.success(), "rabbitmqctl close_connection: {}", String::from_utf8_lossy(&status.stderr));
        closed += 1;
    }
    closed
}

#[tokio::test]
async fn losing_the_broker_mid_stream_loses_nothing_and_triggers_each_event_once() {
    let harness = Harness::new().await;
    mount_slow_hook(&harness).await;
    let config = harness.config();
    let listener = harness.start(config.clone()).await;
    let rule = harness.rule_name("static-analysis");
    let routed = format!("route.{ROUTE}");
    let task = |n: usize| format!("TG9zdE5vdGhpbmcw{n:06}");
    publish_completed(&harness, &routed, (0..30).map(task)).await;
    let stats = listener.stats.clone();
    wait_for_count(&stats, TRIGGERED, &rule, 5).await;
    let closed = close_connections_named(&harness.connection_name()).await;
    assert_eq!(closed, 1, "the listener had one connection");
    // Messages published while the listener is away wait in its durable queue.
    publish_completed(&harness, &routed, (30..60).map(task)).await;

    wait_until("all 60 events trigger", Duration::from_secs(30), || async {
        triggers_per_task(&harness).await.len() == 60
    })
    .await;
    wait_until("the listener is back", Duration::from_secs(10), || {
        let stats = stats.clone();
        async move { stats.connected() }
    })
    .await;
    assert!(stats.reconnects() >= 1);
    // Let redeliveries of the messages that were in flight settle.
    wait_until("the queue is drained", Duration::from_secs(10), || {
        let (harness, queue) = (&harness, config.broker.queue_name(&rule));
        async move { harness.ready(&queue).await == 0 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_task = triggers_per_task(&harness).await;
    assert_eq!(per_task.len(), 60);
    let twice: Vec<_> = per_task.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "triggered more than once: {twice:?}");
    assert!(harness.dead_letters(&config).await.is_empty());
    listener.stop().await;
    harness.cleanup(&config).await;
}

/// A full broker restart (`rabbitmqctl stop_app; start_app`): durable queues and persistent
/// messages survive it, and so does the listener. It takes the broker away from every test, so
/// it is ignored by default; run it alone:
/// `cargo test -p shipit-pulse-listener --test integration -- --ignored broker_restart`.
#[tokio::test]
#[ignore = "restarts the shared broker: run alone with --ignored"]
async fn a_broker_restart_loses_nothing() {
    let harness = Harness::new().await;
    mount_slow_hook(&harness).await;
    let config = harness.config();
    let listener = harness.start(config.clone()).await;
    let rule = harness.rule_name("static-analysis");
    let routed = format!("route.{ROUTE}");
    let task = |n: usize| format!("UmVzdGFydGVkMDAw{n:06}");
    publish_completed(&harness, &routed, (0..30).map(task)).await;
    let stats = listener.stats.clone();
    wait_for_count(&stats, TRIGGERED, &rule, 5).await;
    for command in ["stop_app", "start_app"] {
        let status =
            tokio::process::Command::new("rabbitmqctl").arg(command).output().await.expect("rabbitmqctl runs").status;
        assert!(status.success(), "rabbitmqctl {command}");
    }
    // The harness's publisher went with the broker: publish the rest on a new connection.
    let connection = lapin::Connection::connect(crate::harness::BROKER, lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ is back");
    let publisher = connection.create_channel().await.unwrap();
    for n in 30..40 {
        publisher
            .basic_publish(
                harness.completed_exchange().as_str().into(),
                routed.as_str().into(),
                lapin::options::BasicPublishOptions::default(),
                &try_ending(&task(n), "R3JvdXAwMDAwMDAwMDAwMA", &diff_of(&task(n))),
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap();
    }
    wait_until("all 40 events trigger", Duration::from_secs(60), || async {
        triggers_per_task(&harness).await.len() == 40
    })
    .await;
    assert!(stats.reconnects() >= 1);
    let per_task = triggers_per_task(&harness).await;
    assert!(per_task.values().all(|count| *count == 1), "triggered more than once: {per_task:?}");
    listener.stop().await;
    for queue in [config.broker.queue_name(&rule), config.broker.dead_letter_queue()] {
        let _ = publisher.queue_delete(queue.as_str().into(), lapin::options::QueueDeleteOptions::default()).await;
    }
    for rule in &config.rules {
        let _ = publisher.queue_delete(config.broker.queue_name(&rule.name).as_str().into(), Default::default()).await;
        let _ = publisher.exchange_delete(rule.exchange.as_str().into(), Default::default()).await;
    }
    let _ = publisher.exchange_delete(config.broker.dead_letter_exchange().as_str().into(), Default::default()).await;
}
