//! The security suite: the real `shipit-api serve` on its own database, probed on every route
//! and parameter of its own `/openapi.json` (so a new route is probed without anyone adding it):
//! writes without a token, with a token lacking the scope, revoked or expired; routes for people
//! without a credential and with bot tokens (their bodies probed with a person's token); NUL characters,
//! overlong strings, huge and negative numbers, SQL metacharacters and `../` in every path and
//! query parameter; deeply nested JSON, bodies over the limit and gzip bombs on every body. No
//! answer may be a 500, every error is problem+json, and the server still answers its heartbeat
//! at the end. The dashboard's pages and forms, read from its router, get the same probes, and
//! every form is refused without a session, with a forged CSRF secret, or from another site.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shipit_system_tests::binary;

/// A person token no sign-in handed out.
const UNKNOWN_PERSON_TOKEN: &str = "shipitp_0000000000000000000000000000000000000000000000000000000000000000";

/// The body limit the server runs with, small so that the probes stay quick.
const BODY_LIMIT: usize = 64 * 1024;
const COVERAGE_LIMIT: usize = 1024 * 1024;

/// Where the server keeps its data: a database of its own on the test server, or a private
/// cluster in a temporary directory.
enum Store {
    Database { maintenance: Box<tokio_postgres::Config>, name: String, url: String },
    Cluster(tempfile::TempDir),
}

impl Store {
    async fn create() -> Self {
        let Ok(url) = std::env::var("SHIPIT_TEST_DATABASE_URL") else {
            return Self::Cluster(tempfile::tempdir().unwrap());
        };
        let maintenance = tokio_postgres::Config::from_str(&url).unwrap();
        let name = format!("shipit_security_{}_{}", std::process::id(), rand_suffix());
        execute(&maintenance, &format!("CREATE DATABASE {name}")).await;
        let mut config = url::Url::parse(&url).unwrap();
        config.set_path(&name);
        Self::Database { maintenance: Box::new(maintenance), name, url: config.to_string() }
    }

    fn apply(&self, command: &mut Command, dir: &Path) {
        command.current_dir(dir).env_remove("SHIPIT_CONFIG");
        match self {
            Self::Database { url, .. } => command.env("DATABASE_URL", url),
            Self::Cluster(pg) => command.env_remove("DATABASE_URL").arg("--pg-dir").arg(pg.path().join("pg")),
        };
    }

