//! What every handler can reach: the pool, the configuration, the metrics, the upstream client,
//! the bots, the runner and the identity provider's key cache.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use metrics_exporter_prometheus::PrometheusHandle;
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::runner::Runner;
use tokio::sync::Semaphore;

use crate::bots::BotDefinition;
use crate::config::ApiConfig;
use crate::coverage_cache::CoverageCache;
use crate::persons::oidc::OidcVerifier;
use crate::pushes::PushLookups;
use crate::run_store::DbRunStore;
use crate::sources::SourceFiles;

/// Bytes of files' sources kept in memory.
const SOURCE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

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
    /// Coverage uploads processed at once.
    pub uploads: Arc<Semaphore>,
    /// Cached pushlog lookups, a bounded number at once.
    pub pushes: Arc<PushLookups>,
    /// Coverage report lookups and nodes kept in memory.
    pub coverage_cache: Arc<CoverageCache>,
    /// Files' sources read from hg.mozilla.org for the file view, kept in memory.
    pub sources: Arc<SourceFiles>,
    /// How to reach the database outside the pool, for the pipeline engine's `LISTEN`.
    /// In an Arc, as everything here: the state is cloned for every request.
    pub listen_config: Option<Arc<tokio_postgres::Config>>,
    /// The checker of the identity provider's ID tokens, when `[oidc]` is configured.
    pub oidc: Option<Arc<OidcVerifier>>,
}

impl AppState {
    /// The state of an API using `pool`.
    pub fn new(pool: Pool, config: ApiConfig) -> Self {
        // Readers wait for the pushlog: a short timeout, one retry.
        let retry = RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(1),
        };
        let upstream = UpstreamClient::new(Duration::from_secs(5), retry)
            .expect("an HTTP client with default TLS settings always builds");
        let pushes = PushLookups::new(
            config.pushlog_cache_entries,
            config.pushlog_concurrency,
            Duration::from_secs(config.pushlog_not_found_ttl_secs),
        );
        let oidc = config.oidc.clone().map(|settings| Arc::new(OidcVerifier::new(settings)));
        Self {
            pool,
            uploads: Arc::new(Semaphore::new(config.coverage_upload_concurrency)),
            pushes: Arc::new(pushes),
            sources: Arc::new(SourceFiles::new(SOURCE_CACHE_BYTES, config.pushlog_concurrency)),
            // In an Arc: the state is cloned for every request, and a cache's clone is not cheap.
            coverage_cache: Arc::new(CoverageCache::new(
                config.coverage_cache_bytes,
                Duration::try_from_secs_f64(config.coverage_lookup_ttl_secs).unwrap_or_default(),
            )),
            config: Arc::new(config),
            metrics: crate::metrics::handle(),
            upstream,
            bots: crate::bots::definitions(),
            runner: None,
            listen_config: None,
            oidc,
        }
    }

    /// Lets the pipeline engine `LISTEN` on the database `config` points to.
    pub fn with_listen_config(mut self, config: tokio_postgres::Config) -> Self {
        self.listen_config = Some(Arc::new(config));
        self
    }

    /// Starts runs with `runner`.
    pub fn with_runner(mut self, runner: Runner<DbRunStore>) -> Self {
        self.runner = Some(Arc::new(runner));
        self
    }
}
