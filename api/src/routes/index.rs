//! The index page: where to go from `/`.

use axum::Json;

/// Links to the main routes.
pub async fn index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
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
