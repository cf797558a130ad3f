//! Coverage reports: uploaded by the coverage bot, read by dashboards by revision, path, suite
//! and platform.

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::read::DeflateDecoder;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::coverage::{
    ALL, CoverageFilters, CoverageReport, CoverageUpload, HistoryPoint, HistoryQuery, LatestReport, PathChild,
    PathCoverage, PathQuery, RepositoryQuery, SourceQuery, ZeroCoverageReport,
};
use shipit_shared::pushlog;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::auth::{Authorized, Reader, scopes};
use crate::covdir::{self, ParsedUpload};
use crate::db::{self, coverage::NewReport, coverage::ReportRef, coverage::RootTotals};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfNoneMatch, QueryParams, check_json_content};
use crate::state::AppState;

const LATEST_REPORTS: i64 = 10;
/// The longest path whose source is asked for.
const MAX_PATH_BYTES: usize = 4096;

/// Upload a report (JSON, gzip-compressed or not); a report with the same repository, revision,
/// suite and platform is replaced. The token is checked before a byte of the body is read; the
/// body is parsed as it arrives, in bounded memory; totals must agree with the per-line data.
#[utoipa::path(
    post, path = "/coverage/reports", tag = "coverage", request_body = CoverageUpload,
    security(("bearer" = ["project:shipit:coverage/manage"])),
    responses(
        (status = 201, description = "The report is stored", body = CoverageReport),
        (status = "4XX", description = "Bad report, token or scope; body too large; not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many uploads at once: try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_report(
    State(state): State<AppState>,
    _: Authorized<scopes::CoverageManage>,
    request: Request,
) -> ApiResult<(StatusCode, Json<CoverageReport>)> {
    check_json_content(request.headers())?;
    let Ok(_permit) = state.uploads.clone().try_acquire_owned() else {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many coverage uploads at once, try again")
            .with_retry_after(UPLOAD_RETRY_AFTER_SECS));
    };
    let limit = state.config.coverage_upload_limit_bytes;
    let body = request.into_body().into_data_stream().map_err(std::io::Error::other);
    let reader = SyncIoBridge::new(StreamReader::new(body));
    // Parsing a mozilla-central report takes a while: keep it off the executor threads.
    let mut upload = blocking(move || covdir::read_upload(reader, limit)).await?;
    validate(&upload)?;
    let rows = std::mem::take(&mut upload.rows);
    let paths = rows.len();
    let (sender, receiver) = tokio::sync::mpsc::channel(256);
    let replay = tokio::task::spawn_blocking(move || {
        rows.replay(|row| sender.blocking_send(row).map_err(|_| std::io::Error::other("the database write stopped")))
    });
    let report = NewReport {
        repository: &upload.repository,
        revision: &upload.revision,
        push_id: upload.push_id,
        push_date: upload.push_date,
        suite: &upload.suite,
        platform: &upload.platform,
        zero_coverage: &upload.zero_coverage,
    };
    let root = RootTotals {
        lines_total: upload.root.lines_total,
        lines_covered: upload.root.lines_covered,
        coverage_percent: upload.root.percent(),
    };
    let stored = db::coverage::replace_report(&state.pool, &report, &root, paths, receiver).await;
    match replay.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "cannot read back a spooled coverage upload"),
        Err(error) => tracing::error!(%error, "the spool reader panicked"),
    }
    let stored = stored?;
    state.coverage_cache.forget_lookups();
    tracing::info!(
        repository = %stored.repository, revision = %stored.revision, suite = %stored.suite, platform = %stored.platform,
        paths = stored.paths, "coverage report stored"
    );
    Ok((StatusCode::CREATED, Json(stored)))
}

/// How long a refused upload is told to wait, in seconds.
const UPLOAD_RETRY_AFTER_SECS: u64 = 30;

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(%error, "coverage upload processing panicked");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?
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
    check_repository(&query.repository)?;
    Ok(Json(db::coverage::latest(&state.pool, &query.repository, LATEST_REPORTS).await?))
}

