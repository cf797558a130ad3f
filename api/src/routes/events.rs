//! Events an event-driven bot (the pulse listener) acts on: it claims each event and opens its
//! run in one step before triggering the bot, and confirms the event once the bot started, so
//! that a restart or a redelivered message does not act twice. Claims and confirmations come in
//! batches, of the messages a listener handles at once.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::events::{
    ClaimOutcome, ClaimOutcomes, EventClaims, EventRecord, HandledCount, HandledEvents, MAX_CLAIM_BATCH,
    MAX_HANDLED_BATCH, MAX_LEASE_SECS, is_valid_key, is_valid_source,
};
use shipit_shared::runner::check_parameters;

use crate::auth::{Authorized, Reader, scopes};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path};
use crate::routes::runs::check_parameters_size;
use crate::state::AppState;

/// Claim events and open their runs, in one step (one transaction for the batch). A granted
/// claim is pending until confirmed with `POST /events/handled`; a pending claim lapses when its
/// lease runs out or its run failed (the bot could not be started), and the event may then be
/// claimed again, with a new run.
#[utoipa::path(
    post, path = "/events/claims", tag = "events", request_body = EventClaims,
    security(("bearer" = ["project:shipit:events/manage", "project:shipit:runs/manage"])),
    responses(
        (status = 200, description = "One outcome per claim, in order: granted with the run opened for it, \
            handled before with its run, or busy while another claim is pending", body = ClaimOutcomes),
        (status = "4XX", description = "Bad source, key or body; bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn claim_events(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::EventsAndRunsManage>,
    JsonBody(batch): JsonBody<EventClaims>,
) -> ApiResult<Json<ClaimOutcomes>> {
    if batch.claims.is_empty() || batch.claims.len() > MAX_CLAIM_BATCH {
        return Err(ApiError::invalid_field("claims", format!("1 to {MAX_CLAIM_BATCH} claims at once")));
    }
    let mut events = HashSet::new();
    for (index, claim) in batch.claims.iter().enumerate() {
        validate(&claim.source, &claim.key)?;
        if claim.lease_secs > MAX_LEASE_SECS {
            return Err(ApiError::invalid_field(
                format!("claims[{index}].lease_secs"),
                format!("a lease is at most {MAX_LEASE_SECS} seconds"),
            ));
        }
        check_parameters(&claim.run.parameters)
            .map_err(|error| ApiError::invalid_field(format!("claims[{index}].run.parameters"), error.to_string()))?;
        check_parameters_size(&format!("claims[{index}].run.parameters"), &claim.run.parameters)?;
        // Bot names follow the same rule as sources.
        if !is_valid_source(&claim.run.bot) {
            return Err(ApiError::invalid_field(
                "run.bot",
                "a bot name is 1 to 63 lowercase letters, digits and dashes, starting with a letter",
            ));
        }
        if !events.insert((claim.source.as_str(), claim.key.as_str())) {
            return Err(ApiError::invalid_field(
                "claims",
                format!("`{}/{}` is claimed twice", claim.source, claim.key),
            ));
        }
    }
    let outcomes = db::events::claim(&state.pool, &batch.claims).await?;
    for (claim, outcome) in batch.claims.iter().zip(&outcomes) {
        if let ClaimOutcome::Granted { run_id } = outcome {
            metrics::counter!("shipit_runs_opened_total", "bot" => claim.run.bot.clone()).increment(1);
            tracing::info!(event.source = %claim.source, event.key = %claim.key, run.id = run_id, caller = %caller.name, "event claimed");
        }
    }
    Ok(Json(ClaimOutcomes { outcomes }))
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
    _: Authorized<scopes::EventsManage>,
    JsonBody(handled): JsonBody<HandledEvents>,
) -> ApiResult<Json<HandledCount>> {
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
