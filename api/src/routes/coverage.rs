//! Coverage reports: uploaded by the coverage bot, read by dashboards by revision, path, suite
//! and platform.

use std::io::{Read, Write};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::coverage::{
    ALL, CovdirNode, CoverageFilters, CoverageReport, CoverageUpload, HistoryPoint, HistoryQuery, LatestReport,
    PathChild, PathCoverage, PathQuery, RepositoryQuery, ZeroCoverageReport,
};
use shipit_shared::pushlog;

use crate::app::AppState;
use crate::auth::{Caller, Reader, scopes};
use crate::db::{self, coverage::NewReport, coverage::PathRow, coverage::ReportRef};
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, parse_json};

const LATEST_REPORTS: i64 = 10;

/// Upload a report; a report with the same repository, revision, suite and platform is replaced.
#[utoipa::path(
    post, path = "/coverage/reports", tag = "coverage", request_body = CoverageUpload,
    security(("bearer" = ["project:shipit:coverage/manage"])),
    responses(
        (status = 201, description = "The report is stored", body = CoverageReport),
        (status = "4XX", description = "Bad report, token or scope; body too large", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_report(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CoverageReport>)> {
    caller.require(scopes::COVERAGE_MANAGE)?;
    // Parsing and compressing a mozilla-central report takes a while: keep it off the
    // executor threads.
    let (upload, paths) = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let upload: CoverageUpload = parse_json(&body)?;
        validate(&upload)?;
        let paths = flatten(&upload.covdir)?;
        Ok((upload, paths))
    })
    .await
    .map_err(|error| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("upload processing failed: {error}"))
    })??;
    let report = NewReport {
        repository: &upload.repository,
        revision: &upload.revision,
        push_id: upload.push_id,
        push_date: upload.push_date,
        suite: &upload.suite,
        platform: &upload.platform,
        zero_coverage: &upload.zero_coverage,
    };
    let stored = db::coverage::replace_report(&state.pool, &report, &paths).await?;
    tracing::info!(
        repository = %stored.repository, revision = %stored.revision, suite = %stored.suite, platform = %stored.platform,
        paths = stored.paths, "coverage report stored"
    );
    Ok((StatusCode::CREATED, Json(stored)))
}

/// The newest reports of a repository (all suites and platforms merged).
#[utoipa::path(get, path = "/coverage/latest", tag = "coverage", params(RepositoryQuery), responses(
    (status = 200, description = "Newest first, at most 10", body = [LatestReport]),
))]
pub async fn latest(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<RepositoryQuery>,
) -> ApiResult<Json<Vec<LatestReport>>> {
    Ok(Json(db::coverage::latest(&state.pool, &query.repository, LATEST_REPORTS).await?))
}

/// A directory with its children one level deep, or a file with its per-line hits.
#[utoipa::path(get, path = "/coverage/path", tag = "coverage", params(PathQuery), responses(
    (status = 200, description = "The node", body = PathCoverage),
    (status = 404, description = "No report, or no such path", body = Problem, content_type = "application/problem+json"),
))]
pub async fn path(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<PathQuery>,
) -> ApiResult<Json<PathCoverage>> {
    let (suite, platform) = (or_all(query.suite.as_deref()), or_all(query.platform.as_deref()));
    let report = resolve_report(&state, &query.repository, query.changeset.as_deref(), suite, platform).await?;
    let path = normalise_path(query.path.as_deref().unwrap_or_default())?;
    let (node, children) = db::coverage::path_with_children(&state.pool, report.id, &path)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no path {path:?} in the report of {}", report.revision)))?;
    let coverage = node.lines.as_deref().map(decompress_lines).transpose()?;
    let children = (node.kind == "directory").then(|| {
        children
            .into_iter()
            .map(|child| {
                let entry = PathChild {
                    kind: child.kind.to_owned(),
                    name: child.name.clone(),
                    path: child.path,
                    lines_total: child.lines_total as u64,
                    lines_covered: child.lines_covered as u64,
                    lines_missed: child.lines_missed as u64,
                    coverage_percent: child.coverage_percent,
                    children: child.children.map(|count| count as u64),
                };
                (child.name, entry)
            })
            .collect()
    });
    Ok(Json(PathCoverage {
        kind: node.kind.to_owned(),
        path: node.path,
        changeset: report.revision,
        name: node.name,
        lines_total: node.lines_total as u64,
        lines_covered: node.lines_covered as u64,
        lines_missed: node.lines_missed as u64,
        coverage_percent: node.coverage_percent,
        coverage,
        children,
    }))
}

