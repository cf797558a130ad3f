//! The test harness (feature `testing`): the API on port 0 with its own database, copied from a
//! migrated template, and a proxy in front of the database that can cut it off.
//!
//! The server is `SHIPIT_TEST_DATABASE_URL` when set (CI points it at the machine's
//! PostgreSQL); otherwise a private cluster in `target/shipit-test-pg`, started on first use and
//! left running for the next tests (`shipit-api db stop --pg-dir target/shipit-test-pg` stops it).
//! Every test gets a fresh database, dropped when its `TestApp` is; tests run in parallel, in
//! threads or in processes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::{OnceCell, watch};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

use shipit_shared::runner::{LocalRunnerConfig, Runner};

use crate::app;
use crate::bots::BotDefinition;
use crate::config::ApiConfig;
use crate::db;
use crate::embedded_pg::EmbeddedPg;
use crate::run_store::DbRunStore;
use crate::state::AppState;

/// Where test databases are created, and the template they are copied from.
struct TestServer {
    maintenance: tokio_postgres::Config,
    template: String,
}

async fn test_server() -> &'static TestServer {
    static SERVER: OnceCell<TestServer> = OnceCell::const_new();
    SERVER.get_or_init(|| async { prepare_server().await.expect("cannot prepare the test database server") }).await
}

async fn prepare_server() -> anyhow::Result<TestServer> {
    let maintenance = match std::env::var("SHIPIT_TEST_DATABASE_URL") {
        Ok(url) => tokio_postgres::Config::from_str(&url)?,
        Err(_) => {
            let dir = test_cluster_dir();
            let embedded = tokio::task::spawn_blocking(move || -> anyhow::Result<EmbeddedPg> {
                let embedded = EmbeddedPg::new(&dir)?
                    .with_setting("fsync", "off")
                    .with_setting("synchronous_commit", "off")
                    .with_setting("full_page_writes", "off");
                embedded.ensure_running()?;
                Ok(embedded)
            })
            .await??;
            embedded.pg_config("postgres")
        }
    };
    let template = format!("shipit_template_{}", db::migrations_fingerprint());
    build_template(&maintenance, &template).await?;
    Ok(TestServer { maintenance, template })
}

/// How to reach the test server's maintenance database (`postgres`), to create databases.
pub async fn maintenance_config() -> tokio_postgres::Config {
    test_server().await.maintenance.clone()
}

fn test_cluster_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("shipit-test-pg")
}

/// Creates and migrates the template unless it exists. An advisory lock serialises test
/// processes; the template appears under its name only once complete.
async fn build_template(maintenance: &tokio_postgres::Config, template: &str) -> anyhow::Result<()> {
    const TEMPLATE_LOCK: i64 = 0x5445_4d50_4c54; // "TEMPLT"
    let (client, connection) = maintenance.connect(NoTls).await?;
    tokio::spawn(connection);
    client.execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK]).await?;
    let exists = client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template]).await?.is_some();
    if !exists {
        let building = format!("{template}_building");
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db::quote_identifier(&building)))
            .await?;
        client.batch_execute(&format!("CREATE DATABASE {}", db::quote_identifier(&building))).await?;
        let mut config = maintenance.clone();
        config.dbname(&building);
        let pool = db::pool(config, 1, Duration::from_secs(10));
        db::migrate(&pool).await?;
        pool.close();
        client
            .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", &[&building])
            .await?;
        client
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                db::quote_identifier(&building),
                db::quote_identifier(template)
            ))
            .await?;
    }
    client.execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK]).await?;
    Ok(())
}

/// A database of one test, dropped with it.
pub struct TestDatabase {
    name: String,
    config: tokio_postgres::Config,
    maintenance: tokio_postgres::Config,
}

impl TestDatabase {
    /// A fresh, migrated database.
    pub async fn create() -> Self {
        Self::create_from(&test_server().await.template).await
    }

    /// A fresh database with no tables at all, to test migrations.
    pub async fn create_empty() -> Self {
        Self::create_from("template0").await
    }

