//! The built-in step services over HTTP, `/steps/{service}` (`signoff`, `taskcluster`, `bot`):
//! the Step API every step service implements, and signing for sign-off steps.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::pipelines::{
    ServiceStep, ServiceStepPage, ServiceStepQuery, SignRequest, StepKind, StepStatus,
};

use crate::auth::{Authorized, Reader, scopes};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, QueryParams};
use crate::persons::Person;
use crate::pipelines::services::signoff::{self, Signer};
use crate::pipelines::services::{self, Asker, Created, StepError};
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

impl From<StepError> for ApiError {
    fn from(error: StepError) -> Self {
        match error {
            StepError::NotFound { .. } => ApiError::not_found(error.to_string()),
            StepError::Conflict(detail) => ApiError::conflict(detail),
            StepError::Invalid { field, detail } => ApiError::invalid_field(field, detail),
            StepError::Forbidden(detail) => ApiError::forbidden(detail),
            StepError::Upstream { message, transient: true } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).with_retry_after(30)
            }
            StepError::Upstream { message, transient: false } => ApiError::new(StatusCode::BAD_GATEWAY, message),
            StepError::Db(error) => error.into(),
        }
    }
}

/// The service a path names; 404 for any other.
pub fn service(name: &str) -> ApiResult<StepKind> {
    services::service_of(name).ok_or_else(|| {
        ApiError::not_found(format!("no step service `{name}`: the built-in ones are signoff, taskcluster and bot"))
    })
}

/// The steps of a built-in service, newest first.
#[utoipa::path(
    get, path = "/steps/{service}", tag = "steps", params(
        ("service" = String, Path, description = "`signoff`, `taskcluster` or `bot`"),
        ServiceStepQuery,
    ),
    responses(
        (status = 200, description = "A page of steps", body = ServiceStepPage),
        (status = "4XX", description = "No such service, or a bad query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_steps(
    State(state): State<AppState>,
    _reader: Reader,
    Path(name): Path<String>,
    QueryParams(query): QueryParams<ServiceStepQuery>,
) -> ApiResult<Json<ServiceStepPage>> {
    let kind = service(&name)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field("limit", format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let client = state.pool.get().await.map_err(db::DbError::from)?;
    let mut rows = db::steps::list_steps(&client, kind, query.status, query.before, limit + 1).await?;
    drop(client);
    let next_before = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| row.id)
    } else {
        None
    };
    let mut steps = Vec::with_capacity(rows.len());
    for row in rows {
        steps.push(services::view(&state, row).await?);
    }
    Ok(Json(ServiceStepPage { steps, next_before }))
}

/// Create a step on a built-in service, the body being its parameters (idempotent: the same
/// parameters again change nothing).
#[utoipa::path(
    put, path = "/steps/{service}/{uid}", tag = "steps",
    params(("service" = String, Path, description = "`signoff`, `taskcluster` or `bot`"), ("uid" = String, Path, description = "Step uid, e.g. firefox-99.0b1.S")),
    request_body(content = Object, description = "The step's parameters: `SignoffParameters`, `TaskclusterParameters` or `BotParameters`"),
    security(("bearer" = ["project:shipit:pipelines/manage"])),
    responses(
        (status = 201, description = "The step, created", body = ServiceStep),
        (status = 200, description = "The same parameters were accepted before", body = ServiceStep),
        (status = 409, description = "Another step holds this uid", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad parameters (naming the field), token or scope", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Taskcluster or the runner failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_step(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::PipelinesManage>,
    Path((name, uid)): Path<(String, String)>,
    JsonBody(parameters): JsonBody<Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<ServiceStep>)> {
    let kind = service(&name)?;
    let (created, row) = services::create(&state, kind, &uid, &parameters, &caller.name).await?;
    let status = if created == Created::New { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(services::view(&state, row).await?)))
}