/// The coverage of a path over time, oldest first.
#[utoipa::path(get, path = "/coverage/history", tag = "coverage", params(HistoryQuery), responses(
    (status = 200, description = "One point per report", body = [HistoryPoint]),
))]
pub async fn history(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> ApiResult<Json<Vec<HistoryPoint>>> {
    let path = normalise_path(query.path.as_deref().unwrap_or_default())?;
    let (suite, platform) = (or_all(query.suite.as_deref()), or_all(query.platform.as_deref()));
    let points =
        db::coverage::history(&state.pool, &query.repository, &path, suite, platform, query.start, query.end).await?;
    Ok(Json(points))
}

/// The suites and platforms that have reports of their own.
#[utoipa::path(get, path = "/coverage/filters", tag = "coverage", params(RepositoryQuery), responses(
    (status = 200, description = "Suites and platforms", body = CoverageFilters),
))]
pub async fn filters(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<RepositoryQuery>,
) -> ApiResult<Json<CoverageFilters>> {
    Ok(Json(db::coverage::filters(&state.pool, &query.repository).await?))
}

/// Files with no covered line, for a revision (the newest when absent).
#[utoipa::path(get, path = "/coverage/zero", tag = "coverage", params(RepositoryQuery), responses(
    (status = 200, description = "The zero-coverage report", body = ZeroCoverageReport),
    (status = 404, description = "No report", body = Problem, content_type = "application/problem+json"),
))]
pub async fn zero(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<RepositoryQuery>,
) -> ApiResult<Json<ZeroCoverageReport>> {
    let report = resolve_report(&state, &query.repository, query.changeset.as_deref(), ALL, ALL).await?;
    let files = db::coverage::zero_coverage(&state.pool, report.id).await?;
    Ok(Json(ZeroCoverageReport { changeset: report.revision, push: report.push_id, files }))
}

fn or_all(name: Option<&str>) -> &str {
    name.filter(|name| !name.is_empty()).unwrap_or(ALL)
}

/// The report answering for `changeset`: its own, or else the first one at or after its push
/// (asked of hg.mozilla.org's pushlog); the newest when no changeset is given.
async fn resolve_report(
    state: &AppState,
    repository: &str,
    changeset: Option<&str>,
    suite: &str,
    platform: &str,
) -> ApiResult<ReportRef> {
    let Some(changeset) = changeset.filter(|changeset| !changeset.is_empty()) else {
        return db::coverage::newest_report(&state.pool, repository, suite, platform)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no coverage report for {repository} ({suite}, {platform})")));
    };
    if !is_revision(changeset) {
        return Err(ApiError::invalid_field("changeset", "a changeset is 12 to 40 hexadecimal digits"));
    }
    if let Some(report) = db::coverage::report_by_revision(&state.pool, repository, changeset, suite, platform).await? {
        return Ok(report);
    }
    let push_id = push_of(state, repository, changeset).await?;
    db::coverage::report_at_or_after(&state.pool, repository, suite, platform, push_id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no coverage report at or after push {push_id} of {repository} ({suite}, {platform})"
        ))
    })
}

async fn push_of(state: &AppState, repository: &str, changeset: &str) -> ApiResult<i64> {
    match pushlog::push_of(&state.upstream, &state.config.hgmo_url, repository, changeset).await {
        Ok(Some(push)) => Ok(push.id),
        Ok(None) => Err(ApiError::not_found(format!("{changeset} is in no push of {repository}"))),
        Err(error) => {
            tracing::warn!(%error, "cannot ask the pushlog");
            Err(ApiError::new(StatusCode::BAD_GATEWAY, format!("cannot find the push of {changeset}: {error}")))
        }
    }
}

