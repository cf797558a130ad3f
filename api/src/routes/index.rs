//! The index page: where to go from `/`. A browser is sent to the dashboard.

use axum::Json;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

/// Links to the main routes; a browser (`Accept: text/html`) goes to `/ui/`.
pub async fn index(headers: HeaderMap) -> Response {
    if crate::ui::wants_html(&headers) {
        return Redirect::to("/ui/").into_response();
    }
    Json(serde_json::json!({
        "name": "ShipIt API",
        "version": env!("CARGO_PKG_VERSION"),
        "links": {
            "dashboard": "/ui/",
            "runs": "/runs",
            "openapi": "/openapi.json",
            "heartbeat": "/__heartbeat__",
            "version": "/__version__",
            "metrics": "/metrics",
        },
    }))
    .into_response()
}