    async fn create_from(template: &str) -> Self {
        let server = test_server().await;
        let name = format!("shipit_test_{}", uuid::Uuid::new_v4().simple());
        let (client, connection) = server.maintenance.connect(NoTls).await.expect("cannot connect to the test server");
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {}",
                db::quote_identifier(&name),
                db::quote_identifier(template)
            ))
            .await
            .expect("cannot create a test database");
        let mut config = server.maintenance.clone();
        config.dbname(&name);
        Self { name, config, maintenance: server.maintenance.clone() }
    }

    /// Connection settings of this database.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// This database as a `DATABASE_URL` (key=value form), for the `shipit-api` binary.
    pub fn url(&self) -> String {
        let config = &self.config;
        let mut parts = Vec::new();
        match config.get_hosts().first() {
            Some(Host::Tcp(host)) => parts.push(format!("host={host}")),
            Some(Host::Unix(dir)) => parts.push(format!("host={}", dir.display())),
            None => {}
        }
        if let Some(port) = config.get_ports().first() {
            parts.push(format!("port={port}"));
        }
        if let Some(user) = config.get_user() {
            parts.push(format!("user={user}"));
        }
        if let Some(password) = config.get_password() {
            parts.push(format!("password={}", String::from_utf8_lossy(password)));
        }
        parts.push(format!("dbname={}", self.name));
        parts.join(" ")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let maintenance = self.maintenance.clone();
        // Drop cannot await, and the test's runtime may be shutting down: use a runtime of
        // its own on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let (client, connection) = maintenance.connect(NoTls).await.ok()?;
                tokio::spawn(connection);
                let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db::quote_identifier(&name));
                client.batch_execute(&statement).await.ok()
            })
        });
        let _best_effort = dropped.join();
    }
}

/// What a proxy does with connections to the database.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ProxyMode {
    /// Pass them through.
    Forward,
    /// Cut open connections and refuse new ones: the database is down.
    Refuse,
    /// Cut open connections and accept new ones without ever answering: the database hangs.
    Stall,
}

/// A TCP proxy between the API and its database, to take the database away and bring it back.
pub struct DbProxy {
    address: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    task: JoinHandle<()>,
}

impl DbProxy {
    /// A proxy to the server `target` points to.
    pub async fn start(target: &tokio_postgres::Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("cannot bind the proxy");
        let address = listener.local_addr().expect("the proxy has an address");
        let upstream = Upstream::of(target);
        let (mode, watcher) = watch::channel(ProxyMode::Forward);
        let task = tokio::spawn(async move {
            while let Ok((incoming, _)) = listener.accept().await {
                tokio::spawn(proxy_connection(incoming, upstream.clone(), watcher.clone()));
            }
        });
        Self { address, mode, task }
    }

    /// Changes what the proxy does; open connections are cut unless the mode is `Forward`.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }

    /// `target`'s settings, redirected through the proxy.
    pub fn redirect(&self, target: &tokio_postgres::Config) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config.host("127.0.0.1").port(self.address.port());
        if let Some(user) = target.get_user() {
            config.user(user);
        }
        if let Some(password) = target.get_password() {
            config.password(password);
        }
        if let Some(dbname) = target.get_dbname() {
            config.dbname(dbname);
        }
        config
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Debug)]
enum Upstream {
    Tcp(String, u16),
    Unix(PathBuf),
}

impl Upstream {
    fn of(config: &tokio_postgres::Config) -> Self {
        let port = config.get_ports().first().copied().unwrap_or(5432);
        match config.get_hosts().first() {
            Some(Host::Unix(dir)) => Self::Unix(dir.join(format!(".s.PGSQL.{port}"))),
            Some(Host::Tcp(host)) => Self::Tcp(host.clone(), port),
            None => Self::Tcp("localhost".to_owned(), port),
        }
    }
}

async fn proxy_connection(mut incoming: TcpStream, upstream: Upstream, mut mode: watch::Receiver<ProxyMode>) {
    let current = *mode.borrow_and_update();
    match current {
        ProxyMode::Refuse => {}
        ProxyMode::Stall => {
            let _changed = mode.changed().await;
        }
        ProxyMode::Forward => {
            let forwarded = async {
                match upstream {
                    Upstream::Tcp(host, port) => {
                        let mut outgoing = TcpStream::connect((host.as_str(), port)).await?;
                        tokio::io::copy_bidirectional(&mut incoming, &mut outgoing).await
                    }
                    Upstream::Unix(path) => {
                        let mut outgoing = UnixStream::connect(path).await?;
                        tokio::io::copy_bidirectional(&mut incoming, &mut outgoing).await
                    }
                }
            };
            tokio::select! {
                _ = forwarded => {}
                _ = mode.wait_for(|mode| *mode != ProxyMode::Forward) => {}
            }
        }
    }
}

