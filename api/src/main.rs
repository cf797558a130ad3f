//! `shipit-api`: serves the API, migrates its database, manages API tokens and local users, and
//! verifies the pipelines' audit log.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use deadpool_postgres::Pool;
use secrecy::SecretString;
use shipit_api::app;
use shipit_api::config::{ApiConfig, RunnerKind};
use shipit_api::database::Database;
use shipit_api::pipelines::audit;
use shipit_api::run_store::DbRunStore;
use shipit_api::scheduler;
use shipit_api::state::AppState;
use shipit_api::{admin, bots, db};
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::runner::{LocalRunnerConfig, Runner, TaskclusterRunnerConfig};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every request costs many small allocations (routing, headers, JSON); mimalloc makes them cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version, about = "The ShipIt API: bot results and runs on PostgreSQL")]
struct Cli {
    /// A TOML configuration file (default: shipit.toml in the working directory, if any).
    #[arg(long, env = "SHIPIT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// PostgreSQL URL; without it, a private cluster in --pg-dir is used (and started).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// Data directory of the private cluster used without DATABASE_URL.
    #[arg(long, global = true)]
    pg_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database, then serve the API until interrupted.
    Serve {
        /// Address to listen on (also SHIPIT_LISTEN; default 127.0.0.1:8000).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage local users, the people who sign in with a password and a TOTP code.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the private PostgreSQL cluster used without DATABASE_URL.
    #[command(subcommand)]
    Db(DbCommand),
    /// The pipelines' audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every hash chain of the audit log; fails naming each broken entry.
    Verify {
        /// Heads printed earlier by `audit heads`: fails when a chain no longer holds one (entries
        /// removed from its end, which the chain alone cannot show).
        #[arg(long)]
        heads: Option<PathBuf>,
    },
    /// Print each chain's head (`<entries> <hash> <pipeline uid>`), to keep outside the database.
    Heads,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it (only the token, only this once).
    Create {
        /// Who or what holds the token (e.g. coverage-bot).
        #[arg(long)]
        name: String,
        /// A scope such as project:shipit:runs/manage; a trailing * matches any suffix.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Expiry: a duration from now (90d, 12h) or a date (2027-01-31T00:00:00Z).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (never their secret).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user with the password read from stdin (one line), and print the otpauth:// URI
    /// of their new TOTP secret for an authenticator app (only it, only this once).
    Create {
        #[arg(long)]
        email: String,
        /// A group of the user (letters, digits, `_`, `-`, `.`).
        #[arg(long = "group", required = true)]
        groups: Vec<String>,
    },
    /// List users (never their secrets).
    List,
    /// Remove a user, ending their sessions.
    Remove {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Stop the private cluster if it is running.
    Stop,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shipit_shared::telemetry::init();
    let cli = Cli::parse();
    let mut config: ApiConfig =
        shipit_shared::config::load(cli.config.as_deref()).context("cannot load the configuration")?;
    if let Some(url) = cli.database_url {
        config.database_url = Some(SecretString::from(url));
    }
    if let Some(dir) = cli.pg_dir {
        config.pg_dir = dir;
    }
    match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            serve(config).await
        }
        Command::Migrate => with_database(&config, async |_| Ok(())).await,
        Command::Token(command) => with_database(&config, async |pool| token(command, pool).await).await,
        Command::User(command) => {
            // The password is read before the database is opened: a prompt is not left waiting.
            let password = match &command {
                UserCommand::Create { .. } => Some(admin::read_password(std::io::stdin().lock())?),
                UserCommand::List | UserCommand::Remove { .. } => None,
            };
            with_database(&config, async |pool| user(command, password, pool).await).await
        }
        Command::Audit(AuditCommand::Verify { heads }) => {
            with_database(&config, async |pool| verify_audit(pool, heads.as_deref()).await).await
        }
        Command::Audit(AuditCommand::Heads) => with_database(&config, async |pool| audit_heads(pool).await).await,
        Command::Db(DbCommand::Stop) => {
            let embedded = shipit_api::embedded_pg::EmbeddedPg::new(&config.pg_dir)?;
            Ok(tokio::task::spawn_blocking(move || embedded.stop()).await??)
        }
    }
}

async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    let database = Database::open(&config).await?;
    let result = async {
        db::migrate(&database.pool).await.context("cannot migrate the database")?;
        let listener =
            tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let base = format!("http://{}", listener.local_addr()?);
        tracing::info!(listen = %base, database = %database.describe(), "ShipIt API ready");
        let schedules = if config.scheduler_enabled && config.runner != RunnerKind::None { "on" } else { "off" };
        let urls = format!(
            "ShipIt API ready ({}; runner: {:?}; local schedules: {schedules}):\n  API          {base}/\n  runs         {base}/runs\n  OpenAPI      {base}/openapi.json\n  heartbeat    {base}/__heartbeat__\n  metrics      {base}/metrics",
            database.describe(),
            config.runner
        );
        // The URLs are for whoever started the server; a closed stdout must not stop it.
        if let Err(error) = writeln!(std::io::stdout(), "{urls}") {
            tracing::warn!(%error, "cannot print the URLs");
        }
        let mut config = config.clone();
        config.public_url.get_or_insert_with(|| base.clone());
        let mut state =
            AppState::new(database.pool.clone(), config.clone()).with_listen_config(database.pg_config.clone());
        if let Some(runner) = configured_runner(&config, &database.pool, &base).await? {
            state = state.with_runner(runner);
        }
        // The scheduler runs as long as it is held.
        let _schedules = match &state.runner {
            Some(_) if config.scheduler_enabled => Some(scheduler::start_schedules(state.clone()).await?),
            _ => None,
        };
        app::serve(listener, state, shutdown_signal()).await?;
        anyhow::Ok(())
    }
    .await;
    database.close(true).await?;
    result
}

