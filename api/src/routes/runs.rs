//! Bot runs: opened by a bot, updated with progress, closed with an outcome, listed for people.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};
use shipit_shared::api_types::run_limits::{
    MAX_COUNT_KEY_BYTES, MAX_COUNT_VALUE_BYTES, MAX_COUNTS, MAX_ERROR_SUMMARY_CHARS, MAX_MESSAGE_CHARS,
    MAX_PARAMETERS_BYTES,
};
use shipit_shared::api_types::{
    NewRun, Problem, Run, RunFinish, RunPage, RunProgress, RunQuery, RunStatus, RunTrigger, TriggerRun,
};
use shipit_shared::runner::{RunnerError, TriggerRequest, check_parameters};

use crate::auth::{Authorized, Reader, scopes};
use crate::db::{self, runs::Overlap, runs::RunUpdate};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, QueryParams};
use crate::scheduler::{self, StartError};
use crate::state::AppState;

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
    Authorized(caller, _): Authorized<scopes::RunsManage>,
    JsonBody(run): JsonBody<NewRun>,
) -> ApiResult<(StatusCode, Json<Run>)> {
    if !is_valid_bot_name(&run.bot) {
        return Err(ApiError::invalid_field(
            "bot",
            "a bot name is 1 to 63 lowercase letters, digits and dashes, starting with a letter",
        ));
    }
    check_parameters_size("parameters", &run.parameters)?;
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
    _: Authorized<scopes::RunsManage>,
    Path(id): Path<i64>,
    JsonBody(progress): JsonBody<RunProgress>,
) -> ApiResult<Json<Run>> {
    check_text("message", progress.message.as_deref(), MAX_MESSAGE_CHARS)?;
    check_counts(&progress.counts)?;
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
    _: Authorized<scopes::RunsManage>,
    Path(id): Path<i64>,
    JsonBody(finish): JsonBody<RunFinish>,
) -> ApiResult<Json<Run>> {
    check_text("error_summary", finish.error_summary.as_deref(), MAX_ERROR_SUMMARY_CHARS)?;
    check_counts(&finish.counts)?;
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
        RunUpdate::TooManyCounts => Err(ApiError::invalid_field(
            "counts",
            format!("a run holds at most {MAX_COUNTS} counts, those reported so far included"),
        )),
    }
}

/// 400 when `text` is longer than `max` characters.
fn check_text(field: &str, text: Option<&str>, max: usize) -> ApiResult<()> {
    if text.is_some_and(|text| text.chars().count() > max) {
        return Err(ApiError::invalid_field(field, format!("{field} is at most {max} characters")));
    }
    Ok(())
}

/// 400 unless `counts` stays within the limits of a run (the merge with the counts stored is
/// checked by the update itself).
fn check_counts(counts: &Map<String, Value>) -> ApiResult<()> {
    if counts.len() > MAX_COUNTS {
        return Err(ApiError::invalid_field("counts", format!("a run holds at most {MAX_COUNTS} counts")));
    }
    for (key, value) in counts {
        if key.is_empty() || key.len() > MAX_COUNT_KEY_BYTES {
            return Err(ApiError::invalid_field(
                format!("counts.{key}"),
                format!("a count's name is 1 to {MAX_COUNT_KEY_BYTES} bytes"),
            ));
        }
        if value.to_string().len() > MAX_COUNT_VALUE_BYTES {
            return Err(ApiError::invalid_field(
                format!("counts.{key}"),
                format!("a count's value is at most {MAX_COUNT_VALUE_BYTES} bytes of JSON"),
            ));
        }
    }
    Ok(())
}

/// 400 when the parameters of a run are larger than a run may hold.
pub fn check_parameters_size(field: &str, parameters: &Map<String, Value>) -> ApiResult<()> {
    let size = serde_json::to_vec(parameters).map_or(usize::MAX, |json| json.len());
    if size > MAX_PARAMETERS_BYTES {
        return Err(ApiError::invalid_field(
            field,
            format!("parameters are at most {MAX_PARAMETERS_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
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
    Authorized(caller, _): Authorized<scopes::RunsTrigger>,
    JsonBody(body): JsonBody<TriggerRun>,
) -> ApiResult<(StatusCode, Json<Run>)> {
    let Some(bot) = state.bots.iter().find(|bot| bot.name == body.bot) else {
        let known: Vec<&str> = state.bots.iter().map(|bot| bot.name.as_str()).collect();
        return Err(ApiError::invalid_field(
            "bot",
            format!("unknown bot {:?}; known bots: {}", body.bot, known.join(", ")),
        ));
    };
    check_parameters(&body.parameters).map_err(|error| match &error {
        RunnerError::Parameter { name, .. } => ApiError::invalid_field(format!("parameters.{name}"), error.to_string()),
        _ => ApiError::invalid_field("parameters", error.to_string()),
    })?;
    check_parameters_size("parameters", &body.parameters)?;
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
