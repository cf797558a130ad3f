//! Event claims: a batch of claims answers one outcome per claim in order, a granted claim opens
//! its run in the same step, is pending until confirmed, lapses when its run failed or its lease
//! ran out, and claims are refused without the scopes or with a bad batch or key; and the typed
//! client's view of them.

use std::time::Duration;

use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::events::{
    ClaimOutcome, ClaimOutcomes, DEFAULT_LEASE_SECS, EventClaim, EventClaims, EventRecord, HandledCount, HandledEvent,
    HandledEvents,
};
use shipit_shared::api_types::{NewRun, Run, RunFinish, RunOutcome, RunPage, RunStatus, RunTrigger};
use shipit_shared::http::{RetryPolicy, UpstreamClient};

use crate::problem;

const SCOPES: [&str; 2] = ["project:shipit:events/manage", "project:shipit:runs/manage"];
const KEY: &str = "RS0UwZahQ_qAcdZzEb_Y9g";

fn claim_json(key: &str, lease_secs: u32) -> Value {
    json!({
        "source": "code-coverage",
        "key": key,
        "run": {"bot": "coverage", "trigger": "pulse", "parameters": {"REVISION": "abc"}},
        "details": {"routing_key": "primary.x"},
        "lease_secs": lease_secs,
    })
}

fn claim(key: &str, lease_secs: u32) -> EventClaim {
    serde_json::from_value(claim_json(key, lease_secs)).unwrap()
}

fn handled(key: &str, run_id: i64) -> Value {
    json!({"events": [{"source": "code-coverage", "key": key, "run_id": run_id, "details": {"reference": "task"}}]})
}

fn client(app: &TestApp, token: String) -> ApiClient {
    let http = UpstreamClient::new(
        Duration::from_secs(5),
        RetryPolicy { max_attempts: 1, initial_backoff: Duration::ZERO, max_backoff: Duration::ZERO },
    )
    .unwrap();
    ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), Some(token.into()), http)
}

/// The one outcome of claiming `claim` alone.
async fn claim_one(api: &ApiClient, claim: EventClaim) -> ClaimOutcome {
    api.claim_events(&EventClaims { claims: vec![claim] }).await.unwrap()[0]
}

