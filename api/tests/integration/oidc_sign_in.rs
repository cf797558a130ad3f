//! The dashboard's sign-in with the OIDC provider (the authorization-code flow with PKCE), against
//! the mock issuer of `persons.rs` with a token endpoint that checks what it is sent; the browser is
//! played by hand with a client that does not follow redirects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shipit_api::config::OidcSettings;
use shipit_api::testing::TestApp;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::persons::{Issuer, SigningKey};

const TOKEN_PATH: &str = "/tenant/oauth/token";

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

fn challenge_of(code_verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

/// The codes the provider handed out: the challenge each was asked with, and its ID token.
#[derive(Clone, Default)]
struct Grants(Arc<Mutex<HashMap<String, Grant>>>);

struct Grant {
    challenge: String,
    id_token: String,
}

/// The provider's token endpoint: a code is redeemed once, with the verifier of its challenge,
/// the redirect URI and client id of the sign-in, and the client's secret when it has one.
struct TokenEndpoint {
    grants: Grants,
    redirect_uri: String,
    client_secret: Option<String>,
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        let field = |name: &str| form.get(name).map(String::as_str);
        let refuse = |why: &str| {
            ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant", "error_description": why}))
        };
        if field("grant_type") != Some("authorization_code") {
            return refuse("grant_type");
        }
        let Some(grant) = field("code").and_then(|code| self.grants.0.lock().unwrap().remove(code)) else {
            return refuse("unknown or used code");
        };
        if field("code_verifier").map(challenge_of) != Some(grant.challenge) {
            return refuse("the verifier does not match the challenge");
        }
        if field("redirect_uri") != Some(self.redirect_uri.as_str()) || field("client_id") != Some("shipit-dashboard") {
            return refuse("redirect_uri or client_id");
        }
        if field("client_secret") != self.client_secret.as_deref() {
            return ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"}));
        }
        ResponseTemplate::new(200).set_body_json(
            json!({"id_token": grant.id_token, "access_token": "opaque", "token_type": "Bearer", "expires_in": 300}),
        )
    }
}

/// An identity provider with a published key and a token endpoint, and a dashboard using it.
struct Provider {
    issuer: Issuer,
    key: SigningKey,
    grants: Grants,
    app: TestApp,
}

impl Provider {
    async fn start() -> Self {
        Self::start_with(|_, _| {}).await
    }

    /// A provider whose dashboard's settings `change` sets (the `OidcSettings` and the rest).
    async fn start_with(change: impl FnOnce(&mut OidcSettings, &mut shipit_api::config::ApiConfig)) -> Self {
        let issuer = Issuer::start().await;
        let key = SigningKey::generate("key-1");
        issuer.publish(&key);
        let mut settings = issuer.settings();
        let app = TestApp::builder()
            .configure(|config| {
                change(&mut settings, config);
                config.oidc = Some(settings.clone());
            })
            .spawn()
            .await;
        let grants = Grants::default();
        let token_endpoint = TokenEndpoint {
            grants: grants.clone(),
            redirect_uri: app.url("/ui/sign-in/oidc/callback"),
            client_secret: settings
                .client_secret
                .as_ref()
                .map(|secret| secrecy::ExposeSecret::expose_secret(secret).to_owned()),
        };
        Mock::given(method("POST")).and(path(TOKEN_PATH)).respond_with(token_endpoint).mount(issuer.server()).await;
        Self { issuer, key, grants, app }
    }

    /// The requests the token endpoint received, as forms.
    async fn token_requests(&self) -> Vec<HashMap<String, String>> {
        let requests = self.issuer.server().received_requests().await.unwrap();
        requests
            .iter()
            .filter(|request| request.url.path() == TOKEN_PATH)
            .map(|request| url::form_urlencoded::parse(&request.body).into_owned().collect())
            .collect()
    }

    /// Starts a sign-in going to `next`: where the browser is sent, and its binding cookie.
    async fn start_sign_in(&self, next: &str) -> Authorization {
        let answer = browser().get(self.app.url("/ui/sign-in/oidc")).query(&[("next", next)]).send().await.unwrap();
        assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
        let location = url::Url::parse(answer.headers()[LOCATION].to_str().unwrap()).unwrap();
        let set_cookie = set_cookies(&answer).into_iter().find(|value| value.starts_with("shipit_oidc=")).unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let parameters = location.query_pairs().into_owned().collect();
        Authorization { location, parameters, cookie, set_cookie }
    }