/// The runner of the configuration. The local runner hands the bots it starts the API's URL
/// and a token of their own, kept across restarts (`runner_token_file`).
async fn configured_runner(
    config: &ApiConfig,
    pool: &Pool,
    base_url: &str,
) -> anyhow::Result<Option<Runner<DbRunStore>>> {
    let store = DbRunStore(pool.clone());
    match config.runner {
        RunnerKind::None => Ok(None),
        RunnerKind::Local => {
            let bin_dir = match &config.bot_bin_dir {
                Some(dir) => dir.clone(),
                None => std::env::current_exe()?.parent().context("the API binary has a directory")?.to_owned(),
            };
            let token = admin::local_runner_token(pool, &config.runner_token_path()).await?;
            let environment = BTreeMap::from([
                ("SHIPIT_API__URL".to_owned(), base_url.to_owned()),
                ("SHIPIT_API__TOKEN".to_owned(), token),
            ]);
            let commands = bots::definitions().iter().map(|bot| (bot.name.clone(), bot.command.clone())).collect();
            let local = LocalRunnerConfig { bin_dir, log_dir: config.bot_log_dir.clone(), environment, commands };
            Ok(Some(Runner::local(local, store)))
        }
        RunnerKind::Taskcluster => {
            let settings =
                config.taskcluster.clone().context("runner = \"taskcluster\" needs a [taskcluster] section")?;
            let taskcluster = TaskclusterRunnerConfig {
                root_url: settings.root_url,
                client_id: settings.client_id,
                access_token: settings.access_token,
                hook_group: settings.hook_group,
                hook_prefix: settings.hook_prefix,
            };
            let http = UpstreamClient::new(Duration::from_secs(30), RetryPolicy::default())?;
            Ok(Some(Runner::taskcluster(taskcluster, http, store)))
        }
    }
}

/// Opens the database, migrates it, runs `work`, and stops the private cluster if this command
/// started it.
async fn with_database(config: &ApiConfig, work: impl AsyncFnOnce(&Pool) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let database = Database::open(config).await?;
    let result = match db::migrate(&database.pool).await.context("cannot migrate the database") {
        Ok(()) => work(&database.pool).await,
        Err(error) => Err(error),
    };
    database.close(false).await?;
    result
}

async fn token(command: TokenCommand, pool: &Pool) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        TokenCommand::Create { name, scopes, expires } => {
            let expires_at = expires.map(|text| admin::parse_expiry(&text, chrono::Utc::now())).transpose()?;
            let token = admin::create_token(pool, &name, &scopes, expires_at).await?;
            writeln!(stdout, "{token}")?;
        }
        TokenCommand::List => {
            let now = chrono::Utc::now();
            writeln!(
                stdout,
                "{:>4}  {:<24} {:<8} {:<20} {:<20} SCOPES",
                "ID", "NAME", "STATE", "EXPIRES", "LAST USED"
            )?;
            for record in admin::list_tokens(pool).await? {
                let date = |date: Option<chrono::DateTime<chrono::Utc>>| {
                    date.map_or("-".to_owned(), |date| date.format("%Y-%m-%d %H:%M").to_string())
                };
                writeln!(
                    stdout,
                    "{:>4}  {:<24} {:<8} {:<20} {:<20} {}",
                    record.id,
                    record.name,
                    admin::token_state(&record, now),
                    date(record.expires_at),
                    date(record.last_used_at),
                    record.scopes.join(" ")
                )?;
            }
        }
        TokenCommand::Revoke { id } => admin::revoke_token(pool, id).await?,
    }
    Ok(())
}

async fn user(command: UserCommand, password: Option<String>, pool: &Pool) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        UserCommand::Create { email, groups } => {
            let password = password.context("the password is read from stdin")?;
            writeln!(stdout, "{}", admin::create_user(pool, &email, &groups, &password).await?)?;
        }
        UserCommand::List => {
            writeln!(stdout, "{:<40} {:<17} GROUPS", "EMAIL", "CREATED")?;
            for user in admin::list_users(pool).await? {
                let created = user.created_at.format("%Y-%m-%d %H:%M");
                writeln!(stdout, "{:<40} {created:<17} {}", user.email, user.groups.join(" "))?;
            }
        }
        UserCommand::Remove { email } => admin::remove_user(pool, &email).await?,
    }
    Ok(())
}

async fn verify_audit(pool: &Pool, heads: Option<&std::path::Path>) -> anyhow::Result<()> {
    let recorded = match heads {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            audit::parse_heads(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?
        }
        None => Default::default(),
    };
    let verification = audit::verify(pool, &recorded).await.context("cannot read the audit log")?;
    let mut stdout = std::io::stdout().lock();
    for broken in &verification.broken {
        writeln!(stdout, "broken: pipeline {} entry {}: {}", broken.pipeline_uid, broken.id, broken.reason)?;
    }
    for (uid, why) in &verification.lost_heads {
        writeln!(stdout, "broken: pipeline {uid}: {why}")?;
    }
    if !verification.broken.is_empty() || !verification.lost_heads.is_empty() {
        anyhow::bail!(
            "{} of {} audit entries are broken, {} recorded heads are lost",
            verification.broken.len(),
            verification.entries,
            verification.lost_heads.len()
        );
    }
    writeln!(stdout, "audit log intact: {} entries, {} recorded heads hold", verification.entries, recorded.len())?;
    Ok(())
}

async fn audit_heads(pool: &Pool) -> anyhow::Result<()> {
    let verification = audit::verify(pool, &Default::default()).await.context("cannot read the audit log")?;
    std::io::stdout().lock().write_all(audit::format_heads(&verification.heads).as_bytes())?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
