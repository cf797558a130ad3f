//! The dashboard in a real browser: Debian's headless Chromium, driven through chromedriver,
//! against an API holding the sample data (real bot runs). Every page loads with no console error
//! and no failed request, and axe-core finds no serious or critical violation on it; a person
//! signs in with the keyboard, reruns a run and opens a revision from the coverage history chart.
//! Screenshots of every page are kept in `target/dashboard-screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_system_tests::workspace_root;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::bot_setup::install_bot;

/// WebDriver's codes of the Tab and Enter keys.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
use crate::sample_data::load;

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver) must be installed: scripts/test.sh installs it");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {}", driver.url);
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"],
        }),
    );
    capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    ClientBuilder::rustls().unwrap().capabilities(capabilities).connect(&driver.url).await.expect("a Chromium session")
}

/// chromedriver's browser log since the last call: console messages and failed loads.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// Console errors and failed requests of the page shown last.
async fn errors(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(BrowserLog).await.unwrap();
    let mut errors: Vec<String> = log
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    let failed = client
        .execute(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))\
                 .filter(e => e.responseStatus >= 400).map(e => e.name + ' ' + e.responseStatus);",
            vec![],
        )
        .await
        .unwrap();
    errors.extend(failed.as_array().into_iter().flatten().map(|entry| format!("failed request: {entry}")));
    errors
}

/// axe-core's serious and critical violations on the page shown.
async fn accessibility_violations(client: &Client, axe: &str) -> Vec<String> {
    client.execute(&format!("{axe}\nreturn true;"), vec![]).await.unwrap();
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done([{id: 'axe failed', impact: 'critical', help: String(e), nodes: []}]));",
            vec![],
        )
        .await
        .unwrap();
    result
        .as_array()
        .into_iter()
        .flatten()
        .filter(|violation| matches!(violation["impact"].as_str(), Some("serious" | "critical")))
        .map(|violation| {
            let targets: Vec<String> =
                violation["nodes"].as_array().into_iter().flatten().map(|node| node["target"].to_string()).collect();
            format!("{} ({}): {} at {}", violation["id"], violation["impact"], violation["help"], targets.join(", "))
        })
        .collect()
}