fn is_revision(text: &str) -> bool {
    (12..=40).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Repository-relative paths without leading or trailing slashes; `..` is refused.
fn normalise_path(path: &str) -> ApiResult<String> {
    let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty() && *part != ".").collect();
    if parts.contains(&"..") {
        return Err(ApiError::invalid_field("path", "a path may not contain `..`"));
    }
    Ok(parts.join("/"))
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
}

fn validate(upload: &CoverageUpload) -> ApiResult<()> {
    if upload.repository.is_empty() || upload.repository.contains("..") {
        return Err(ApiError::invalid_field("repository", "a repository is a non-empty pushlog path"));
    }
    if !is_revision(&upload.revision) || upload.revision.len() != 40 {
        return Err(ApiError::invalid_field("revision", "a revision is 40 hexadecimal digits"));
    }
    for (field, name) in [("suite", &upload.suite), ("platform", &upload.platform)] {
        if !is_plain_name(name) {
            return Err(ApiError::invalid_field(field, format!("{field} must be letters, digits, `-`, `_` or `.`")));
        }
    }
    Ok(())
}

/// Flattens a covdir tree into rows, checking its totals on the way.
fn flatten(root: &CovdirNode) -> ApiResult<Vec<PathRow>> {
    let mut rows = Vec::new();
    flatten_into(root, String::new(), None, "covdir", &mut rows)?;
    Ok(rows)
}

fn flatten_into(
    node: &CovdirNode,
    path: String,
    parent: Option<String>,
    field: &str,
    rows: &mut Vec<PathRow>,
) -> ApiResult<()> {
    if node.lines_covered + node.lines_missed != node.lines_total {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "linesCovered ({}) + linesMissed ({}) != linesTotal ({})",
                node.lines_covered, node.lines_missed, node.lines_total
            ),
        ));
    }
    let (kind, lines, children) = match (&node.coverage, &node.children) {
        (Some(coverage), None) => ("file", Some(compress_lines(coverage)?), None),
        (None, Some(children)) => ("directory", None, Some(children.len() as i64)),
        _ => {
            return Err(ApiError::invalid_field(
                field,
                "a node has either `coverage` (a file) or `children` (a directory)",
            ));
        }
    };
    rows.push(PathRow {
        path: path.clone(),
        parent,
        kind,
        name: node.name.clone(),
        lines_total: node.lines_total as i64,
        lines_covered: node.lines_covered as i64,
        lines_missed: node.lines_missed as i64,
        coverage_percent: node.coverage_percent,
        children,
        lines,
    });
    for (name, child) in node.children.iter().flatten() {
        if name.is_empty() || name.contains('/') || name == ".." {
            return Err(ApiError::invalid_field(field, format!("invalid child name {name:?}")));
        }
        let child_path = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
        flatten_into(child, child_path, Some(path.clone()), &format!("{field}.children.{name}"), rows)?;
    }
    Ok(())
}

fn compress_lines(lines: &[i64]) -> ApiResult<Vec<u8>> {
    let json = serde_json::to_vec(lines).map_err(|error| ApiError::bad_request(error.to_string()))?;
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&json).and_then(|()| encoder.finish()).map_err(|error| ApiError::bad_request(error.to_string()))
}

fn decompress_lines(compressed: &[u8]) -> ApiResult<Vec<i64>> {
    let mut json = Vec::new();
    DeflateDecoder::new(compressed).read_to_end(&mut json).map_err(|error| corrupt_lines(&error))?;
    serde_json::from_slice(&json).map_err(|error| corrupt_lines(&error))
}

fn corrupt_lines(error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(%error, "stored coverage lines cannot be read");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_dot_dot_is_refused() {
        assert_eq!(normalise_path("/dom/base/").unwrap(), "dom/base");
        assert_eq!(normalise_path("").unwrap(), "");
        assert_eq!(normalise_path("./a//b").unwrap(), "a/b");
        assert!(normalise_path("a/../../etc").is_err());
    }

    #[test]
    fn line_arrays_survive_compression() {
        let lines = vec![-1, 0, 3, 18_446_744_073, -1];
        assert_eq!(decompress_lines(&compress_lines(&lines).unwrap()).unwrap(), lines);
    }
}