    /// The provider signs `authorization`'s person in: the code it sends back with an ID token of
    /// `claims` and the authorization's nonce.
    fn approve(&self, authorization: &Authorization, mut claims: Value) -> String {
        claims["nonce"] = json!(authorization.parameter("nonce"));
        self.approve_with_token(authorization, self.key.sign(&claims))
    }

    /// The code the provider sends back for `authorization`, redeemed for `id_token`.
    fn approve_with_token(&self, authorization: &Authorization, id_token: String) -> String {
        let code = format!("code-{:032x}", rand::random::<u128>());
        let challenge = authorization.parameter("code_challenge").to_owned();
        self.grants.0.lock().unwrap().insert(code.clone(), Grant { challenge, id_token });
        code
    }

    /// The provider sends the browser back with `query`, carrying `cookie` when given.
    async fn callback(&self, query: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
        let mut request = browser().get(self.app.url("/ui/sign-in/oidc/callback")).query(query);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// The whole sign-in of the person of `claims`, going to `next`: the callback's answer.
    async fn sign_in(&self, next: &str, claims: Value) -> reqwest::Response {
        let authorization = self.start_sign_in(next).await;
        let code = self.approve(&authorization, claims);
        self.callback(&[("code", &code), ("state", authorization.parameter("state"))], Some(&authorization.cookie))
            .await
    }
}

/// Where the page ending a signed-in callback sends the browser: a 200 whose `Refresh` starts a
/// navigation of the dashboard's own (a redirect would carry on the provider's cross-site one, on
/// which the SameSite=Strict session cookie is not sent).
fn landing(answer: &reqwest::Response) -> String {
    assert_eq!(answer.status(), 200, "a signed-in callback is the page that goes on");
    assert!(answer.headers().get(LOCATION).is_none(), "not a redirect");
    let refresh = answer.headers()["refresh"].to_str().unwrap();
    refresh.strip_prefix("0;url=").unwrap_or_else(|| panic!("{refresh}")).to_owned()
}

/// Where the dashboard sent the browser to sign in.
struct Authorization {
    location: url::Url,
    parameters: HashMap<String, String>,
    /// `shipit_oidc=…`, as the browser sends it back.
    cookie: String,
    /// The whole `Set-Cookie` value.
    set_cookie: String,
}

impl Authorization {
    fn parameter(&self, name: &str) -> &str {
        self.parameters.get(name).unwrap_or_else(|| panic!("no {name} in {}", self.location))
    }
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().map(|value| value.to_str().unwrap().to_owned()).collect()
}

/// The `name=value` of the session cookie an answer sets.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .map(|value| value.split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with("shipit_session=") && pair.len() > "shipit_session=".len())
}

/// Asserts an HTML error page with `status` whose text holds `reason`; the page.
async fn error_page(response: reqwest::Response, status: u16, reason: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "{reason}");
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    let page = response.text().await.unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}: {page}");
    assert!(page.contains(reason), "{reason:?} not in {page}");
    page
}