#[tokio::test]
async fn a_claim_opens_its_run_and_once_confirmed_the_event_is_handled() {
    let app = TestApp::spawn().await;
    let token = app.token(&SCOPES).await;
    let url = app.url(&format!("/events/code-coverage/{KEY}"));
    let claims_url = app.url("/events/claims");
    let claims = |body: Value| app.client.post(&claims_url).bearer_auth(&token).json(&body).send();
    let one = json!({"claims": [claim_json(KEY, 300)]});
    problem(app.client.get(&url).send().await.unwrap(), 404).await;

    let claimed = claims(one.clone()).await.unwrap();
    assert_eq!(claimed.status(), 200);
    let body: Value = claimed.json().await.unwrap();
    assert_eq!(body["outcomes"][0]["outcome"], "granted");
    let run_id = body["outcomes"][0]["run_id"].as_i64().expect("a run");
    let run: Run = app.client.get(app.url(&format!("/runs/{run_id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((run.bot.as_str(), run.trigger, run.status), ("coverage", RunTrigger::Pulse, RunStatus::Running));
    assert_eq!(run.parameters["REVISION"], "abc");
    let pending: EventRecord = app.client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!((pending.run_id, pending.handled), (Some(run_id), false));

    // Pending: a second claim is told to come back later, and opens no run.
    let again: ClaimOutcomes = claims(one.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(again.outcomes, [ClaimOutcome::Busy { run_id: Some(run_id) }]);

    let confirm = |body: Value| app.client.post(app.url("/events/handled")).bearer_auth(&token).json(&body).send();
    let confirmed: HandledCount = confirm(handled(KEY, run_id)).await.unwrap().json().await.unwrap();
    assert_eq!(confirmed.confirmed, 1);
    let confirmed: HandledCount = confirm(handled(KEY, run_id)).await.unwrap().json().await.unwrap();
    assert_eq!(confirmed.confirmed, 0, "confirming twice changes nothing");
    let record: EventRecord = app.client.get(&url).send().await.unwrap().json().await.unwrap();
    assert!(record.handled);
    assert_eq!(
        (record.details["routing_key"].as_str(), record.details["reference"].as_str()),
        (Some("primary.x"), Some("task"))
    );

    // Handled: a claim answers the event's run, and opens no run.
    let duplicate: ClaimOutcomes = claims(one).await.unwrap().json().await.unwrap();
    assert_eq!(duplicate.outcomes, [ClaimOutcome::Handled { run_id: Some(run_id) }]);
    let runs: RunPage = app.client.get(app.url("/runs?bot=coverage")).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs.runs.len(), 1);
}

#[tokio::test]
async fn a_batch_answers_each_claim_in_order() {
    let app = TestApp::spawn().await;
    let api = client(&app, app.token(&SCOPES).await);
    let ClaimOutcome::Granted { run_id: handled_run } = claim_one(&api, claim("handled", 300)).await else {
        panic!("granted");
    };
    let event = HandledEvent {
        source: "code-coverage".to_owned(),
        key: "handled".to_owned(),
        run_id: handled_run,
        details: Default::default(),
    };
    api.events_handled(&HandledEvents { events: vec![event] }).await.unwrap();
    let ClaimOutcome::Granted { run_id: busy_run } = claim_one(&api, claim("busy", 300)).await else {
        panic!("granted");
    };
    let ClaimOutcome::Granted { run_id: short_run } = claim_one(&api, claim("short", 0)).await else {
        panic!("granted");
    };

    let batch = ["new-1", "handled", "busy", "short", "new-2"].map(|key| claim(key, 300)).to_vec();
    let outcomes = api.claim_events(&EventClaims { claims: batch }).await.unwrap();
    let [
        ClaimOutcome::Granted { run_id: first },
        ClaimOutcome::Handled { run_id: Some(handled) },
        ClaimOutcome::Busy { run_id: Some(busy) },
        ClaimOutcome::Granted { run_id: retaken },
        ClaimOutcome::Granted { run_id: second },
    ] = outcomes[..]
    else {
        panic!("granted, handled, busy, lapsed and granted again, granted: {outcomes:?}");
    };
    assert_eq!((handled, busy), (handled_run, busy_run));
    assert!(first != second && retaken != short_run && retaken != first && retaken != second);
    for (key, run_id) in [("new-1", first), ("short", retaken), ("new-2", second)] {
        let record = api.event("code-coverage", key).await.unwrap().expect("claimed");
        assert_eq!((record.run_id, record.handled), (Some(run_id), false), "{key}");
        let run: Run = app.client.get(app.url(&format!("/runs/{run_id}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(run.parameters["REVISION"], "abc");
    }
    let runs: RunPage = app.client.get(app.url("/runs?bot=coverage")).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs.runs.len(), 6, "three runs before the batch, three granted by it");
}

#[tokio::test]
async fn a_claim_lapses_when_its_run_failed_to_start_or_its_lease_ran_out() {
    let app = TestApp::spawn().await;
    let token = app.token(&SCOPES).await;
    let api = client(&app, token.clone());

    let ClaimOutcome::Granted { run_id: first } = claim_one(&api, claim(KEY, 300)).await else {
        panic!("the first claim is granted");
    };
    // The bot could not be started: the runner closes the run as failed.
    let failed =
        RunFinish { status: RunOutcome::Failed, error_summary: Some("503".to_owned()), counts: Default::default() };
    api.finish_run(first, &failed).await.unwrap();
    let ClaimOutcome::Granted { run_id: second } = claim_one(&api, claim(KEY, 300)).await else {
        panic!("a claim whose run failed lapses");
    };
    assert_ne!(second, first, "the new claim has a run of its own");
    // The first claimant's confirmation is too late: the claim is the second run's now.
    let late = HandledEvents {
        events: vec![HandledEvent {
            source: "code-coverage".to_owned(),
            key: KEY.to_owned(),
            run_id: first,
            details: Default::default(),
        }],
    };
    assert_eq!(api.events_handled(&late).await.unwrap().confirmed, 0);
    assert_eq!(api.event("code-coverage", KEY).await.unwrap().unwrap().run_id, Some(second));

    // A claim never confirmed lapses with its lease.
    let ClaimOutcome::Granted { run_id: short } = claim_one(&api, claim("short", 0)).await else {
        panic!("granted");
    };
    let ClaimOutcome::Granted { run_id: retaken } = claim_one(&api, claim("short", 300)).await else {
        panic!("a claim whose lease ran out lapses");
    };
    assert_ne!(retaken, short);
}

#[tokio::test]
async fn concurrent_batches_claiming_one_event_grant_it_once_and_open_one_run() {
    let app = TestApp::spawn().await;
    let api = client(&app, app.token(&SCOPES).await);
    // Each batch holds the contested event among others of its own, in a different order.
    let batches: Vec<EventClaims> = (0..8)
        .map(|n| {
            let mut claims =
                vec![claim(&format!("own-{n}-a"), 300), claim(KEY, 300), claim(&format!("own-{n}-b"), 300)];
            claims.rotate_left(n % 3);
            EventClaims { claims }
        })
        .collect();
    let answers = futures::future::join_all(batches.iter().map(|batch| api.claim_events(batch))).await;
    let mut contested = Vec::new();
    for (batch, answer) in batches.iter().zip(answers) {
        for (claim, outcome) in batch.claims.iter().zip(answer.unwrap()) {
            if claim.key == KEY {
                contested.push(outcome);
            } else {
                assert!(matches!(outcome, ClaimOutcome::Granted { .. }), "{}: {outcome:?}", claim.key);
            }
        }
    }
    let granted = contested.iter().filter(|outcome| matches!(outcome, ClaimOutcome::Granted { .. })).count();
    let busy = contested.iter().filter(|outcome| matches!(outcome, ClaimOutcome::Busy { .. })).count();
    assert_eq!((granted, busy), (1, 7), "{contested:?}");
    let runs: RunPage =
        app.client.get(app.url("/runs?bot=coverage&limit=100")).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs.runs.len(), 1 + 16, "the losers' runs are not kept");
}

#[tokio::test]
async fn claims_need_both_scopes_and_batches_and_keys_are_checked() {
    let app = TestApp::spawn().await;
    let url = app.url("/events/claims");
    let body = json!({"claims": [claim_json("mozilla-central:1", 300)]});

    problem(app.client.post(&url).json(&body).send().await.unwrap(), 401).await;
    for scope in SCOPES {
        let one_scope = app.token(&[scope]).await;
        problem(app.client.post(&url).bearer_auth(&one_scope).json(&body).send().await.unwrap(), 403).await;
    }
    let runs_only = app.token(&["project:shipit:runs/manage"]).await;
    let handled_url = app.url("/events/handled");
    problem(app.client.post(&handled_url).json(&handled("k", 1)).send().await.unwrap(), 401).await;
    problem(app.client.post(&handled_url).bearer_auth(&runs_only).json(&handled("k", 1)).send().await.unwrap(), 403)
        .await;

    let token = app.token(&["project:shipit:*"]).await;
    let post = |url: &str, body: Value| app.client.post(url).bearer_auth(&token).json(&body).send();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claim = claim_json("mozilla-central:1", 300);
        change(&mut claim);
        json!({"claims": [claim_json("fine", 300), claim]})
    };
    let field = |response| async { problem(response, 400).await.field };
    let bad_source = post(&url, with(&|claim| claim["source"] = json!("Risk"))).await.unwrap();
    assert_eq!(field(bad_source).await.as_deref(), Some("source"));
    let bad_key = post(&url, with(&|claim| claim["key"] = json!("a b"))).await.unwrap();
    assert_eq!(field(bad_key).await.as_deref(), Some("key"));
    let bad_bot = post(&url, with(&|claim| claim["run"]["bot"] = json!("Coverage"))).await.unwrap();
    assert_eq!(field(bad_bot).await.as_deref(), Some("run.bot"));
    let twice = post(&url, with(&|claim| claim["key"] = json!("fine"))).await.unwrap();
    assert_eq!(field(twice).await.as_deref(), Some("claims"));
    problem(post(&url, with(&|claim| claim["surprise"] = json!(1))).await.unwrap(), 400).await;
    let empty = post(&url, json!({"claims": []})).await.unwrap();
    assert_eq!(field(empty).await.as_deref(), Some("claims"));
    let many: Vec<Value> = (0..1_001).map(|n| claim_json(&n.to_string(), 300)).collect();
    let too_many = post(&url, json!({"claims": many})).await.unwrap();
    assert_eq!(field(too_many).await.as_deref(), Some("claims"));
    let runs: RunPage = app.client.get(app.url("/runs")).send().await.unwrap().json().await.unwrap();
    assert!(runs.runs.is_empty(), "a refused batch opens no run");

    let bad_handled = post(&handled_url, json!({"events": [{"source": "risk", "key": "a b", "run_id": 1}]}));
    assert_eq!(field(bad_handled.await.unwrap()).await.as_deref(), Some("key"));
    let many: Vec<Value> = (0..1_001).map(|n| json!({"source": "risk", "key": n.to_string(), "run_id": 1})).collect();
    let too_many = post(&handled_url, json!({"events": many})).await.unwrap();
    assert_eq!(field(too_many).await.as_deref(), Some("events"));
}

#[tokio::test]
async fn the_client_claims_confirms_and_reads_events() {
    let app = TestApp::spawn().await;
    let api = client(&app, app.token(&SCOPES).await);
    let claim = EventClaim {
        source: "static-analysis".to_owned(),
        key: "abc:0".to_owned(),
        run: NewRun { bot: "static-analysis".to_owned(), trigger: RunTrigger::Pulse, parameters: Default::default() },
        details: Default::default(),
        lease_secs: DEFAULT_LEASE_SECS,
    };

    assert_eq!(api.event("static-analysis", "abc:0").await.unwrap(), None);
    let ClaimOutcome::Granted { run_id } = claim_one(&api, claim.clone()).await else {
        panic!("granted");
    };
    assert_eq!(claim_one(&api, claim.clone()).await, ClaimOutcome::Busy { run_id: Some(run_id) });
    let event = HandledEvent {
        source: "static-analysis".to_owned(),
        key: "abc:0".to_owned(),
        run_id,
        details: Default::default(),
    };
    assert_eq!(api.events_handled(&HandledEvents { events: vec![event] }).await.unwrap().confirmed, 1);
    assert_eq!(claim_one(&api, claim).await, ClaimOutcome::Handled { run_id: Some(run_id) });
    let record = api.event("static-analysis", "abc:0").await.unwrap().expect("recorded");
    assert_eq!((record.run_id, record.handled), (Some(run_id), true));
}