/// A running API for one test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The state the API runs with (its pool reaches the test database directly or through
    /// the proxy).
    pub state: AppState,
    /// A plain HTTP client.
    pub client: reqwest::Client,
    proxy: Option<DbProxy>,
    server: JoinHandle<()>,
    _schedules: Option<tokio_cron_scheduler::JobScheduler>,
    database: std::sync::Arc<TestDatabase>,
}

/// How to start a [`TestApp`].
#[derive(Default)]
pub struct TestAppBuilder {
    config: ApiConfig,
    through_proxy: bool,
    bots: Option<Vec<BotDefinition>>,
    bot_bin_dir: Option<PathBuf>,
    scheduler: bool,
    database: Option<std::sync::Arc<TestDatabase>>,
    pool_size: Option<usize>,
}

impl TestAppBuilder {
    /// Changes the API's configuration.
    pub fn configure(mut self, change: impl FnOnce(&mut ApiConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Puts a [`DbProxy`] between the API and its database.
    pub fn through_proxy(mut self) -> Self {
        self.through_proxy = true;
        self
    }

    /// Replaces the bots known from `hooks/` (tests use fast schedules and fake bots).
    pub fn bots(mut self, bots: Vec<BotDefinition>) -> Self {
        self.bots = Some(bots);
        self
    }

    /// Starts runs with the local runner, finding bot binaries in `dir`.
    pub fn local_runner(mut self, dir: &std::path::Path) -> Self {
        self.bot_bin_dir = Some(dir.to_owned());
        self
    }

    /// Database connections of the API (4 by default).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = Some(size);
        self
    }

    /// Serves a second API on the database of `app`, as another replica of one deployment.
    pub fn sharing_database_of(mut self, app: &TestApp) -> Self {
        self.database = Some(app.database.clone());
        self
    }

    /// Runs the bots' schedules (needs a runner).
    pub fn with_scheduler(mut self) -> Self {
        self.scheduler = true;
        self
    }

    /// Creates the database and starts the API on a free port.
    pub async fn spawn(self) -> TestApp {
        let database = match self.database {
            Some(database) => database,
            None => std::sync::Arc::new(TestDatabase::create().await),
        };
        let proxy = if self.through_proxy { Some(DbProxy::start(database.config()).await) } else { None };
        let pg_config =
            proxy.as_ref().map_or_else(|| database.config().clone(), |proxy| proxy.redirect(database.config()));
        let pool = db::pool(pg_config.clone(), self.pool_size.unwrap_or(4), self.config.db_timeout());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("cannot bind the API");
        let base_url = format!("http://{}", listener.local_addr().expect("the API has an address"));
        let mut config = self.config;
        config.public_url.get_or_insert_with(|| base_url.clone());
        let mut state = AppState::new(pool.clone(), config).with_listen_config(pg_config.clone());
        if let Some(bots) = self.bots {
            state = state.with_bots(bots);
        }
        if let Some(bin_dir) = self.bot_bin_dir {
            let token = crate::admin::rotate_token(&pool, "local-runner", &["project:shipit:*".to_owned()])
                .await
                .expect("cannot create the runner's token");
            let environment = std::collections::BTreeMap::from([
                ("SHIPIT_API__URL".to_owned(), base_url.clone()),
                ("SHIPIT_API__TOKEN".to_owned(), token),
            ]);
            let commands = state.bots.iter().map(|bot| (bot.name.clone(), bot.command.clone())).collect();
            let config = LocalRunnerConfig { log_dir: bin_dir.join("logs"), bin_dir, environment, commands };
            state = state.with_runner(Runner::local(config, DbRunStore(pool)));
        }
        let schedules = if self.scheduler {
            Some(crate::scheduler::start_schedules(state.clone()).await.expect("cannot start the schedules"))
        } else {
            None
        };
        let server = tokio::spawn({
            let state = state.clone();
            async move {
                app::serve(listener, state, std::future::pending()).await.expect("the API stopped");
            }
        });
        TestApp { base_url, state, client: reqwest::Client::new(), proxy, server, _schedules: schedules, database }
    }
}

impl TestApp {
    /// The API with the default configuration, straight on its database.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// A builder to change the configuration or add the proxy.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `GET path` decoded from JSON, whatever the status.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.client.get(self.url(path)).send().await.expect("the API answers");
        response.json().await.expect("the API answers JSON")
    }

