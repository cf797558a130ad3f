//! People's credentials on `/auth/whoami`: local users (made with `shipit-api user create`,
//! signed in with a password and a TOTP code, throttled after failures) and OIDC ID tokens from
//! an issuer served here; bot tokens never count as a person.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shipit_api::config::OidcSettings;
use shipit_api::persons::totp;
use shipit_api::testing::TestApp;
use shipit_api::{admin, db};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::problem;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// `shipit-api <args>` on the app's database, with `stdin` as its input.
fn cli(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipit-api"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("SHIPIT_CONFIG")
        .env("SHIPIT_LOG_FORMAT", "json")
        .arg("--database-url")
        .arg(app.database().url())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The TOTP secret of an `otpauth://` URI for `email`, checking the URI's other parts.
fn secret_of(uri: &str, email: &str) -> String {
    let rest = uri.strip_prefix(&format!("otpauth://totp/ShipIt:{email}?")).unwrap_or_else(|| panic!("{uri}"));
    let parameters: Vec<(&str, &str)> = rest.split('&').map(|pair| pair.split_once('=').unwrap()).collect();
    let get = |name: &str| parameters.iter().find(|(key, _)| *key == name).map(|(_, value)| *value);
    assert_eq!(
        (get("issuer"), get("algorithm"), get("digits"), get("period")),
        (Some("ShipIt"), Some("SHA1"), Some("6"), Some("30")),
        "{uri}"
    );
    get("secret").unwrap().to_owned()
}

/// Creates a local user through the library call behind `user create`; their TOTP secret.
pub(crate) async fn create_user(app: &TestApp, email: &str, groups: &[&str]) -> String {
    let groups: Vec<String> = groups.iter().map(|group| (*group).to_owned()).collect();
    let uri = admin::create_user(&app.state.pool, email, &groups, PASSWORD).await.unwrap();
    secret_of(&uri, email)
}

/// The current time step, once at least 3 seconds of it remain (so that the API's clock is in
/// the same step when it checks a code).
pub(crate) async fn current_step() -> u64 {
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        if now % totp::STEP_SECS < totp::STEP_SECS - 3 {
            return totp::step_of(now);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn code(secret: &str, step: u64) -> String {
    totp::code_at(secret, step).unwrap()
}

async fn sign_in(app: &TestApp, email: &str, password: &str, code: &str) -> (u16, Value) {
    app.post("/auth/sessions", None, &json!({"email": email, "password": password, "totp": code})).await
}

/// Signs in with the current code; the person token.
pub(crate) async fn person_token(app: &TestApp, email: &str, secret: &str) -> String {
    let (status, session) = sign_in(app, email, PASSWORD, &code(secret, current_step().await)).await;
    assert_eq!(status, 201, "{session}");
    session["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_cli_creates_lists_and_removes_users_and_prints_only_the_otpauth_uri() {
    let app = TestApp::spawn().await;
    let email = "relman@example.com";

    let created = cli(&app, &["user", "create", "--email", email, "--group", "relman", "--group", "qa"], "s3cret pw\n");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let stdout = String::from_utf8(created.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let secret = secret_of(stdout.trim_end(), email);

    let (status, session) = sign_in(&app, email, "s3cret pw", &code(&secret, current_step().await)).await;
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap();
    assert!(token.starts_with("shipitp_") && token.len() == 8 + 64, "{token}");
    let (status, person) = app.get("/auth/whoami", Some(token)).await;
    assert_eq!(status, 200, "{person}");
    assert_eq!(
        person,
        json!({"email": email, "groups": ["relman", "qa"], "second_factor": true, "credential": "local"})
    );

    let again = cli(&app, &["user", "create", "--email", email, "--group", "relman"], "other\n");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"), "{again:?}");
    assert!(again.stdout.is_empty());

    let listed = cli(&app, &["user", "list"], "");
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains(email) && listed.contains("relman qa"), "{listed}");
    assert!(!listed.contains(&secret) && !listed.contains("argon2"), "{listed}");

    let removed = cli(&app, &["user", "remove", "--email", email], "");
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let (status, _) = app.get("/auth/whoami", Some(token)).await;
    assert_eq!(status, 401, "the removed user's session ended");
    assert!(!cli(&app, &["user", "remove", "--email", email], "").status.success());
}

#[tokio::test]
async fn the_cli_refuses_bad_passwords_emails_and_groups() {
    let app = TestApp::spawn().await;
    let cases: [(&[&str], &str); 5] = [
        (&["--email", "a@example.com", "--group", "g"], "\n"),
        (&["--email", "a@example.com", "--group", "g"], &"p".repeat(1025)),
        (&["--email", "not-an-email", "--group", "g"], "pw\n"),
        (&["--email", "a b@example.com", "--group", "g"], "pw\n"),
        (&["--email", "a@example.com", "--group", "bad group"], "pw\n"),
    ];
    for (args, stdin) in cases {
        let output = cli(&app, &[&["user", "create"], args].concat(), stdin);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(output.stdout.is_empty());
    }
    assert!(admin::list_users(&app.state.pool).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_password_code_or_email_is_one_and_the_same_401() {
    let app = TestApp::spawn().await;
    let secret = create_user(&app, "a@example.com", &["relman"]).await;
    let step = current_step().await;
    let right = code(&secret, step);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);

    let mut details = Vec::new();
    for (email, password, code) in [
        ("a@example.com", "wrong password", right.as_str()),
        ("a@example.com", PASSWORD, wrong.as_str()),
        ("a@example.com", PASSWORD, "abcdef"),
        ("nobody@example.com", PASSWORD, right.as_str()),
    ] {
        let (status, problem) = sign_in(&app, email, password, code).await;
        assert_eq!(status, 401, "{email} {password} {code}: {problem}");
        details.push(problem["detail"].as_str().unwrap().to_owned());
    }
    assert!(details.iter().all(|detail| *detail == details[0]), "{details:?}");
    // The right code still works: the failures did not spend it.
    assert_eq!(sign_in(&app, "a@example.com", PASSWORD, &right).await.0, 201);
}

#[tokio::test]
async fn a_code_is_accepted_once() {
    let app = TestApp::spawn().await;
    let secret = create_user(&app, "a@example.com", &[]).await;
    let code = code(&secret, current_step().await);

    assert_eq!(sign_in(&app, "a@example.com", PASSWORD, &code).await.0, 201);
    let (status, problem) = sign_in(&app, "a@example.com", PASSWORD, &code).await;
    assert_eq!(status, 401, "the replayed code was accepted: {problem}");

    // Two sign-ins at once with one code: one wins.
    let secret = create_user(&app, "b@example.com", &[]).await;
    let code = totp::code_at(&secret, current_step().await).unwrap();
    let (first, second) =
        tokio::join!(sign_in(&app, "b@example.com", PASSWORD, &code), sign_in(&app, "b@example.com", PASSWORD, &code));
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 401]);
}

#[tokio::test]
async fn one_step_of_drift_is_accepted_and_two_are_not() {
    let app = TestApp::spawn().await;
    let secret = create_user(&app, "a@example.com", &[]).await;
    let step = current_step().await;

    for off in [step - 2, step + 2] {
        assert_eq!(sign_in(&app, "a@example.com", PASSWORD, &code(&secret, off)).await.0, 401, "step {off}");
    }
    assert_eq!(sign_in(&app, "a@example.com", PASSWORD, &code(&secret, step - 1)).await.0, 201);
    // Once a step is accepted, no earlier one is, but a later one is.
    assert_eq!(sign_in(&app, "a@example.com", PASSWORD, &code(&secret, step - 1)).await.0, 401);
    assert_eq!(sign_in(&app, "a@example.com", PASSWORD, &code(&secret, step + 1)).await.0, 201);
    assert_eq!(sign_in(&app, "a@example.com", PASSWORD, &code(&secret, step)).await.0, 401);
}

async fn set_lock_expired(app: &TestApp, email: &str) {
    let client = app.state.pool.get().await.unwrap();
    client
        .execute("UPDATE local_users SET locked_until = now() - interval '1 second' WHERE email = $1", &[&email])
        .await
        .unwrap();
}

async fn retry_after_of_sign_in(app: &TestApp, email: &str, code: &str) -> u64 {
    let response = app
        .client
        .post(app.url("/auth/sessions"))
        .json(&json!({"email": email, "password": PASSWORD, "totp": code}))
        .send()
        .await
        .unwrap();
    let retry_after = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    problem(response, 429).await;
    retry_after
}

#[tokio::test]
async fn five_failures_in_a_row_lock_the_user_for_a_growing_delay() {
    let app = TestApp::spawn().await;
    let email = "a@example.com";
    let secret = create_user(&app, email, &[]).await;
    let other = create_user(&app, "b@example.com", &[]).await;

    for attempt in 1..=5 {
        assert_eq!(sign_in(&app, email, "guess", "000000").await.0, 401, "attempt {attempt}");
    }
    // Locked: even the right password and code wait.
    let step = current_step().await;
    let retry_after = retry_after_of_sign_in(&app, email, &code(&secret, step)).await;
    assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
    // Another user is not locked.
    assert_eq!(sign_in(&app, "b@example.com", PASSWORD, &code(&other, step)).await.0, 201);

    // Once the lock ends, one more failure locks for twice as long.
    set_lock_expired(&app, email).await;
    assert_eq!(sign_in(&app, email, "guess", "000000").await.0, 401);
    let retry_after = retry_after_of_sign_in(&app, email, &code(&secret, step)).await;
    assert!((61..=120).contains(&retry_after), "Retry-After: {retry_after}");

    // A success resets the count: four failures then do not lock.
    set_lock_expired(&app, email).await;
    assert_eq!(sign_in(&app, email, PASSWORD, &code(&secret, step)).await.0, 201);
    let user = db::persons::find_user(&app.state.pool, email).await.unwrap().unwrap();
    assert_eq!((user.failed_attempts, user.locked_until), (0, None));
    for _ in 0..4 {
        assert_eq!(sign_in(&app, email, "guess", "000000").await.0, 401);
    }
    assert_eq!(sign_in(&app, email, PASSWORD, &code(&secret, step + 1)).await.0, 201);
}

#[tokio::test]
async fn a_session_lasts_the_configured_minutes_and_not_past_its_expiry() {
    let app = TestApp::builder().configure(|config| config.signoff.session_minutes = 5).spawn().await;
    let secret = create_user(&app, "a@example.com", &[]).await;
    let (status, session) = sign_in(&app, "a@example.com", PASSWORD, &code(&secret, current_step().await)).await;
    assert_eq!(status, 201);
    let expires_at: chrono::DateTime<chrono::Utc> = serde_json::from_value(session["expires_at"].clone()).unwrap();
    let minutes = (expires_at - chrono::Utc::now()).num_seconds();
    assert!((4 * 60..=5 * 60).contains(&minutes), "the session lasts {minutes} s");
    let token = session["token"].as_str().unwrap();
    assert_eq!(app.get("/auth/whoami", Some(token)).await.0, 200);

    let client = app.state.pool.get().await.unwrap();
    client.execute("UPDATE person_sessions SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    let (status, problem) = app.get("/auth/whoami", Some(token)).await;
    assert_eq!(status, 401, "{problem}");
}

#[tokio::test]
async fn bot_tokens_are_403_and_anything_else_but_a_person_401() {
    let app = TestApp::spawn().await;
    let bot = app.token(&["*"]).await;

    for token in [bot.as_str(), "shipit_0000"] {
        let response = app.client.get(app.url("/auth/whoami")).bearer_auth(token).send().await.unwrap();
        let problem = problem(response, 403).await;
        assert!(problem.detail.contains("API tokens belong to bots"), "{}", problem.detail);
    }
    let response = app.client.get(app.url("/auth/whoami")).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    problem(response, 401).await;
    let unknown = format!("shipitp_{}", "0".repeat(64));
    for header in [format!("Bearer {unknown}"), "Basic dXNlcjpwYXNz".to_owned(), "Bearer eyJhbGciOi.e30.x".to_owned()] {
        let response = app.client.get(app.url("/auth/whoami")).header("authorization", &header).send().await.unwrap();
        problem(response, 401).await;
    }
    // A person token is no API token either.
    let secret = create_user(&app, "a@example.com", &[]).await;
    let person = person_token(&app, "a@example.com", &secret).await;
    let (status, _) = app.post("/runs", Some(&person), &json!({"bot": "coverage", "trigger": "manual"})).await;
    assert_eq!(status, 401);
}

/// An OIDC issuer served by wiremock: its discovery document under `/tenant` (naming an
/// authorization endpoint and a token endpoint, which the dashboard's sign-in tests serve), and a
/// JWKS that tests can change.
pub(crate) struct Issuer {
    server: MockServer,
    keys: Arc<Mutex<JwkSet>>,
}

struct ServeKeys(Arc<Mutex<JwkSet>>);

impl Respond for ServeKeys {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(&*self.0.lock().unwrap())
    }
}

impl Issuer {
    pub(crate) async fn start() -> Self {
        let server = MockServer::start().await;
        let keys = Arc::new(Mutex::new(JwkSet { keys: vec![] }));
        let discovery = json!({
            "issuer": format!("{}/tenant", server.uri()),
            "jwks_uri": format!("{}/keys", server.uri()),
            "authorization_endpoint": format!("{}/tenant/authorize", server.uri()),
            "token_endpoint": format!("{}/tenant/oauth/token", server.uri()),
        });
        Mock::given(method("GET"))
            .and(path("/tenant/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(discovery))
            .mount(&server)
            .await;
        Mock::given(method("GET")).and(path("/keys")).respond_with(ServeKeys(keys.clone())).mount(&server).await;
        Self { server, keys }
    }

    pub(crate) fn issuer(&self) -> String {
        format!("{}/tenant", self.server.uri())
    }

    pub(crate) fn server(&self) -> &MockServer {
        &self.server
    }

    pub(crate) fn settings(&self) -> OidcSettings {
        OidcSettings::new(self.issuer().parse().unwrap(), "shipit-dashboard")
    }

    pub(crate) fn publish(&self, key: &SigningKey) {
        self.keys.lock().unwrap().keys.push(key.jwk.clone());
    }

    async fn key_fetches(&self) -> usize {
        self.server.received_requests().await.unwrap().iter().filter(|request| request.url.path() == "/keys").count()
    }

    /// Claims of a valid token for `email`.
    pub(crate) fn claims(&self, email: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer(), "aud": "shipit-dashboard", "sub": "ad|Mozilla-LDAP|rm",
            "iat": now, "exp": now + 300, "email": email, "email_verified": true,
            "https://sso.mozilla.com/claim/groups": ["releng", "relman"], "amr": ["mfa"],
        })
    }
}

/// An ES256 key and its public JWK.
pub(crate) struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
}

impl SigningKey {
    pub(crate) fn generate(kid: &str) -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Self { kid: kid.to_owned(), key, jwk }
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = Header { kid: Some(self.kid.clone()), ..Header::new(Algorithm::ES256) };
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

async fn whoami(app: &TestApp, token: &str) -> (u16, Value) {
    app.get("/auth/whoami", Some(token)).await
}

#[tokio::test]
async fn a_valid_id_token_names_the_person_their_groups_and_second_factor() {
    let issuer = Issuer::start().await;
    let key = SigningKey::generate("key-1");
    issuer.publish(&key);
    let app = TestApp::builder().configure(|config| config.oidc = Some(issuer.settings())).spawn().await;

    let (status, person) = whoami(&app, &key.sign(&issuer.claims("rm@mozilla.com"))).await;
    assert_eq!(status, 200, "{person}");
    assert_eq!(
        person,
        json!({"email": "rm@mozilla.com", "groups": ["releng", "relman"], "second_factor": true, "credential": "oidc"})
    );

    let mut claims = issuer.claims("rm@mozilla.com");
    claims["amr"] = json!(["pwd"]);
    claims.as_object_mut().unwrap().remove("https://sso.mozilla.com/claim/groups");
    claims["aud"] = json!(["another-client", "shipit-dashboard"]);
    let (status, person) = whoami(&app, &key.sign(&claims)).await;
    assert_eq!(status, 200, "{person}");
    assert_eq!((&person["second_factor"], &person["groups"]), (&json!(false), &json!([])));
    claims.as_object_mut().unwrap().remove("amr");
    assert_eq!(whoami(&app, &key.sign(&claims)).await.1["second_factor"], false);
}

#[tokio::test]
async fn id_tokens_failing_any_check_are_401() {
    let issuer = Issuer::start().await;
    let key = SigningKey::generate("key-1");
    issuer.publish(&key);
    let app = TestApp::builder().configure(|config| config.oidc = Some(issuer.settings())).spawn().await;
    let valid = issuer.claims("rm@mozilla.com");
    let with = |name: &str, value: Value| {
        let mut claims = valid.clone();
        claims[name] = value;
        claims
    };
    let now = chrono::Utc::now().timestamp();
    // Another key under the published key's name.
    let impostor = SigningKey::generate("key-1");
    let encode_unsigned = |header: Value, claims: &Value| {
        use base64::Engine;
        let encode = |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
        format!("{}.{}.", encode(&header), encode(claims))
    };
    let hs256 = jsonwebtoken::encode(
        &Header { kid: Some("key-1".to_owned()), ..Header::new(Algorithm::HS256) },
        &valid,
        &EncodingKey::from_secret(b"a secret anyone could guess"),
    )
    .unwrap();

    let cases = [
        ("wrong audience", key.sign(&with("aud", json!("another-client"))), "audience"),
        ("wrong issuer", key.sign(&with("iss", json!(format!("{}/", issuer.issuer())))), "issuer"),
        ("other issuer", key.sign(&with("iss", json!("https://evil.example.com/tenant"))), "issuer"),
        ("expired past the leeway", key.sign(&with("exp", json!(now - 120))), "expired"),
        ("bad signature", impostor.sign(&valid), "signature"),
        ("alg none", encode_unsigned(json!({"alg": "none", "kid": "key-1"}), &valid), "malformed"),
        ("HS256", hs256, "algorithm"),
        ("unknown kid", SigningKey::generate("key-2").sign(&valid), "kid"),
        ("no email", key.sign(&with("email", Value::Null)), "email"),
        ("unverified email", key.sign(&with("email_verified", json!(false))), "verified"),
        ("groups not a list", key.sign(&with("https://sso.mozilla.com/claim/groups", json!("releng"))), "groups"),
        ("not a JWT", "eyJ.not.a.token".to_owned(), "malformed"),
    ];
    for (case, token, reason) in cases {
        let response = app.client.get(app.url("/auth/whoami")).bearer_auth(&token).send().await.unwrap();
        let problem = problem(response, 401).await;
        assert!(problem.detail.contains(reason), "{case}: {}", problem.detail);
    }
    // Within the leeway, an expired token still passes.
    assert_eq!(whoami(&app, &key.sign(&with("exp", json!(now - 30)))).await.0, 200);
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_keys_again_at_most_once_per_interval() {
    let issuer = Issuer::start().await;
    let first = SigningKey::generate("key-1");
    let second = SigningKey::generate("key-2");
    issuer.publish(&first);
    let app = TestApp::builder().configure(|config| config.oidc = Some(issuer.settings())).spawn().await;
    assert_eq!(issuer.key_fetches().await, 0, "nothing is fetched before a token comes");
    assert_eq!(whoami(&app, &first.sign(&issuer.claims("a@mozilla.com"))).await.0, 200);
    assert_eq!(issuer.key_fetches().await, 1);

    // The provider rotates in a key: within the interval, the API does not ask again.
    issuer.publish(&second);
    assert_eq!(whoami(&app, &second.sign(&issuer.claims("a@mozilla.com"))).await.0, 401);
    assert_eq!(whoami(&app, &first.sign(&issuer.claims("a@mozilla.com"))).await.0, 200);
    assert_eq!(issuer.key_fetches().await, 1);

    // With the interval passed (no interval here), an unknown kid fetches the keys once more,
    // from `jwks_url` without discovery this time.
    let mut settings = issuer.settings();
    settings.jwks_refresh_secs = 0;
    settings.jwks_url = Some(format!("{}/keys", issuer.server.uri()).parse().unwrap());
    let app = TestApp::builder().configure(|config| config.oidc = Some(settings)).spawn().await;
    issuer.keys.lock().unwrap().keys.remove(1);
    assert_eq!(whoami(&app, &first.sign(&issuer.claims("a@mozilla.com"))).await.0, 200);
    assert_eq!(issuer.key_fetches().await, 2);
    issuer.publish(&second);
    assert_eq!(whoami(&app, &second.sign(&issuer.claims("a@mozilla.com"))).await.0, 200);
    assert_eq!(issuer.key_fetches().await, 3);
    // Known keys are not fetched again.
    assert_eq!(whoami(&app, &second.sign(&issuer.claims("a@mozilla.com"))).await.0, 200);
    assert_eq!(whoami(&app, &first.sign(&issuer.claims("a@mozilla.com"))).await.0, 200);
    assert_eq!(issuer.key_fetches().await, 3);
}

#[tokio::test]
async fn without_an_identity_provider_an_id_token_is_401() {
    let issuer = Issuer::start().await;
    let key = SigningKey::generate("key-1");
    issuer.publish(&key);
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/auth/whoami"))
        .bearer_auth(key.sign(&issuer.claims("a@mozilla.com")))
        .send()
        .await
        .unwrap();
    let problem = problem(response, 401).await;
    assert!(problem.detail.contains("no identity provider"), "{}", problem.detail);
    assert_eq!(issuer.key_fetches().await, 0);
}