/// A directory with its children one level deep, or a file with its per-line hits.
///
/// The answer carries an ETag naming the report's version and the path: a client holding it gets 304
/// without the node being read. A report asked for by changeset may be cached for five minutes; the
/// newest report is revalidated each time. The API keeps which report answers a query for
/// `coverage_lookup_ttl_secs` (2 s) and the nodes it read, so that repeated reads do not reach the database.
#[utoipa::path(get, path = "/coverage/path", tag = "coverage", params(PathQuery), responses(
    (status = 200, description = "The node", body = PathCoverage, headers(("ETag" = String, description = "The report's version and the path"))),
    (status = 304, description = "The node is the one of `If-None-Match`"),
    (status = 404, description = "No report, or no such path", body = Problem, content_type = "application/problem+json"),
))]
pub async fn path(
    State(state): State<AppState>,
    _reader: Reader,
    held: IfNoneMatch,
    QueryParams(query): QueryParams<PathQuery>,
) -> ApiResult<Response> {
    let (report, path) = locate(&state, &query).await?;
    let etag = path_etag(&report, &path);
    let cache = if query.changeset.as_deref().is_some_and(|changeset| !changeset.is_empty()) {
        "public, max-age=300"
    } else {
        "public, no-cache"
    };
    let held_already = held.holds(&etag);
    let etag = HeaderValue::try_from(etag).expect("the ETag is quoted digits and hexadecimal");
    let validators = [(header::ETAG, etag), (header::CACHE_CONTROL, HeaderValue::from_static(cache))];
    if held_already {
        return Ok((StatusCode::NOT_MODIFIED, validators).into_response());
    }
    let node = read_path(&state, report, &path).await?;
    Ok((validators, Json(&*node)).into_response())
}

/// The ETag of `path` in this version of the report.
fn path_etag(report: &ReportRef, path: &str) -> String {
    let digest = Sha256::digest(path.as_bytes());
    format!("\"{}-{}-{}\"", report.id, report.uploaded_at.timestamp_micros(), hex::encode(&digest[..8]))
}

/// The node of `query`: what `GET /coverage/path` answers, for the dashboard.
pub async fn path_coverage(state: &AppState, query: &PathQuery) -> ApiResult<Arc<PathCoverage>> {
    let (report, path) = locate(state, query).await?;
    read_path(state, report, &path).await
}

/// The report and the normalised path `query` names.
async fn locate(state: &AppState, query: &PathQuery) -> ApiResult<(ReportRef, String)> {
    check_repository(&query.repository)?;
    let (suite, platform) = (or_all(query.suite.as_deref()), or_all(query.platform.as_deref()));
    let report = resolve_report(state, &query.repository, query.changeset.as_deref(), suite, platform).await?;
    Ok((report, normalise_path(query.path.as_deref().unwrap_or_default())?))
}

/// The node of `path` in the report, from the cache when it holds it.
async fn read_path(state: &AppState, report: ReportRef, path: &str) -> ApiResult<Arc<PathCoverage>> {
    if let Some(node) = state.coverage_cache.node(&report, path) {
        return Ok(node);
    }
    let version = report.clone();
    let node = Arc::new(read_stored_path(state, report, path).await?);
    state.coverage_cache.keep_node(&version, path, node.clone());
    Ok(node)
}

async fn read_stored_path(state: &AppState, report: ReportRef, path: &str) -> ApiResult<PathCoverage> {
    let (node, children) = db::coverage::path_with_children(&state.pool, report.id, path)
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
    Ok(PathCoverage {
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
    })
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
    check_repository(&query.repository)?;
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
    check_repository(&query.repository)?;
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
    check_repository(&query.repository)?;
    let report = resolve_report(&state, &query.repository, query.changeset.as_deref(), ALL, ALL).await?;
    let (files, push_date) = db::coverage::zero_coverage(&state.pool, report.id).await?;
    Ok(Json(ZeroCoverageReport { changeset: report.revision, push: report.push_id, push_date, files }))
}

/// The text of a file at a changeset, read from hg.mozilla.org (at most 2 MiB) and kept in memory:
/// the source of the dashboard's file view. A file at a changeset never changes: answers may be
/// cached for a day.
#[utoipa::path(get, path = "/coverage/source", tag = "coverage", params(SourceQuery), responses(
    (status = 200, description = "The file's text", body = String, content_type = "text/plain"),
    (status = "4XX", description = "A bad changeset or path; no such file at hg.mozilla.org (404); a file over 2 MiB (413)", body = Problem, content_type = "application/problem+json"),
    (status = 502, description = "hg.mozilla.org failed", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Too many lookups at once: try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
))]
pub async fn source(
    State(state): State<AppState>,
    _reader: Reader,
    QueryParams(query): QueryParams<SourceQuery>,
) -> ApiResult<Response> {
    let text = file_source(&state, &query.repository, &query.changeset, &query.path).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CACHE_CONTROL, "public, max-age=86400, immutable"),
    ];
    Ok((headers, text.to_string()).into_response())
}

