//! Bot runs: opened by a bot, updated with progress, closed with an outcome, listed for people.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use shipit_shared::api_types::{
    NewRun, Problem, Run, RunFinish, RunPage, RunProgress, RunQuery, RunStatus, RunTrigger, TriggerRun,
};
use shipit_shared::runner::TriggerRequest;

use crate::app::AppState;
use crate::auth::{Caller, Reader, scopes};
use crate::db::{self, runs::Overlap, runs::RunUpdate};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::scheduler::{self, StartError};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// Open a run.
#[utoipa::path(
    post, path = "/runs", tag = "runs", request_body = NewRun,
    security(("bearer" = ["project:shipit:runs/manage"])),
    responses(
        (status = 201, description = "The run, open", body = Run),
        (status = "4XX", description = "Bad request, token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_run(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(run): JsonBody<NewRun>,
) -> ApiResult<(StatusCode, Json<Run>)> {
    caller.require(scopes::RUNS_MANAGE)?;
    if !is_valid_bot_name(&run.bot) {
        return Err(ApiError::invalid_field(
            "bot",
            "a bot name is 1 to 63 lowercase letters, digits and dashes, starting with a letter",
        ));
    }
    let run = db::runs::insert(&state.pool, &run).await?;
    metrics::counter!("shipit_runs_opened_total", "bot" => run.bot.clone()).increment(1);
    tracing::info!(run.id = run.id, bot.name = %run.bot, trigger = run.trigger.as_str(), caller = %caller.name, "run opened");
    Ok((StatusCode::CREATED, Json(run)))
}

/// List runs, newest first.
#[utoipa::path(
    get, path = "/runs", tag = "runs", params(RunQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_runs(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<RunQuery>,
) -> ApiResult<Json<RunPage>> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field("limit", format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let mut runs = db::runs::list(&state.pool, &query, limit + 1).await?;
    let next_before = if runs.len() as i64 > limit {
        runs.truncate(limit as usize);
        runs.last().map(|run| run.id)
    } else {
        None
    };
    Ok(Json(RunPage { runs, next_before }))
}

/// One run.
#[utoipa::path(
    get, path = "/runs/{id}", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_run(State(state): State<AppState>, _reader: Reader, Path(id): Path<i64>) -> ApiResult<Json<Run>> {
    let run = db::runs::get(&state.pool, id).await?.ok_or_else(|| no_such_run(id))?;
    Ok(Json(run))
}

/// Report progress of an open run; this also resets its timeout.
#[utoipa::path(
    patch, path = "/runs/{id}", tag = "runs", request_body = RunProgress,
    params(("id" = i64, Path, description = "Run id")),
    security(("bearer" = ["project:shipit:runs/manage"])),
    responses(
        (status = 200, description = "The run, updated", body = Run),
        (status = 409, description = "The run is closed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request, token or scope, or no such run", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn report_progress(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(progress): JsonBody<RunProgress>,
) -> ApiResult<Json<Run>> {
    caller.require(scopes::RUNS_MANAGE)?;
    updated(id, db::runs::report_progress(&state.pool, id, &progress).await?)
}

/// Close an open run with its outcome.
#[utoipa::path(
    post, path = "/runs/{id}/finish", tag = "runs", request_body = RunFinish,
    params(("id" = i64, Path, description = "Run id")),
    security(("bearer" = ["project:shipit:runs/manage"])),
    responses(
        (status = 200, description = "The run, closed", body = Run),
        (status = 409, description = "The run is closed already", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request, token or scope, or no such run", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn finish_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(finish): JsonBody<RunFinish>,
) -> ApiResult<Json<Run>> {
    caller.require(scopes::RUNS_MANAGE)?;
    let run = updated(id, db::runs::finish(&state.pool, id, &finish).await?)?;
    metrics::counter!("shipit_runs_finished_total", "bot" => run.bot.clone(), "status" => run.status.as_str())
        .increment(1);
    tracing::info!(run.id = id, bot.name = %run.bot, status = run.status.as_str(), "run closed");
    Ok(run)
}

fn updated(id: i64, update: RunUpdate) -> ApiResult<Json<Run>> {
    match update {
        RunUpdate::Updated(run) => Ok(Json(run)),
        RunUpdate::NotFound => Err(no_such_run(id)),
        RunUpdate::Closed(status) => Err(ApiError::run_conflict(id, closed_detail(id, status))),
    }
}

fn closed_detail(id: i64, status: RunStatus) -> String {
    format!("run {id} is closed already ({})", status.as_str())
}

fn no_such_run(id: i64) -> ApiError {
    ApiError::not_found(format!("no run has the id {id}"))
}

/// Start a bot now (a rerun); answered once the run is started, while it runs.
#[utoipa::path(
    post, path = "/runs/trigger", tag = "runs", request_body = TriggerRun,
    security(("bearer" = ["project:shipit:runs/trigger"])),
    responses(
        (status = 202, description = "The run, started", body = Run),
        (status = 409, description = "The bot is already running with these parameters", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Unknown bot, bad parameters, token or scope", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "No runner, or the runner failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn trigger_run(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TriggerRun>,
) -> ApiResult<(StatusCode, Json<Run>)> {
    caller.require(scopes::RUNS_TRIGGER)?;
    let Some(bot) = state.bots.iter().find(|bot| bot.name == body.bot) else {
        let known: Vec<&str> = state.bots.iter().map(|bot| bot.name.as_str()).collect();
        return Err(ApiError::invalid_field(
            "bot",
            format!("unknown bot {:?}; known bots: {}", body.bot, known.join(", ")),
        ));
    };
    bot.validate(&body.parameters).map_err(|(field, detail)| ApiError::invalid_field(field, detail))?;
    let request = TriggerRequest { bot: body.bot, trigger: RunTrigger::Manual, parameters: body.parameters };
    match scheduler::start_run(&state, &request, Overlap::SameParameters).await {
        Ok(run) => {
            tracing::info!(run.id = run.id, bot.name = %run.bot, caller = %caller.name, "rerun started");
            Ok((StatusCode::ACCEPTED, Json(run)))
        }
        Err(StartError::Busy(run)) => Err(ApiError::run_conflict(
            run.id,
            format!("{} is already running with these parameters (run {})", run.bot, run.id),
        )),
        Err(StartError::NoRunner) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "this API has no runner configured"))
        }
        Err(StartError::Db(error)) => Err(error.into()),
        Err(StartError::Runner(error)) => {
            Err(ApiError::new(StatusCode::BAD_GATEWAY, format!("the run could not be started: {error}")))
        }
    }
}

/// Bot names become metric labels and path segments: keep them short and plain.
fn is_valid_bot_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_lowercase())
        && name.len() <= 63
        && bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// Marks failed the open runs that have not reported within the configured timeout.
pub async fn fail_silent_runs(state: &AppState) -> Result<usize, db::DbError> {
    let failed = db::runs::fail_silent(&state.pool, state.config.run_timeout_secs as i64).await?;
    for run in &failed {
        metrics::counter!("shipit_runs_finished_total", "bot" => run.bot.clone(), "status" => "failed").increment(1);
        tracing::warn!(run.id = run.id, bot.name = %run.bot, "run timed out: marked failed");
    }
    Ok(failed.len())
}

#[cfg(test)]
mod tests {
    use super::is_valid_bot_name;

    #[test]
    fn bot_names_are_plain() {
        assert!(is_valid_bot_name("coverage"));
        assert!(is_valid_bot_name("pulse-listener2"));
        assert!(!is_valid_bot_name(""));
        assert!(!is_valid_bot_name("Coverage"));
        assert!(!is_valid_bot_name("2fast"));
        assert!(!is_valid_bot_name("a b"));
        assert!(!is_valid_bot_name(&"a".repeat(64)));
    }
}