    async fn drop_database(&self) {
        if let Self::Database { maintenance, name, .. } = self {
            execute(maintenance, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000
}

async fn execute(config: &tokio_postgres::Config, statement: &str) {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(statement).await.unwrap();
}

/// `shipit-api ARGS` on the store, its standard output.
fn shipit_api(store: &Store, dir: &Path, args: &[&str]) -> String {
    let mut command = Command::new(binary("shipit-api"));
    command.args(args);
    store.apply(&mut command, dir);
    let output = command.output().unwrap();
    assert!(output.status.success(), "shipit-api {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn token(store: &Store, dir: &Path, name: &str, scope: &str, expires: Option<&str>) -> String {
    let mut args = vec!["token", "create", "--name", name, "--scope", scope];
    if let Some(expires) = expires {
        args.extend(["--expires", expires]);
    }
    shipit_api(store, dir, &args).trim().to_owned()
}

/// A local user made with `user create`, signed in: their person token.
async fn person_token(store: &Store, dir: &Path, client: &reqwest::Client, base: &str) -> String {
    let password = "security suite password";
    let mut command = Command::new(binary("shipit-api"));
    command.args(["user", "create", "--email", "security@example.com", "--group", "relman"]);
    store.apply(&mut command, dir);
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "user create: {}", String::from_utf8_lossy(&output.stderr));
    let uri = String::from_utf8(output.stdout).unwrap();
    let secret = uri.split("secret=").nth(1).and_then(|rest| rest.split('&').next()).unwrap().to_owned();
    // A code with at least 3 seconds of its step left, so that the server checks it in that step.
    let step = loop {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        if now % 30 < 27 {
            break shipit_api::persons::totp::step_of(now);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    let code = shipit_api::persons::totp::code_at(&secret, step).unwrap();
    let session: Value = client
        .post(format!("{base}/auth/sessions"))
        .json(&json!({"email": "security@example.com", "password": password, "totp": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"].as_str().unwrap_or_else(|| panic!("no person token: {session}")).to_owned()
}

/// The server, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(store: &Store, dir: &Path) -> Self {
        let mut command = Command::new(binary("shipit-api"));
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        store.apply(&mut command, dir);
        command
            .env("SHIPIT_RUNNER", "none")
            .env("SHIPIT_SCHEDULER_ENABLED", "false")
            .env("SHIPIT_HGMO_URL", "http://127.0.0.1:9")
            .env("SHIPIT_BODY_LIMIT_BYTES", BODY_LIMIT.to_string())
            .env("SHIPIT_COVERAGE_UPLOAD_LIMIT_BYTES", COVERAGE_LIMIT.to_string())
            .env("SHIPIT_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.trim().strip_prefix("API").map(|url| url.trim().trim_end_matches('/').to_owned()))
            .expect("serve printed no API URL");
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// An operation of the OpenAPI document.
struct Operation {
    method: Method,
    template: String,
    /// `(name, in, type)` of each parameter.
    parameters: Vec<(String, String, String)>,
    scopes: Vec<String>,
    /// Whether the route is for people (security `person`): no bot token passes.
    person: bool,
    has_body: bool,
}

fn operations(document: &Value) -> Vec<Operation> {
    let mut operations = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let parameters = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|parameter| {
                    let kind = parameter["schema"]["type"].as_str().unwrap_or("string").to_owned();
                    (parameter["name"].as_str().unwrap().to_owned(), parameter["in"].as_str().unwrap().to_owned(), kind)
                })
                .collect();
            let scopes = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|requirement| requirement["bearer"].as_array().cloned().unwrap_or_default())
                .map(|scope| scope.as_str().unwrap().to_owned())
                .collect();
            let person = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|requirement| requirement.get("person").is_some());
            operations.push(Operation {
                method: Method::from_str(&method.to_uppercase()).unwrap(),
                template: template.clone(),
                parameters,
                scopes,
                person,
                has_body: operation.get("requestBody").is_some(),
            });
        }
    }
    operations
}

/// A plausible value of a parameter, for the parameters that are not being probed.
fn base_value(name: &str, kind: &str) -> &'static str {
    match (name, kind) {
        ("repository", _) => "mozilla-central",
        ("source", _) => "code-coverage",
        ("channel", _) => "beta",
        (_, "integer") => "1",
        _ => "x",
    }
}

/// What every parameter is probed with (already percent-encoded).
const HOSTILE: &[&str] = &[
    "%00",
    "a%00b",
    "-1",
    "0",
    "99999999999999999999999999",
    "-9223372036854775809",
    "1e308",
    "%27%20OR%201%3D1--",
    "%27%3B%20DROP%20TABLE%20runs%3B--",
    "..%2F..%2Fetc%2Fpasswd",
    "../../x",
    "%C3%28",
    "%ff",
];

fn overlong() -> String {
    "a".repeat(5_000)
}

impl Operation {
    fn url(&self, base: &str, probed: Option<(&str, &str)>) -> String {
        let value = |name: &str, kind: &str| match probed {
            Some((probed, value)) if probed == name => value.to_owned(),
            _ => base_value(name, kind).to_owned(),
        };
        let mut path = self.template.clone();
        let mut query = Vec::new();
        for (name, location, kind) in &self.parameters {
            match location.as_str() {
                "path" => path = path.replace(&format!("{{{name}}}"), &value(name, kind)),
                "query" if name == "repository" || probed.is_some_and(|(probed, _)| probed == name) => {
                    query.push(format!("{name}={}", value(name, kind)))
                }
                _ => {}
            }
        }
        let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
        format!("{base}{path}{query}")
    }
}

struct Prober {
    failures: Vec<String>,
    requests: usize,
    /// What every error answer must be: problem+json for the API, an HTML page for the dashboard.
    error_type: &'static str,
}

impl Prober {
    /// Checks that the server still answers its heartbeat, stops it, drops its database, and
    /// fails listing every probe that failed.
    async fn finish(self, client: &reqwest::Client, server: Server, store: Store) {
        let heartbeat = client.get(format!("{}/__heartbeat__", server.base)).send().await.unwrap();
        assert_eq!(heartbeat.status(), 200, "the server no longer answers its heartbeat");
        drop(server);
        store.drop_database().await;
        assert!(
            self.failures.is_empty(),
            "{} of {} probes failed:\n{}",
            self.failures.len(),
            self.requests,
            self.failures.join("\n")
        );
    }

    /// Sends the request; records a failure when the answer is a 5xx other than an honest
    /// 502/503, or an error that is not of `error_type`, or a status outside `expected`.
    async fn check(&mut self, what: String, request: reqwest::RequestBuilder, expected: &[u16]) {
        self.requests += 1;
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return self.failures.push(format!("{what}: no answer: {error}")),
        };
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
        if status == StatusCode::INTERNAL_SERVER_ERROR
            || (status.is_server_error() && !matches!(status.as_u16(), 502 | 503))
        {
            self.failures.push(format!("{what}: {status}"));
        }
        if !expected.is_empty() && !expected.contains(&status.as_u16()) {
            self.failures.push(format!("{what}: {status}, expected one of {expected:?}"));
        }
        // The heartbeat's 503 is its own JSON document.
        let heartbeat = status.as_u16() == 503 && content_type.starts_with("application/json");
        if (status.is_client_error() || status.is_server_error())
            && !content_type.starts_with(self.error_type)
            && !heartbeat
        {
            self.failures.push(format!("{what}: {status} with `{content_type}`"));
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn every_route_of_the_openapi_document_holds_against_hostile_requests() {
    let store = Store::create().await;
    let dir = tempfile::tempdir().unwrap();
    let all = token(&store, dir.path(), "security-all", "project:shipit:*", None);
    let reader = token(&store, dir.path(), "security-reader", "project:shipit:read", None);
    let expired = token(&store, dir.path(), "security-expired", "project:shipit:*", Some("2001-01-01T00:00:00Z"));
    let revoked = token(&store, dir.path(), "security-revoked", "project:shipit:*", None);
    let listed = shipit_api(&store, dir.path(), &["token", "list"]);
    let revoked_id = listed
        .lines()
        .find(|line| line.contains("security-revoked"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_owned();
    shipit_api(&store, dir.path(), &["token", "revoke", &revoked_id]);

    let server = Server::start(&store, dir.path());
    // A fresh connection per probe: the server closes a connection whose body it refused
    // unread, and a pooled client would send the next probe into it.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let document: Value =
        client.get(format!("{}/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
    let operations = operations(&document);
    let person = person_token(&store, dir.path(), &client, &server.base).await;
    assert!(operations.len() >= 30, "the OpenAPI document lists {} operations", operations.len());
    let mut prober = Prober { failures: Vec::new(), requests: 0, error_type: "application/problem+json" };

    for operation in &operations {
        let name = format!("{} {}", operation.method, operation.template);
        let request = |url: String, token: Option<&str>| {
            let mut request = client.request(operation.method.clone(), url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if operation.has_body {
                request = request.header("content-type", "application/json").body("{}");
            }
            request
        };
        let url = operation.url(&server.base, None);
        // Authentication and scopes, on every route that declares a scope.
        if !operation.scopes.is_empty() {
            let checks: [(&str, Option<&str>, u16); 4] = [
                ("no token", None, 401),
                ("expired token", Some(&expired), 401),
                ("revoked token", Some(&revoked), 401),
                ("token lacking the scope", Some(&reader), 403),
            ];
            for (label, token, status) in checks {
                let built = request(url.clone(), token);
                prober.check(format!("{name} with {label}"), built, &[status]).await;
            }
        }
        // Routes for people: no credential is 401, a bot's token 403 whatever its scopes or state.
        if operation.person {
            let checks: [(&str, Option<&str>, u16); 5] = [
                ("no token", None, 401),
                ("a bot token with every scope", Some(&all), 403),
                ("an expired bot token", Some(&expired), 403),
                ("a revoked bot token", Some(&revoked), 403),
                ("an unknown person token", Some(UNKNOWN_PERSON_TOKEN), 401),
            ];
            for (label, token, status) in checks {
                let built = request(url.clone(), token);
                prober.check(format!("{name} with {label}"), built, &[status]).await;
            }
        }
        // Every path and query parameter, one at a time.
        let overlong = overlong();
        for (parameter, _, _) in &operation.parameters {
            for value in HOSTILE.iter().copied().chain([overlong.as_str()]) {
                let built = request(operation.url(&server.base, Some((parameter, value))), Some(&all));
                prober.check(format!("{name} with {parameter}={}", &value[..value.len().min(40)]), built, &[]).await;
            }
        }
        if !operation.has_body {
            continue;
        }
        // Bodies: hostile JSON, too large, gzip bombs, with the credential the route takes.
        let credential = if operation.person { person.as_str() } else { all.as_str() };
        let hostile_bodies = [
            nested(100_000),
            json!({"bot": "\u{0}", "trigger": "manual", "parameters": {"SHIPIT_RUN_ID": "1", "a": "\u{0}"}})
                .to_string(),
            json!({"repository": "' OR 1=1--", "revision": "../../etc", "push_id": -1, "covdir": {}}).to_string(),
            json!({"claims": [{"source": "a", "key": "b", "lease_secs": 1e300, "run": {}}]}).to_string(),
            format!("{{\"n\": {}}}", "9".repeat(10_000)),
            "[1, 2".to_owned(),
            "\u{0}".to_owned(),
        ];
        for body in hostile_bodies {
            let built = client
                .request(operation.method.clone(), url.clone())
                .bearer_auth(credential)
                .header("content-type", "application/json")
                .body(body.clone());
            let status = &[400, 404, 409, 413, 422, 502, 503][..];
            prober.check(format!("{name} with a hostile body ({} bytes)", body.len()), built, status).await;
        }
        let limit = if operation.template == "/coverage/reports" { COVERAGE_LIMIT } else { BODY_LIMIT };
        let large = format!("{{\"a\": \"{}\"}}", "x".repeat(limit + 1024));
        let built = client
            .request(operation.method.clone(), url.clone())
            .bearer_auth(credential)
            .header("content-type", "application/json")
            .body(large);
        // The coverage upload is parsed as it comes: the overlong string is refused first.
        let expected = if limit == COVERAGE_LIMIT { &[400, 413][..] } else { &[413][..] };
        prober.check(format!("{name} with a body over the limit"), built, expected).await;
        // Gzip bombs: a few kilobytes that inflate far past the limit.
        for bomb in
            [vec![0u8; 64 * limit], vec![b' '; 64 * limit], format!("[{}]", "1,".repeat(16 * limit)).into_bytes()]
        {
            let built = client
                .request(operation.method.clone(), url.clone())
                .bearer_auth(credential)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(gzip(&bomb));
            prober.check(format!("{name} with a gzip bomb"), built, &[400, 413]).await;
        }
    }

    prober.finish(&client, server, store).await;
}

/// The dashboard's routes and their methods, read from its router (`api/src/ui/mod.rs`), so that a
/// new page or form is probed without anyone adding it here.
fn dashboard_routes() -> Vec<(Method, String)> {
    let router = include_str!("../../../api/src/ui/mod.rs");
    let mut routes = Vec::new();
    for line in router.lines().map(str::trim).filter(|line| line.starts_with(".route(\"/ui")) {
        let (template, handlers) = line[".route(\"".len()..].split_once('"').unwrap();
        for (method, call) in [(Method::GET, "get("), (Method::POST, "post(")] {
            if handlers.contains(call) {
                routes.push((method, template.to_owned()));
            }
        }
    }
    routes
}

/// A dashboard session signed in with `token` through the sign-in form: the cookie and the
/// session's CSRF secret.
async fn dashboard_session(client: &reqwest::Client, base: &str, token: &str) -> (String, String) {
    let hidden = |page: &str| {
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).expect("a form with its secret") + marker.len();
        page[start..].split('"').next().unwrap().to_owned()
    };
    let cookie_of = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|value| {
                value.split(';').next().filter(|pair| pair.starts_with(name) && pair.len() > name.len() + 1)
            })
            .map(str::to_owned)
    };
    let page = client.get(format!("{base}/ui/sign-in")).send().await.unwrap();
    let sign_in_cookie = cookie_of(&page, "shipit_sign_in").expect("the sign-in form's cookie");
    let form = [("token", token), ("csrf", &hidden(&page.text().await.unwrap())), ("next", "/ui/")];
    let signed = client
        .post(format!("{base}/ui/sign-in"))
        .header("cookie", &sign_in_cookie)
        .header("origin", base)
        .form(&form)
        .send()
        .await
        .unwrap();
    let session = cookie_of(&signed, "shipit_session").unwrap_or_else(|| panic!("not signed in: {}", signed.status()));
    let home = client.get(format!("{base}/ui/")).header("cookie", &session).send().await.unwrap();
    (session.clone(), hidden(&home.text().await.unwrap()))
}

#[tokio::test]
async fn every_page_and_form_of_the_dashboard_holds_against_hostile_requests() {
    let store = Store::create().await;
    let dir = tempfile::tempdir().unwrap();
    let all = token(&store, dir.path(), "security-all", "project:shipit:*", None);
    let server = Server::start(&store, dir.path());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut routes = dashboard_routes();
    assert!(routes.len() >= 25, "the dashboard's router lists {} routes", routes.len());
    // Signing out ends the session the other forms are probed with: last.
    routes.sort_by_key(|(_, template)| template == "/ui/sign-out");
    let (session, csrf) = dashboard_session(&client, &server.base, &all).await;
    let mut prober = Prober { failures: Vec::new(), requests: 0, error_type: "text/html" };
    let fill = |template: &str, value: &str| {
        let mut path = template.to_owned();
        while let Some(start) = path.find('{') {
            let end = path[start..].find('}').unwrap() + start;
            path.replace_range(start..=end, value);
        }
        format!("{}{path}", server.base)
    };
    const QUERY: &[&str] =
        &["next", "repository", "path", "changeset", "suite", "platform", "status", "bot", "band", "since"];
    let overlong = overlong();
    let hostile = || HOSTILE.iter().copied().chain([overlong.as_str()]);

    for (method, template) in &routes {
        let name = format!("{method} {template}");
        if *method == Method::GET {
            // Every path parameter and the dashboard's query parameters, signed in or not.
            for value in hostile() {
                // (`../../x` in a path is resolved by the client to a path outside the dashboard.)
                let url = if value == "../../x" { fill(template, "1") } else { fill(template, value) };
                let short = &value[..value.len().min(40)];
                prober.check(format!("{name} with {short} in the path"), client.get(&url), &[]).await;
                for parameter in QUERY {
                    let url = format!("{}?{parameter}={value}", fill(template, "1"));
                    let request = client.get(&url).header("cookie", &session);
                    prober.check(format!("{name} with {parameter}={short}"), request, &[]).await;
                }
            }
            continue;
        }
        let url = fill(template, "1");
        let sign_in = template.starts_with("/ui/sign-in");
        let form =
            |body: String| client.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body);
        // Without a session every form is refused, before its body is read; the sign-in forms,
        // which need none, refuse a form without the secret of their own cookie.
        let large = format!("csrf={}", "x".repeat(BODY_LIMIT + 1024));
        let refused = if sign_in { &[403, 413][..] } else { &[401][..] };
        // (A sign-in form without its other fields is a 422.)
        let unsigned = if sign_in { &[403, 422][..] } else { &[401][..] };
        prober.check(format!("{name} without a session"), form(format!("csrf={csrf}")), unsigned).await;
        prober.check(format!("{name} without a session, over the limit"), form(large.clone()), refused).await;
        let bomb = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("content-encoding", "gzip")
            .body(gzip(&vec![b'a'; 64 * BODY_LIMIT]));
        prober.check(format!("{name} with a gzip bomb"), bomb, &[400, 401, 403, 413, 415]).await;
        if sign_in {
            continue;
        }
        // With a session: a forged secret, another site, a body over the limit, NUL characters.
        let signed = |body: String| form(body).header("cookie", &session);
        // (A form missing its other fields may be refused as such first, 422: nothing is done.)
        prober.check(format!("{name} with a forged secret"), signed("csrf=forged".into()), &[403, 422]).await;
        let foreign = signed(format!("csrf={csrf}")).header("origin", "https://evil.example");
        prober.check(format!("{name} from another site"), foreign, &[403]).await;
        let cross = signed(format!("csrf={csrf}")).header("sec-fetch-site", "cross-site");
        prober.check(format!("{name} sent cross-site"), cross, &[403]).await;
        prober.check(format!("{name} over the limit"), signed(large), &[413]).await;
        let nul = signed(format!("csrf={csrf}&karma=%00&comment_public=a%00b&group=%00&reason=%00"));
        prober.check(format!("{name} with NUL characters"), nul, &[]).await;
    }
    // Assets are served from the binary only.
    for path in ["..%2F..%2FCargo.toml", "..%2fstyle.css", "%2e%2e%2fmod.rs", "style.css%00.js"] {
        let answer = client.get(format!("{}/ui/assets/{path}", server.base)).send().await.unwrap();
        if answer.status() != StatusCode::NOT_FOUND {
            prober.failures.push(format!("/ui/assets/{path}: {}", answer.status()));
        }
    }

    prober.finish(&client, server, store).await;
}
