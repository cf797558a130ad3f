//! Delivery guarantees: malformed and unroutable messages are dead-lettered without stopping
//! the listener, a transient trigger failure requeues the message, and a restarted listener
//! does not trigger handled events again.

use std::time::Duration;

use shipit_pulse_listener::stats::{ACKED, DEAD_LETTERED, REQUEUED, TRIGGERED};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::{
    Harness, ROUTE, group_key, group_resolved, hook_answer, task_group_page, try_ending, wait_for_count, wait_until,
};

const STATIC_HOOK: &str = "/api/hooks/v1/hooks/project-relman/shipit-static-analysis/trigger";

#[tokio::test]
async fn unreadable_messages_are_dead_lettered_and_the_listener_carries_on() {
    let harness = Harness::new().await;
    Mock::given(method("POST"))
        .and(path(STATIC_HOOK))
        .respond_with(ResponseTemplate::new(200).set_body_json(hook_answer("U3RhdGljMDAwMDAwMDAwMA")))
        .expect(1)
        .mount(&harness.taskcluster)
        .await;
    // The risk hook does not exist: Taskcluster answers 404, which no retry can fix.
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-relman/shipit-risk/trigger"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({"code": "ResourceNotFound"})))
        .expect(1)
        .mount(&harness.taskcluster)
        .await;
    Mock::given(method("GET"))
        .and(path("/mozilla-central/json-pushes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(crate::harness::pushlog(5, &"a".repeat(40), &["x.cpp"])))
        .mount(&harness.taskcluster)
        .await;
    let config = harness.config();
    let listener = harness.start(config.clone()).await;
    let static_analysis = harness.rule_name("static-analysis");
    let coverage = harness.rule_name("coverage");
    let risk = harness.rule_name("risk");
    let routed = format!("route.{ROUTE}");

    harness.publish(&harness.completed_exchange(), &routed, b"not json at all").await;
    harness.publish(&harness.completed_exchange(), &routed, br#"{"status": {"taskId": 42}}"#).await;
    harness.publish(&harness.coverage_exchange(), &group_key("x"), br#"{"taskGroupId": "has/slash"}"#).await;
    let bad_head = String::from_utf8(crate::harness::push(crate::harness::CENTRAL, 5, "nothex", "http://x/")).unwrap();
    harness.publish(&harness.push_exchange(), "mozilla-central", bad_head.as_bytes()).await;
    // Straight into the queue through the default exchange: no rule handles that exchange.
    let queue = config.broker.queue_name(&static_analysis);
    harness.publish("", &queue, &try_ending("VW5yb3V0YWJsZTAwMDAwMA", "R3JvdXAwMDAwMDAwMDAwMA", "PHID-DIFF-d1")).await;
    // A trigger refused for good.
    let pushlog_url =
        format!("{}/mozilla-central/json-pushes?version=2&full=1&startID=4&endID=5", harness.taskcluster.uri());
    harness
        .publish(
            &harness.push_exchange(),
            "mozilla-central",
            &crate::harness::push(crate::harness::CENTRAL, 5, &"a".repeat(40), &pushlog_url),
        )
        .await;
    // And a good message after all of these is still handled.
    harness
        .publish(
            &harness.completed_exchange(),
            &routed,
            &try_ending("R29vZFRhc2swMDAwMDAwMA", "R3JvdXAwMDAwMDAwMDAwMA", "PHID-DIFF-d2"),
        )
        .await;

    let stats = listener.stats.clone();
    wait_for_count(&stats, TRIGGERED, &static_analysis, 1).await;
    assert_eq!(stats.get(TRIGGERED, &static_analysis), 1);
    wait_until("six messages are dead-lettered", Duration::from_secs(20), || {
        let (stats, names) = (stats.clone(), [static_analysis.clone(), coverage.clone(), risk.clone()]);
        async move { names.iter().map(|name| stats.get(DEAD_LETTERED, name)).sum::<u64>() == 6 }
    })
    .await;
    assert_eq!(stats.get_labelled(DEAD_LETTERED, &static_analysis, "malformed"), 2);
    assert_eq!(stats.get_labelled(DEAD_LETTERED, &static_analysis, "unroutable"), 1);
    assert_eq!(stats.get_labelled(DEAD_LETTERED, &coverage, "malformed"), 1);
    assert_eq!(stats.get_labelled(DEAD_LETTERED, &risk, "malformed"), 1);
    assert_eq!(stats.get_labelled(DEAD_LETTERED, &risk, "trigger"), 1);
    assert!(stats.connected(), "the listener is still consuming");

    let dead = harness.dead_letters(&config).await;
    assert_eq!(dead.len(), 6, "every rejected message is in the dead-letter queue");
    assert!(dead.iter().any(|body| body == b"not json at all"));
    listener.stop().await;
    assert_eq!(harness.ready(&queue).await, 0);
    harness.cleanup(&config).await;
}

#[tokio::test]
async fn a_transient_trigger_failure_requeues_until_the_trigger_succeeds() {
    let harness = Harness::new().await;
    // Taskcluster fails twice, then accepts.
    Mock::given(method("POST"))
        .and(path(STATIC_HOOK))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&harness.taskcluster)
        .await;
    Mock::given(method("POST"))
        .and(path(STATIC_HOOK))
        .respond_with(ResponseTemplate::new(200).set_body_json(hook_answer("U3RhdGljMDAwMDAwMDAwMA")))
        .expect(1)
        .mount(&harness.taskcluster)
        .await;
    let config = harness.config();
    let listener = harness.start(config.clone()).await;
    let rule = harness.rule_name("static-analysis");
    harness
        .publish(
            &harness.completed_exchange(),
            &format!("route.{ROUTE}"),
            &try_ending("UmV0cnlUYXNrMDAwMDAwMA", "R3JvdXAwMDAwMDAwMDAwMA", "PHID-DIFF-d3"),
        )
        .await;

    let stats = listener.stats.clone();
    wait_for_count(&stats, ACKED, &rule, 1).await;
    assert_eq!(stats.get(ACKED, &rule), 1);
    assert_eq!(stats.get_labelled(REQUEUED, &rule, "trigger"), 2);
    assert_eq!(stats.get(TRIGGERED, &rule), 1);
    assert_eq!(stats.get(DEAD_LETTERED, &rule), 0);
    assert_eq!(harness.hook_calls("static-analysis").await.len(), 3);
    // The two failed starts are closed as failed; one run is open.
    let runs: shipit_shared::api_types::RunPage = harness
        .app
        .client
        .get(harness.app.url("/runs?bot=static-analysis"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = runs.runs.iter().map(|run| run.status.as_str()).collect();
    assert_eq!(statuses, ["running", "failed", "failed"]);
    // Each failed start let the claim lapse; the last claim is confirmed, with the open run.
    let event = harness.api().event(&rule, "UmV0cnlUYXNrMDAwMDAwMA:0").await.unwrap().expect("claimed");
    assert_eq!((event.handled, event.run_id), (true, Some(runs.runs[0].id)));
    listener.stop().await;
    assert!(harness.dead_letters(&config).await.is_empty());
    harness.cleanup(&config).await;
}

#[tokio::test]
async fn a_restarted_listener_does_not_trigger_handled_events_again() {
    let harness = Harness::new().await;
    let group = "RS0UwZahQ_qAcdZzEb_Y9g";
    Mock::given(method("GET"))
        .and(path(format!("/api/queue/v1/task-group/{group}/list")))
        .respond_with(ResponseTemplate::new(200).set_body_json(task_group_page(group, false)))
        .expect(1)
        .mount(&harness.taskcluster)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-relman/shipit-coverage/trigger"))
        .respond_with(ResponseTemplate::new(200).set_body_json(hook_answer("Q292ZXJhZ2VUYXNrMDAwMA")))
        .expect(1)
        .mount(&harness.taskcluster)
        .await;
    Mock::given(method("POST"))
        .and(path(STATIC_HOOK))
        .respond_with(ResponseTemplate::new(200).set_body_json(hook_answer("U3RhdGljMDAwMDAwMDAwMA")))
        .expect(1)
        .mount(&harness.taskcluster)
        .await;
    let config = harness.config();
    let coverage = harness.rule_name("coverage");
    let static_analysis = harness.rule_name("static-analysis");
    let routed = format!("route.{ROUTE}");
    let completed = try_ending("RHVwbGljYXRlVGFzazAwMA", "R3JvdXAwMDAwMDAwMDAwMA", "PHID-DIFF-d4");

    let first = harness.start(config.clone()).await;
    harness.publish(&harness.coverage_exchange(), &group_key(group), &group_resolved(group)).await;
    harness.publish(&harness.completed_exchange(), &routed, &completed).await;
    let stats = first.stats.clone();
    wait_for_count(&stats, ACKED, &coverage, 1).await;
    wait_for_count(&stats, ACKED, &static_analysis, 1).await;
    assert_eq!(stats.get(TRIGGERED, &coverage) + stats.get(TRIGGERED, &static_analysis), 2);
    first.stop().await;

    // Pulse delivers at least once: the same messages come again while no listener runs.
    for _ in 0..2 {
        harness.publish(&harness.coverage_exchange(), &group_key(group), &group_resolved(group)).await;
        harness.publish(&harness.completed_exchange(), &routed, &completed).await;
    }
    assert_eq!(harness.ready(&config.broker.queue_name(&coverage)).await, 2, "the durable queue kept them");

    let second = harness.start(config.clone()).await;
    let stats = second.stats.clone();
    // A coverage duplicate is known from the API's record before asking Taskcluster about its
    // group; a static-analysis duplicate from its claim.
    for rule in [&coverage, &static_analysis] {
        wait_for_count(&stats, ACKED, rule, 2).await;
        assert_eq!(stats.get(ACKED, rule), 2);
        assert_eq!(stats.get_labelled(ACKED, rule, "duplicate"), 2);
        assert_eq!(stats.get(TRIGGERED, rule), 0);
    }
    assert_eq!(harness.hook_calls("coverage").await.len(), 1);
    assert_eq!(harness.hook_calls("static-analysis").await.len(), 1);
    second.stop().await;
    harness.cleanup(&config).await;
}
