//! What every handler can reach: the pool, the configuration, the metrics, the upstream client,
//! the bots and the runner.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use metrics_exporter_prometheus::PrometheusHandle;
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::runner::Runner;

use crate::bots::BotDefinition;
use crate::config::ApiConfig;
use crate::run_store::DbRunStore;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<ApiConfig>,
    pub metrics: PrometheusHandle,
    /// The client for upstream services the API itself asks (the pushlog).
    pub upstream: UpstreamClient,
    /// The bots that can be started, from their hook definitions.
    pub bots: Arc<Vec<BotDefinition>>,
    /// How runs are started; none in an API that only records and serves.
    pub runner: Option<Arc<Runner<DbRunStore>>>,
}

impl AppState {
    /// The state of an API using `pool`.
    pub fn new(pool: Pool, config: ApiConfig) -> Self {
        let upstream = UpstreamClient::new(Duration::from_secs(10), RetryPolicy::default())
            .expect("an HTTP client with default TLS settings always builds");
        Self {
            pool,
            config: Arc::new(config),
            metrics: crate::metrics::handle(),
            upstream,
            bots: crate::bots::definitions(),
            runner: None,
        }
    }

    /// Starts runs with `runner`.
    pub fn with_runner(mut self, runner: Runner<DbRunStore>) -> Self {
        self.runner = Some(Arc::new(runner));
        self
    }
}
