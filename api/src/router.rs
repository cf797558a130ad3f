//! The router: every route with its OpenAPI annotation, `/openapi.json`, and the layers every
//! request goes through.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::ApiConfig;
use crate::error::{ApiError, ensure_problem_json};
use crate::metrics::UNMATCHED;
use crate::routes::{coverage, health, pipelines, runs, steps};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "ShipIt API", description = "Results of the ShipIt release-engineering bots, and their runs."),
    modifiers(&BearerScheme),
    components(schemas(shipit_shared::api_types::Problem)),
    tags(
        (name = "risk", description = "The risk bot: assessments of pushed changes, riskiest first, and the model versions with their evaluation"),
        (name = "uplift", description = "Uplift requests: release channels, the bot's analysis of each bug, grafts onto the channels' branches, contributors"),
        (name = "pipelines", description = "Release pipelines: a DAG of steps created on step services, followed to their end, audited"),
        (name = "steps", description = "The built-in step services (signoff, taskcluster, bot): the Step API, and signing"),
        (name = "auth", description = "People's credentials: a local user's sign-in (password and TOTP) for a person token, and who a person token or an OIDC ID token names"),
    ),
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
        components.add_security_scheme(
            "person",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A person: a local user's person token (`POST /auth/sessions`) or an OIDC ID token; API tokens, which belong to bots, get 403",
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
        .routes(routes!(coverage::source))
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
        .routes(routes!(crate::routes::risk::post_assessments, crate::routes::risk::list_assessments))
        .routes(routes!(crate::routes::risk::get_revision))
        .routes(routes!(crate::routes::risk::list_models))
        .routes(routes!(crate::routes::uplift::put_channel))
        .routes(routes!(crate::routes::uplift::list_channels))
        .routes(routes!(crate::routes::uplift::channel_bugs))
        .routes(routes!(crate::routes::uplift::list_bugs, crate::routes::uplift::upsert_bug))
        .routes(routes!(crate::routes::uplift::get_bug, crate::routes::uplift::delete_bug))
        .routes(routes!(crate::routes::uplift::list_grafts, crate::routes::uplift::post_graft))
        .routes(routes!(crate::routes::uplift::get_contributor, crate::routes::uplift::put_contributor))
        .routes(routes!(pipelines::list_pipelines, pipelines::create_pipeline))
        .routes(routes!(pipelines::get_pipeline, pipelines::put_pipeline, pipelines::delete_pipeline))
        .routes(routes!(pipelines::get_definition))
        .routes(routes!(pipelines::get_status))
        .routes(routes!(pipelines::retry_step))
        .routes(routes!(pipelines::get_audit))
        .routes(routes!(steps::list_steps))
        .routes(routes!(steps::get_step, steps::put_step, steps::delete_step))
        .routes(routes!(steps::get_step_definition))
        .routes(routes!(steps::get_step_status))
        .routes(routes!(steps::sign, steps::withdraw))
        .routes(routes!(crate::routes::auth::create_session))
        .routes(routes!(crate::routes::auth::whoami))
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

/// The complete service: routes, `/openapi.json`, and the layers every request goes through.
///
/// Only what needs the matched route (the metrics) and what the metrics must count (the timeout's
/// 503) is layered onto each route; the rest wraps the router once, which saves a boxed service
/// and a boxed future for each layer of each request.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = api_routes(&state.config);
    let openapi = Arc::new(openapi);
    let config = state.config.clone();
    let routes = routes
        .route("/openapi.json", get(move || std::future::ready(axum::Json(openapi.as_ref().clone()))))
        .route("/", get(crate::routes::index::index))
        .merge(crate::ui::routes(state.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout()))
        .layer(axum::middleware::from_fn(crate::metrics::track_requests));
    let layers = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        // Pages and JSON answers are compressed (gzip or brotli) for a client that accepts it.
        .layer(CompressionLayer::new().gzip(true).br(true))
        .layer(axum::middleware::map_response(nosniff))
        .layer(axum::middleware::map_response(ensure_problem_json))
        .layer(axum::middleware::from_fn(refuse_long_uris))
        // Other encodings reach the extractors, which refuse them with 415 once the scope is
        // checked.
        .layer(RequestDecompressionLayer::new().pass_through_unaccepted(true))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes));
    Router::new().fallback_service(layers.service(routes))
}

/// The longest URI the API reads. Longer ones get a problem+json 414 here; hyper itself answers
/// URIs over 64 KiB with a bare 414 before any of this code runs.
pub const MAX_URI_BYTES: usize = 8 * 1024;

async fn refuse_long_uris(request: Request, next: Next) -> Response {
    let length = request.uri().path_and_query().map_or(0, |path| path.as_str().len());
    if length > MAX_URI_BYTES {
        // Refused before routing, so counted here.
        crate::metrics::record(request.method(), UNMATCHED.to_owned(), StatusCode::URI_TOO_LONG, Instant::now());
        return ApiError::new(StatusCode::URI_TOO_LONG, format!("the URI is longer than {MAX_URI_BYTES} bytes"))
            .into_response();
    }
    next.run(request).await
}

/// Browsers must not guess another type than the one the API declares.
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