/// A step of a built-in service: its parameters, state and, for a sign-off, the policy, the
/// signatures and who may still sign.
#[utoipa::path(
    get, path = "/steps/{service}/{uid}", tag = "steps",
    params(("service" = String, Path, description = "`signoff`, `taskcluster` or `bot`"), ("uid" = String, Path, description = "Step uid")),
    responses(
        (status = 200, description = "The step", body = ServiceStep),
        (status = 404, description = "No such service or step", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_step(
    State(state): State<AppState>,
    _reader: Reader,
    Path((name, uid)): Path<(String, String)>,
) -> ApiResult<Json<ServiceStep>> {
    let row = services::get(&state, service(&name)?, &uid).await?;
    Ok(Json(services::view(&state, row).await?))
}

/// Cancel a step that has not finished (a Taskcluster group's unresolved tasks are cancelled).
#[utoipa::path(
    delete, path = "/steps/{service}/{uid}", tag = "steps",
    params(("service" = String, Path, description = "`signoff`, `taskcluster` or `bot`"), ("uid" = String, Path, description = "Step uid")),
    security(("bearer" = ["project:shipit:pipelines/manage"])),
    responses(
        (status = 200, description = "The step, cancelled", body = ServiceStep),
        (status = 409, description = "The step has finished", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "No such step, token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_step(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::PipelinesManage>,
    Path((name, uid)): Path<(String, String)>,
) -> ApiResult<Json<ServiceStep>> {
    let row = services::cancel(&state, service(&name)?, &uid, &caller.name).await?;
    Ok(Json(services::view(&state, row).await?))
}

/// The parameters a step was created with.
#[utoipa::path(
    get, path = "/steps/{service}/{uid}/definition", tag = "steps",
    params(("service" = String, Path, description = "`signoff`, `taskcluster` or `bot`"), ("uid" = String, Path, description = "Step uid")),
    responses(
        (status = 200, description = "The parameters", body = Object),
        (status = 404, description = "No such service or step", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_step_definition(
    State(state): State<AppState>,
    _reader: Reader,
    Path((name, uid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(services::get(&state, service(&name)?, &uid).await?.parameters))
}

/// The status of a step, brought up to date (a Taskcluster group is read, at most every 5 s, a
/// run looked up).
#[utoipa::path(
    get, path = "/steps/{service}/{uid}/status", tag = "steps",
    params(("service" = String, Path, description = "`signoff`, `taskcluster` or `bot`"), ("uid" = String, Path, description = "Step uid")),
    responses(
        (status = 200, description = "The status", body = StepStatus),
        (status = 404, description = "No such service or step", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Taskcluster failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_step_status(
    State(state): State<AppState>,
    _reader: Reader,
    Path((name, uid)): Path<(String, String)>,
) -> ApiResult<Json<StepStatus>> {
    Ok(Json(services::status(&state, service(&name)?, &uid, Asker::Reader).await?))
}

/// Sign a sign-off step for a group (one of the signer's, or the signer's own email), as a
/// person: a local user's token or an OIDC ID token, never a bot's token.
#[utoipa::path(
    put, path = "/steps/{service}/{uid}/sign", tag = "steps", request_body = SignRequest,
    params(("service" = String, Path, description = "`signoff`"), ("uid" = String, Path, description = "Step uid, e.g. firefox-99.0b1.S")),
    security(("person" = [])),
    responses(
        (status = 200, description = "Signed; the step, completed if this signature met the policy", body = ServiceStep),
        (status = 403, description = "Not a person, not in the group, kept apart, or without the second factor required", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Signed already, no signature of that group needed, or the step is not waiting", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "No such step, no credential, or a bad body", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sign(
    State(state): State<AppState>,
    person: Person,
    Path((name, uid)): Path<(String, String)>,
    JsonBody(body): JsonBody<SignRequest>,
) -> ApiResult<Json<ServiceStep>> {
    signoff_service(&name)?;
    let row = signoff::sign(&state, &uid, &Signer::of(&person), &body.group).await?;
    Ok(Json(services::view(&state, row).await?))
}

/// Withdraw one's own signature while the step waits.
#[utoipa::path(
    delete, path = "/steps/{service}/{uid}/sign", tag = "steps",
    params(("service" = String, Path, description = "`signoff`"), ("uid" = String, Path, description = "Step uid")),
    security(("person" = [])),
    responses(
        (status = 200, description = "Withdrawn; the step", body = ServiceStep),
        (status = 409, description = "Not signed, or the step has finished", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "No such step, not a person, or no credential", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn withdraw(
    State(state): State<AppState>,
    person: Person,
    Path((name, uid)): Path<(String, String)>,
) -> ApiResult<Json<ServiceStep>> {
    signoff_service(&name)?;
    let row = signoff::withdraw(&state, &uid, &Signer::of(&person)).await?;
    Ok(Json(services::view(&state, row).await?))
}

fn signoff_service(name: &str) -> ApiResult<()> {
    match service(name)? {
        StepKind::Signoff => Ok(()),
        _ => Err(ApiError::not_found(format!("the {name} service has no signatures: only signoff steps are signed"))),
    }
}
