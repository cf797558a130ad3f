//! Risk: the risk bot's assessments of pushed changes (probability, band, reasons, function change
//! sets, coverage of the changed lines), per revision and riskiest first, and the model versions
//! with their evaluation.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::risk::{
    Assessment, AssessmentPage, AssessmentQuery, AssessmentUpload, AssessmentUploadResult, RevisionAssessments,
    RevisionQuery, RiskModel, limits,
};

use crate::auth::{Authorized, Reader, scopes};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, QueryParams};
use crate::state::AppState;

/// Assessments of one revision answered at most (one per model version).
const MAX_REVISION_ASSESSMENTS: i64 = 100;
/// Page size of `GET /risk/assessments` when not given.
const DEFAULT_PAGE: i64 = 50;

/// Record assessments. Idempotent by repository, revision and model version: the same upload
/// again changes nothing, a different one for the same key replaces it.
#[utoipa::path(
    post, path = "/risk/assessments", tag = "risk", request_body = AssessmentUpload,
    security(("bearer" = ["project:shipit:risk/manage"])),
    responses(
        (status = 200, description = "The assessments are recorded", body = AssessmentUploadResult),
        (status = "4XX", description = "Bad request, token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_assessments(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::RiskManage>,
    JsonBody(upload): JsonBody<AssessmentUpload>,
) -> ApiResult<Json<AssessmentUploadResult>> {
    validate(&upload)?;
    let result = db::risk::store(&state.pool, &upload).await?;
    tracing::info!(
        repository = %upload.repository,
        model.version = %upload.model.version,
        inserted = result.inserted,
        updated = result.updated,
        unchanged = result.unchanged,
        caller = %caller.name,
        "risk assessments recorded"
    );
    Ok(Json(result))
}

fn is_revision(text: &str, min: usize) -> bool {
    (min..=64).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase())
}

fn check_text(field: String, text: &str) -> ApiResult<()> {
    if text.chars().count() > limits::MAX_TEXT_CHARS {
        return Err(ApiError::invalid_field(field, format!("at most {} characters", limits::MAX_TEXT_CHARS)));
    }
    Ok(())
}

fn check_repository(repository: &str) -> ApiResult<()> {
    if repository.trim().is_empty() || repository.len() > 1_000 {
        return Err(ApiError::invalid_field("repository", "the repository is 1 to 1,000 bytes"));
    }
    Ok(())
}

