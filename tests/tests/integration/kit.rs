//! The bot kit against a real API: a run is adopted or opened, and closed with the bot's
//! outcome whatever happens; settings come from the file and the Taskcluster secret.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::{Run, RunPage};
use shipit_shared::bot::{Bot, Context, Exit, Report, execute};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Succeed,
    Partial,
    Fail,
    Error,
    Panic,
}

/// A bot doing what it is told.
struct TestBot(Behaviour);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TestSettings {
    greeting: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the upstream refused")]
struct TestError(#[source] std::io::Error);

impl Bot for TestBot {
    const NAME: &'static str = "coverage";
    type Settings = TestSettings;
    type Error = TestError;

    fn parameters(&self) -> Map<String, Value> {
        json!({"REPOSITORY": "mozilla-central"}).as_object().cloned().unwrap()
    }

    async fn run(&self, context: &Context<TestSettings>) -> Result<Report, TestError> {
        context.progress(1, 2, "halfway", Map::new()).await;
        let counts = json!({"greeting": context.settings.greeting}).as_object().cloned().unwrap();
        match self.0 {
            Behaviour::Succeed => Ok(Report::with_failures(Vec::new(), counts)),
            Behaviour::Partial => Ok(Report::with_failures(vec!["task A: no artifact".into()], counts)),
            Behaviour::Fail => Ok(Report::failed("no coverage build", counts)),
            Behaviour::Error => Err(TestError(std::io::Error::other("connection reset"))),
            Behaviour::Panic => panic!("an index out of bounds"),
        }
    }
}

fn config(directory: &Path, app: &TestApp, token: &str, extra: &str) -> PathBuf {
    let path = directory.join("bot.toml");
    let text =
        format!("greeting = \"from the file\"\n{extra}\n[api]\nurl = \"{}/\"\ntoken = \"{token}\"\n", app.base_url);
    std::fs::write(&path, text).unwrap();
    path
}

async fn runs(app: &TestApp) -> Vec<Run> {
    let page: RunPage = app.client.get(app.url("/runs?bot=coverage")).send().await.unwrap().json().await.unwrap();
    page.runs
}

async fn setup() -> (TestApp, tempfile::TempDir, PathBuf) {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let directory = tempfile::tempdir().unwrap();
    let file = config(directory.path(), &app, &token, "");
    (app, directory, file)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_the_bot_opens_itself_is_closed_with_its_counts() {
    let (app, _directory, file) = setup().await;

    let exit = execute(TestBot(Behaviour::Succeed), Some(&file), None).await;

    assert_eq!(exit, Exit::Succeeded);
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!((run.status.as_str(), run.trigger.as_str()), ("succeeded", "manual"));
    assert_eq!((run.done, run.total), (Some(1), Some(2)));
    assert_eq!(run.counts["greeting"], "from the file");
    assert_eq!(run.parameters["REPOSITORY"], "mozilla-central");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_outcome_closes_the_run_with_its_status_summary_and_exit_status() {
    let (app, _directory, file) = setup().await;
    let cases = [
        (Behaviour::Partial, Exit::Partial, "partial", "task A: no artifact"),
        (Behaviour::Fail, Exit::Failed, "failed", "no coverage build"),
        (Behaviour::Error, Exit::Failed, "failed", "the upstream refused: connection reset"),
        (Behaviour::Panic, Exit::Failed, "failed", "the bot panicked: an index out of bounds"),
    ];
    for (behaviour, expected_exit, status, summary) in cases {
        let exit = execute(TestBot(behaviour), Some(&file), None).await;

        let run = runs(&app).await.remove(0);
        assert_eq!(exit, expected_exit, "{behaviour:?}");
        assert_eq!(run.status.as_str(), status, "{behaviour:?}");
        assert_eq!(run.error_summary.as_deref(), Some(summary), "{behaviour:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_run_opened_for_the_bot_is_adopted_and_no_other() {
    let (app, _directory, file) = setup().await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let open = |bot: &'static str| {
        let request = app.client.post(app.url("/runs")).bearer_auth(token.clone()).json(&json!({
            "bot": bot, "trigger": "pulse", "parameters": {}
        }));
        async move { request.send().await.unwrap().json::<Run>().await.unwrap().id }
    };
    let mine = open("coverage").await;
    let other_bots = open("uplift").await;

    let adopted = execute(TestBot(Behaviour::Succeed), Some(&file), Some(mine.to_string())).await;
    let closed_already = execute(TestBot(Behaviour::Succeed), Some(&file), Some(mine.to_string())).await;
    let of_another_bot = execute(TestBot(Behaviour::Succeed), Some(&file), Some(other_bots.to_string())).await;
    let unknown = execute(TestBot(Behaviour::Succeed), Some(&file), Some("987654".into())).await;
    let not_an_id = execute(TestBot(Behaviour::Succeed), Some(&file), Some("1; drop".into())).await;

    assert_eq!(adopted, Exit::Succeeded);
    for refused in [closed_already, of_another_bot, unknown, not_an_id] {
        assert_eq!(refused, Exit::Failed);
    }
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 1, "no run was opened instead of the adopted one");
    assert_eq!((runs[0].id, runs[0].status.as_str(), runs[0].trigger.as_str()), (mine, "succeeded", "pulse"));
    let other: Run =
        app.client.get(app.url(&format!("/runs/{other_bots}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(other.status.as_str(), "running", "another bot's run is left alone");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_configuration_stops_before_any_run_is_opened() {
    let (app, directory, _file) = setup().await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let bad = config(directory.path(), &app, &token, "[api.extra]\nunknown = 1");
    let missing = directory.path().join("absent.toml");

    assert_eq!(execute(TestBot(Behaviour::Succeed), Some(&bad), None).await, Exit::Configuration);
    assert_eq!(execute(TestBot(Behaviour::Succeed), Some(&missing), None).await, Exit::Configuration);
    assert!(runs(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_in_the_taskcluster_secret_override_the_file() {
    let (app, directory, _file) = setup().await;
    let proxy = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/secrets/v1/secret/project%2Frelman%2Fshipit%2Fcoverage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "secret": {"common": {"greeting": "from the common section"}, "coverage": {"greeting": "from the secret"}}
        })))
        .expect(1)
        .mount(&proxy)
        .await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let extra = format!("[taskcluster]\nsecret = \"project/relman/shipit/coverage\"\nproxy_url = \"{}/\"", proxy.uri());
    let file = config(directory.path(), &app, &token, &extra);

    let exit = execute(TestBot(Behaviour::Succeed), Some(&file), None).await;

    assert_eq!(exit, Exit::Succeeded);
    assert_eq!(runs(&app).await[0].counts["greeting"], "from the secret");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_secret_is_a_configuration_error() {
    let (app, directory, _file) = setup().await;
    let proxy = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(403)).mount(&proxy).await;
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let extra = format!("[taskcluster]\nsecret = \"project/relman/shipit/coverage\"\nproxy_url = \"{}/\"", proxy.uri());
    let file = config(directory.path(), &app, &token, &extra);

    assert_eq!(execute(TestBot(Behaviour::Succeed), Some(&file), None).await, Exit::Configuration);
    assert!(runs(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_the_run_of_a_real_bot_process_and_is_its_exit_status() {
    let (app, directory, _file) = setup().await;
    let token = app.token(&["project:shipit:runs/manage", "project:shipit:uplift/manage"]).await;
    let bugzilla = MockServer::start().await;
    // Bugzilla never answers in time: the bot is still at work when the signal comes.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(60)))
        .mount(&bugzilla)
        .await;
    let repository = directory.path().join("repository");
    let made = std::process::Command::new("bash")
        .arg(shipit_system_tests::workspace_root().join("fixtures/sample/make-repository.sh"))
        .arg(&repository)
        .status()
        .unwrap();
    assert!(made.success());
    let config = directory.path().join("uplift.toml");
    std::fs::write(
        &config,
        format!(
            "channels = [{{ name = \"beta\", branch = \"beta\" }}]\n[bugzilla]\nurl = \"{}\"\n[repository]\npath = \"{}\"\n[api]\nurl = \"{}/\"\ntoken = \"{token}\"\n",
            bugzilla.uri(),
            repository.display(),
            app.base_url
        ),
    )
    .unwrap();
    let mut bot = std::process::Command::new(shipit_system_tests::binary("uplift-bot"))
        .args(["--config", &config.display().to_string(), "run"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut waited = 0;
    while bugzilla.received_requests().await.unwrap_or_default().is_empty() {
        assert!(waited < 300, "the bot never asked Bugzilla");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }

    let killed = std::process::Command::new("kill").args(["-TERM", &bot.id().to_string()]).status().unwrap();
    let status = tokio::task::block_in_place(|| bot.wait()).unwrap();

    assert!(killed.success());
    assert_eq!(status.code(), Some(143));
    let page: RunPage = app.client.get(app.url("/runs?bot=uplift")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page.runs.len(), 1);
    assert_eq!(page.runs[0].status.as_str(), "failed");
    assert_eq!(page.runs[0].error_summary.as_deref(), Some("stopped by SIGTERM before the end of the run"));
}
