//! Event claims: a claim opens its run in the same step, is pending until confirmed, lapses when
//! its run failed or its lease ran out, and is refused without the scopes or with a bad key; and
//! the typed client's view of them.

use std::time::Duration;

use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_client::events::Claim;
use shipit_shared::api_types::events::{
    ClaimedEvent, DEFAULT_LEASE_SECS, EventClaim, EventRecord, HandledCount, HandledEvent, HandledEvents,
};
use shipit_shared::api_types::{NewRun, Run, RunFinish, RunOutcome, RunPage, RunStatus, RunTrigger};
use shipit_shared::http::{RetryPolicy, UpstreamClient};

use crate::problem;

const SCOPES: [&str; 2] = ["project:shipit:events/manage", "project:shipit:runs/manage"];
const KEY: &str = "RS0UwZahQ_qAcdZzEb_Y9g";

fn claim_body(lease_secs: u32) -> Value {
    json!({
        "run": {"bot": "coverage", "trigger": "pulse", "parameters": {"REVISION": "abc"}},
        "details": {"routing_key": "primary.x"},
        "lease_secs": lease_secs,
    })
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

#[tokio::test]
async fn a_claim_opens_its_run_and_once_confirmed_the_event_is_handled() {
    let app = TestApp::spawn().await;
    let token = app.token(&SCOPES).await;
    let url = app.url(&format!("/events/code-coverage/{KEY}"));
    let claim_url = format!("{url}/claim");
    problem(app.client.get(&url).send().await.unwrap(), 404).await;

    let claimed = app.client.post(&claim_url).bearer_auth(&token).json(&claim_body(300)).send().await.unwrap();
    assert_eq!(claimed.status(), 201);
    let run_id = claimed.json::<ClaimedEvent>().await.unwrap().run_id.expect("a run");
    let run: Run = app.client.get(app.url(&format!("/runs/{run_id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((run.bot.as_str(), run.trigger, run.status), ("coverage", RunTrigger::Pulse, RunStatus::Running));
    assert_eq!(run.parameters["REVISION"], "abc");
    let pending: EventRecord = app.client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!((pending.run_id, pending.handled), (Some(run_id), false));

    // Pending: a second claim is told to come back later, and opens no run.
    let again = app.client.post(&claim_url).bearer_auth(&token).json(&claim_body(300)).send().await.unwrap();
    assert_eq!(problem(again, 409).await.run_id, Some(run_id));

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

    // Handled: a claim answers 200 with the event's run, and opens no run.
    let duplicate = app.client.post(&claim_url).bearer_auth(&token).json(&claim_body(300)).send().await.unwrap();
    assert_eq!(duplicate.status(), 200);
    assert_eq!(duplicate.json::<ClaimedEvent>().await.unwrap().run_id, Some(run_id));
    let runs: RunPage = app.client.get(app.url("/runs?bot=coverage")).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs.runs.len(), 1);
}

#[tokio::test]
async fn a_claim_lapses_when_its_run_failed_to_start_or_its_lease_ran_out() {
    let app = TestApp::spawn().await;
    let token = app.token(&SCOPES).await;
    let api = client(&app, token.clone());
    let claim = |lease_secs| serde_json::from_value::<EventClaim>(claim_body(lease_secs)).unwrap();

    let Claim::Granted { run_id: first } = api.claim_event("code-coverage", KEY, &claim(300)).await.unwrap() else {
        panic!("the first claim is granted");
    };
    // The bot could not be started: the runner closes the run as failed.
    let failed =
        RunFinish { status: RunOutcome::Failed, error_summary: Some("503".to_owned()), counts: Default::default() };
    api.finish_run(first, &failed).await.unwrap();
    let Claim::Granted { run_id: second } = api.claim_event("code-coverage", KEY, &claim(300)).await.unwrap() else {
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
    let Claim::Granted { run_id: short } = api.claim_event("code-coverage", "short", &claim(0)).await.unwrap() else {
        panic!("granted");
    };
    let Claim::Granted { run_id: retaken } = api.claim_event("code-coverage", "short", &claim(300)).await.unwrap()
    else {
        panic!("a claim whose lease ran out lapses");
    };
    assert_ne!(retaken, short);
}

#[tokio::test]
async fn concurrent_claims_of_one_event_grant_one_and_open_one_run() {
    let app = TestApp::spawn().await;
    let api = client(&app, app.token(&SCOPES).await);
    let claim = serde_json::from_value::<EventClaim>(claim_body(DEFAULT_LEASE_SECS)).unwrap();
    let claims = (0..8).map(|_| api.claim_event("code-coverage", KEY, &claim));
    let outcomes = futures::future::join_all(claims).await;
    let granted = outcomes.iter().filter(|outcome| matches!(outcome, Ok(Claim::Granted { .. }))).count();
    let busy = outcomes.iter().filter(|outcome| matches!(outcome, Ok(Claim::Busy))).count();
    assert_eq!((granted, busy), (1, 7), "{outcomes:?}");
    let runs: RunPage = app.client.get(app.url("/runs?bot=coverage")).send().await.unwrap().json().await.unwrap();
    assert_eq!(runs.runs.len(), 1, "the losers' runs are rolled back");
}

#[tokio::test]
async fn claims_need_both_scopes_and_keys_and_bodies_are_checked() {
    let app = TestApp::spawn().await;
    let url = app.url("/events/risk/mozilla-central:1/claim");
    let body = claim_body(300);

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
    let post = |url: String, body: Value| app.client.post(url).bearer_auth(&token).json(&body).send();
    let bad_source = post(app.url("/events/Risk/1/claim"), body.clone()).await.unwrap();
    assert_eq!(problem(bad_source, 400).await.field.as_deref(), Some("source"));
    let bad_key = post(app.url("/events/risk/a%20b/claim"), body.clone()).await.unwrap();
    assert_eq!(problem(bad_key, 400).await.field.as_deref(), Some("key"));
    let mut bad_bot = body.clone();
    bad_bot["run"]["bot"] = json!("Coverage");
    assert_eq!(problem(post(url.clone(), bad_bot).await.unwrap(), 400).await.field.as_deref(), Some("run.bot"));
    problem(post(url.clone(), json!({"run": body["run"], "surprise": 1})).await.unwrap(), 400).await;
    let bad_handled = post(handled_url.clone(), json!({"events": [{"source": "risk", "key": "a b", "run_id": 1}]}));
    assert_eq!(problem(bad_handled.await.unwrap(), 400).await.field.as_deref(), Some("key"));
    let many: Vec<Value> = (0..1_001).map(|n| json!({"source": "risk", "key": n.to_string(), "run_id": 1})).collect();
    let too_many = post(handled_url, json!({"events": many})).await.unwrap();
    assert_eq!(problem(too_many, 400).await.field.as_deref(), Some("events"));
}

#[tokio::test]
async fn the_client_claims_confirms_and_reads_events() {
    let app = TestApp::spawn().await;
    let api = client(&app, app.token(&SCOPES).await);
    let claim = EventClaim {
        run: NewRun { bot: "static-analysis".to_owned(), trigger: RunTrigger::Pulse, parameters: Default::default() },
        details: Default::default(),
        lease_secs: DEFAULT_LEASE_SECS,
    };

    assert_eq!(api.event("static-analysis", "abc:0").await.unwrap(), None);
    let Claim::Granted { run_id } = api.claim_event("static-analysis", "abc:0", &claim).await.unwrap() else {
        panic!("granted");
    };
    assert_eq!(api.claim_event("static-analysis", "abc:0", &claim).await.unwrap(), Claim::Busy);
    let event = HandledEvent {
        source: "static-analysis".to_owned(),
        key: "abc:0".to_owned(),
        run_id,
        details: Default::default(),
    };
    assert_eq!(api.events_handled(&HandledEvents { events: vec![event] }).await.unwrap().confirmed, 1);
    assert_eq!(
        api.claim_event("static-analysis", "abc:0", &claim).await.unwrap(),
        Claim::Handled { run_id: Some(run_id) }
    );
    let record = api.event("static-analysis", "abc:0").await.unwrap().expect("recorded");
    assert_eq!((record.run_id, record.handled), (Some(run_id), true));
}
