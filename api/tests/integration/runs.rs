//! The life of a bot run: opened, updated, closed, listed, and timed out when its bot dies.

use std::time::Duration;

use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::{Run, RunPage, RunStatus};

use crate::problem;

struct Bot<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Bot<'a> {
    async fn new(app: &'a TestApp) -> Self {
        Self { app, token: app.token(&["project:shipit:runs/manage"]).await }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> reqwest::Response {
        self.app.client.request(method, self.app.url(path)).bearer_auth(&self.token).json(&body).send().await.unwrap()
    }

    async fn open(&self, bot: &str) -> Run {
        let response = self
            .send(
                reqwest::Method::POST,
                "/runs",
                json!({"bot": bot, "trigger": "schedule", "parameters": {"revision": "abc"}}),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }
}

async fn get_run(app: &TestApp, id: i64) -> Run {
    app.client.get(app.url(&format!("/runs/{id}"))).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_run_is_opened_updated_and_closed() {
    let app = TestApp::spawn().await;
    let bot = Bot::new(&app).await;

    let run = bot.open("uplift").await;
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.parameters["revision"], "abc");
    assert!(run.finished_at.is_none());

    let progress = json!({"done": 3, "total": 10, "message": "analysing bugs", "counts": {"bugs": 3, "grafts": 1}});
    let response = bot.send(reqwest::Method::PATCH, &format!("/runs/{}", run.id), progress).await;
    assert_eq!(response.status(), 200);
    let response =
        bot.send(reqwest::Method::PATCH, &format!("/runs/{}", run.id), json!({"done": 4, "counts": {"bugs": 4}})).await;
    let updated: Run = response.json().await.unwrap();
    assert_eq!((updated.done, updated.total), (Some(4), Some(10)));
    assert_eq!(updated.message.as_deref(), Some("analysing bugs"));
    assert_eq!(Value::Object(updated.counts.clone()), json!({"bugs": 4, "grafts": 1}));
    assert!(updated.updated_at > run.updated_at);

    let finish =
        json!({"status": "partial", "error_summary": "bug 123: Bugzilla answered 502", "counts": {"failed": 1}});
    let response = bot.send(reqwest::Method::POST, &format!("/runs/{}/finish", run.id), finish).await;
    assert_eq!(response.status(), 200);
    let closed = get_run(&app, run.id).await;
    assert_eq!(closed.status, RunStatus::Partial);
    assert_eq!(closed.error_summary.as_deref(), Some("bug 123: Bugzilla answered 502"));
    assert_eq!(Value::Object(closed.counts), json!({"bugs": 4, "grafts": 1, "failed": 1}));
    assert!(closed.finished_at.is_some());
}

#[tokio::test]
async fn a_closed_run_cannot_be_updated_or_closed_again() {
    let app = TestApp::spawn().await;
    let bot = Bot::new(&app).await;
    let run = bot.open("coverage").await;
    let finish = format!("/runs/{}/finish", run.id);
    assert_eq!(bot.send(reqwest::Method::POST, &finish, json!({"status": "succeeded"})).await.status(), 200);

    let again = problem(bot.send(reqwest::Method::POST, &finish, json!({"status": "failed"})).await, 409).await;
    assert_eq!(again.run_id, Some(run.id));
    assert!(again.detail.contains("succeeded"), "{}", again.detail);
    let progress = bot.send(reqwest::Method::PATCH, &format!("/runs/{}", run.id), json!({"done": 1})).await;
    problem(progress, 409).await;
    assert_eq!(get_run(&app, run.id).await.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_missing_run_is_404() {
    let app = TestApp::spawn().await;
    let bot = Bot::new(&app).await;
    problem(app.client.get(app.url("/runs/999999")).send().await.unwrap(), 404).await;
    problem(bot.send(reqwest::Method::PATCH, "/runs/999999", json!({"done": 1})).await, 404).await;
    problem(bot.send(reqwest::Method::POST, "/runs/999999/finish", json!({"status": "failed"})).await, 404).await;
}

#[tokio::test]
async fn runs_are_listed_newest_first_filtered_and_paginated() {
    let app = TestApp::spawn().await;
    let bot = Bot::new(&app).await;
    let mut opened = Vec::new();
    for name in ["coverage", "uplift", "coverage", "coverage", "uplift"] {
        opened.push(bot.open(name).await);
    }
    bot.send(reqwest::Method::POST, &format!("/runs/{}/finish", opened[2].id), json!({"status": "failed"})).await;

    let list = async |query: &str| -> RunPage {
        app.client.get(app.url(&format!("/runs?{query}"))).send().await.unwrap().json().await.unwrap()
    };
    let ids = |page: &RunPage| page.runs.iter().map(|run| run.id).collect::<Vec<_>>();

    let all = list("").await;
    assert_eq!(ids(&all), opened.iter().rev().map(|run| run.id).collect::<Vec<_>>());
    assert_eq!(all.next_before, None);

    let coverage = list("bot=coverage").await;
    assert_eq!(ids(&coverage), [opened[3].id, opened[2].id, opened[0].id]);
    let failed = list("status=failed").await;
    assert_eq!(ids(&failed), [opened[2].id]);
    let running_coverage = list("bot=coverage&status=running").await;
    assert_eq!(ids(&running_coverage), [opened[3].id, opened[0].id]);

    let first = list("limit=2").await;
    assert_eq!(ids(&first), [opened[4].id, opened[3].id]);
    let second = list(&format!("limit=2&before={}", first.next_before.unwrap())).await;
    assert_eq!(ids(&second), [opened[2].id, opened[1].id]);
    let third = list(&format!("limit=2&before={}", second.next_before.unwrap())).await;
    assert_eq!(ids(&third), [opened[0].id]);
    assert_eq!(third.next_before, None);
}

#[tokio::test]
async fn a_run_whose_bot_stops_reporting_is_marked_failed_and_a_reporting_one_is_not() {
    let app = TestApp::builder()
        .configure(|config| {
            config.run_timeout_secs = 1;
            config.sweep_interval_secs = 0.1;
        })
        .spawn()
        .await;
    let bot = Bot::new(&app).await;
    let crashed = bot.open("uplift").await;
    let alive = bot.open("coverage").await;

    for done in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let response = bot.send(reqwest::Method::PATCH, &format!("/runs/{}", alive.id), json!({"done": done})).await;
        assert_eq!(response.status(), 200, "the reporting run was timed out");
    }

    let crashed = get_run(&app, crashed.id).await;
    assert_eq!(crashed.status, RunStatus::Failed);
    assert!(crashed.error_summary.unwrap().contains("no report from the bot"));
    assert!(crashed.finished_at.is_some());
    assert_eq!(get_run(&app, alive.id).await.status, RunStatus::Running);

    let late =
        bot.send(reqwest::Method::POST, &format!("/runs/{}/finish", crashed.id), json!({"status": "succeeded"})).await;
    problem(late, 409).await;
}