async fn home(app: &TestApp, session: &str) -> String {
    browser().get(app.url("/ui/")).header(COOKIE, session).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn a_sign_in_sends_the_browser_to_the_provider_with_pkce_and_comes_back_signed_in() {
    let provider = Provider::start().await;
    let app = &provider.app;

    let page = browser().get(app.url("/ui/sign-in?next=/ui/pipelines")).send().await.unwrap().text().await.unwrap();
    let host = url::Url::parse(&provider.issuer.issuer()).unwrap().host_str().unwrap().to_owned();
    assert!(
        page.contains(&format!(
            r#"<a class="button" href="/ui/sign-in/oidc?next=%2Fui%2Fpipelines">Sign in with {host}</a>"#
        )),
        "{page}"
    );

    let authorization = provider.start_sign_in("/ui/pipelines").await;
    let mut endpoint = authorization.location.clone();
    endpoint.set_query(None);
    assert_eq!(endpoint.as_str(), format!("{}/authorize", provider.issuer.issuer()));
    let redirect_uri = app.url("/ui/sign-in/oidc/callback");
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", "shipit-dashboard"),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", "openid email profile"),
        ("code_challenge_method", "S256"),
    ] {
        assert_eq!(authorization.parameter(name), value, "{}", authorization.location);
    }
    for name in ["state", "nonce"] {
        let value = authorization.parameter(name);
        assert!(value.len() >= 32 && value.bytes().all(|b| b.is_ascii_hexdigit()), "{name}: {value}");
    }
    assert_ne!(authorization.parameter("state"), authorization.parameter("nonce"));
    assert_eq!(authorization.parameter("code_challenge").len(), 43, "a base64url SHA-256");
    for attribute in ["Path=/ui", "Max-Age=600", "HttpOnly", "SameSite=Lax"] {
        assert!(authorization.set_cookie.contains(attribute), "{}", authorization.set_cookie);
    }
    assert!(!authorization.cookie.contains(authorization.parameter("state")), "the cookie is not the state");

    let code = provider.approve(&authorization, provider.issuer.claims("rm@mozilla.com"));
    let state = authorization.parameter("state").to_owned();
    let answer = provider.callback(&[("code", &code), ("state", &state)], Some(&authorization.cookie)).await;
    assert_eq!(landing(&answer), "/ui/pipelines");
    let set = set_cookies(&answer);
    assert!(
        set.iter().any(|value| value.starts_with("shipit_session=")
            && value.contains("HttpOnly")
            && value.contains("SameSite=Strict")
            && value.contains("Path=/ui")),
        "{set:?}"
    );
    assert!(set.iter().any(|value| value.starts_with("shipit_oidc=;") && value.contains("Max-Age=0")), "{set:?}");
    let session = session_cookie(&answer).expect("a session cookie");

    // The token endpoint got the verifier of the challenge sent to the provider, and no secret.
    let requests = provider.token_requests().await;
    assert_eq!(requests.len(), 1);
    let form = &requests[0];
    assert_eq!(challenge_of(&form["code_verifier"]), authorization.parameter("code_challenge"));
    assert_eq!(
        (form["grant_type"].as_str(), form["code"].as_str(), form["redirect_uri"].as_str(), form["client_id"].as_str()),
        ("authorization_code", code.as_str(), redirect_uri.as_str(), "shipit-dashboard")
    );
    assert!(!form.contains_key("client_secret"), "a public client: {form:?}");

    let page = home(app, &session).await;
    assert!(page.contains("Signed in as <strong>rm@mozilla.com</strong>"), "{page}");

    // The same answer again is refused, before the provider is asked.
    let replayed = provider.callback(&[("code", &code), ("state", &state)], Some(&authorization.cookie)).await;
    error_page(replayed, 400, "unknown or was already used").await;
    assert_eq!(provider.token_requests().await.len(), 1);
}

#[tokio::test]
async fn a_confidential_client_sends_its_secret_and_other_scopes() {
    let provider = Provider::start_with(|settings, _| {
        settings.client_secret = Some("s3cret-of-the-client".into());
        settings.scopes = "email profile".to_owned();
    })
    .await;
    let authorization = provider.start_sign_in("/ui/").await;
    assert_eq!(authorization.parameter("scope"), "openid email profile");
    assert!(!authorization.location.as_str().contains("s3cret"), "the secret never goes to the browser");
    let code = provider.approve(&authorization, provider.issuer.claims("rm@mozilla.com"));
    let answer = provider
        .callback(&[("code", &code), ("state", authorization.parameter("state"))], Some(&authorization.cookie))
        .await;
    landing(&answer);
    assert_eq!(provider.token_requests().await[0]["client_secret"], "s3cret-of-the-client");
}

