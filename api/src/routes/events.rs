//! Handled events: an event-driven bot (the pulse listener) records each event it acted on, and
//! asks before acting, so that a restart or a redelivered message does not act twice.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::events::{EventRecord, NewEvent, is_valid_key, is_valid_source};

use crate::app::AppState;
use crate::auth::{Caller, Reader, scopes};
use crate::db::{self, events::Recorded};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

/// Record a handled event. The first record wins: recording it again answers 200 with the
/// first record, unchanged.
#[utoipa::path(
    put, path = "/events/{source}/{key}", tag = "events", request_body = NewEvent,
    params(
        ("source" = String, Path, description = "Who handled it: `code-coverage`, `risk`"),
        ("key" = String, Path, description = "The event's key: a task group id, `<repository>:<push id>`"),
    ),
    security(("bearer" = ["project:shipit:events/manage"])),
    responses(
        (status = 201, description = "Recorded now", body = EventRecord),
        (status = 200, description = "Recorded before; the first record", body = EventRecord),
        (status = "4XX", description = "Bad source, key or body; bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((source, key)): Path<(String, String)>,
    JsonBody(event): JsonBody<NewEvent>,
) -> ApiResult<(StatusCode, Json<EventRecord>)> {
    caller.require(scopes::EVENTS_MANAGE)?;
    validate(&source, &key)?;
    match db::events::record(&state.pool, &source, &key, &event).await? {
        Recorded::Created(record) => {
            metrics::counter!("shipit_events_recorded_total", "source" => source.clone()).increment(1);
            tracing::info!(event.source = %source, event.key = %key, caller = %caller.name, "event recorded");
            Ok((StatusCode::CREATED, Json(record)))
        }
        Recorded::Existing(record) => Ok((StatusCode::OK, Json(record))),
        Recorded::NoSuchRun => Err(ApiError::invalid_field("run_id", "no run has this id")),
    }
}

/// A handled event, or 404 when it was never recorded.
#[utoipa::path(
    get, path = "/events/{source}/{key}", tag = "events",
    params(
        ("source" = String, Path, description = "Who handled it"),
        ("key" = String, Path, description = "The event's key"),
    ),
    responses(
        (status = 200, description = "The event's record", body = EventRecord),
        (status = 404, description = "Never recorded", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Bad source or key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_event(
    State(state): State<AppState>,
    _reader: Reader,
    Path((source, key)): Path<(String, String)>,
) -> ApiResult<Json<EventRecord>> {
    validate(&source, &key)?;
    let record = db::events::get(&state.pool, &source, &key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event `{key}` is recorded for `{source}`")))?;
    Ok(Json(record))
}

fn validate(source: &str, key: &str) -> Result<(), ApiError> {
    if !is_valid_source(source) {
        return Err(ApiError::invalid_field(
            "source",
            "a source is 1 to 63 lowercase letters, digits and dashes, starting with a letter",
        ));
    }
    if !is_valid_key(key) {
        return Err(ApiError::invalid_field("key", "a key is 1 to 200 letters, digits, `.`, `_`, `:` and `-`"));
    }
    Ok(())
}