fn validate(upload: &AssessmentUpload) -> ApiResult<()> {
    check_repository(&upload.repository)?;
    let model = &upload.model;
    if model.version.is_empty() || model.version.len() > 128 {
        return Err(ApiError::invalid_field("model.version", "a model version is 1 to 128 bytes"));
    }
    if model.kind.is_empty() || model.kind.len() > 128 {
        return Err(ApiError::invalid_field("model.kind", "a model kind is 1 to 128 bytes"));
    }
    if model.features.is_empty() || model.features.len() > 256 {
        return Err(ApiError::invalid_field("model.features", "a model has 1 to 256 features"));
    }
    if let Some(evaluation) = &model.evaluation {
        let size = serde_json::to_vec(evaluation).map_or(usize::MAX, |bytes| bytes.len());
        if size > limits::MAX_EVALUATION_BYTES {
            return Err(ApiError::invalid_field(
                "model.evaluation",
                format!("at most {} bytes of JSON", limits::MAX_EVALUATION_BYTES),
            ));
        }
    }
    if upload.assessments.len() > limits::MAX_ASSESSMENTS {
        return Err(ApiError::invalid_field(
            "assessments",
            format!("at most {} assessments per upload", limits::MAX_ASSESSMENTS),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (index, assessment) in upload.assessments.iter().enumerate() {
        let field = |name: &str| format!("assessments[{index}].{name}");
        if !is_revision(&assessment.revision, 40) {
            return Err(ApiError::invalid_field(
                field("revision"),
                "a revision is 40 to 64 lower-case hexadecimal digits",
            ));
        }
        if !seen.insert(assessment.revision.as_str()) {
            return Err(ApiError::invalid_field(field("revision"), "a revision is assessed once per upload"));
        }
        if assessment.parent.as_deref().is_some_and(|parent| !is_revision(parent, 40)) {
            return Err(ApiError::invalid_field(
                field("parent"),
                "a revision is 40 to 64 lower-case hexadecimal digits",
            ));
        }
        if !(0.0..=1.0).contains(&assessment.probability) {
            return Err(ApiError::invalid_field(field("probability"), "a probability is between 0 and 1"));
        }
        check_text(field("subject"), &assessment.subject)?;
        check_text(field("author"), &assessment.author)?;
        if assessment.reasons.len() > limits::MAX_REASONS {
            return Err(ApiError::invalid_field(field("reasons"), format!("at most {} reasons", limits::MAX_REASONS)));
        }
        for (number, reason) in assessment.reasons.iter().enumerate() {
            check_text(format!("assessments[{index}].reasons[{number}].text"), &reason.text)?;
            if !reason.value.is_finite() || !reason.contribution.is_finite() {
                return Err(ApiError::invalid_field(
                    format!("assessments[{index}].reasons[{number}]"),
                    "values and contributions are finite numbers",
                ));
            }
        }
        if assessment.features.len() > 256 {
            return Err(ApiError::invalid_field(field("features"), "at most 256 features"));
        }
        if assessment.functions.len() > limits::MAX_FUNCTION_FILES {
            return Err(ApiError::invalid_field(
                field("functions"),
                format!("at most {} files", limits::MAX_FUNCTION_FILES),
            ));
        }
        for (number, file) in assessment.functions.iter().enumerate() {
            for name in file.added.iter().chain(&file.removed).chain(&file.modified).chain([&file.path]) {
                check_text(format!("assessments[{index}].functions[{number}]"), name)?;
            }
        }
        if let Some(coverage) = &assessment.coverage
            && coverage.covered > coverage.instrumented
        {
            return Err(ApiError::invalid_field(field("coverage.covered"), "more lines covered than instrumented"));
        }
    }
    Ok(())
}

/// A revision's assessments, one per model version, newest model first. The revision may be
/// abbreviated (at least 7 digits).
#[utoipa::path(
    get, path = "/risk/revisions/{rev}", tag = "risk", params(("rev" = String, Path, description = "A revision, or its first 7 or more digits"), RevisionQuery),
    responses(
        (status = 200, description = "The assessments", body = RevisionAssessments),
        (status = 404, description = "No assessment of this revision", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Bad revision or query", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_revision(
    State(state): State<AppState>,
    _reader: Reader,
    Path(revision): Path<String>,
    QueryParams(query): QueryParams<RevisionQuery>,
) -> ApiResult<Json<RevisionAssessments>> {
    check_repository(&query.repository)?;
    let revision = revision.to_ascii_lowercase();
    if !is_revision(&revision, 7) {
        return Err(ApiError::invalid_field("rev", "a revision is 7 to 64 hexadecimal digits"));
    }
    let assessments = db::risk::revision(&state.pool, &query.repository, &revision, MAX_REVISION_ASSESSMENTS).await?;
    let full: std::collections::BTreeSet<&str> = assessments.iter().map(|a| a.assessment.revision.as_str()).collect();
    if full.len() > 1 {
        return Err(ApiError::invalid_field(
            "rev",
            format!("`{revision}` names {} revisions: give more digits", full.len()),
        ));
    }
    let Some(found) = full.first().map(|id| (*id).to_owned()) else {
        return Err(ApiError::not_found(format!("no assessment of {revision} in {}", query.repository)));
    };
    Ok(Json(RevisionAssessments { repository: query.repository, revision: found, assessments }))
}

/// Assessments of a repository, riskiest first (ties: the most recent change first), paginated.
#[utoipa::path(
    get, path = "/risk/assessments", tag = "risk", params(AssessmentQuery),
    responses(
        (status = 200, description = "A page of assessments", body = AssessmentPage),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_assessments(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<AssessmentQuery>,
) -> ApiResult<Json<AssessmentPage>> {
    check_repository(&query.repository)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=limits::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field("limit", format!("between 1 and {}", limits::MAX_PAGE)));
    }
    if query.min_score.is_some_and(|score| !(0.0..=1.0).contains(&score)) {
        return Err(ApiError::invalid_field("min_score", "a probability is between 0 and 1"));
    }
    let after = query.after.as_deref().map(parse_cursor).transpose()?;
    let page_query = db::risk::PageQuery {
        repository: &query.repository,
        since: query.since,
        band: query.band,
        min_score: query.min_score,
        model_version: query.model.as_deref(),
        after,
        limit: limit + 1,
    };
    let mut assessments = db::risk::page(&state.pool, &page_query).await?;
    let next = if assessments.len() as i64 > limit {
        assessments.truncate(limit as usize);
        assessments.last().map(cursor)
    } else {
        None
    };
    Ok(Json(AssessmentPage { assessments, next }))
}

/// The cursor after an assessment: `<probability>_<author time, µs>_<id>`.
fn cursor(assessment: &Assessment) -> String {
    format!(
        "{}_{}_{}",
        assessment.assessment.probability,
        assessment.assessment.author_time.timestamp_micros(),
        assessment.id
    )
}

fn parse_cursor(text: &str) -> ApiResult<(f64, DateTime<Utc>, i64)> {
    let bad = || ApiError::invalid_field("after", "not a cursor of this route (pass the `next` of a page)");
    let mut parts = text.split('_');
    let probability: f64 = parts.next().and_then(|part| part.parse().ok()).ok_or_else(bad)?;
    let micros: i64 = parts.next().and_then(|part| part.parse().ok()).ok_or_else(bad)?;
    let id: i64 = parts.next().and_then(|part| part.parse().ok()).ok_or_else(bad)?;
    if parts.next().is_some() || !probability.is_finite() {
        return Err(bad());
    }
    let time = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok((probability, time, id))
}

/// The model versions that made assessments, newest first, with their evaluation.
#[utoipa::path(
    get, path = "/risk/models", tag = "risk",
    responses((status = 200, description = "The model versions", body = Vec<RiskModel>))
)]
pub async fn list_models(State(state): State<AppState>, _reader: Reader) -> ApiResult<Json<Vec<RiskModel>>> {
    Ok(Json(db::risk::models(&state.pool).await?))
}