#[tokio::test]
async fn unknown_expired_or_unbound_sign_ins_are_refused_before_the_provider_is_asked() {
    let provider = Provider::start().await;
    let claims = provider.issuer.claims("rm@mozilla.com");

    let authorization = provider.start_sign_in("/ui/").await;
    let code = provider.approve(&authorization, claims.clone());
    let unknown = provider.callback(&[("code", &code), ("state", &"0".repeat(64))], Some(&authorization.cookie)).await;
    error_page(unknown, 400, "unknown or was already used").await;
    let no_state = provider.callback(&[("code", &code)], Some(&authorization.cookie)).await;
    error_page(no_state, 400, "unknown or was already used").await;
    let no_code = provider.callback(&[("state", authorization.parameter("state"))], Some(&authorization.cookie)).await;
    error_page(no_code, 400, "sent no code").await;

    let expired = provider.start_sign_in("/ui/").await;
    let code = provider.approve(&expired, claims.clone());
    let client = provider.app.state.pool.get().await.unwrap();
    client.execute("UPDATE oidc_logins SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    let answer =
        provider.callback(&[("code", &code), ("state", expired.parameter("state"))], Some(&expired.cookie)).await;
    error_page(answer, 400, "has expired").await;

    let unbound = provider.start_sign_in("/ui/").await;
    let code = provider.approve(&unbound, claims.clone());
    let answer = provider.callback(&[("code", &code), ("state", unbound.parameter("state"))], None).await;
    error_page(answer, 401, "has no cookie of the sign-in").await;
    let empty = provider.start_sign_in("/ui/").await;
    let code = provider.approve(&empty, claims.clone());
    let answer = provider.callback(&[("code", &code), ("state", empty.parameter("state"))], Some("shipit_oidc=")).await;
    error_page(answer, 401, "has no cookie of the sign-in").await;

    // Another browser's sign-in: its cookie does not bind this one.
    let victim = provider.start_sign_in("/ui/").await;
    let other = provider.start_sign_in("/ui/").await;
    let code = provider.approve(&victim, claims.clone());
    let answer = provider.callback(&[("code", &code), ("state", victim.parameter("state"))], Some(&other.cookie)).await;
    error_page(answer, 401, "started by another browser").await;

    // An answer naming another provider (RFC 9207).
    let mixed_up = provider.start_sign_in("/ui/").await;
    let code = provider.approve(&mixed_up, claims.clone());
    let query = [("code", code.as_str()), ("state", mixed_up.parameter("state")), ("iss", "https://evil.example/")];
    let answer = provider.callback(&query, Some(&mixed_up.cookie)).await;
    error_page(answer, 400, "another identity provider").await;

    assert!(provider.token_requests().await.is_empty(), "no code was redeemed");

    // The controls: the provider's own name passes, and the refusals above were the only obstacle.
    let fine = provider.start_sign_in("/ui/").await;
    let code = provider.approve(&fine, claims);
    let query = [("code", code.as_str()), ("state", fine.parameter("state")), ("iss", &provider.issuer.issuer())];
    let answer = provider.callback(&query, Some(&fine.cookie)).await;
    landing(&answer);
}

#[tokio::test]
async fn id_tokens_with_a_wrong_nonce_audience_client_or_key_are_refused() {
    let provider = Provider::start().await;
    let valid = provider.issuer.claims("rm@mozilla.com");
    /// A change to valid claims.
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 5] = [
        ("wrong nonce", |claims| claims["nonce"] = json!("0".repeat(64)), "nonce"),
        (
            "no nonce",
            |claims| {
                claims.as_object_mut().unwrap().remove("nonce");
            },
            "nonce",
        ),
        ("another audience", |claims| claims["aud"] = json!("another-client"), "another audience"),
        ("issued to another client", |claims| claims["azp"] = json!("another-client"), "azp"),
        ("expired", |claims| claims["exp"] = json!(chrono::Utc::now().timestamp() - 120), "expired"),
    ];
    for (case, edit, reason) in cases {
        let authorization = provider.start_sign_in("/ui/").await;
        let mut claims = valid.clone();
        claims["nonce"] = json!(authorization.parameter("nonce"));
        edit(&mut claims);
        let code = provider.approve_with_token(&authorization, provider.key.sign(&claims));
        let answer = provider
            .callback(&[("code", &code), ("state", authorization.parameter("state"))], Some(&authorization.cookie))
            .await;
        assert!(session_cookie(&answer).is_none(), "{case}: a session");
        error_page(answer, 401, reason).await;
    }
    for (case, key, reason) in [
        ("unknown key", SigningKey::generate("key-2"), "kid"),
        ("another key under the published kid", SigningKey::generate("key-1"), "signature"),
    ] {
        let authorization = provider.start_sign_in("/ui/").await;
        let mut claims = valid.clone();
        claims["nonce"] = json!(authorization.parameter("nonce"));
        let code = provider.approve_with_token(&authorization, key.sign(&claims));
        let answer = provider
            .callback(&[("code", &code), ("state", authorization.parameter("state"))], Some(&authorization.cookie))
            .await;
        assert!(session_cookie(&answer).is_none(), "{case}: a session");
        error_page(answer, 401, reason).await;
    }
    // The control: this client as `azp` passes.
    let mut claims = valid;
    claims["azp"] = json!("shipit-dashboard");
    let answer = provider.sign_in("/ui/", claims).await;
    landing(&answer);
}