    /// `method path` with `token` as bearer and `body` as JSON when given: the status and the
    /// body as JSON (`Value::Null` when the body is empty or not JSON).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("the API sends its body");
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    /// `GET path`, with `token` when given: the status and the JSON body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    /// `POST path` with a JSON body: the status and the JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::POST, path, token, Some(body)).await
    }

    /// `PUT path` with a JSON body: the status and the JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::PUT, path, token, Some(body)).await
    }

    /// `PATCH path` with a JSON body: the status and the JSON body.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::PATCH, path, token, Some(body)).await
    }

    /// `DELETE path`: the status and the JSON body.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::DELETE, path, token, None).await
    }

    /// A new token with these scopes.
    pub async fn token(&self, scopes: &[&str]) -> String {
        let name = format!("test-{}", uuid::Uuid::new_v4().simple());
        let scopes: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
        crate::admin::create_token(&self.state.pool, &name, &scopes, None).await.expect("cannot create a token")
    }

    /// The proxy in front of the database; panics unless built `through_proxy`.
    pub fn proxy(&self) -> &DbProxy {
        self.proxy.as_ref().expect("this TestApp was built without a proxy")
    }

    /// Connection settings of the test database, bypassing any proxy.
    pub fn database_config(&self) -> &tokio_postgres::Config {
        self.database.config()
    }

    /// The test database.
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.state.pool.close();
    }
}

/// How the [`MockStepService`] treats a step, chosen by the step's uid (the part after the
/// pipeline's: `B` for `firefox.B` and `firefox.B~2`).
#[derive(Clone, Copy, Debug)]
pub enum MockScript {
    /// Succeeds at the n-th status poll (fails when `false`).
    FinishAfterPolls(u32, bool),
    /// Succeeds this long after its creation.
    SucceedAfter(Duration),
    /// Stays in progress until cancelled.
    Never,
    /// Refuses creation with this status.
    Refuse(u16),
    /// Succeeds at a random time from its creation up to this long after it.
    SucceedWithin(Duration),
    /// Creation takes this long to answer (the step exists from the start); it succeeds at its
    /// first poll.
    SlowCreate(Duration),
}

/// One step as the mock service holds it.
#[derive(Clone, Debug)]
pub struct MockStep {
    pub parameters: serde_json::Value,
    /// `PUT`s received for it.
    pub puts: u32,
    pub polls: u32,
    pub cancelled: bool,
    pub created_at: std::time::Instant,
    /// For [`MockScript::SucceedWithin`], the delay drawn at its creation.
    pub finish_after: Option<Duration>,
    /// When a status poll first found it finished.
    pub finished_at: Option<std::time::Instant>,
}

#[derive(Default)]
struct MockSteps {
    steps: std::collections::HashMap<String, MockStep>,
    order: Vec<String>,
    scripts: std::collections::HashMap<String, MockScript>,
    failures_left: u32,
}

/// An external step service implementing the Step API in memory: creation idempotent by uid
/// (409 for another body), status by script, cancel; it can answer 503 for a while.
pub struct MockStepService {
    /// Its base URL, for `api_url`.
    pub url: String,
    steps: std::sync::Arc<std::sync::Mutex<MockSteps>>,
    task: JoinHandle<()>,
}

