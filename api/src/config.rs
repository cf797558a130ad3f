//! The API's configuration: defaults here, overridden by `shipit.toml`, then by `SHIPIT_*`
//! variables, then by flags (see `shipit_shared::config` for the precedence).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// Settings of the API process and its database.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// Address to listen on (`SHIPIT_LISTEN`).
    pub listen: SocketAddr,
    /// PostgreSQL URL (`DATABASE_URL`); without it, the embedded cluster in `pg_dir` is used.
    pub database_url: Option<SecretString>,
    /// Data directory of the embedded cluster (`SHIPIT_PG_DIR`).
    pub pg_dir: PathBuf,
    /// Whether reads need no token (`SHIPIT_PUBLIC_READS`).
    pub public_reads: bool,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Requests taking longer get 503.
    pub request_timeout_secs: u64,
    /// An open run with no report for this long is marked failed.
    pub run_timeout_secs: u64,
    /// How often open runs are checked for that timeout.
    pub sweep_interval_secs: f64,
    /// Database connections at most.
    pub pool_size: usize,
    /// Longest wait for a database connection.
    pub db_timeout_secs: u64,
    /// Largest coverage report accepted, in bytes once decompressed.
    pub coverage_upload_limit_bytes: usize,
    /// hg.mozilla.org, whose pushlog places a changeset without a coverage report.
    pub hgmo_url: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: None,
            pg_dir: PathBuf::from(".shipit/pg"),
            public_reads: true,
            body_limit_bytes: 16 * 1024 * 1024,
            request_timeout_secs: 30,
            run_timeout_secs: 2 * 3600,
            sweep_interval_secs: 60.0,
            pool_size: 16,
            db_timeout_secs: 5,
            coverage_upload_limit_bytes: 1024 * 1024 * 1024,
            hgmo_url: "https://hg.mozilla.org".to_owned(),
        }
    }
}

impl ApiConfig {
    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The wait for a database connection as a duration.
    pub fn db_timeout(&self) -> Duration {
        Duration::from_secs(self.db_timeout_secs)
    }
}