/// The text of `path` at `changeset`, checked as `GET /coverage/source` checks them.
pub async fn file_source(state: &AppState, repository: &str, changeset: &str, path: &str) -> ApiResult<Arc<str>> {
    check_repository(repository)?;
    if !is_revision(changeset) {
        return Err(ApiError::invalid_field("changeset", "a changeset is 12 to 40 hexadecimal digits"));
    }
    let path = normalise_path(path)?;
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return Err(ApiError::invalid_field(
            "path",
            format!("a file's path is needed, of at most {MAX_PATH_BYTES} bytes"),
        ));
    }
    state.sources.get(&state.upstream, &state.config.hgmo_url, repository, changeset, &path).await
}

fn or_all(name: Option<&str>) -> &str {
    name.filter(|name| !name.is_empty()).unwrap_or(ALL)
}

/// The report answering for `changeset`: its own, or else the first one at or after its push
/// (asked of hg.mozilla.org's pushlog when the repository has reports); the newest when no
/// changeset is given. Kept a while in the [`crate::coverage_cache`].
async fn resolve_report(
    state: &AppState,
    repository: &str,
    changeset: Option<&str>,
    suite: &str,
    platform: &str,
) -> ApiResult<ReportRef> {
    let changeset = changeset.filter(|changeset| !changeset.is_empty());
    let key = (
        repository.to_owned(),
        changeset.unwrap_or_default().to_ascii_lowercase(),
        suite.to_owned(),
        platform.to_owned(),
    );
    if let Some(report) = state.coverage_cache.lookup(&key) {
        return Ok(report);
    }
    let report = find_report(state, repository, changeset, suite, platform).await?;
    state.coverage_cache.keep_lookup(key, &report);
    Ok(report)
}

async fn find_report(
    state: &AppState,
    repository: &str,
    changeset: Option<&str>,
    suite: &str,
    platform: &str,
) -> ApiResult<ReportRef> {
    let Some(changeset) = changeset else {
        return db::coverage::newest_report(&state.pool, repository, suite, platform)
            .await?
            .ok_or_else(|| no_report(repository, suite, platform));
    };
    if !is_revision(changeset) {
        return Err(ApiError::invalid_field("changeset", "a changeset is 12 to 40 hexadecimal digits"));
    }
    if let Some(report) = db::coverage::report_by_revision(&state.pool, repository, changeset, suite, platform).await? {
        return Ok(report);
    }
    // Without any report to answer, the pushlog is not asked: a reader naming any repository
    // would otherwise make the API ask hg.mozilla.org about it.
    if db::coverage::newest_report(&state.pool, repository, suite, platform).await?.is_none() {
        return Err(no_report(repository, suite, platform));
    }
    let push_id = state
        .pushes
        .push_of(&state.upstream, &state.config.hgmo_url, repository, changeset)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{changeset} is in no push of {repository}")))?;
    db::coverage::report_at_or_after(&state.pool, repository, suite, platform, push_id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no coverage report at or after push {push_id} of {repository} ({suite}, {platform})"
        ))
    })
}

/// 404: the repository has no report for this suite and platform.
fn no_report(repository: &str, suite: &str, platform: &str) -> ApiError {
    ApiError::not_found(format!("no coverage report for {repository} ({suite}, {platform})"))
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

/// 400 unless `repository` is a plain pushlog path (`mozilla-central`, `integration/autoland`).
fn check_repository(repository: &str) -> ApiResult<()> {
    if !pushlog::is_valid_repository(repository) {
        return Err(ApiError::invalid_field(
            "repository",
            "a repository is a pushlog path: up to 100 letters, digits, `_`, `.` and `-`, in segments separated by `/`, \
             none of them `.` or `..`",
        ));
    }
    Ok(())
}

fn validate(upload: &ParsedUpload) -> ApiResult<()> {
    check_repository(&upload.repository)?;
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
    fn stored_line_arrays_read_back() {
        use std::io::Write;
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"[-1,0,3,18446744073,-1]").unwrap();
        assert_eq!(decompress_lines(&encoder.finish().unwrap()).unwrap(), [-1, 0, 3, 18_446_744_073, -1]);
    }
}
