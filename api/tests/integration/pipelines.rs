//! Release pipelines: definitions validated before anything starts, the engine creating each
//! step on its service once what it requires succeeded, failures, retries, cancels, timeouts,
//! transient errors of step services, and the audit chain.

use std::time::Duration;

use serde_json::{Value, json};
use shipit_api::testing::{MockScript, MockStepService, TestApp};
use shipit_shared::api_types::pipelines::{Pipeline, PipelinePage, PipelineState, StepState};

use crate::problem;

pub(crate) const MANAGE: &str = "project:shipit:pipelines/manage";

/// Makes the engine poll fast, so that tests take milliseconds per step.
pub(crate) fn fast_engine(config: &mut shipit_api::config::ApiConfig) {
    config.pipelines.poll_initial_secs = 0.02;
    config.pipelines.poll_max_secs = 0.1;
    config.pipelines.retry_initial_secs = 0.02;
    config.pipelines.retry_max_secs = 0.1;
    config.pipelines.interval_secs = 0.5;
    config.pipelines.step_service_hosts = vec![MOCK_SERVICE_HOST.to_owned()];
}

/// Where [`MockStepService`] listens: the host the tests' APIs may call step services on.
const MOCK_SERVICE_HOST: &str = "127.0.0.1";

/// An API whose engine polls fast.
async fn spawn() -> TestApp {
    TestApp::builder().configure(fast_engine).spawn().await
}

/// B → S → P on the mock service.
fn beta(service: &MockStepService) -> Value {
    json!({"steps": [
        {"uid": "B", "api_url": service.url, "parameters": {"task_group_id": "graph1"}, "description": "graph1"},
        {"uid": "S", "api_url": service.url, "requires": ["B"], "parameters": {"who": "relman"}},
        {"uid": "P", "api_url": service.url, "requires": ["S"]},
    ]})
}

