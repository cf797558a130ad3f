//! The built-in step services: Taskcluster steps against a mock Taskcluster serving the recorded
//! task groups, bot steps through the local runner, sign-off steps created, expired and told
//! about by email (a real SMTP server) and webhook, and the Step API over HTTP.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use shipit_api::bots::BotDefinition;
use shipit_api::config::TaskclusterSettings;
use shipit_api::testing::TestApp;
use shipit_shared::api_types::pipelines::{PipelineState, ServiceStep, StepServiceState, StepState};
use wiremock::matchers::{header_regex, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::pipelines::{MANAGE, fast_engine, pipeline, states, wait_until};
use crate::problem;

/// The group of the recorded fixtures.
pub(crate) const GROUP: &str = "BqoYe8UfRXGCH9DA_niFBA";
/// The pending task of `somependingid`.
pub(crate) const PENDING_TASK: &str = "-6_JVdU6SkWKbsvRqR449g";
/// The task a triggered hook creates (and its group).
pub(crate) const PUBLISH_GROUP: &str = "PUBLISHtaskGroupId0001";

fn recorded(name: &str) -> Value {
    let path = format!("{}/../fixtures/taskcluster-step/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn group_list(group: &str) -> String {
    format!("/api/queue/v1/task-group/{group}/list")
}

/// An API whose engine polls fast, reaching `taskcluster` with credentials.
pub(crate) async fn spawn_with(
    taskcluster: &MockServer,
    change: impl FnOnce(&mut shipit_api::config::ApiConfig),
) -> TestApp {
    let root_url = url::Url::parse(&format!("{}/", taskcluster.uri())).unwrap();
    TestApp::builder()
        .configure(|config| {
            fast_engine(config);
            config.notifications.interval_secs = 0.05;
            config.taskcluster = Some(TaskclusterSettings {
                root_url,
                client_id: "project/releng/shipit".to_owned(),
                access_token: "not-a-secret".to_owned().into(),
                hook_group: "project-relman".to_owned(),
                hook_prefix: "shipit-".to_owned(),
            });
            change(config);
        })
        .spawn()
        .await
}

/// The group answers pending `polls` times, then completed.
pub(crate) async fn group_completing_after(server: &MockServer, group: &str, polls: u64) {
    if polls > 0 {
        Mock::given(method("GET"))
            .and(path(group_list(group)))
            .respond_with(ResponseTemplate::new(200).set_body_json(recorded("somependingid")))
            .up_to_n_times(polls)
            .with_priority(1)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(group_list(group)))
        .respond_with(ResponseTemplate::new(200).set_body_json(recorded("allcompletedid")))
        .mount(server)
        .await;
}

/// The group's first answer is the recorded group `fixture` (mount the later answers after it).
pub(crate) async fn group_ending_first_as(server: &MockServer, group: &str, fixture: &str) {
    Mock::given(method("GET"))
        .and(path(group_list(group)))
        .respond_with(ResponseTemplate::new(200).set_body_json(recorded(fixture)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
}

/// The publishing hook, triggered with Hawk credentials, creating its task group.
pub(crate) async fn publishing_hook(server: &MockServer, expected_triggers: u64) {
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-releng/publish-release/trigger"))
        .and(header_regex("authorization", r#"^Hawk id="project/releng/shipit", ts="\d+", nonce="[^"]+", mac="[^"]+""#))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": {"taskId": PUBLISH_GROUP, "state": "pending"}})),
        )
        .expect(expected_triggers)
        .named("triggerHook")
        .mount(server)
        .await;
}

fn track_then_publish() -> Value {
    json!({"steps": [
        {"uid": "B", "kind": "taskcluster", "parameters": {"task_group_id": GROUP}, "description": "graph1"},
        {"uid": "P", "kind": "taskcluster", "requires": ["B"], "parameters": {
            "hook": {"group": "project-releng", "id": "publish-release", "payload": {"release": "99.0b1"}}
        }},
    ]})
}

#[tokio::test]
async fn a_tracked_group_completes_after_a_few_polls_then_the_hook_is_triggered_once_and_followed() {
    let taskcluster = MockServer::start().await;
    group_completing_after(&taskcluster, GROUP, 3).await;
    publishing_hook(&taskcluster, 1).await;
    // The publishing group spans two pages.
    let mut first_page = recorded("somependingid");
    first_page["tasks"] = json!([recorded("allcompletedid")["tasks"][0]]);
    first_page["continuationToken"] = json!("page-2");
    Mock::given(method("GET"))
        .and(path(group_list(PUBLISH_GROUP)))
        .and(query_param("continuationToken", "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(recorded("allcompletedid")))
        .with_priority(1)
        .mount(&taskcluster)
        .await;
    Mock::given(method("GET"))
        .and(path(group_list(PUBLISH_GROUP)))
        .respond_with(ResponseTemplate::new(200).set_body_json(first_page))
        .mount(&taskcluster)
        .await;
    let app = spawn_with(&taskcluster, |_| {}).await;
    let token = app.token(&[MANAGE]).await;

    let (status, body) = app.put("/pipelines/rel", Some(&token), &track_then_publish()).await;
    assert_eq!(status, 201, "{body}");
    let done = wait_until(&app, "rel", |pipeline| pipeline.state == PipelineState::Completed).await;
    assert_eq!(states(&done), [StepState::Success, StepState::Success]);
    assert_eq!(done.steps[0].url, app.url("/steps/taskcluster/rel.B"));
    assert_eq!(done.steps[1].url, app.url("/steps/taskcluster/rel.P"));

    let publish: ServiceStep = app.get_json("/steps/taskcluster/rel.P").await;
    assert_eq!(publish.task_group_id.as_deref(), Some(PUBLISH_GROUP));
    assert_eq!(publish.state, StepServiceState::Success);
    // One task on the first page, three on the second.
    assert_eq!(publish.message.as_deref(), Some("all 4 tasks completed"));
    assert_eq!(publish.created_by, "pipeline rel");
    let tracked: ServiceStep = app.get_json("/steps/taskcluster/rel.B").await;
    assert_eq!(tracked.task_group_id.as_deref(), Some(GROUP));
    let requests = taskcluster.received_requests().await.unwrap();
    let polls = requests.iter().filter(|request| request.url.path() == group_list(GROUP)).count();
    assert!(polls >= 4, "B was polled {polls} times");
    let trigger = requests.iter().find(|request| request.url.path().ends_with("/trigger")).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&trigger.body).unwrap(), json!({"release": "99.0b1"}));
    // The page after the first was read: its tasks are the ones counted.
    assert!(requests.iter().any(|request| request.url.query().is_some_and(|query| query.contains("page-2"))));
}

#[tokio::test]
async fn a_failed_group_blocks_what_follows_and_a_retry_completes_the_pipeline() {
    let taskcluster = MockServer::start().await;
    group_ending_first_as(&taskcluster, GROUP, "somefailedid").await;
    group_completing_after(&taskcluster, GROUP, 0).await;
    publishing_hook(&taskcluster, 1).await;
    group_completing_after(&taskcluster, PUBLISH_GROUP, 0).await;
    let app = spawn_with(&taskcluster, |_| {}).await;
    let token = app.token(&[MANAGE]).await;

    app.put("/pipelines/rel", Some(&token), &track_then_publish()).await;
    let failed = wait_until(&app, "rel", |pipeline| pipeline.state == PipelineState::Failed).await;
    assert_eq!(states(&failed), [StepState::Failure, StepState::Blocked]);
    assert!(failed.steps[0].message.as_deref().unwrap().contains("1 of 3 tasks failed"), "{failed:#?}");

    let (status, body) = app.post("/pipelines/rel/steps/B/retry", Some(&token), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let done = wait_until(&app, "rel", |pipeline| pipeline.state == PipelineState::Completed).await;
    assert_eq!(done.steps[0].attempts, 2);
    assert_eq!(done.steps[0].url, app.url("/steps/taskcluster/rel.B~2"));
    let first: ServiceStep = app.get_json("/steps/taskcluster/rel.B").await;
    assert_eq!(first.state, StepServiceState::Failure);
}

#[tokio::test]
async fn cancelling_a_pipeline_cancels_the_unresolved_tasks_of_its_group_and_triggers_nothing() {
    let taskcluster = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(group_list(GROUP)))
        .respond_with(ResponseTemplate::new(200).set_body_json(recorded("somependingid")))
        .mount(&taskcluster)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/api/queue/v1/task/{PENDING_TASK}/cancel")))
        .and(header_regex("authorization", "^Hawk "))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": {"state": "exception"}})))
        .expect(1)
        .mount(&taskcluster)
        .await;
    publishing_hook(&taskcluster, 0).await;
    let app = spawn_with(&taskcluster, |_| {}).await;
    let token = app.token(&[MANAGE]).await;

    app.put("/pipelines/rel", Some(&token), &track_then_publish()).await;
    wait_until(&app, "rel", |pipeline| pipeline.steps[0].state == StepState::InProgress).await;
    let (status, body) = app.delete("/pipelines/rel", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let tracked: ServiceStep = app.get_json("/steps/taskcluster/rel.B").await;
        if tracked.state == StepServiceState::Cancelled {
            let message = tracked.message.unwrap();
            assert!(message.contains("1 unresolved task(s) of group"), "{message}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{tracked:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelled = pipeline(&app, "rel").await;
    assert_eq!(cancelled.state, PipelineState::Cancelled);
    assert_eq!(cancelled.steps[1].state, StepState::Cancelled);
    let (status, _) = app.get("/steps/taskcluster/rel.P", None).await;
    assert_eq!(status, 404, "P was created");
}

#[tokio::test]
async fn a_hook_refused_by_taskcluster_fails_its_step_and_a_server_error_is_retried_without_a_second_trigger() {
    let taskcluster = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-releng/publish-release/trigger"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&taskcluster)
        .await;
    publishing_hook(&taskcluster, 1).await;
    group_completing_after(&taskcluster, PUBLISH_GROUP, 1).await;
    Mock::given(method("POST"))
        .and(path("/api/hooks/v1/hooks/project-releng/forbidden/trigger"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"code": "InsufficientScopes"})))
        .expect(1)
        .mount(&taskcluster)
        .await;
    let app = spawn_with(&taskcluster, |_| {}).await;
    let token = app.token(&[MANAGE]).await;

    let hook = |id: &str| json!({"steps": [{"uid": "P", "kind": "taskcluster", "parameters": {"hook": {"group": "project-releng", "id": id}}}]});
    app.put("/pipelines/ok", Some(&token), &hook("publish-release")).await;
    app.put("/pipelines/no", Some(&token), &hook("forbidden")).await;
    let done = wait_until(&app, "ok", |pipeline| pipeline.state == PipelineState::Completed).await;
    assert_eq!(done.steps[0].attempts, 1);
    let refused = wait_until(&app, "no", |pipeline| pipeline.state == PipelineState::Failed).await;
    let message = refused.steps[0].message.clone().unwrap();
    assert!(message.contains("403") && message.contains("InsufficientScopes"), "{message}");
}

/// A fake `<bot>-bot` closing its run with `outcome`, or exiting 3 without closing it.
fn fake_bot(dir: &std::path::Path, bot: &str, outcome: Option<&str>) {
    let script = match outcome {
        Some(outcome) => format!(
            "#!/bin/sh\ncurl -fsS -X POST -H \"Authorization: Bearer $SHIPIT_API__TOKEN\" \
             -H 'Content-Type: application/json' -d '{{\"status\": \"{outcome}\"}}' \
             \"$SHIPIT_API__URL/runs/$SHIPIT_RUN_ID/finish\" >/dev/null\n"
        ),
        None => "#!/bin/sh\necho 'no repository at /nowhere' >&2\nexit 3\n".to_owned(),
    };
    let path = dir.join(format!("{bot}-bot"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn a_bot_step_succeeds_with_its_run_and_fails_with_the_runs_error_summary() {
    let dir = tempfile::tempdir().unwrap();
    fake_bot(dir.path(), "coverage", Some("succeeded"));
    fake_bot(dir.path(), "uplift", None);
    let schema =
        json!({"type": "object", "properties": {"REVISION": {"type": "string"}}, "additionalProperties": false});
    let bots = vec![
        BotDefinition::new("coverage", vec![], &schema).unwrap(),
        BotDefinition::new("uplift", vec![], &schema).unwrap(),
    ];
    let app = TestApp::builder()
        .bots(bots)
        .local_runner(dir.path())
        .configure(|config| {
            config.pipelines.poll_initial_secs = 0.05;
            config.pipelines.poll_max_secs = 0.2;
        })
        .spawn()
        .await;
    let token = app.token(&[MANAGE]).await;
    let definition = json!({"steps": [
        {"uid": "C", "kind": "bot", "parameters": {"bot": "coverage", "parameters": {"REVISION": "abc"}}},
        {"uid": "U", "kind": "bot", "requires": ["C"], "parameters": {"bot": "uplift"}},
    ]});
    let (status, body) = app.put("/pipelines/bots", Some(&token), &definition).await;
    assert_eq!(status, 201, "{body}");
    let failed = wait_until(&app, "bots", |pipeline| pipeline.state == PipelineState::Failed).await;
    assert_eq!(states(&failed), [StepState::Success, StepState::Failure]);
    let message = failed.steps[1].message.clone().unwrap();
    assert!(message.contains("failed") && message.contains("no repository at /nowhere"), "{message}");

    let coverage: ServiceStep = app.get_json("/steps/bot/bots.C").await;
    let run: shipit_shared::api_types::Run = app.get_json(&format!("/runs/{}", coverage.run_id.unwrap())).await;
    assert_eq!(run.trigger, shipit_shared::api_types::RunTrigger::Pipeline);
    assert_eq!(run.parameters["REVISION"], "abc");
    assert_eq!(coverage.message.as_deref(), Some(&*format!("run {} succeeded", run.id)));
}

#[tokio::test]
async fn the_step_api_creates_idempotently_refuses_conflicts_and_bad_parameters_and_cancels_once() {
    let taskcluster = MockServer::start().await;
    let app = spawn_with(&taskcluster, |_| {}).await;
    let token = app.token(&[MANAGE]).await;
    let reader = app.token(&["project:shipit:read"]).await;
    let signoff = json!({"policy": [{"relman": 1}], "description": "publish release human sign off"});

    // The scope is checked before the body is read.
    let response =
        app.client.put(app.url("/steps/signoff/s1")).bearer_auth(&reader).body("{not json").send().await.unwrap();
    problem(response, 403).await;
    let (status, created) = app.put("/steps/signoff/s1", Some(&token), &signoff).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "in_progress");
    assert_eq!(created["signoff"]["may_sign"], json!(["relman"]));
    let (status, again) = app.put("/steps/signoff/s1", Some(&token), &signoff).await;
    assert_eq!((status, &again["id"]), (200, &created["id"]));
    let (status, conflict) = app.put("/steps/signoff/s1", Some(&token), &json!({"policy": [{"releng": 1}]})).await;
    assert_eq!(status, 409, "{conflict}");

    let bad = app
        .client
        .put(app.url("/steps/signoff/s2"))
        .bearer_auth(&token)
        .json(&json!({"policy": [{"relman": 0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(bad, 400).await.field.as_deref(), Some("policy[0].relman"));
    let bad = app
        .client
        .put(app.url("/steps/taskcluster/t1"))
        .bearer_auth(&token)
        .json(&json!({"task_group_id": "x/../y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(bad, 400).await.field.as_deref(), Some("task_group_id"));
    let bad = app.client.put(app.url("/steps/signoff/a%20b")).bearer_auth(&token).json(&signoff).send().await.unwrap();
    assert_eq!(problem(bad, 400).await.field.as_deref(), Some("uid"));
    let (status, _) = app.put("/steps/pipeline/x", Some(&token), &signoff).await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/steps/nothing", None).await;
    assert_eq!(status, 404);

    let (status, definition) = app.get("/steps/signoff/s1/definition", None).await;
    assert_eq!((status, definition), (200, signoff.clone()));
    let (status, page) = app.get("/steps/signoff?status=in_progress", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["steps"].as_array().unwrap().len(), 1);
    let (_, page) = app.get("/steps/signoff?status=success", None).await;
    assert!(page["steps"].as_array().unwrap().is_empty());

    let (status, cancelled) = app.delete("/steps/signoff/s1", Some(&token)).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["signoff"]["may_sign"], json!([]));
    let (status, view) = app.get("/steps/signoff/s1/status", None).await;
    assert_eq!((status, &view["state"]), (200, &json!("cancelled")));
    let (status, _) = app.delete("/steps/signoff/s1", Some(&token)).await;
    assert_eq!(status, 409);
    let (status, _) = app.delete("/steps/signoff/nothing", Some(&token)).await;
    assert_eq!(status, 404);
}

/// A mail received: its recipients and its text.
type Mail = (Vec<String>, String);

/// A real SMTP server (mailin) on a free port, keeping what it receives.
#[derive(Clone, Default)]
struct Mailbox {
    mails: Arc<Mutex<Vec<Mail>>>,
    current: Arc<Mutex<(Vec<String>, Vec<u8>)>>,
}

impl mailin_embedded::Handler for Mailbox {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> mailin_embedded::Response {
        *self.current.lock().unwrap() = (to.to_vec(), Vec::new());
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.lock().unwrap().1.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let (to, data) = std::mem::take(&mut *self.current.lock().unwrap());
        self.mails.lock().unwrap().push((to, String::from_utf8_lossy(&data).into_owned()));
        mailin_embedded::response::OK
    }
}

impl Mailbox {
    /// Starts the server; answers its `smtp://` URL.
    fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let mut server = mailin_embedded::Server::new(self.clone());
        server.with_name("mail.test").with_tcp_listener(listener);
        std::thread::spawn(move || drop(server.serve()));
        format!("smtp://{address}")
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn an_unsigned_sign_off_expires_failing_its_pipeline_and_people_are_told_by_email_and_webhook() {
    let taskcluster = MockServer::start().await;
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/notify"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&hooks)
        .await;
    Mock::given(method("POST")).and(path("/notify")).respond_with(ResponseTemplate::new(204)).mount(&hooks).await;
    let mailbox = Mailbox::default();
    let smtp_url = mailbox.start();
    let webhook = url::Url::parse(&format!("{}/notify", hooks.uri())).unwrap();
    let app = spawn_with(&taskcluster, |config| {
        config.notifications.smtp_url = Some(smtp_url.into());
        config.notifications.webhook_url = Some(webhook);
        config.notifications.from = "ShipIt <shipit@example.com>".to_owned();
    })
    .await;
    let token = app.token(&[MANAGE]).await;
    let definition = json!({"steps": [
        {"uid": "S", "kind": "signoff", "parameters": {
            "policy": [{"relman": 1, "boss@example.com": 1}], "notify": ["release-drivers@example.com"],
            "expires_in": "1s", "description": "publish release human sign off"
        }},
        {"uid": "P", "kind": "signoff", "requires": ["S"], "parameters": {"policy": [{"relman": 1}]}},
    ]});
    app.put("/pipelines/fx", Some(&token), &definition).await;
    let failed = wait_until(&app, "fx", |pipeline| pipeline.state == PipelineState::Failed).await;
    assert_eq!(states(&failed), [StepState::Failure, StepState::Blocked]);
    assert_eq!(failed.steps[0].message.as_deref(), Some("expired: not signed off within 1s"));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let (mails, posts) = loop {
        let mails = mailbox.mails();
        let posts: Vec<Value> = hooks
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter_map(|request| serde_json::from_slice(&request.body).ok())
            .collect();
        // The webhook's first delivery failed (500) and was tried again.
        if mails.len() == 2 && posts.len() == 3 {
            break (mails, posts);
        }
        assert!(tokio::time::Instant::now() < deadline, "mails {mails:?}, posts {posts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (to, started) = &mails[0];
    assert_eq!(to, &["boss@example.com", "release-drivers@example.com"]);
    assert!(started.contains("Subject: [ShipIt] sign-off needed: publish release human sign off"), "{started}");
    assert!(started.contains(&app.url("/ui/pipelines/fx")), "{started}");
    assert!(mails[1].1.contains("Subject: [ShipIt] sign-off ended unsigned"), "{}", mails[1].1);
    let events: Vec<&str> = posts.iter().map(|post| post["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["signoff_started", "signoff_started", "signoff_ended"]);
    assert_eq!(posts[2]["step"], "fx.S");
    assert_eq!(posts[2]["state"], "failure");
    assert_eq!(posts[2]["url"], app.url("/steps/signoff/fx.S"));

    let audit: Value = app.get_json("/pipelines/fx/audit").await;
    let expiry = audit["entries"].as_array().unwrap().iter().find(|entry| entry["actor"] == "expiry").unwrap();
    assert_eq!((&expiry["step"], &expiry["to_state"]), (&json!("S"), &json!("failure")));
}

#[tokio::test]
async fn readers_over_http_make_the_api_read_a_task_group_at_most_every_few_seconds() {
    let taskcluster = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(group_list(GROUP)))
        .respond_with(ResponseTemplate::new(200).set_body_json(recorded("somependingid")))
        .expect(1)
        .mount(&taskcluster)
        .await;
    let app = spawn_with(&taskcluster, |_| {}).await;
    let token = app.token(&[MANAGE]).await;
    let (status, body) = app.put("/steps/taskcluster/watched", Some(&token), &json!({"task_group_id": GROUP})).await;
    assert_eq!(status, 201, "{body}");
    for _ in 0..5 {
        let (status, body) = app.get("/steps/taskcluster/watched/status", None).await;
        assert_eq!((status, &body["state"]), (200, &json!("in_progress")), "{body}");
        assert_eq!(body["message"], "2 of 3 tasks completed");
    }
}
