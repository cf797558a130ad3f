//! The seed's Beta pipeline, end to end on built-in services: B follows release-runner's task
//! group, S waits for a relman and a releng to sign (local users with TOTP, OIDC people), P
//! triggers the publishing hook and follows its group; refusals, withdrawals, a cancel while S
//! waits, and the second factor a deployment may require.

use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::pipelines::{PipelineState, ServiceStep, StepServiceState, StepState};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::persons::{Issuer, SigningKey, create_user, person_token};
use crate::pipelines::{MANAGE, pipeline, states, wait_until};
use crate::step_services::{
    GROUP, PUBLISH_GROUP, group_completing_after, group_ending_first_as, publishing_hook, spawn_with,
};

const UID: &str = "firefox-99.0b1";

fn beta() -> Value {
    json!({"steps": [
        {"uid": "B", "kind": "taskcluster", "parameters": {"task_group_id": GROUP},
         "description": "graph1: up to push artifacts to release location"},
        {"uid": "S", "kind": "signoff", "requires": ["B"], "description": "publish release human sign off",
         "parameters": {
            "policy": [{"relman": 1, "releng": 1}],
            "notify": ["release-drivers@example.com"],
            "separate_from": ["starter@example.com"],
            "expires_in": "72h",
            "description": "publish release human sign off"
        }},
        {"uid": "P", "kind": "taskcluster", "requires": ["S"], "parameters": {
            "hook": {"group": "project-releng", "id": "publish-release", "payload": {"release": UID}}
        }},
    ]})
}

async fn sign(app: &TestApp, token: &str, group: &str) -> (u16, Value) {
    app.put(&format!("/steps/signoff/{UID}.S/sign"), Some(token), &json!({"group": group})).await
}