fn screenshot_dir() -> PathBuf {
    let dir = workspace_root().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `path`, waits for its content, checks it, and keeps a screenshot under `name`.
async fn visit(client: &Client, base: &str, path: &str, name: &str, axe: &str) {
    client.goto(&format!("{base}{path}")).await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("main h1"))
        .await
        .unwrap_or_else(|error| panic!("{path}: no heading: {error}"));
    let errors = errors(client).await;
    assert!(errors.is_empty(), "{path}: {errors:#?}");
    let violations = accessibility_violations(client, axe).await;
    assert!(violations.is_empty(), "{path}: {violations:#?}");
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the browser's URL satisfies `wanted`.
async fn wait_for_url(client: &Client, wanted: impl Fn(&url::Url) -> bool) {
    let mut url = client.current_url().await.unwrap();
    for _ in 0..100 {
        if wanted(&url) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        url = client.current_url().await.unwrap();
    }
    panic!("the browser stayed on {url}");
}

async fn text(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap_or_else(|error| panic!("{css}: {error}")).text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_loads_clean_and_a_person_signs_in_reruns_and_follows_the_history() {
    let axe_path = workspace_root().join("tests/dashboard/node_modules/axe-core/axe.min.js");
    let axe = std::fs::read_to_string(&axe_path).unwrap_or_else(|_| {
        panic!("{} is missing: `npm ci --prefix tests/dashboard` (scripts/test.sh does)", axe_path.display())
    });
    let upstream = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(404)).mount(&upstream).await;
    let bin_dir = tempfile::tempdir().unwrap();
    install_bot(bin_dir.path(), "coverage", &upstream.uri());
    let app = TestApp::builder().local_runner(bin_dir.path()).spawn().await;
    let token = app.token(&["project:shipit:*"]).await;
    let work = tempfile::tempdir().unwrap();
    let (app_ref, token_ref, work_path) = (&app, token.clone(), work.path().to_owned());
    tokio::task::block_in_place(|| load(app_ref, &token_ref, &work_path));
    let runs: Value = app.get_json("/runs").await;
    let coverage_run =
        runs["runs"].as_array().unwrap().iter().find(|run| run["bot"] == "coverage").unwrap()["id"].as_i64().unwrap();
    let revision = "b2a9a4bb5c94de179ae7a3f52fde58c0e2897498";

    let driver = start_driver().await;
    let client = browser(&driver).await;
    let base = app.base_url.trim_end_matches('/').to_owned();

    // A browser asking for the API's root is sent to the dashboard.
    client.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/ui/");

    let pages = [
        ("/ui/", "home"),
        ("/ui/runs", "runs"),
        (&*format!("/ui/runs/{coverage_run}"), "run"),
        ("/ui/uplift", "uplift"),
        ("/ui/coverage", "coverage-repositories"),
        ("/ui/coverage?repository=mozilla-central", "coverage-root"),
        ("/ui/coverage/zero?repository=mozilla-central", "coverage-zero"),
        ("/ui/static-analysis", "static-analysis"),
        ("/ui/static-analysis/diffs/1", "static-analysis-diff"),
        ("/ui/static-analysis/revisions/1", "static-analysis-revision"),
        ("/ui/static-analysis/checks", "static-analysis-checks"),
        ("/ui/risk", "risk"),
        ("/ui/pipelines", "pipelines"),
        ("/ui/sign-in", "sign-in"),
    ];
    for (path, name) in pages {
        visit(&client, &base, path, name, &axe).await;
    }
    // Every channel and bug the sample holds has its page.
    let channels: Value = app.get_json("/uplift/channels").await;
    for channel in channels.as_array().unwrap() {
        let name = channel["name"].as_str().unwrap();
        visit(&client, &base, &format!("/ui/uplift/channels/{name}"), &format!("uplift-{name}"), &axe).await;
    }
    let bugs: Value = app.get_json("/uplift/bugs").await;
    assert!(!bugs.as_array().unwrap().is_empty(), "the sample has uplift bugs");
    for bug in bugs.as_array().unwrap() {
        let id = bug["bugzillaId"].as_i64().or_else(|| bug["bugzilla_id"].as_i64()).unwrap();
        visit(&client, &base, &format!("/ui/uplift/bugs/{id}"), &format!("uplift-bug-{id}"), &axe).await;
    }
    // A directory below the root and a file, found by following the tree's first links.
    client.goto(&format!("{base}/ui/coverage?repository=mozilla-central")).await.unwrap();
    client.find(Locator::Css("main table tbody tr td a")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("nav.crumbs span[aria-current]")).await.unwrap();
    assert!(errors(&client).await.is_empty());

    // The history chart: a point opens that revision.
    client.goto(&format!("{base}/ui/coverage?repository=mozilla-central")).await.unwrap();
    client.find(Locator::Css("figure.chart svg a")).await.unwrap().click().await.unwrap();
    wait_for_url(&client, |url| url.query_pairs().any(|(key, _)| key == "changeset")).await;
    let opened = client.current_url().await.unwrap();
    assert!(opened.query_pairs().any(|(key, value)| key == "changeset" && value == revision), "{opened}");
    assert!(text(&client, "main").await.contains(&revision[..12]));

    // The zero-coverage report: directories open down to the sample's one uncovered file
    // (mozglue/build/dummy.cpp), which carries its first and last push from the pushlog.
    client.goto(&format!("{base}/ui/coverage/zero?repository=mozilla-central")).await.unwrap();
    for directory in ["mozglue", "mozglue/build"] {
        client.find(Locator::Css("main table tbody tr td a")).await.unwrap().click().await.unwrap();
        wait_for_url(&client, |url| url.query_pairs().any(|(key, value)| key == "path" && value == directory)).await;
    }
    let row = text(&client, "main table tbody tr").await;
    assert!(row.contains("dummy.cpp") && row.contains("2011-07-20") && row.contains("2013-08-05"), "{row}");
    assert!(errors(&client).await.is_empty());

    // Signed out, a run offers no rerun button.
    client.goto(&format!("{base}/ui/runs/{coverage_run}")).await.unwrap();
    assert!(client.find(Locator::Css("form[action$='/rerun']")).await.is_err());

    // Sign in with the keyboard only: Tab reaches the skip link first, Enter on it moves to the
    // content, the next Tab reaches the token field, and Enter submits the form.
    client.goto(&format!("{base}/ui/sign-in?next=/ui/runs/{coverage_run}")).await.unwrap();
    client.active_element().await.unwrap().send_keys(TAB).await.unwrap();
    let skip = client.active_element().await.unwrap();
    assert_eq!(skip.attr("href").await.unwrap().as_deref(), Some("#main"));
    skip.send_keys(ENTER).await.unwrap();
    client.active_element().await.unwrap().send_keys(TAB).await.unwrap();
    let token_field = client.active_element().await.unwrap();
    assert_eq!(token_field.attr("id").await.unwrap().as_deref(), Some("token"));
    token_field.send_keys(&token).await.unwrap();
    token_field.send_keys(ENTER).await.unwrap();
    client.wait().for_element(Locator::Css("form[action$='/rerun'] button")).await.unwrap();
    assert!(text(&client, ".who").await.contains("Signed in as"), "the header names the person");
    visit(&client, &base, &format!("/ui/runs/{coverage_run}"), "run-signed-in", &axe).await;

    // A rerun: a new manual run of the same bot with the same parameters.
    client.find(Locator::Css("form[action$='/rerun'] button")).await.unwrap().click().await.unwrap();
    wait_for_url(&client, |url| {
        url.path().starts_with("/ui/runs/") && url.path() != format!("/ui/runs/{coverage_run}")
    })
    .await;
    let rerun_id: i64 = client.current_url().await.unwrap().path().trim_start_matches("/ui/runs/").parse().unwrap();
    let original: Value = app.get_json(&format!("/runs/{coverage_run}")).await;
    let rerun: Value = app.get_json(&format!("/runs/{rerun_id}")).await;
    assert_eq!((&rerun["bot"], &rerun["trigger"]), (&json!("coverage"), &json!("manual")), "{rerun}");
    assert_eq!(rerun["parameters"], original["parameters"]);
    assert!(errors(&client).await.is_empty());

    // A form posted without the session's secret is refused.
    let forged = client
        .execute(
            "return fetch(arguments[0], {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=forged'}).then(r => r.status);",
            vec![json!(format!("/ui/runs/{coverage_run}/rerun"))],
        )
        .await
        .unwrap();
    assert_eq!(forged, json!(403));

    // Signing out ends the session.
    client.find(Locator::Css(".who form button")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css(".who a[href='/ui/sign-in']")).await.unwrap();
    client.goto(&format!("{base}/ui/runs/{coverage_run}")).await.unwrap();
    assert!(client.find(Locator::Css("form[action$='/rerun']")).await.is_err());

    sign_off(&app, &client, &base, &axe).await;
    client.close().await.unwrap();
}

/// A release manager signs in with password and TOTP and signs the sample pipeline's sign-off,
/// with the keyboard only.
async fn sign_off(app: &TestApp, client: &Client, base: &str, axe: &str) {
    let password = "correct horse battery staple";
    let uri = shipit_api::admin::create_user(&app.state.pool, "relman@example.com", &["relman".to_owned()], password)
        .await
        .unwrap();
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    // The forged form's 403 above is in the browser's log: read it away.
    let _expected = errors(client).await;
    // The sample's release pipeline waits for a relman and a releng.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.get("/steps/signoff/firefox-99.0b1.S", None).await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the sign-off step was never created");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = "/ui/pipelines/firefox-99.0b1";
    visit(client, base, page, "pipeline-signoff", axe).await;
    assert!(text(client, "main").await.contains("Sign in as a person to sign off"));

    // A code with at least 3 seconds of its step left, so that the API checks it in the same step.
    let step = loop {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        if now % 30 < 27 {
            break shipit_api::persons::totp::step_of(now);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let code = shipit_api::persons::totp::code_at(&secret, step).unwrap();
    client.goto(&format!("{base}/ui/sign-in?next={page}")).await.unwrap();
    let email = client.find(Locator::Id("email")).await.unwrap();
    email.send_keys("relman@example.com").await.unwrap();
    email.send_keys(TAB).await.unwrap();
    let password_field = client.active_element().await.unwrap();
    assert_eq!(password_field.attr("id").await.unwrap().as_deref(), Some("password"));
    password_field.send_keys(password).await.unwrap();
    password_field.send_keys(TAB).await.unwrap();
    let code_field = client.active_element().await.unwrap();
    assert_eq!(code_field.attr("id").await.unwrap().as_deref(), Some("totp"));
    code_field.send_keys(&code).await.unwrap();
    code_field.send_keys(ENTER).await.unwrap();
    client.wait().for_element(Locator::Css("form[action$='/steps/S/sign'] button")).await.unwrap();
    assert!(text(client, ".who").await.contains("relman@example.com"));
    visit(client, base, page, "pipeline-signoff-signed-in", axe).await;

    // From the group chooser, Tab reaches the button and Enter signs.
    let chooser = client.find(Locator::Id("group-S")).await.unwrap();
    chooser.send_keys(TAB).await.unwrap();
    let button = client.active_element().await.unwrap();
    assert!(button.text().await.unwrap().contains("Sign off S"));
    button.send_keys(ENTER).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let step: Value = app.get_json("/steps/signoff/firefox-99.0b1.S").await;
        if step["signoff"]["signatures"][0]["email"] == "relman@example.com" {
            assert_eq!((&step["state"], &step["signoff"]["may_sign"]), (&json!("in_progress"), &json!(["releng"])));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{step}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.wait().for_element(Locator::Css("section.signoff td")).await.unwrap();
    assert!(errors(client).await.is_empty());
    visit(client, base, page, "pipeline-signed-off", axe).await;
}
