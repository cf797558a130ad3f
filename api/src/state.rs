//! What every handler can reach: the pool, the configuration, the metrics, the upstream client,
//! the bots, the runner and the identity provider's key cache.

use std::ops::Deref;
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

/// What every handler can reach. It is cloned several times for every request, so it is one
/// reference to what it holds.
#[derive(Clone)]
pub struct AppState(Arc<Resources>);

impl Deref for AppState {
    type Target = Resources;

    fn deref(&self) -> &Resources {
        &self.0
    }
}

/// What the state holds.
#[derive(Clone)]
pub struct Resources {
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
        Self(Arc::new(Resources {
            pool,
            uploads: Arc::new(Semaphore::new(config.coverage_upload_concurrency)),
            pushes: Arc::new(pushes),
            sources: Arc::new(SourceFiles::new(SOURCE_CACHE_BYTES, config.pushlog_concurrency)),
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
        }))
    }

    /// Lets the pipeline engine `LISTEN` on the database `config` points to.
    pub fn with_listen_config(mut self, config: tokio_postgres::Config) -> Self {
        Arc::make_mut(&mut self.0).listen_config = Some(Arc::new(config));
        self
    }

    /// Knows `bots` instead of the ones from the hook definitions.
    pub fn with_bots(mut self, bots: Vec<BotDefinition>) -> Self {
        Arc::make_mut(&mut self.0).bots = Arc::new(bots);
        self
    }

    /// Starts runs with `runner`.
    pub fn with_runner(mut self, runner: Runner<DbRunStore>) -> Self {
        Arc::make_mut(&mut self.0).runner = Some(Arc::new(runner));
        self
    }
}