#[tokio::test]
async fn the_providers_refusal_is_a_clear_page_and_ends_the_sign_in() {
    let provider = Provider::start().await;
    let authorization = provider.start_sign_in("/ui/").await;
    let state = authorization.parameter("state").to_owned();
    let query = [
        ("error", "access_denied"),
        ("error_description", "The user did not consent <script>"),
        ("state", state.as_str()),
    ];
    let answer = provider.callback(&query, Some(&authorization.cookie)).await;
    let page = error_page(answer, 401, "the identity provider did not sign you in: access_denied").await;
    assert!(page.contains("The user did not consent &lt;script&gt;"), "{page}");

    // Its state is spent: a code sent with it later is refused.
    let code = provider.approve(&authorization, provider.issuer.claims("rm@mozilla.com"));
    let answer = provider.callback(&[("code", &code), ("state", &state)], Some(&authorization.cookie)).await;
    error_page(answer, 400, "unknown or was already used").await;
}

#[tokio::test]
async fn a_failing_token_endpoint_is_a_502_and_a_refused_code_a_401() {
    let provider = Provider::start().await;

    // A code the provider never gave: its token endpoint refuses it.
    let authorization = provider.start_sign_in("/ui/").await;
    let answer = provider
        .callback(&[("code", "forged"), ("state", authorization.parameter("state"))], Some(&authorization.cookie))
        .await;
    error_page(answer, 401, "refused the sign-in's code (invalid_grant)").await;

    // Then it fails: a 500, an answer too large, an answer without an ID token, no answer in time.
    // A code is good once: none of them is sent again.
    let failures = [
        (ResponseTemplate::new(500), "answered 500"),
        (ResponseTemplate::new(200).set_body_string("x".repeat(300 * 1024)), "larger than"),
        (ResponseTemplate::new(200).set_body_json(json!({"access_token": "a", "token_type": "Bearer"})), "no ID token"),
        (ResponseTemplate::new(200).set_delay(Duration::from_secs(8)), "error sending request"),
    ];
    for (failure, reason) in failures {
        provider.issuer.server().reset().await;
        // `reset` forgot the discovery document and keys too: the API has them cached.
        Mock::given(method("POST")).and(path(TOKEN_PATH)).respond_with(failure).mount(provider.issuer.server()).await;
        let authorization = provider.start_sign_in("/ui/").await;
        let code = provider.approve(&authorization, provider.issuer.claims("rm@mozilla.com"));
        let answer = provider
            .callback(&[("code", &code), ("state", authorization.parameter("state"))], Some(&authorization.cookie))
            .await;
        error_page(answer, 502, reason).await;
        assert_eq!(provider.token_requests().await.len(), 1, "{reason}: the code was sent once");
    }
}

#[tokio::test]
async fn sign_ins_in_progress_are_bounded_and_expired_ones_do_not_count() {
    let provider = Provider::start().await;
    let client = provider.app.state.pool.get().await.unwrap();
    let fill = |expires: &'static str| {
        format!(
            "INSERT INTO oidc_logins (state_sha256, browser_sha256, nonce, code_verifier, next, expires_at) \
             SELECT sha256(n::text::bytea), '\\x00', 'n', 'v', '/ui/', now() + interval '{expires}' \
             FROM generate_series(1, 10000) AS n"
        )
    };
    client.batch_execute(&fill("-1 second")).await.unwrap();
    provider.start_sign_in("/ui/").await;
    client.batch_execute("DELETE FROM oidc_logins").await.unwrap();
    client.batch_execute(&fill("5 minutes")).await.unwrap();
    let answer = browser().get(provider.app.url("/ui/sign-in/oidc")).send().await.unwrap();
    error_page(answer, 503, "too many sign-ins are in progress").await;
}

