//! The application: its state, its router with every layer, the background sweeper, and the
//! server loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use deadpool_postgres::Pool;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::ApiConfig;
use crate::error::{ApiError, ensure_problem_json};
use crate::routes::{coverage, health, runs};
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::runner::Runner;

use crate::bots::BotDefinition;
use crate::scheduler::DbRunStore;

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

#[derive(OpenApi)]
#[openapi(
    info(title = "ShipIt API", description = "Results of the ShipIt release-engineering bots, and their runs."),
    modifiers(&BearerScheme),
    components(schemas(shipit_shared::api_types::Problem)),
    tags((name = "uplift", description = "Uplift requests: release channels, the bot's analysis of each bug, grafts onto the channels' branches, contributors")),
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A ShipIt API token (`shipit-api token create`); writes need the scope named by each route",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document and the router it describes.
fn api_routes(config: &ApiConfig) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    // Coverage reports are far larger than anything else: they get their own body limit.
    let uploads = OpenApiRouter::new()
        .routes(routes!(coverage::upload_report))
        .layer(DefaultBodyLimit::max(config.coverage_upload_limit_bytes));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(uploads)
        .routes(routes!(coverage::latest))
        .routes(routes!(coverage::path))
        .routes(routes!(coverage::history))
        .routes(routes!(coverage::filters))
        .routes(routes!(coverage::zero))
        .routes(routes!(runs::list_runs, runs::create_run))
        .routes(routes!(runs::get_run, runs::report_progress))
        .routes(routes!(runs::finish_run))
        .routes(routes!(runs::trigger_run))
        .routes(routes!(crate::routes::static_analysis::post_issues, crate::routes::static_analysis::get_issues))
        .routes(routes!(crate::routes::static_analysis::get_revision))
        .routes(routes!(crate::routes::static_analysis::get_checks))
        .routes(routes!(crate::routes::static_analysis::get_known_issues))
        .routes(routes!(crate::routes::events::claim_events))
        .routes(routes!(crate::routes::events::events_handled))
        .routes(routes!(crate::routes::events::get_event))
        .routes(routes!(crate::routes::uplift::put_channel))
        .routes(routes!(crate::routes::uplift::list_channels))
        .routes(routes!(crate::routes::uplift::channel_bugs))
        .routes(routes!(crate::routes::uplift::list_bugs, crate::routes::uplift::upsert_bug))
        .routes(routes!(crate::routes::uplift::get_bug, crate::routes::uplift::delete_bug))
        .routes(routes!(crate::routes::uplift::list_grafts, crate::routes::uplift::post_graft))
        .routes(routes!(crate::routes::uplift::get_contributor, crate::routes::uplift::put_contributor))
        .routes(routes!(health::heartbeat))
        .routes(routes!(health::lbheartbeat))
        .routes(routes!(health::version))
        .routes(routes!(health::metrics))
        .split_for_parts()
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes(&ApiConfig::default()).1
}

/// The complete router: routes, `/openapi.json`, and the layers every request goes through.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = api_routes(&state.config);
    let openapi = Arc::new(openapi);
    let config = state.config.clone();
    routes
        .route("/openapi.json", get(move || std::future::ready(axum::Json(openapi.as_ref().clone()))))
        .route("/", get(index))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(RequestDecompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout()))
        .layer(axum::middleware::map_response(ensure_problem_json))
        .layer(axum::middleware::from_fn(crate::metrics::track_requests))
        .layer(TraceLayer::new_for_http())
}

async fn index() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "name": "ShipIt API",
        "version": env!("CARGO_PKG_VERSION"),
        "links": {
            "runs": "/runs",
            "openapi": "/openapi.json",
            "heartbeat": "/__heartbeat__",
            "version": "/__version__",
            "metrics": "/metrics",
        },
    }))
}

/// Serves `state` on `listener` until `shutdown` completes, while the sweeper marks silent
/// runs failed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(sweep_silent_runs(state.clone()));
    let served = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await;
    sweeper.abort();
    served
}

async fn sweep_silent_runs(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs_f64(state.config.sweep_interval_secs.max(0.01)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = runs::fail_silent_runs(&state).await {
            tracing::warn!(%error, "cannot check open runs for their timeout");
        }
    }
}
