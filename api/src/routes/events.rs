//! Events an event-driven bot (the pulse listener) acts on: it claims each event and opens its
//! run in one step before triggering the bot, and confirms the event once the bot started, so
//! that a restart or a redelivered message does not act twice.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::events::{
    ClaimedEvent, EventClaim, EventRecord, HandledCount, HandledEvents, MAX_HANDLED_BATCH, is_valid_key,
    is_valid_source,
};

use crate::app::AppState;
use crate::auth::{Caller, Reader, scopes};
use crate::db::{self, events::Claimed};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

/// Claim an event and open its run, in one step. The claim is pending until confirmed with
/// `POST /events/handled`; a pending claim lapses when its lease runs out or its run failed (the
/// bot could not be started), and the event may then be claimed again, with a new run.
#[utoipa::path(
    post, path = "/events/{source}/{key}/claim", tag = "events", request_body = EventClaim,
    params(
        ("source" = String, Path, description = "Who acts on it: `code-coverage`, `risk`"),
        ("key" = String, Path, description = "The event's key: a task group id, `<repository>:<push id>`"),
    ),
    security(("bearer" = ["project:shipit:events/manage", "project:shipit:runs/manage"])),
    responses(
        (status = 201, description = "Claimed; the run opened for it", body = ClaimedEvent),
        (status = 200, description = "Handled before; its run", body = ClaimedEvent),
        (status = 409, description = "Another claim is pending", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad source, key or body; bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn claim_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((source, key)): Path<(String, String)>,
    JsonBody(claim): JsonBody<EventClaim>,
) -> ApiResult<(StatusCode, Json<ClaimedEvent>)> {
    caller.require(scopes::EVENTS_MANAGE)?;
    caller.require(scopes::RUNS_MANAGE)?;
    validate(&source, &key)?;
    // Bot names follow the same rule as sources.
    if !is_valid_source(&claim.run.bot) {
        return Err(ApiError::invalid_field(
            "run.bot",
            "a bot name is 1 to 63 lowercase letters, digits and dashes, starting with a letter",
        ));
    }
    match db::events::claim(&state.pool, &source, &key, &claim).await? {
        Claimed::Granted(run_id) => {
            metrics::counter!("shipit_runs_opened_total", "bot" => claim.run.bot.clone()).increment(1);
            tracing::info!(event.source = %source, event.key = %key, run.id = run_id, caller = %caller.name, "event claimed");
            Ok((StatusCode::CREATED, Json(ClaimedEvent { run_id: Some(run_id) })))
        }
        Claimed::Handled(run_id) => Ok((StatusCode::OK, Json(ClaimedEvent { run_id }))),
        Claimed::Busy(Some(run_id)) => Err(ApiError::run_conflict(run_id, "another claim of this event is pending")),
        Claimed::Busy(None) => {
            Err(ApiError::new(StatusCode::CONFLICT, "another claim of this event is pending".to_owned()))
        }
    }
}

/// Confirm claimed events whose bots started: each stops being pending and its details are
/// merged. A claim taken over by another run since is left alone.
#[utoipa::path(
    post, path = "/events/handled", tag = "events", request_body = HandledEvents,
    security(("bearer" = ["project:shipit:events/manage"])),
    responses(
        (status = 200, description = "How many pending claims were confirmed", body = HandledCount),
        (status = "4XX", description = "Bad body; bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn events_handled(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(handled): JsonBody<HandledEvents>,
) -> ApiResult<Json<HandledCount>> {
    caller.require(scopes::EVENTS_MANAGE)?;
    if handled.events.len() > MAX_HANDLED_BATCH {
        return Err(ApiError::invalid_field("events", format!("at most {MAX_HANDLED_BATCH} events at once")));
    }
    for event in &handled.events {
        validate(&event.source, &event.key)?;
    }
    let confirmed = db::events::confirm(&state.pool, &handled.events).await?;
    Ok(Json(HandledCount { confirmed }))
}

/// An event, or 404 when it was never claimed.
#[utoipa::path(
    get, path = "/events/{source}/{key}", tag = "events",
    params(
        ("source" = String, Path, description = "Who acts on it"),
        ("key" = String, Path, description = "The event's key"),
    ),
    responses(
        (status = 200, description = "The event's record", body = EventRecord),
        (status = 404, description = "Never claimed", body = Problem, content_type = "application/problem+json"),
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