#[tokio::test]
async fn next_outside_the_dashboard_is_not_followed() {
    let provider = Provider::start().await;
    for next in ["https://evil.example/", "//evil.example/ui/", "/runs"] {
        let answer = provider.sign_in(next, provider.issuer.claims("rm@mozilla.com")).await;
        assert_eq!(landing(&answer), "/ui/", "{next}");
    }
    // The sign-in stores the dashboard's page, not what it was given.
    provider.start_sign_in("https://evil.example/").await;
    let client = provider.app.state.pool.get().await.unwrap();
    let stored: String = client.query_one("SELECT next FROM oidc_logins", &[]).await.unwrap().get(0);
    assert_eq!(stored, "/ui/");
}

#[tokio::test]
async fn without_a_provider_the_routes_are_404_and_the_page_offers_no_provider() {
    let app = TestApp::spawn().await;
    for route in ["/ui/sign-in/oidc?next=/ui/", "/ui/sign-in/oidc/callback?code=a&state=b"] {
        let answer = browser().get(app.url(route)).send().await.unwrap();
        error_page(answer, 404, "no identity provider is configured").await;
    }
    let page = browser().get(app.url("/ui/sign-in")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in to sign off"), "{page}");
    assert!(!page.contains("/ui/sign-in/oidc") && !page.contains("Sign in with "), "{page}");
}

/// Creates a pipeline `fx` with a sign-off step `S` for one `relman`, and waits for the step.
async fn signoff_pipeline(app: &TestApp) {
    let manager = app.token(&["project:shipit:pipelines/manage"]).await;
    let definition = json!({"steps": [{"uid": "S", "kind": "signoff", "parameters": {
        "policy": [{"relman": 1}], "description": "publish release human sign off"
    }}]});
    assert_eq!(app.put("/pipelines/fx", Some(&manager), &definition).await.0, 201);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.get("/steps/signoff/fx.S", None).await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "S was never created");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Posts the sign-off form of `fx`'s step `S` for `relman`: the answer.
async fn sign_off(app: &TestApp, session: &str) -> reqwest::Response {
    let client = browser();
    let page =
        client.get(app.url("/ui/pipelines/fx")).header(COOKIE, session).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign off S"), "{page}");
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_owned();
    client
        .post(app.url("/ui/pipelines/fx/steps/S/sign"))
        .header(COOKIE, session)
        .header(ORIGIN, app.base_url.as_str())
        .form(&[("csrf", csrf.as_str()), ("group", "relman")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_person_of_the_provider_signs_off_with_the_groups_and_second_factor_of_their_id_token() {
    let provider = Provider::start_with(|_, config| {
        config.signoff.require_mfa = true;
        config.pipelines.poll_initial_secs = 0.05;
    })
    .await;
    let app = &provider.app;
    signoff_pipeline(app).await;

    // Without a second factor, the page offers the form but the API refuses the signature.
    let mut without_mfa = provider.issuer.claims("pwd-only@mozilla.com");
    without_mfa["amr"] = json!(["pwd"]);
    without_mfa["https://sso.mozilla.com/claim/groups"] = json!(["relman"]);
    let answer = provider.sign_in("/ui/pipelines/fx", without_mfa).await;
    assert_eq!(landing(&answer), "/ui/pipelines/fx");
    let session = session_cookie(&answer).unwrap();
    let refused = sign_off(app, &session).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("second factor"));

    // With the relman group and a second factor, the signature ends the step.
    let answer = provider.sign_in("/ui/pipelines/fx", provider.issuer.claims("rm@mozilla.com")).await;
    let session = session_cookie(&answer).unwrap();
    let home = home(app, &session).await;
    assert!(home.contains("Signed in as <strong>rm@mozilla.com</strong>") && home.contains("fx.S"), "{home}");
    let signed = sign_off(app, &session).await;
    assert_eq!(signed.status(), 303, "{}", signed.text().await.unwrap());
    let (_, step) = app.get("/steps/signoff/fx.S", None).await;
    assert_eq!(step["state"], "success", "{step}");
    assert_eq!(step["signoff"]["signatures"][0]["email"], "rm@mozilla.com");
    assert_eq!(step["signoff"]["signatures"][0]["credential"], "oidc");

    // The person session ends the dashboard session.
    let client = app.state.pool.get().await.unwrap();
    client.execute("UPDATE person_sessions SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    assert!(!self::home(app, &session).await.contains("Signed in as"));
}
