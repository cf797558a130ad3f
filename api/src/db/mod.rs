//! Everything the API does with PostgreSQL: the pool, migrations, and one function per query
//! (in the submodules). Nothing outside this module tree writes SQL.

pub mod coverage;
pub mod events;
pub mod oidc_logins;
pub mod persons;
pub mod pipelines;
pub mod risk;
pub mod runs;
pub mod sessions;
pub mod static_analysis;
pub mod steps;
pub mod tokens;
pub mod uplift;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had from the pool: the server is down, slow or refusing.
    #[error("database unavailable: {0}")]
    Unavailable(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("database error: {}", describe(.0))]
    Query(#[from] tokio_postgres::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    /// A row holds a value the code does not know.
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
}

/// What PostgreSQL said, when it said something (`db error` alone tells nothing).
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// A name stored in the database (a state, a kind) read back as its type.
fn parse<T: std::str::FromStr<Err = shipit_shared::api_types::UnknownName>>(name: &str) -> Result<T, DbError> {
    name.parse().map_err(|error: shipit_shared::api_types::UnknownName| DbError::Corrupt(error.to_string()))
}

impl DbError {
    /// Whether the failure is the database being unreachable rather than a bad statement.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Query(error) => error.is_closed() || error.as_db_error().is_none(),
            Self::Migration(_) | Self::Corrupt(_) => false,
        }
    }
}

/// A pool of connections described by `pg_config`. Every wait is bounded by `timeout`, so a
/// database that is down makes requests fail fast instead of hanging.
pub fn pool(mut pg_config: tokio_postgres::Config, max_size: usize, timeout: Duration) -> Pool {
    pg_config.connect_timeout(timeout);
    let manager = Manager::from_config(pg_config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .expect("a pool with a runtime set always builds")
}

/// Applies the pending migrations. An advisory lock makes concurrent callers (two API
/// processes starting together) wait for each other instead of racing.
pub async fn migrate(pool: &Pool) -> Result<(), DbError> {
    const MIGRATION_LOCK: i64 = 0x5348_4950_4954; // "SHIPIT"
    let mut client = pool.get().await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let report = embedded::migrations::runner().run_async(&mut **client).await;
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
    for migration in report?.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    Ok(())
}

/// A digest of the migrations, to name test templates so that a changed migration gets a fresh
/// template.
pub fn migrations_fingerprint() -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for migration in embedded::migrations::runner().get_migrations() {
        hasher.update(migration.to_string());
        hasher.update(migration.checksum().to_le_bytes());
    }
    hex::encode(&hasher.finalize()[..6])
}

/// Checks that the database answers.
pub async fn ping(pool: &Pool) -> Result<(), DbError> {
    pool.get().await?.query_one("SELECT 1", &[]).await?;
    Ok(())
}

/// Creates `database` on the server `maintenance` points to, unless it exists.
pub async fn create_database_if_missing(maintenance: &tokio_postgres::Config, database: &str) -> Result<(), DbError> {
    let (client, connection) = maintenance.connect(NoTls).await?;
    let connection = tokio::spawn(connection);
    let exists = client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database]).await?.is_some();
    if !exists {
        let created = client.batch_execute(&format!("CREATE DATABASE {}", quote_identifier(database))).await;
        // Another process may have created it since we looked: PostgreSQL then says the database
        // exists, or, when both create it at once, that its name breaks pg_database's unique index.
        use tokio_postgres::error::SqlState;
        match created {
            Err(error)
                if error.code() != Some(&SqlState::DUPLICATE_DATABASE)
                    && error.code() != Some(&SqlState::UNIQUE_VIOLATION) =>
            {
                return Err(error.into());
            }
            _ => {}
        }
    }
    drop(client);
    let _finished = connection.await;
    Ok(())
}

/// Quotes a name for use as an SQL identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
