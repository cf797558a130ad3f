//! The dashboard's sessions and forms over plain HTTP: signing in, the scope of the token, the
//! form secret, the origin check, revocation and private reads. The browser test
//! (`tests/tests/integration/dashboard.rs`) drives the same pages in Chromium.

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use shipit_api::testing::TestApp;
use shipit_shared::api_types::Run;

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The value of `name="{field}"`'s `value` in a page.
fn field(page: &str, field: &str) -> String {
    let marker = format!("name=\"{field}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {field} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The `name=value` of a `Set-Cookie` answer named `name`.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
}

/// Signs in with `token`: the session cookie.
async fn sign_in(app: &TestApp, token: &str) -> String {
    let client = browser();
    let form_page = client.get(app.url("/ui/sign-in")).send().await.unwrap();
    let sign_in_cookie = cookie(&form_page, "shipit_sign_in").expect("the form sets its cookie");
    let secret = field(&form_page.text().await.unwrap(), "csrf");
    let answer = client
        .post(app.url("/ui/sign-in"))
        .header(COOKIE, &sign_in_cookie)
        .form(&[("token", token), ("csrf", &secret), ("next", "/ui/runs")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    assert_eq!(answer.headers()[LOCATION], "/ui/runs");
    let session = cookie(&answer, "shipit_session").expect("a session cookie");
    let set = answer.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(
        set.iter().any(|value| value.starts_with("shipit_session=")
            && value.contains("HttpOnly")
            && value.contains("SameSite=Strict")),
        "{set:?}"
    );
    session
}

/// Signs in with `token`: the session cookie and the session's form secret, read from a page.
async fn sign_in_with_secret(app: &TestApp, token: &str) -> (String, String) {
    let session = sign_in(app, token).await;
    let page = browser().get(app.url("/ui/")).header(COOKIE, &session).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Signed in as"), "{page}");
    let secret = field(&page, "csrf");
    (session, secret)
}

async fn a_run(app: &TestApp) -> i64 {
    let token = app.token(&["project:shipit:runs/manage"]).await;
    let (status, run) =
        app.post("/runs", Some(&token), &serde_json::json!({"bot": "coverage", "trigger": "manual"})).await;
    assert_eq!(status, 201, "{run}");
    serde_json::from_value::<Run>(run).unwrap().id
}

#[tokio::test]
async fn a_form_needs_the_session_its_scope_its_secret_and_this_origin() {
    let app = TestApp::spawn().await;
    let run = a_run(&app).await;
    let rerun = app.url(&format!("/ui/runs/{run}/rerun"));
    let client = browser();

    // No session: 401, whatever the form holds.
    let anonymous = client.post(&rerun).form(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // A session whose token may not start runs: 403, and no rerun button on the page.
    let reader = app.token(&["project:shipit:read"]).await;
    let (session, secret) = sign_in_with_secret(&app, &reader).await;
    let refused = client.post(&rerun).header(COOKIE, &session).form(&[("csrf", &secret)]).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let refused = refused.text().await.unwrap();
    assert!(
        refused.contains("Signed in as") && !refused.contains(">Sign in<"),
        "an error page keeps the header: {refused}"
    );
    let missing = client.get(app.url("/ui/runs/999999")).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("Signed in as"), "a page's own error keeps the header too");
    let signed_out = client.get(app.url("/ui/runs/999999")).send().await.unwrap().text().await.unwrap();
    assert!(signed_out.contains(">Sign in<") && !signed_out.contains("Signed in as"), "{signed_out}");
    let page = client.get(app.url(&format!("/ui/runs/{run}"))).header(COOKIE, &session).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("lacks"), "the page says why there is no button");

    // A session that may: refused without the secret, with another one, and from another origin.
    let trigger = app.token(&["project:shipit:runs/trigger"]).await;
    let (session, secret) = sign_in_with_secret(&app, &trigger).await;
    for (csrf, origin) in [("", None), ("forged", None), (secret.as_str(), Some("http://evil.example"))] {
        let mut request = client.post(&rerun).header(COOKIE, &session).form(&[("csrf", csrf)]);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        assert_eq!(request.send().await.unwrap().status(), 403, "csrf {csrf:?}, origin {origin:?}");
    }
    // With both, the rerun reaches the API's own rules: the run has no parameters, which the
    // coverage hook's schema refuses.
    let accepted = client.post(&rerun).header(COOKIE, &session).form(&[("csrf", &secret)]).send().await.unwrap();
    assert_eq!(accepted.status(), 400);
    assert!(accepted.text().await.unwrap().contains("&quot;REPOSITORY&quot; is a required property"));

    // A stale sign-in form is refused.
    let stale = client.post(app.url("/ui/sign-in")).form(&[("token", trigger.as_str()), ("csrf", "old"), ("next", "")]);
    assert_eq!(stale.send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn revoking_the_token_ends_its_sessions_and_signing_out_ends_one() {
    let app = TestApp::spawn().await;
    let token = app.token(&["project:shipit:read"]).await;
    let (session, secret) = sign_in_with_secret(&app, &token).await;
    let client = browser();
    let home = |session: String| {
        let client = client.clone();
        let url = app.url("/ui/");
        async move { client.get(url).header(COOKIE, session).send().await.unwrap().text().await.unwrap() }
    };

    let out =
        client.post(app.url("/ui/sign-out")).header(COOKIE, &session).form(&[("csrf", &secret)]).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert!(!home(session.clone()).await.contains("Signed in as"), "the session is over");

    let session = sign_in(&app, &token).await;
    for record in shipit_api::db::tokens::list(&app.state.pool).await.unwrap() {
        shipit_api::db::tokens::revoke(&app.state.pool, record.id).await.unwrap();
    }
    assert!(!home(session).await.contains("Signed in as"), "a revoked token signs nobody in");
}

#[tokio::test]
async fn private_reads_send_people_to_sign_in_and_back() {
    let app = TestApp::builder().configure(|config| config.public_reads = false).spawn().await;
    let client = browser();
    let anonymous = client.get(app.url("/ui/runs?bot=coverage")).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()[LOCATION], "/ui/sign-in?next=%2Fui%2Fruns%3Fbot%3Dcoverage");

    let without_read = app.token(&["project:shipit:runs/trigger"]).await;
    let session = sign_in(&app, &without_read).await;
    let still = client.get(app.url("/ui/runs")).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(still.status(), 303, "a token without project:shipit:read reads nothing");

    let reader = app.token(&["project:shipit:read"]).await;
    let session = sign_in(&app, &reader).await;
    let page = client.get(app.url("/ui/runs")).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn a_browser_asking_for_the_root_is_sent_to_the_dashboard() {
    let app = TestApp::spawn().await;
    let html = browser().get(app.url("/")).header("accept", "text/html,application/xhtml+xml").send().await.unwrap();
    assert_eq!((html.status().as_u16(), html.headers()[LOCATION].to_str().unwrap()), (303, "/ui/"));
    let json = browser().get(app.url("/")).send().await.unwrap();
    assert_eq!(json.status(), 200);
    assert_eq!(json.json::<serde_json::Value>().await.unwrap()["links"]["dashboard"], "/ui/");
}

/// Signs in as a local person with their TOTP `secret`: the session cookie.
async fn sign_in_as_person(app: &TestApp, email: &str, secret: &str) -> String {
    let client = browser();
    let form_page = client.get(app.url("/ui/sign-in")).send().await.unwrap();
    let sign_in_cookie = cookie(&form_page, "shipit_sign_in").unwrap();
    let csrf = field(&form_page.text().await.unwrap(), "csrf");
    let step = crate::persons::current_step().await;
    let code = shipit_api::persons::totp::code_at(secret, step).unwrap();
    let answer = client
        .post(app.url("/ui/sign-in/person"))
        .header(COOKIE, &sign_in_cookie)
        .form(&[
            ("email", email),
            ("password", crate::persons::PASSWORD),
            ("totp", &code),
            ("csrf", &csrf),
            ("next", "/ui/pipelines/fx"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    assert_eq!(answer.headers()[LOCATION], "/ui/pipelines/fx");
    cookie(&answer, "shipit_session").expect("a session cookie")
}

#[tokio::test]
async fn a_person_signs_off_on_the_pipeline_page_and_only_a_person_may() {
    let app = TestApp::builder().configure(|config| config.pipelines.poll_initial_secs = 0.05).spawn().await;
    let relman = crate::persons::create_user(&app, "relman@example.com", &["relman"]).await;
    let manager = app.token(&["project:shipit:pipelines/manage"]).await;
    let definition = serde_json::json!({"steps": [{"uid": "S", "kind": "signoff", "parameters": {
        "policy": [{"relman": 1}], "description": "publish release human sign off"
    }}]});
    assert_eq!(app.put("/pipelines/fx", Some(&manager), &definition).await.0, 201);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get("/steps/signoff/fx.S", None).await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "S was never created");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let client = browser();

    // Signed out, the page offers to sign in; a token's session may not sign.
    let page = client.get(app.url("/ui/pipelines/fx")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in as a person to sign off"), "{page}");
    let (bot_session, bot_secret) = sign_in_with_secret(&app, &manager).await;
    let refused = client
        .post(app.url("/ui/pipelines/fx/steps/S/sign"))
        .header(COOKIE, &bot_session)
        .form(&[("csrf", bot_secret.as_str()), ("group", "relman")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let session = sign_in_as_person(&app, "relman@example.com", &relman).await;
    let home = client.get(app.url("/ui/")).header(COOKIE, &session).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Signed in as <strong>relman@example.com</strong>"), "{home}");
    assert!(home.contains("may sign") && home.contains("fx.S"), "{home}");
    let page =
        client.get(app.url("/ui/pipelines/fx")).header(COOKIE, &session).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign off S"), "{page}");
    let secret = field(&page, "csrf");
    let forged = client
        .post(app.url("/ui/pipelines/fx/steps/S/sign"))
        .header(COOKIE, &session)
        .form(&[("csrf", "0".repeat(secret.len()).as_str()), ("group", "relman")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let signed = client
        .post(app.url("/ui/pipelines/fx/steps/S/sign"))
        .header(COOKIE, &session)
        .header(ORIGIN, app.base_url.as_str())
        .form(&[("csrf", secret.as_str()), ("group", "relman")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303, "{}", signed.text().await.unwrap());
    let (_, step) = app.get("/steps/signoff/fx.S", None).await;
    assert_eq!(step["state"], "success", "{step}");
    assert_eq!(step["signoff"]["signatures"][0]["email"], "relman@example.com");
    // A person's session has no scope: it cannot retry or rerun.
    let page =
        client.get(app.url("/ui/pipelines/fx")).header(COOKIE, &session).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("relman@example.com") && !page.contains("Sign off S"), "{page}");
}
