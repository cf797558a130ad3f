//! Which database the API uses: `DATABASE_URL` when given, otherwise the embedded cluster of the
//! working directory, started on demand.

use std::str::FromStr;

use anyhow::Context;
use deadpool_postgres::Pool;
use secrecy::ExposeSecret;

use crate::config::ApiConfig;
use crate::db;
use crate::embedded_pg::{self, EmbeddedPg};

/// An open database: the pool, and the embedded cluster when one is in use.
pub struct Database {
    pub pool: Pool,
    /// The connection settings of the pool, for connections outside it (`LISTEN`).
    pub pg_config: tokio_postgres::Config,
    embedded: Option<EmbeddedPg>,
    started_here: bool,
}

impl Database {
    /// Connects to the configured database, starting (and first creating) the embedded
    /// cluster when no URL is configured. Migrations are not applied here.
    pub async fn open(config: &ApiConfig) -> anyhow::Result<Self> {
        if let Some(url) = &config.database_url {
            let pg_config = tokio_postgres::Config::from_str(url.expose_secret())
                .context("DATABASE_URL is not a valid PostgreSQL URL")?;
            let pool = db::pool(pg_config.clone(), config.pool_size, config.db_timeout());
            return Ok(Self { pool, pg_config, embedded: None, started_here: false });
        }
        let embedded = EmbeddedPg::new(&config.pg_dir).context("cannot use the embedded PostgreSQL")?;
        let started_here = tokio::task::spawn_blocking({
            let embedded = embedded.clone();
            move || embedded.ensure_running()
        })
        .await?
        .with_context(|| format!("cannot start the embedded PostgreSQL in {}", config.pg_dir.display()))?;
        db::create_database_if_missing(&embedded.pg_config("postgres"), embedded_pg::DATABASE)
            .await
            .context("cannot create the shipit database in the embedded PostgreSQL")?;
        let pg_config = embedded.pg_config(embedded_pg::DATABASE);
        let pool = db::pool(pg_config.clone(), config.pool_size, config.db_timeout());
        Ok(Self { pool, pg_config, embedded: Some(embedded), started_here })
    }

    /// A description for people: the URL without password, or the embedded data directory.
    pub fn describe(&self) -> String {
        match &self.embedded {
            Some(embedded) => format!("embedded PostgreSQL in {}", embedded.data_dir().display()),
            None => "PostgreSQL from DATABASE_URL".to_owned(),
        }
    }

    /// Stops the embedded cluster if this process started it (one-shot commands), or always
    /// when `owner` (the server, which owns the cluster for its lifetime).
    pub async fn close(self, owner: bool) -> anyhow::Result<()> {
        self.pool.close();
        if let Some(embedded) = self.embedded.filter(|_| owner || self.started_here) {
            tokio::task::spawn_blocking(move || embedded.stop())
                .await?
                .context("cannot stop the embedded PostgreSQL")?;
        }
        Ok(())
    }
}
