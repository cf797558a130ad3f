//! Real-shaped messages for each rule trigger exactly the expected hooks with the right
//! parameters; messages the rules do not select trigger nothing.

use std::time::Duration;

use serde_json::json;
use shipit_pulse_listener::stats::{ACKED, RECEIVED, TRIGGERED};
use shipit_shared::api_types::{RunPage, RunTrigger};
use wiremock::matchers::{body_partial_json, header_regex, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::{
    CENTRAL, Harness, ROUTE, group_key, group_resolved, hook_answer, push, pushlog, task_group_page, try_ending,
    wait_until,
};

const WITH_CCOV_ON_PAGE_2: &str = "RS0UwZahQ_qAcdZzEb_Y9g";
const WITHOUT_CCOV: &str = "bNq-VIT-Q12o6nXcaUmYNQ";

#[tokio::test]
async fn each_rule_triggers_its_hook_and_nothing_else_triggers() {
    let harness = Harness::new().await;
    let tc = &harness.taskcluster;

    // Code coverage: the first page of the group (a real page whose ccov builds are from
    // mozilla-inbound) carries a continuation token; the second page (a real page with a
    // mozilla-central ccov build) decides.
    let list = format!("/api/queue/v1/task-group/{WITH_CCOV_ON_PAGE_2}/list");
    let first_page = task_group_page(WITHOUT_CCOV, true);
    let token = first_page["continuationToken"].as_str().unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path(&list))
        .and(query_param("limit", "200"))
        .and(query_param_is_missing("continuationToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first_page))
        .expect(1)
        .mount(tc)
        .await;
    Mock::given(method("GET"))
        .and(path(&list))
        .and(query_param("continuationToken", token.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(task_group_page(WITH_CCOV_ON_PAGE_2, true)))
        .expect(1)
        .mount(tc)
        .await;
    // A group whose only ccov builds are not from the configured repository: no trigger.
    Mock::given(method("GET"))
        .and(path(format!("/api/queue/v1/task-group/{WITHOUT_CCOV}/list")))
        .respond_with(ResponseTemplate::new(200).set_body_json(task_group_page(WITHOUT_CCOV, false)))
        .expect(1)
        .mount(tc)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-relman/shipit-coverage/trigger"))
        .and(header_regex("authorization", "^Hawk id=\"project/relman/shipit\""))
        .and(body_partial_json(
            json!({"parameters": {"REPOSITORY": "mozilla-central", "REVISION": "ec3dd3ee2ae4b3a63529a912816a110e925eb2d0"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(hook_answer("Q292ZXJhZ2VUYXNrMDAwMA")))
        .expect(1)
        .mount(tc)
        .await;

    // Risk: one push touching C++, one touching only JavaScript.
    let cpp_head = "1".repeat(40);
    let js_head = "2".repeat(40);
    let pushlog_url =
        |id: u64| format!("{}/mozilla-central/json-pushes?version=2&full=1&startID={}&endID={id}", tc.uri(), id - 1);
    Mock::given(method("GET"))
        .and(path("/mozilla-central/json-pushes"))
        .and(query_param("endID", "101"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pushlog(
            101,
            &cpp_head,
            &["dom/base/Element.cpp", "README.md"],
        )))
        .expect(1)
        .mount(tc)
        .await;
    Mock::given(method("GET"))
        .and(path("/mozilla-central/json-pushes"))
        .and(query_param("endID", "102"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pushlog(102, &js_head, &["browser/app.js"])))
        .expect(1)
        .mount(tc)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-relman/shipit-risk/trigger"))
        .and(body_partial_json(json!({"parameters": {"REPOSITORY": "mozilla-central", "REVISIONS": cpp_head}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(hook_answer("UmlzazAwMDAwMDAwMDAwMA")))
        .expect(1)
        .mount(tc)
        .await;

    // Static analysis: the try-ending task of a code-review push.
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-relman/shipit-static-analysis/trigger"))
        .and(body_partial_json(json!({"parameters": {"PHABRICATOR_DIFF": "PHID-DIFF-3wwyr5dw4ozxdotzdkbb"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(hook_answer("U3RhdGljMDAwMDAwMDAwMA")))
        .expect(1)
        .mount(tc)
        .await;

    let mut config = harness.config();
    let health = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health_url = format!("http://{}", health.local_addr().unwrap());
    let listener = harness.start(config.clone()).await;
    let stats = listener.stats.clone();
    let server = tokio::spawn(shipit_pulse_listener::health::serve(health, stats.clone(), std::future::pending()));

    harness
        .publish(&harness.coverage_exchange(), &group_key(WITH_CCOV_ON_PAGE_2), &group_resolved(WITH_CCOV_ON_PAGE_2))
        .await;
    harness.publish(&harness.coverage_exchange(), &group_key(WITHOUT_CCOV), &group_resolved(WITHOUT_CCOV)).await;
    // Another scheduler: not bound, never delivered.
    harness
        .publish(
            &harness.coverage_exchange(),
            "primary.T3RoZXJHcm91cDAwMDAwMA.gecko-level-1._",
            &group_resolved("T3RoZXJHcm91cDAwMDAwMA"),
        )
        .await;
    harness
        .publish(&harness.push_exchange(), "mozilla-central", &push(CENTRAL, 101, &cpp_head, &pushlog_url(101)))
        .await;
    harness
        .publish(&harness.push_exchange(), "mozilla-central", &push(CENTRAL, 102, &js_head, &pushlog_url(102)))
        .await;
    let obsolete = json!({"payload": {"type": "obsolete.1", "data": {"repo_url": CENTRAL, "markers": []}}});
    harness.publish(&harness.push_exchange(), "mozilla-central", obsolete.to_string().as_bytes()).await;
    harness
        .publish(
            &harness.completed_exchange(),
            &format!("route.{ROUTE}"),
            &try_ending("VHJ5RW5kaW5nVGFzazAwMA", "VHJ5R3JvdXAwMDAwMDAwMA", "PHID-DIFF-3wwyr5dw4ozxdotzdkbb"),
        )
        .await;

    let acked = |stats: std::sync::Arc<shipit_pulse_listener::Stats>, config: shipit_pulse_listener::ListenerConfig| async move {
        config.rules.iter().map(|rule| stats.get(ACKED, &rule.name)).sum::<u64>() == 6
    };
    wait_until("six messages are acknowledged", Duration::from_secs(20), || acked(stats.clone(), config.clone())).await;

    let coverage = harness.rule_name("coverage");
    let risk = harness.rule_name("risk");
    let static_analysis = harness.rule_name("static-analysis");
    assert_eq!(stats.get(RECEIVED, &coverage), 2);
    assert_eq!(stats.get_labelled(ACKED, &coverage, "triggered"), 1);
    assert_eq!(stats.get_labelled(ACKED, &coverage, "skipped"), 1);
    assert_eq!(stats.get_labelled(ACKED, &risk, "triggered"), 1);
    assert_eq!(stats.get_labelled(ACKED, &risk, "skipped"), 2);
    assert_eq!(stats.get(TRIGGERED, &static_analysis), 1);
    assert_eq!(harness.hook_calls("coverage").await.len(), 1);
    assert_eq!(harness.hook_calls("risk").await.len(), 1);
    assert_eq!(harness.hook_calls("static-analysis").await.len(), 1);

    // Each trigger opened a run in the API, with the pulse trigger and its parameters, and the
    // hook got the run's id.
    let runs: RunPage =
        harness.app.client.get(harness.app.url("/runs?bot=coverage")).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs.runs.len(), 1);
    assert_eq!(runs.runs[0].trigger, RunTrigger::Pulse);
    assert_eq!(runs.runs[0].parameters["REVISION"], "ec3dd3ee2ae4b3a63529a912816a110e925eb2d0");
    assert_eq!(harness.hook_calls("coverage").await[0]["run_id"], runs.runs[0].id.to_string());
    // And the handled events are recorded, naming the run and the hook's task.
    let event = harness.api().event(&coverage, WITH_CCOV_ON_PAGE_2).await.unwrap().expect("recorded");
    assert_eq!(event.run_id, Some(runs.runs[0].id));
    assert_eq!(event.details["reference"], "Q292ZXJhZ2VUYXNrMDAwMA");
    assert_eq!(harness.api().event(&coverage, WITHOUT_CCOV).await.unwrap(), None);
    assert!(harness.api().event(&risk, "mozilla-central:101").await.unwrap().is_some());

    // Health and metrics.
    let client = reqwest::Client::new();
    let heartbeat = client.get(format!("{health_url}/__heartbeat__")).send().await.unwrap();
    assert_eq!(heartbeat.status(), 200);
    let metrics = client.get(format!("{health_url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("pulse_triggers_total{{rule=\"{coverage}\"}} 1\n")), "{metrics}");
    assert!(metrics.contains("pulse_connected 1\n"));

    listener.stop().await;
    let heartbeat = client.get(format!("{health_url}/__heartbeat__")).send().await.unwrap();
    assert_eq!(heartbeat.status(), 503, "no broker, no heartbeat");
    server.abort();
    config.rules.truncate(3);
    assert!(harness.dead_letters(&config).await.is_empty());
    harness.cleanup(&config).await;
}
