//! The health and metrics server: Dockerflow's `/__heartbeat__` (503 while the broker is
//! lost), `/__lbheartbeat__`, `/__version__`, and Prometheus `/metrics`.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::error::ListenerError;
use crate::stats::Stats;

/// The router serving `stats`.
pub fn router(stats: Arc<Stats>) -> Router {
    Router::new()
        .route("/__heartbeat__", get(heartbeat))
        .route("/__lbheartbeat__", get(|| async { StatusCode::OK }))
        .route("/__version__", get(version))
        .route("/metrics", get(metrics))
        .with_state(stats)
}

/// Serves `stats` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ListenerError> {
    axum::serve(listener, router(stats)).with_graceful_shutdown(shutdown).await.map_err(ListenerError::Health)
}

async fn heartbeat(State(stats): State<Arc<Stats>>) -> impl IntoResponse {
    let connected = stats.connected();
    let status = if connected { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "status": if connected { "ok" } else { "error" },
        "checks": {"broker": if connected { "ok" } else { "disconnected" }},
        "reconnects": stats.reconnects(),
    });
    (status, axum::Json(body))
}

async fn version() -> impl IntoResponse {
    axum::Json(serde_json::json!({"name": "pulse-listener", "version": env!("CARGO_PKG_VERSION")}))
}

async fn metrics(State(stats): State<Arc<Stats>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], stats.render())
}