#[tokio::test]
async fn the_beta_pipeline_completes_once_a_relman_and_a_releng_signed_after_every_refusal() {
    let taskcluster = MockServer::start().await;
    group_completing_after(&taskcluster, GROUP, 3).await;
    publishing_hook(&taskcluster, 1).await;
    group_completing_after(&taskcluster, PUBLISH_GROUP, 1).await;
    let hooks = MockServer::start().await;
    Mock::given(method("POST")).and(path("/notify")).respond_with(ResponseTemplate::new(204)).mount(&hooks).await;
    let webhook = url::Url::parse(&format!("{}/notify", hooks.uri())).unwrap();
    let app = spawn_with(&taskcluster, |config| config.notifications.webhook_url = Some(webhook)).await;
    let relman = create_user(&app, "relman@example.com", &["relman"]).await;
    let releng = create_user(&app, "releng@example.com", &["releng"]).await;
    let starter = create_user(&app, "starter@example.com", &["relman", "releng"]).await;
    let runner = app.token(&[MANAGE]).await;

    let (status, body) = app.put(&format!("/pipelines/{UID}"), Some(&runner), &beta()).await;
    assert_eq!(status, 201, "{body}");
    // B is created at once; S only once B succeeded, after a few polls of its group.
    let waiting = wait_until(&app, UID, |pipeline| pipeline.steps[1].state == StepState::InProgress).await;
    assert_eq!(states(&waiting), [StepState::Success, StepState::InProgress, StepState::Pending]);
    assert_eq!(waiting.steps[1].url, app.url(&format!("/steps/signoff/{UID}.S")));
    assert_eq!(app.get(&format!("/steps/taskcluster/{UID}.P"), None).await.0, 404, "P was created early");

    let relman = person_token(&app, "relman@example.com", &relman).await;
    let releng = person_token(&app, "releng@example.com", &releng).await;
    let starter = person_token(&app, "starter@example.com", &starter).await;
    // The wrong group, whoever started the release, a bot token: refused.
    let (status, problem) = sign(&app, &relman, "releng").await;
    assert_eq!(status, 403, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("not a member of `releng`"), "{problem}");
    let (status, problem) = sign(&app, &starter, "relman").await;
    assert_eq!(status, 403, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("separate_from"), "{problem}");
    assert_eq!(sign(&app, &runner, "relman").await.0, 403);

    let (status, signed) = sign(&app, &relman, "relman").await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!((&signed["state"], &signed["signoff"]["may_sign"]), (&json!("in_progress"), &json!(["releng"])));
    let (status, problem) = sign(&app, &relman, "relman").await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("has signed this step already"), "{problem}");
    // A signature is withdrawn while the step waits, and given again.
    let (status, withdrawn) = app.delete(&format!("/steps/signoff/{UID}.S/sign"), Some(&relman)).await;
    assert_eq!(status, 200, "{withdrawn}");
    assert_eq!(withdrawn["signoff"]["signatures"], json!([]));
    assert_eq!(sign(&app, &relman, "relman").await.0, 200);
    assert_eq!(pipeline(&app, UID).await.steps[2].state, StepState::Pending, "P started before S completed");

    let (status, completed) = sign(&app, &releng, "releng").await;
    assert_eq!(status, 200, "{completed}");
    let step: ServiceStep = serde_json::from_value(completed).unwrap();
    assert_eq!(step.state, StepServiceState::Success);
    let signers: Vec<(&str, &str)> = step
        .signoff
        .as_ref()
        .unwrap()
        .signatures
        .iter()
        .map(|signature| (signature.email.as_str(), signature.group.as_str()))
        .collect();
    assert_eq!(signers, [("relman@example.com", "relman"), ("releng@example.com", "releng")]);
    assert_eq!(app.delete(&format!("/steps/signoff/{UID}.S/sign"), Some(&relman)).await.0, 409);

    let done = wait_until(&app, UID, |pipeline| pipeline.state == PipelineState::Completed).await;
    assert_eq!(states(&done), [StepState::Success; 3]);
    let publish: ServiceStep = app.get_json(&format!("/steps/taskcluster/{UID}.P")).await;
    assert_eq!(publish.task_group_id.as_deref(), Some(PUBLISH_GROUP));

    // Every sign, withdrawal and refusal is in the pipeline's audit log, by whom and why.
    let audit: Value = app.get_json(&format!("/pipelines/{UID}/audit")).await;
    let signing: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["step"] == "S" && entry["cause"] == "request")
        .map(|entry| (entry["event"].as_str().unwrap(), entry["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        signing,
        [
            ("sign_refused", "relman@example.com"),
            ("sign_refused", "starter@example.com"),
            ("signed", "relman@example.com"),
            ("sign_refused", "relman@example.com"),
            ("signature_withdrawn", "relman@example.com"),
            ("signed", "relman@example.com"),
            ("signed", "releng@example.com"),
            ("withdraw_refused", "relman@example.com"),
        ]
    );
    // The people who must sign were told when S started, and when it completed.
    let posts = posted(&hooks, 2).await;
    let events: Vec<&str> = posts.iter().map(|post| post["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["signoff_started", "signoff_completed"]);
    assert_eq!(
        posts[0]["recipients"],
        json!(["release-drivers@example.com", "releng@example.com", "relman@example.com", "starter@example.com"])
    );
}

#[tokio::test]
async fn when_the_build_group_fails_the_sign_off_and_publishing_wait_blocked_until_a_retry() {
    let taskcluster = MockServer::start().await;
    group_ending_first_as(&taskcluster, GROUP, "someexceptionid").await;
    group_completing_after(&taskcluster, GROUP, 0).await;
    publishing_hook(&taskcluster, 1).await;
    group_completing_after(&taskcluster, PUBLISH_GROUP, 0).await;
    let app = spawn_with(&taskcluster, |_| {}).await;
    let relman = create_user(&app, "relman@example.com", &["relman"]).await;
    let releng = create_user(&app, "releng@example.com", &["releng"]).await;
    let runner = app.token(&[MANAGE]).await;

    app.put(&format!("/pipelines/{UID}"), Some(&runner), &beta()).await;
    let failed = wait_until(&app, UID, |pipeline| pipeline.state == PipelineState::Failed).await;
    assert_eq!(states(&failed), [StepState::Failure, StepState::Blocked, StepState::Blocked]);
    assert_eq!(app.get(&format!("/steps/signoff/{UID}.S"), None).await.0, 404, "S was created");

    let (status, body) = app.post(&format!("/pipelines/{UID}/steps/B/retry"), Some(&runner), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    wait_until(&app, UID, |pipeline| pipeline.steps[1].state == StepState::InProgress).await;
    let relman = person_token(&app, "relman@example.com", &relman).await;
    let releng = person_token(&app, "releng@example.com", &releng).await;
    assert_eq!(sign(&app, &relman, "relman").await.0, 200);
    assert_eq!(sign(&app, &releng, "releng").await.0, 200);
    let done = wait_until(&app, UID, |pipeline| pipeline.state == PipelineState::Completed).await;
    assert_eq!((done.steps[0].attempts, done.steps[1].attempts, done.steps[2].attempts), (2, 1, 1));
}

/// What the webhook received, once it holds `count` posts (or after 10 s).
async fn posted(hooks: &MockServer, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let posts: Vec<Value> = hooks
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|request| serde_json::from_slice(&request.body).unwrap())
            .collect();
        if posts.len() >= count || tokio::time::Instant::now() > deadline {
            return posts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_pipeline_cancelled_while_its_sign_off_waits_creates_nothing_else() {
    let taskcluster = MockServer::start().await;
    group_completing_after(&taskcluster, GROUP, 0).await;
    publishing_hook(&taskcluster, 0).await;
    let app = spawn_with(&taskcluster, |_| {}).await;
    let relman = create_user(&app, "relman@example.com", &["relman"]).await;
    let runner = app.token(&[MANAGE]).await;

    app.put(&format!("/pipelines/{UID}"), Some(&runner), &beta()).await;
    wait_until(&app, UID, |pipeline| pipeline.steps[1].state == StepState::InProgress).await;
    let (status, body) = app.delete(&format!("/pipelines/{UID}"), Some(&runner)).await;
    assert_eq!(status, 200, "{body}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let step: ServiceStep = app.get_json(&format!("/steps/signoff/{UID}.S")).await;
        if step.state == StepServiceState::Cancelled {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{step:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let relman = person_token(&app, "relman@example.com", &relman).await;
    let (status, problem) = sign(&app, &relman, "relman").await;
    assert_eq!(status, 409, "{problem}");
    let cancelled = pipeline(&app, UID).await;
    assert_eq!(cancelled.state, PipelineState::Cancelled);
    assert_eq!(states(&cancelled), [StepState::Success, StepState::Cancelled, StepState::Cancelled]);
    assert_eq!(app.get(&format!("/steps/taskcluster/{UID}.P"), None).await.0, 404, "P was created");
}

#[tokio::test]
async fn an_oidc_person_signs_only_with_a_second_factor_when_the_deployment_requires_one() {
    let taskcluster = MockServer::start().await;
    let issuer = Issuer::start().await;
    let key = SigningKey::generate("key-1");
    issuer.publish(&key);
    let settings = issuer.settings();
    let app = spawn_with(&taskcluster, |config| {
        config.oidc = Some(settings);
        config.signoff.require_mfa = true;
    })
    .await;
    let runner = app.token(&[MANAGE]).await;
    let policy = json!({"policy": [{"relman": 2}]});
    let (status, body) = app.put("/steps/signoff/standalone", Some(&runner), &policy).await;
    assert_eq!(status, 201, "{body}");
    let sign =
        async |token: &str| app.put("/steps/signoff/standalone/sign", Some(token), &json!({"group": "relman"})).await;

    let mut claims = issuer.claims("rm@mozilla.com");
    claims["amr"] = json!(["pwd"]);
    let (status, problem) = sign(&key.sign(&claims)).await;
    assert_eq!(status, 403, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("second factor"), "{problem}");
    let (status, signed) = sign(&key.sign(&issuer.claims("rm@mozilla.com"))).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["signoff"]["signatures"][0]["credential"], "oidc");
    // A local user signs with password and TOTP: a second factor.
    let secret = create_user(&app, "rm2@example.com", &["relman"]).await;
    let (status, done) = sign(&person_token(&app, "rm2@example.com", &secret).await).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "success");
    // A step no pipeline created keeps its own audit chain.
    let chain = shipit_api::db::pipelines::audit(&app.state.pool, "standalone").await.unwrap();
    let events: Vec<&str> = chain.iter().map(|entry| entry.event.as_str()).collect();
    assert_eq!(events, ["sign_refused", "signed", "signed", "state_changed"]);
}