impl MockStepService {
    /// Serves the mock on a free port; steps without a script succeed at their first poll.
    pub async fn start() -> Self {
        use axum::extract::{Path, State};
        use axum::http::StatusCode;
        use axum::routing::get;

        type Shared = std::sync::Arc<std::sync::Mutex<MockSteps>>;
        type Answer = (StatusCode, axum::Json<serde_json::Value>);

        fn script(steps: &MockSteps, uid: &str) -> MockScript {
            let step = uid.rsplit('.').next().unwrap_or(uid);
            let step = step.split('~').next().unwrap_or(step);
            steps.scripts.get(step).copied().unwrap_or(MockScript::FinishAfterPolls(1, true))
        }
        fn failing(steps: &mut MockSteps) -> Option<Answer> {
            if steps.failures_left == 0 {
                return None;
            }
            steps.failures_left -= 1;
            Some((StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"error": "busy"}))))
        }
        async fn create(
            State(shared): State<Shared>,
            Path(uid): Path<String>,
            axum::Json(body): axum::Json<serde_json::Value>,
        ) -> Answer {
            let (answer, delay) = create_now(&shared, uid, body);
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            answer
        }
        fn create_now(shared: &Shared, uid: String, body: serde_json::Value) -> (Answer, Option<Duration>) {
            let mut steps = shared.lock().expect("the mock's lock");
            let delay = match script(&steps, &uid) {
                MockScript::SlowCreate(delay) => Some(delay),
                _ => None,
            };
            (create_locked(&mut steps, uid, body), delay)
        }
        fn create_locked(steps: &mut MockSteps, uid: String, body: serde_json::Value) -> Answer {
            if let Some(answer) = failing(steps) {
                return answer;
            }
            if let MockScript::Refuse(status) = script(steps, &uid) {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                return (status, axum::Json(serde_json::json!({"error": "refused by script"})));
            }
            if let Some(step) = steps.steps.get_mut(&uid) {
                step.puts += 1;
                if step.parameters != body {
                    return (StatusCode::CONFLICT, axum::Json(serde_json::json!({"error": "another definition"})));
                }
                return (StatusCode::OK, axum::Json(serde_json::json!({"uid": uid})));
            }
            let finish_after = match script(steps, &uid) {
                MockScript::SucceedWithin(limit) => {
                    Some(limit.mul_f64(rand::Rng::random_range(&mut rand::rng(), 0.0..=1.0)))
                }
                _ => None,
            };
            let step = MockStep {
                parameters: body,
                puts: 1,
                polls: 0,
                cancelled: false,
                created_at: std::time::Instant::now(),
                finish_after,
                finished_at: None,
            };
            steps.steps.insert(uid.clone(), step);
            steps.order.push(uid.clone());
            (StatusCode::CREATED, axum::Json(serde_json::json!({"uid": uid})))
        }
        async fn status(State(shared): State<Shared>, Path(uid): Path<String>) -> Answer {
            let mut steps = shared.lock().expect("the mock's lock");
            if let Some(answer) = failing(&mut steps) {
                return answer;
            }
            let script = script(&steps, &uid);
            let Some(step) = steps.steps.get_mut(&uid) else {
                return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "no such step"})));
            };
            step.polls += 1;
            let state = if step.cancelled {
                "cancelled"
            } else {
                match script {
                    MockScript::FinishAfterPolls(polls, success) if step.polls >= polls => {
                        if success {
                            "success"
                        } else {
                            "failure"
                        }
                    }
                    MockScript::SucceedAfter(delay) if step.created_at.elapsed() >= delay => "success",
                    MockScript::SlowCreate(_) => "success",
                    MockScript::SucceedWithin(_)
                        if step.finish_after.is_some_and(|delay| step.created_at.elapsed() >= delay) =>
                    {
                        "success"
                    }
                    _ => "in_progress",
                }
            };
            if state != "in_progress" {
                step.finished_at.get_or_insert_with(std::time::Instant::now);
            }
            (StatusCode::OK, axum::Json(serde_json::json!({"state": state, "message": format!("poll {}", step.polls)})))
        }
        async fn cancel(State(shared): State<Shared>, Path(uid): Path<String>) -> Answer {
            let mut steps = shared.lock().expect("the mock's lock");
            if let Some(answer) = failing(&mut steps) {
                return answer;
            }
            match steps.steps.get_mut(&uid) {
                Some(step) => {
                    step.cancelled = true;
                    (StatusCode::OK, axum::Json(serde_json::json!({"uid": uid})))
                }
                None => (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "no such step"}))),
            }
        }

        let steps: Shared = Default::default();
        let router = axum::Router::new()
            .route("/{uid}", axum::routing::put(create).delete(cancel))
            .route("/{uid}/status", get(status))
            .with_state(steps.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("cannot bind the mock step service");
        let url = format!("http://{}/steps", listener.local_addr().expect("the mock has an address"));
        let router = axum::Router::new().nest("/steps", router);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the mock step service stopped");
        });
        Self { url, steps, task }
    }

    /// Treats the steps named `step` (in any pipeline, any attempt) by `script`.
    pub fn script(&self, step: &str, script: MockScript) {
        self.steps.lock().expect("the mock's lock").scripts.insert(step.to_owned(), script);
    }

    /// Answers the next `count` requests, whatever they are, with 503.
    pub fn fail_next(&self, count: u32) {
        self.steps.lock().expect("the mock's lock").failures_left = count;
    }

    /// The step created under `uid`, if any.
    pub fn step(&self, uid: &str) -> Option<MockStep> {
        self.steps.lock().expect("the mock's lock").steps.get(uid).cloned()
    }

    /// The uids created, in the order of their creation.
    pub fn created(&self) -> Vec<String> {
        self.steps.lock().expect("the mock's lock").order.clone()
    }

    /// Every step, by uid.
    pub fn steps(&self) -> std::collections::HashMap<String, MockStep> {
        self.steps.lock().expect("the mock's lock").steps.clone()
    }
}

impl Drop for MockStepService {
    fn drop(&mut self) {
        self.task.abort();
    }
}
