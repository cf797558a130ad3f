//! Static analysis: the issues the bot found on each diff, per revision, per check over time,
//! and the issues already known in a repository.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::static_analysis::{
    CheckStats, CheckStatsQuery, DiffIssues, IssueBatch, IssueBatchResult, KnownIssues, KnownIssuesQuery,
    RevisionSummary,
};

use crate::auth::{Authorized, Reader, scopes};
use crate::db::{self, static_analysis::BatchOutcome};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path, QueryParams};
use crate::state::AppState;

/// Rows of `GET /static-analysis/checks` at most.
const MAX_CHECK_STATS: i64 = 5000;
/// Known issues answered at most.
const MAX_KNOWN_ISSUES: i64 = 50_000;
/// Default window of `GET /static-analysis/checks`.
const DEFAULT_STATS_DAYS: i64 = 30;

/// Record the issues found on a diff. Idempotent: an issue already recorded on the diff (same
/// hash) is updated in place, so posting the same results again changes nothing. The batch is the
/// diff's whole set: issues recorded before and absent from it (fixed since) are removed.
#[utoipa::path(
    post, path = "/static-analysis/diffs/{id}/issues", tag = "static-analysis", request_body = IssueBatch,
    params(("id" = i64, Path, description = "Diff id (Phabricator)")),
    security(("bearer" = ["project:shipit:static-analysis/manage"])),
    responses(
        (status = 200, description = "The issues are recorded", body = IssueBatchResult),
        (status = 409, description = "The diff is recorded under another revision or repository", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request, token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_issues(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::StaticAnalysisManage>,
    Path(diff_id): Path<i64>,
    JsonBody(mut batch): JsonBody<IssueBatch>,
) -> ApiResult<Json<IssueBatchResult>> {
    validate(diff_id, &batch)?;
    // An issue repeated in one batch (same code twice in a file) is recorded once.
    let mut seen = HashSet::new();
    batch.issues.retain(|issue| seen.insert(issue.hash.clone()));
    match db::static_analysis::store_issues(&state.pool, diff_id, &batch).await? {
        BatchOutcome::Stored(result) => {
            tracing::info!(
                diff.id = diff_id,
                revision.id = batch.revision_id,
                inserted = result.inserted,
                updated = result.updated,
                removed = result.removed,
                caller = %caller.name,
                "static analysis issues recorded"
            );
            Ok(Json(result))
        }
        BatchOutcome::Conflict { revision_id, repository } => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("diff {diff_id} is recorded for revision {revision_id} of {repository}"),
        )),
    }
}

fn validate(diff_id: i64, batch: &IssueBatch) -> ApiResult<()> {
    if diff_id <= 0 {
        return Err(ApiError::bad_request("a diff id is a positive integer"));
    }
    if batch.revision_id <= 0 {
        return Err(ApiError::invalid_field("revision_id", "a revision id is a positive integer"));
    }
    if batch.repository.trim().is_empty() {
        return Err(ApiError::invalid_field("repository", "the repository is required"));
    }
    for (index, issue) in batch.issues.iter().enumerate() {
        let field = |name: &str| format!("issues[{index}].{name}");
        if issue.hash.is_empty() || issue.hash.len() > 128 || !issue.hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(ApiError::invalid_field(field("hash"), "a hash is 1 to 128 hexadecimal digits"));
        }
        if issue.line < 0 {
            return Err(ApiError::invalid_field(field("line"), "lines start at 1 (0 for the whole file)"));
        }
        if issue.nb_lines < 1 {
            return Err(ApiError::invalid_field(field("nb_lines"), "an issue covers at least one line"));
        }
        if issue.path.is_empty() || issue.analyzer.is_empty() || issue.check.is_empty() {
            return Err(ApiError::invalid_field(field("path"), "path, analyzer and check are required"));
        }
    }
    Ok(())
}

/// The issues recorded on a diff.
#[utoipa::path(
    get, path = "/static-analysis/diffs/{id}/issues", tag = "static-analysis",
    params(("id" = i64, Path, description = "Diff id (Phabricator)")),
    responses(
        (status = 200, description = "The diff's issues, by path and line", body = DiffIssues),
        (status = 404, description = "No such diff", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_issues(
    State(state): State<AppState>,
    _reader: Reader,
    Path(diff_id): Path<i64>,
) -> ApiResult<Json<DiffIssues>> {
    let (revision_id, repository, issues) = db::static_analysis::diff_issues(&state.pool, diff_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no diff {diff_id} was analyzed")))?;
    Ok(Json(DiffIssues { diff_id, revision_id, repository, issues }))
}

/// A revision's analyzed diffs with their issue counts.
#[utoipa::path(
    get, path = "/static-analysis/revisions/{id}", tag = "static-analysis",
    params(("id" = i64, Path, description = "Revision id (Phabricator `D` number)")),
    responses(
        (status = 200, description = "The revision's diffs, oldest first", body = RevisionSummary),
        (status = 404, description = "No diff of this revision was analyzed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_revision(
    State(state): State<AppState>,
    _reader: Reader,
    Path(revision_id): Path<i64>,
) -> ApiResult<Json<RevisionSummary>> {
    let rows = db::static_analysis::revision_diffs(&state.pool, revision_id).await?;
    let repository = rows
        .last()
        .map(|(repository, _)| repository.clone())
        .ok_or_else(|| ApiError::not_found(format!("no diff of revision {revision_id} was analyzed")))?;
    Ok(Json(RevisionSummary { id: revision_id, repository, diffs: rows.into_iter().map(|(_, diff)| diff).collect() }))
}

/// Issue counts per analyzer, check and day, newest day first.
#[utoipa::path(
    get, path = "/static-analysis/checks", tag = "static-analysis", params(CheckStatsQuery),
    responses(
        (status = 200, description = "Counts per analyzer, check and day", body = CheckStats),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_checks(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<CheckStatsQuery>,
) -> ApiResult<Json<CheckStats>> {
    let since = query.since.unwrap_or_else(|| chrono::Utc::now() - chrono::Duration::days(DEFAULT_STATS_DAYS));
    let checks = db::static_analysis::check_stats(
        &state.pool,
        query.repository.as_deref(),
        query.analyzer.as_deref(),
        since,
        MAX_CHECK_STATS,
    )
    .await?;
    Ok(Json(CheckStats { checks }))
}

/// Issues already present in a repository (found at the base of an analyzed diff), so that a
/// bot can tell new issues from old ones across runs.
#[utoipa::path(
    get, path = "/static-analysis/issues/known", tag = "static-analysis", params(KnownIssuesQuery),
    responses(
        (status = 200, description = "Known issues, one per hash", body = KnownIssues),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_known_issues(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<KnownIssuesQuery>,
) -> ApiResult<Json<KnownIssues>> {
    if query.repository.trim().is_empty() {
        return Err(ApiError::invalid_field("repository", "the repository is required"));
    }
    let issues =
        db::static_analysis::known_issues(&state.pool, &query.repository, query.path.as_deref(), MAX_KNOWN_ISSUES)
            .await?;
    Ok(Json(KnownIssues { repository: query.repository, issues }))
}