pub(crate) async fn pipeline(app: &TestApp, uid: &str) -> Pipeline {
    let (status, body) = app.get(&format!("/pipelines/{uid}"), None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// Waits (up to 15 s) until the pipeline is in `state`.
async fn wait_for(app: &TestApp, uid: &str, state: PipelineState) -> Pipeline {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let current = pipeline(app, uid).await;
        if current.state == state {
            return current;
        }
        assert!(tokio::time::Instant::now() < deadline, "pipeline never {state:?}: {current:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to 15 s) until `condition` holds for the pipeline.
pub(crate) async fn wait_until(app: &TestApp, uid: &str, condition: impl Fn(&Pipeline) -> bool) -> Pipeline {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let current = pipeline(app, uid).await;
        if condition(&current) {
            return current;
        }
        assert!(tokio::time::Instant::now() < deadline, "condition never met: {current:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn states(pipeline: &Pipeline) -> Vec<StepState> {
    pipeline.steps.iter().map(|step| step.state).collect()
}

#[tokio::test]
async fn every_invalid_definition_is_refused_naming_the_step_and_the_field_and_nothing_is_stored() {
    let app = spawn().await;
    let token = app.token(&[MANAGE]).await;
    let url = "http://127.0.0.1:9/steps";
    let cases = [
        (json!([{"uid": "A", "api_url": url}, {"uid": "A", "api_url": url}]), "steps[1].uid", "`A`"),
        (json!([{"uid": "A", "api_url": url, "requires": ["Z"]}]), "steps[0].requires[0]", "`Z`"),
        (
            json!([{"uid": "A", "api_url": url, "requires": ["B"]}, {"uid": "B", "api_url": url, "requires": ["A"]}]),
            "steps[0].requires",
            "A → B → A",
        ),
        (json!([{"uid": "A"}]), "steps[0].kind", "exactly one"),
        (json!([{"uid": "A", "kind": "signoff", "api_url": url}]), "steps[0].kind", "exactly one"),
        (
            json!([{"uid": "S", "kind": "signoff", "parameters": {"policy": [{"relman": "one"}]}}]),
            "steps[0].parameters.policy[0].relman",
            "`S`",
        ),
        (
            json!([{"uid": "B", "kind": "taskcluster", "parameters": {"task_group_id": "x", "hook": {"group": "g", "id": "i"}}}]),
            "steps[0].parameters",
            "exactly one",
        ),
        (json!([{"uid": "A", "kind": "rocket"}]), "steps[0].kind", "unknown variant"),
        (json!([{"uid": "A", "api_url": "http://169.254.169.254/latest"}]), "steps[0].api_url", "step_service_hosts"),
    ];
    for (steps, field, detail) in cases {
        let (status, body) = app.put("/pipelines/bad", Some(&token), &json!({ "steps": steps })).await;
        assert_eq!(status, 400, "{steps}: {body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(detail), "{body}");
    }
    let (status, body) = app.post("/pipelines", Some(&token), &json!({"uid": "bad", "pipeline": {"steps": []}})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("pipeline.steps")), "{body}");
    let (status, body) =
        app.put("/pipelines/a%20b", Some(&token), &json!({"steps": [{"uid": "A", "api_url": url}]})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("uid")), "{body}");
    assert_eq!(app.get("/pipelines/bad", None).await.0, 404);
}

#[tokio::test]
async fn writes_need_the_scope_and_it_is_checked_before_the_body_is_read() {
    let app = spawn().await;
    let wrong = app.token(&["project:shipit:runs/manage"]).await;
    let response = app.client.put(app.url("/pipelines/p")).body("not json").send().await.unwrap();
    problem(response, 401).await;
    let response = app.client.put(app.url("/pipelines/p")).bearer_auth(&wrong).body("not json").send().await.unwrap();
    problem(response, 403).await;
    let response = app.client.delete(app.url("/pipelines/p")).bearer_auth(&wrong).send().await.unwrap();
    problem(response, 403).await;
    let response = app.client.post(app.url("/pipelines/p/steps/A/retry")).send().await.unwrap();
    problem(response, 401).await;
}

#[tokio::test]
async fn the_same_definition_again_changes_nothing_and_another_one_is_a_conflict() {
    let app = spawn().await;
    let service = MockStepService::start().await;
    service.script("B", MockScript::Never);
    let token = app.token(&[MANAGE]).await;
    let definition = beta(&service);

    let (status, created) = app.put("/pipelines/firefox-99.0b1", Some(&token), &definition).await;
    assert_eq!(status, 201, "{created}");
    let (status, again) =
        app.post("/pipelines", Some(&token), &json!({"uid": "firefox-99.0b1", "pipeline": definition})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["created_at"], created["created_at"]);

    let mut other = definition.clone();
    other["steps"][2]["description"] = json!("publish");
    let (status, body) = app.put("/pipelines/firefox-99.0b1", Some(&token), &other).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(pipeline(&app, "firefox-99.0b1").await.definition.steps[2].description, None);
    let audit = app.get("/pipelines/firefox-99.0b1/audit", None).await.1;
    let created =
        audit["entries"].as_array().unwrap().iter().filter(|entry| entry["event"] == "pipeline_created").count();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn a_pipeline_creates_each_step_once_what_it_requires_succeeded_and_completes() {
    let app = spawn().await;
    let service = MockStepService::start().await;
    service.script("B", MockScript::FinishAfterPolls(3, true));
    let token = app.token(&[MANAGE]).await;
    assert_eq!(app.put("/pipelines/firefox-99.0b1", Some(&token), &beta(&service)).await.0, 201);

    let done = wait_for(&app, "firefox-99.0b1", PipelineState::Completed).await;
    assert_eq!(states(&done), vec![StepState::Success; 3]);
    assert_eq!(service.created(), ["firefox-99.0b1.B", "firefox-99.0b1.S", "firefox-99.0b1.P"]);
    let steps = service.steps();
    let (b, s) = (&steps["firefox-99.0b1.B"], &steps["firefox-99.0b1.S"]);
    assert_eq!(b.parameters, json!({"task_group_id": "graph1"}));
    assert_eq!(b.polls, 3);
    assert!(s.created_at >= b.finished_at.unwrap(), "S was created before B finished");
    assert!(steps.values().all(|step| step.puts == 1));
    assert_eq!(done.steps[1].url, format!("{}/firefox-99.0b1.S", service.url));
    assert!(
        done.steps.iter().all(|step| step.attempts == 1 && step.started_at.is_some() && step.finished_at.is_some())
    );
    assert_eq!(app.get("/pipelines/firefox-99.0b1/status", None).await.1["state"], "success");

    let audit = app.get("/pipelines/firefox-99.0b1/audit", None).await.1;
    let entries = audit["entries"].as_array().unwrap();
    let transitions: Vec<String> = entries
        .iter()
        .filter(|entry| entry["step"] == "S")
        .map(|entry| {
            format!(
                "{}→{} ({})",
                entry["from_state"].as_str().unwrap(),
                entry["to_state"].as_str().unwrap(),
                entry["cause"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        transitions,
        ["pending→starting (engine)", "starting→in_progress (step service)", "in_progress→success (step service)"]
    );
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    assert_eq!(entries.last().unwrap()["to_state"], "completed");
}

#[tokio::test]
async fn a_failed_step_blocks_its_dependents_until_a_retry_succeeds() {
    let app = spawn().await;
    let service = MockStepService::start().await;
    service.script("B", MockScript::FinishAfterPolls(1, false));
    let token = app.token(&[MANAGE]).await;
    app.put("/pipelines/p", Some(&token), &beta(&service)).await;

    let failed = wait_for(&app, "p", PipelineState::Failed).await;
    assert_eq!(states(&failed), [StepState::Failure, StepState::Blocked, StepState::Blocked]);
    assert_eq!(app.get("/pipelines/p/status", None).await.1["state"], "failure");
    let (status, body) = app.post("/pipelines/p/steps/S/retry", Some(&token), &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(app.post("/pipelines/p/steps/Z/retry", Some(&token), &json!({})).await.0, 404);

    service.script("B", MockScript::FinishAfterPolls(1, true));
    let (status, retried) = app.post("/pipelines/p/steps/B/retry", Some(&token), &json!({})).await;
    assert_eq!(status, 200, "{retried}");
    let done = wait_for(&app, "p", PipelineState::Completed).await;
    assert_eq!(done.steps[0].attempts, 2);
    assert_eq!(done.steps[0].url, format!("{}/p.B~2", service.url));
    assert_eq!(service.created(), ["p.B", "p.B~2", "p.S", "p.P"]);
}

#[tokio::test]
async fn a_cancel_reaches_the_created_steps_and_nothing_else_is_created() {
    let app = spawn().await;
    let service = MockStepService::start().await;
    service.script("B", MockScript::Never);
    let token = app.token(&[MANAGE]).await;
    app.put("/pipelines/p", Some(&token), &beta(&service)).await;
    wait_until(&app, "p", |pipeline| pipeline.steps[0].state == StepState::InProgress).await;

    let (status, cancelled) = app.delete("/pipelines/p", Some(&token)).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !service.step("p.B").unwrap().cancelled {
        assert!(tokio::time::Instant::now() < deadline, "the step service was never told");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(service.created(), ["p.B"]);
    let cancelled = pipeline(&app, "p").await;
    assert_eq!(states(&cancelled), [StepState::Cancelled; 3]);
    assert_eq!(app.get("/pipelines/p/status", None).await.1["state"], "cancelled");
    assert_eq!(app.post("/pipelines/p/steps/B/retry", Some(&token), &json!({})).await.0, 409);
    assert_eq!(app.delete("/pipelines/p", Some(&token)).await.0, 200);
}

#[tokio::test]
async fn transient_errors_of_a_step_service_are_retried_and_client_errors_are_not() {
    let app = spawn().await;
    let service = MockStepService::start().await;
    let token = app.token(&[MANAGE]).await;
    service.fail_next(4);
    app.put("/pipelines/flaky", Some(&token), &beta(&service)).await;
    let done = wait_for(&app, "flaky", PipelineState::Completed).await;
    assert_eq!(states(&done), vec![StepState::Success; 3]);
    assert!(service.steps().values().all(|step| step.puts == 1));

    service.script("X", MockScript::Refuse(422));
    let refused = json!({"steps": [{"uid": "X", "api_url": service.url}]});
    app.put("/pipelines/refused", Some(&token), &refused).await;
    let failed = wait_for(&app, "refused", PipelineState::Failed).await;
    let message = failed.steps[0].message.clone().unwrap();
    assert!(message.contains("422"), "{message}");
    assert!(service.step("refused.X").is_none());
}

#[tokio::test]
async fn a_step_that_does_not_finish_in_time_fails_saying_so_and_is_cancelled_on_its_service() {
    let app = spawn().await;
    let service = MockStepService::start().await;
    service.script("B", MockScript::Never);
    let token = app.token(&[MANAGE]).await;
    let definition = json!({"steps": [
        {"uid": "B", "api_url": service.url, "timeout": "1s"},
        {"uid": "S", "api_url": service.url, "requires": ["B"]},
    ]});
    app.put("/pipelines/slow", Some(&token), &definition).await;
    let failed = wait_for(&app, "slow", PipelineState::Failed).await;
    assert_eq!(states(&failed), [StepState::Failure, StepState::Blocked]);
    let message = failed.steps[0].message.clone().unwrap();
    assert!(message.contains("timed out") && message.contains("1s"), "{message}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !service.step("slow.B").unwrap().cancelled {
        assert!(tokio::time::Instant::now() < deadline, "the step service was never told");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn pipelines_are_listed_newest_first_by_page_and_by_state() {
    let app = TestApp::builder()
        .configure(|config| {
            config.pipelines.engine = false;
            config.pipelines.step_service_hosts = vec![MOCK_SERVICE_HOST.to_owned()];
        })
        .spawn()
        .await;
    let token = app.token(&[MANAGE]).await;
    for index in 0..3 {
        let definition = json!({"steps": [{"uid": "A", "api_url": "http://127.0.0.1:9/steps"}]});
        assert_eq!(app.put(&format!("/pipelines/p{index}"), Some(&token), &definition).await.0, 201);
    }
    app.delete("/pipelines/p1", Some(&token)).await;
    let page: PipelinePage = app.get_json("/pipelines?limit=2").await;
    let uids: Vec<&str> = page.pipelines.iter().map(|pipeline| pipeline.uid.as_str()).collect();
    assert_eq!(uids, ["p2", "p1"]);
    let rest: PipelinePage = app.get_json(&format!("/pipelines?limit=2&before={}", page.next_before.unwrap())).await;
    assert_eq!(rest.pipelines.len(), 1);
    assert_eq!(rest.next_before, None);
    let pending: PipelinePage = app.get_json("/pipelines?state=pending").await;
    assert_eq!(pending.pipelines.iter().map(|pipeline| pipeline.uid.as_str()).collect::<Vec<_>>(), ["p2", "p0"]);
    assert_eq!(app.get("/pipelines?state=done", None).await.0, 400);
}

#[tokio::test]
async fn two_apis_on_one_database_run_fifty_pipelines_and_create_no_step_twice() {
    let first = spawn().await;
    let second = TestApp::builder()
        .configure(|config| {
            config.pipelines.poll_initial_secs = 0.02;
            config.pipelines.poll_max_secs = 0.1;
            config.pipelines.interval_secs = 0.5;
            config.pipelines.step_service_hosts = vec![MOCK_SERVICE_HOST.to_owned()];
        })
        .sharing_database_of(&first)
        .spawn()
        .await;
    let service = MockStepService::start().await;
    let token = first.token(&[MANAGE]).await;
    for index in 0..50 {
        let app = if index % 2 == 0 { &first } else { &second };
        assert_eq!(app.put(&format!("/pipelines/p{index}"), Some(&token), &beta(&service)).await.0, 201);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page: PipelinePage = first.get_json("/pipelines?state=completed&limit=200").await;
        if page.pipelines.len() == 50 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} of 50 completed", page.pipelines.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let steps = service.steps();
    assert_eq!(steps.len(), 150);
    assert_eq!(service.created().len(), 150);
    assert!(steps.iter().all(|(_, step)| step.puts == 1), "a step was sent twice");
}

#[tokio::test]
async fn audit_verify_accepts_the_log_and_names_an_edited_entry() {
    let app = spawn().await;
    let service = MockStepService::start().await;
    let token = app.token(&[MANAGE]).await;
    app.put("/pipelines/p", Some(&token), &beta(&service)).await;
    wait_for(&app, "p", PipelineState::Completed).await;

    let audit = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_shipit-api"))
            .args(["--database-url", &app.database().url(), "audit"])
            .args(args)
            .env_remove("SHIPIT_CONFIG")
            .output()
            .unwrap()
    };
    let verify = || audit(&["verify"]);
    let intact = verify();
    let stdout = String::from_utf8_lossy(&intact.stdout);
    assert!(intact.status.success(), "{stdout} {}", String::from_utf8_lossy(&intact.stderr));
    assert!(stdout.contains("audit log intact"), "{stdout}");
    // The heads, kept outside the database, hold while the log is intact.
    let heads = audit(&["heads"]);
    let heads_text = String::from_utf8(heads.stdout).unwrap();
    let last_hash: Vec<u8> = app
        .state
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT hash FROM pipeline_audit ORDER BY id DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let entries: i64 =
        app.state.pool.get().await.unwrap().query_one("SELECT count(*) FROM pipeline_audit", &[]).await.unwrap().get(0);
    assert_eq!(heads_text, format!("{entries} {} p\n", hex::encode(&last_hash)));
    let heads_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(heads_file.path(), &heads_text).unwrap();
    let heads_path = heads_file.path().to_str().unwrap();
    assert!(audit(&["verify", "--heads", heads_path]).status.success());

    let (client, connection) = app.database_config().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let refused = client.execute("UPDATE pipeline_audit SET cause = 'forged'", &[]).await.unwrap_err();
    assert!(format!("{:?}", refused.as_db_error()).contains("append-only"), "{refused:?}");
    let edited: i64 = client
        .query_one("SELECT id FROM pipeline_audit WHERE step_uid = 'S' ORDER BY id LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!(
            "ALTER TABLE pipeline_audit DISABLE TRIGGER pipeline_audit_append_only; \
             UPDATE pipeline_audit SET actor = 'mallory' WHERE id = {edited}"
        ))
        .await
        .unwrap();
    let broken = verify();
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(!broken.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("pipeline p entry {edited}: its hash does not match")), "{stdout}");

    // Removing the newest entries leaves a chain that verifies alone; the recorded head does not.
    client
        .batch_execute(&format!(
            "UPDATE pipeline_audit SET actor = NULL WHERE id = {edited}; \
             DELETE FROM pipeline_audit WHERE id = (SELECT max(id) FROM pipeline_audit)"
        ))
        .await
        .unwrap();
    assert!(verify().status.success(), "the chain alone shows nothing");
    let lost = audit(&["verify", "--heads", heads_path]);
    let stdout = String::from_utf8_lossy(&lost.stdout);
    assert!(!lost.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("pipeline p: the chain holds {} entries where {entries} were recorded", entries - 1)),
        "{stdout}"
    );
}

/// `shipit-api serve` on `database`, its engine fast, its step leases short.
fn serve(database: &shipit_api::testing::TestDatabase, dir: &std::path::Path) -> (std::process::Child, String) {
    // A list is set in the file (shipit.toml in the working directory).
    let settings = format!("[pipelines]\nstep_service_hosts = [\"{MOCK_SERVICE_HOST}\"]\n");
    std::fs::write(dir.join("shipit.toml"), settings).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shipit-api"))
        .args(["--database-url", &database.url(), "serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("SHIPIT_CONFIG")
        .env("SHIPIT_RUNNER", "none")
        .env("SHIPIT_SCHEDULER_ENABLED", "false")
        .env("SHIPIT_PIPELINES__POLL_INITIAL_SECS", "0.05")
        .env("SHIPIT_PIPELINES__POLL_MAX_SECS", "0.2")
        .env("SHIPIT_PIPELINES__LEASE_SECS", "1")
        .env("SHIPIT_PIPELINES__REQUEST_TIMEOUT_SECS", "2")
        .env("SHIPIT_PIPELINES__INTERVAL_SECS", "0.5")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base_url = crate::cli::served_url(&mut child);
    (child, base_url)
}

#[tokio::test]
async fn a_kill_9_while_steps_start_and_run_loses_nothing_and_creates_no_step_twice() {
    let database = shipit_api::testing::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let service = MockStepService::start().await;
    service.script("B", MockScript::SlowCreate(Duration::from_millis(1500)));
    service.script("L", MockScript::SucceedAfter(Duration::from_secs(3)));
    let pool = shipit_api::db::pool(database.config().clone(), 1, Duration::from_secs(5));
    let token = shipit_api::admin::create_token(&pool, "release-runner", &[MANAGE.to_owned()], None).await.unwrap();
    let client = reqwest::Client::new();
    let (mut server, base_url) = serve(&database, dir.path());

    let starting = beta(&service);
    let running = json!({"steps": [
        {"uid": "L", "api_url": service.url},
        {"uid": "M", "api_url": service.url, "requires": ["L"]},
    ]});
    for (uid, definition) in [("starting", &starting), ("running", &running)] {
        let response = client
            .put(format!("{base_url}/pipelines/{uid}"))
            .bearer_auth(&token)
            .json(definition)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let state_of = async |base: &str, uid: &str| -> Pipeline {
        client.get(format!("{base}/pipelines/{uid}")).send().await.unwrap().json().await.unwrap()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (starting, running) = (state_of(&base_url, "starting").await, state_of(&base_url, "running").await);
        if service.step("starting.B").is_some()
            && starting.steps[0].state == StepState::Starting
            && running.steps[0].state == StepState::InProgress
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{starting:#?} {running:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, base_url) = serve(&database, dir.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (starting, running) = (state_of(&base_url, "starting").await, state_of(&base_url, "running").await);
        if starting.state == PipelineState::Completed && running.state == PipelineState::Completed {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{starting:#?} {running:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let mut created = service.created();
    assert_eq!(created.len(), 5, "{created:?}");
    created.sort();
    created.dedup();
    assert_eq!(created.len(), 5, "a step was created twice");
    // The step whose creation was cut short was sent again, and its service knew it.
    assert_eq!(service.step("starting.B").unwrap().puts, 2);
    assert_eq!(service.step("running.L").unwrap().puts, 1);
    pool.close();
}
