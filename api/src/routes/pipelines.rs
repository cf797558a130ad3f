//! Release pipelines: created from a definition, listed, followed, cancelled, retried step by
//! step, and their audit log. `/pipelines` is itself a step service (the Step API), so
//! pipelines nest.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::pipelines::{
    AuditLog, NewPipeline, Pipeline, PipelineDefinition, PipelinePage, PipelineQuery, StepStatus,
};

use crate::auth::{Authorized, Caller, Reader, scopes};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, QueryParams};
use crate::pipelines::transitions::{self, Cancelled, Created, Retried};
use crate::pipelines::{self, audit, definition};
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// Create a pipeline (idempotent: the same definition again changes nothing).
#[utoipa::path(
    put, path = "/pipelines/{uid}", tag = "pipelines", request_body = PipelineDefinition,
    params(("uid" = String, Path, description = "Pipeline uid, e.g. firefox-99.0b1")),
    security(("bearer" = ["project:shipit:pipelines/manage"])),
    responses(
        (status = 201, description = "The pipeline, created", body = Pipeline),
        (status = 200, description = "The same definition was accepted before", body = Pipeline),
        (status = 409, description = "Another definition holds this uid", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Invalid definition (naming the step and field), token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_pipeline(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::PipelinesManage>,
    Path(uid): Path<String>,
    JsonBody(definition): JsonBody<PipelineDefinition>,
) -> ApiResult<(StatusCode, Json<Pipeline>)> {
    create(&state, &caller, &uid, &definition, "").await
}

/// Create a pipeline, the uid in the body: the same as `PUT /pipelines/{uid}`.
#[utoipa::path(
    post, path = "/pipelines", tag = "pipelines", request_body = NewPipeline,
    security(("bearer" = ["project:shipit:pipelines/manage"])),
    responses(
        (status = 201, description = "The pipeline, created", body = Pipeline),
        (status = 200, description = "The same definition was accepted before", body = Pipeline),
        (status = 409, description = "Another definition holds this uid", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Invalid definition (naming the step and field), token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_pipeline(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::PipelinesManage>,
    JsonBody(body): JsonBody<NewPipeline>,
) -> ApiResult<(StatusCode, Json<Pipeline>)> {
    create(&state, &caller, &body.uid, &body.pipeline, "pipeline.").await
}

async fn create(
    state: &AppState,
    caller: &Caller,
    uid: &str,
    definition: &PipelineDefinition,
    // Where the definition is in the body, for the fields named by errors.
    prefix: &str,
) -> ApiResult<(StatusCode, Json<Pipeline>)> {
    definition::check_pipeline_uid(uid).map_err(|error| ApiError::invalid_field(error.field, error.detail))?;
    let steps = definition::validate(definition, pipelines::known(state))
        .map_err(|error| ApiError::invalid_field(format!("{prefix}{}", error.field), error.detail))?;
    let status = match transitions::create(&state.pool, uid, definition, &steps, &caller.name).await? {
        Created::New => {
            tracing::info!(pipeline = %uid, steps = steps.len(), caller = %caller.name, "pipeline created");
            StatusCode::CREATED
        }
        Created::Same => StatusCode::OK,
        Created::Conflict => {
            return Err(ApiError::conflict(format!("the pipeline `{uid}` exists with another definition")));
        }
    };
    Ok((status, Json(view(state, uid).await?)))
}

async fn view(state: &AppState, uid: &str) -> ApiResult<Pipeline> {
    transitions::view(&state.pool, uid, &state.config.public_url()).await?.ok_or_else(|| no_such_pipeline(uid))
}

fn no_such_pipeline(uid: &str) -> ApiError {
    ApiError::not_found(format!("no pipeline has the uid `{uid}`"))
}

/// List pipelines, newest first.
#[utoipa::path(
    get, path = "/pipelines", tag = "pipelines", params(PipelineQuery),
    responses(
        (status = 200, description = "A page of pipelines", body = PipelinePage),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_pipelines(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<PipelineQuery>,
) -> ApiResult<Json<PipelinePage>> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field("limit", format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let mut pipelines = db::pipelines::list_pipelines(&state.pool, query.state, query.before, limit + 1).await?;
    let next_before = if pipelines.len() as i64 > limit {
        pipelines.truncate(limit as usize);
        pipelines.last().map(|pipeline| pipeline.id)
    } else {
        None
    };
    Ok(Json(PipelinePage { pipelines, next_before }))
}

/// One pipeline: its definition, its state, and each step's state, attempts, times and URL.
#[utoipa::path(
    get, path = "/pipelines/{uid}", tag = "pipelines",
    params(("uid" = String, Path, description = "Pipeline uid")),
    responses(
        (status = 200, description = "The pipeline", body = Pipeline),
        (status = 404, description = "No such pipeline", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_pipeline(
    State(state): State<AppState>,
    _reader: Reader,
    Path(uid): Path<String>,
) -> ApiResult<Json<Pipeline>> {
    Ok(Json(view(&state, &uid).await?))
}

/// The definition of a pipeline (the Step API's `GET /{uid}/definition`).
#[utoipa::path(
    get, path = "/pipelines/{uid}/definition", tag = "pipelines",
    params(("uid" = String, Path, description = "Pipeline uid")),
    responses(
        (status = 200, description = "The definition", body = PipelineDefinition),
        (status = 404, description = "No such pipeline", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_definition(
    State(state): State<AppState>,
    _reader: Reader,
    Path(uid): Path<String>,
) -> ApiResult<Json<PipelineDefinition>> {
    Ok(Json(view(&state, &uid).await?.definition))
}

/// The status of a pipeline in the Step API's words (`in_progress`, `success`, `failure`,
/// `cancelled`).
#[utoipa::path(
    get, path = "/pipelines/{uid}/status", tag = "pipelines",
    params(("uid" = String, Path, description = "Pipeline uid")),
    responses(
        (status = 200, description = "The status", body = StepStatus),
        (status = 404, description = "No such pipeline", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_status(
    State(state): State<AppState>,
    _reader: Reader,
    Path(uid): Path<String>,
) -> ApiResult<Json<StepStatus>> {
    Ok(Json(transitions::status_of(&view(&state, &uid).await?)))
}

/// Cancel a pipeline: created steps that have not finished are cancelled on their service,
/// steps never created never will be.
#[utoipa::path(
    delete, path = "/pipelines/{uid}", tag = "pipelines",
    params(("uid" = String, Path, description = "Pipeline uid")),
    security(("bearer" = ["project:shipit:pipelines/manage"])),
    responses(
        (status = 200, description = "The pipeline, cancelled", body = Pipeline),
        (status = 409, description = "The pipeline completed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "No such pipeline, token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_pipeline(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::PipelinesManage>,
    Path(uid): Path<String>,
) -> ApiResult<Json<Pipeline>> {
    match transitions::cancel(&state.pool, &uid, &caller.name).await? {
        Cancelled::Done => {
            tracing::info!(pipeline = %uid, caller = %caller.name, "pipeline cancelled");
            Ok(Json(view(&state, &uid).await?))
        }
        Cancelled::NotFound => Err(no_such_pipeline(&uid)),
        Cancelled::Completed => Err(ApiError::conflict(format!("the pipeline `{uid}` completed: nothing to cancel"))),
    }
}

/// Give a failed or cancelled step a new attempt; its dependents become pending again.
#[utoipa::path(
    post, path = "/pipelines/{uid}/steps/{step}/retry", tag = "pipelines",
    params(("uid" = String, Path, description = "Pipeline uid"), ("step" = String, Path, description = "Step uid")),
    security(("bearer" = ["project:shipit:pipelines/manage"])),
    responses(
        (status = 200, description = "The pipeline, the step pending again", body = Pipeline),
        (status = 409, description = "The step is not failed or cancelled, or the pipeline was cancelled", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "No such pipeline or step, token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry_step(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::PipelinesManage>,
    Path((uid, step)): Path<(String, String)>,
) -> ApiResult<Json<Pipeline>> {
    match transitions::retry(&state.pool, &uid, &step, &caller.name).await? {
        Retried::Done => {
            tracing::info!(pipeline = %uid, step = %step, caller = %caller.name, "step retried");
            Ok(Json(view(&state, &uid).await?))
        }
        Retried::NotFound => Err(no_such_pipeline(&uid)),
        Retried::NoSuchStep => Err(ApiError::not_found(format!("the pipeline `{uid}` has no step `{step}`"))),
        Retried::NotRetriable(current) => Err(ApiError::conflict(format!(
            "step `{step}` is {}: only a failed or cancelled step is retried",
            current.as_str()
        ))),
        Retried::CancelPending => Err(ApiError::conflict(format!(
            "step `{step}`: its service is not told of the cancel yet, try again shortly"
        ))),
        Retried::PipelineCancelled => Err(ApiError::conflict(format!("the pipeline `{uid}` was cancelled"))),
    }
}

/// The audit log of a pipeline, oldest first: every transition with its time and cause, each
/// entry holding the hash of the one before.
#[utoipa::path(
    get, path = "/pipelines/{uid}/audit", tag = "pipelines",
    params(("uid" = String, Path, description = "Pipeline uid")),
    responses(
        (status = 200, description = "The audit log", body = AuditLog),
        (status = 404, description = "No such pipeline", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_audit(
    State(state): State<AppState>,
    _reader: Reader,
    Path(uid): Path<String>,
) -> ApiResult<Json<AuditLog>> {
    if db::pipelines::get_pipeline(&state.pool, &uid).await?.is_none() {
        return Err(no_such_pipeline(&uid));
    }
    let entries = db::pipelines::audit(&state.pool, &uid).await?.into_iter().map(audit::to_entry).collect();
    Ok(Json(AuditLog { entries }))
}
