//! Dockerflow endpoints, metrics, and the index page.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::state::AppState;

/// The answer of `/__heartbeat__`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Heartbeat {
    /// `ok` or `error`.
    pub status: &'static str,
    /// Each dependency and its state.
    pub checks: HeartbeatChecks,
}

/// The dependencies checked by `/__heartbeat__`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatChecks {
    /// `ok`, or what is wrong with the database.
    pub database: String,
}

/// The answer of `/__version__`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    pub source: &'static str,
    pub version: &'static str,
    pub commit: &'static str,
    pub build: &'static str,
}

/// Whether the API and its database work: 200, or 503 naming what fails.
#[utoipa::path(get, path = "/__heartbeat__", tag = "health", responses(
    (status = 200, description = "Everything works", body = Heartbeat),
    (status = 503, description = "A dependency fails", body = Heartbeat),
))]
pub async fn heartbeat(State(state): State<AppState>) -> (StatusCode, Json<Heartbeat>) {
    let check = tokio::time::timeout(Duration::from_secs(3), db::ping(&state.pool)).await;
    let database = match check {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("no answer within 3 s".to_owned()),
    };
    match database {
        Ok(()) => (StatusCode::OK, Json(Heartbeat { status: "ok", checks: HeartbeatChecks { database: "ok".into() } })),
        Err(error) => {
            tracing::warn!(%error, "heartbeat: database check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Heartbeat { status: "error", checks: HeartbeatChecks { database: error } }),
            )
        }
    }
}

/// Whether the process answers (for load balancers; checks nothing else).
#[utoipa::path(get, path = "/__lbheartbeat__", tag = "health", responses((status = 200, description = "The process answers")))]
pub async fn lbheartbeat() -> StatusCode {
    StatusCode::OK
}

/// What is deployed.
#[utoipa::path(get, path = "/__version__", tag = "health", responses((status = 200, description = "Build information", body = Version)))]
pub async fn version() -> Json<Version> {
    Json(Version {
        source: "https://github.com/mozilla/shipit-bots",
        version: env!("CARGO_PKG_VERSION"),
        commit: option_env!("SHIPIT_COMMIT").unwrap_or("unknown"),
        build: option_env!("SHIPIT_BUILD").unwrap_or("local"),
    })
}

/// Prometheus metrics of this process.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
