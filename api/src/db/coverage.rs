//! Queries on the coverage tables.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde_json::Value;
use shipit_shared::api_types::coverage::{
    CoverageFilters, CoverageReport, HistoryPoint, LatestReport, ZeroCoverageFile,
};
use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use super::DbError;

/// A directory or file of a report, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct PathRow {
    /// Repository-relative; empty for the root.
    pub path: String,
    /// `None` for the root.
    pub parent: Option<String>,
    /// `directory` or `file`.
    pub kind: &'static str,
    pub name: String,
    pub lines_total: i64,
    pub lines_covered: i64,
    pub lines_missed: i64,
    pub coverage_percent: f64,
    /// Entries of a directory.
    pub children: Option<i64>,
    /// A file's per-line hits, compressed.
    pub lines: Option<Vec<u8>>,
}

/// The totals of a report's root, stored with the report.
#[derive(Clone, Copy, Debug)]
pub struct RootTotals {
    pub lines_total: i64,
    pub lines_covered: i64,
    pub coverage_percent: f64,
}

/// The identity of a stored report, as reads resolve it.
#[derive(Clone, Debug)]
pub struct ReportRef {
    pub id: i64,
    pub revision: String,
    pub push_id: i64,
    /// When this version of the report was stored: a replaced report has a new one.
    pub uploaded_at: DateTime<Utc>,
}

/// The report's key and metadata, as uploaded.
#[derive(Clone, Debug)]
pub struct NewReport<'a> {
    pub repository: &'a str,
    pub revision: &'a str,
    pub push_id: i64,
    pub push_date: DateTime<Utc>,
    pub suite: &'a str,
    pub platform: &'a str,
    pub zero_coverage: &'a [ZeroCoverageFile],
}

const LOCK_KEY: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

const DELETE_REPORT: &str =
    "DELETE FROM coverage_reports WHERE repository = $1 AND revision = $2 AND suite = $3 AND platform = $4";

const INSERT_REPORT: &str = "INSERT INTO coverage_reports \
     (repository, revision, push_id, push_date, suite, platform, lines_total, lines_covered, coverage_percent, paths, \
      zero_coverage) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id, uploaded_at";

const COPY_PATHS: &str = "COPY coverage_paths (report_id, path, parent, kind, name, lines_total, lines_covered, \
     lines_missed, coverage_percent, children, lines) FROM STDIN BINARY";

const PATH_TYPES: &[Type] = &[
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::FLOAT8,
    Type::INT8,
    Type::BYTEA,
];

const REPORT_BY_REVISION: &str = "SELECT id, revision, push_id, uploaded_at FROM coverage_reports \
     WHERE repository = $1 AND suite = $3 AND platform = $4 \
       AND (revision = $2 OR (length($2) >= 12 AND starts_with(revision, $2))) \
     ORDER BY push_id DESC LIMIT 1";

const REPORT_NEWEST: &str = "SELECT id, revision, push_id, uploaded_at FROM coverage_reports \
     WHERE repository = $1 AND suite = $2 AND platform = $3 ORDER BY push_id DESC LIMIT 1";

const REPORT_AT_OR_AFTER_PUSH: &str = "SELECT id, revision, push_id, uploaded_at FROM coverage_reports \
     WHERE repository = $1 AND suite = $2 AND platform = $3 AND push_id >= $4 ORDER BY push_id ASC LIMIT 1";

const SELECT_PATH: &str = "SELECT path, parent, kind, name, lines_total, lines_covered, lines_missed, \
     coverage_percent, children, lines FROM coverage_paths WHERE report_id = $1 AND path = $2";

const SELECT_CHILDREN: &str = "SELECT path, parent, kind, name, lines_total, lines_covered, lines_missed, \
     coverage_percent, children, NULL::bytea AS lines FROM coverage_paths WHERE report_id = $1 AND parent = $2 \
     ORDER BY name";

const SELECT_LATEST: &str = "SELECT revision, push_id, push_date FROM coverage_reports \
     WHERE repository = $1 AND suite = 'all' AND platform = 'all' ORDER BY push_id DESC LIMIT $2";

const SELECT_REPOSITORIES: &str = "SELECT repository FROM coverage_reports \
     WHERE suite = 'all' AND platform = 'all' GROUP BY repository ORDER BY max(push_id) DESC LIMIT $1";

const SELECT_HISTORY: &str = "SELECT r.revision, r.push_id, r.push_date, p.coverage_percent \
     FROM coverage_reports r JOIN coverage_paths p ON p.report_id = r.id AND p.path = $2 \
     WHERE r.repository = $1 AND r.suite = $3 AND r.platform = $4 \
       AND ($5::timestamptz IS NULL OR r.push_date >= $5) AND ($6::timestamptz IS NULL OR r.push_date <= $6) \
     ORDER BY r.push_id";

const SELECT_SUITES: &str =
    "SELECT DISTINCT suite FROM coverage_reports WHERE repository = $1 AND suite <> 'all' ORDER BY suite";

const SELECT_PLATFORMS: &str =
    "SELECT DISTINCT platform FROM coverage_reports WHERE repository = $1 AND platform <> 'all' ORDER BY platform";

const SELECT_ZERO: &str = "SELECT zero_coverage, push_date FROM coverage_reports WHERE id = $1";

/// Stores a report with its `paths` rows, received one by one from `rows`, replacing any report
/// of the same key, in one transaction: readers see the old report or the new one, never a mix,
/// and a report whose rows stop short of `paths` is not stored at all.
pub async fn replace_report(
    pool: &Pool,
    report: &NewReport<'_>,
    root: &RootTotals,
    paths: u64,
    mut rows: tokio::sync::mpsc::Receiver<PathRow>,
) -> Result<CoverageReport, DbError> {
    let zero_coverage =
        serde_json::to_value(report.zero_coverage).map_err(|error| DbError::Corrupt(error.to_string()))?;
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let key = format!("coverage:{}:{}:{}:{}", report.repository, report.revision, report.suite, report.platform);
    transaction.execute(&transaction.prepare_cached(LOCK_KEY).await?, &[&key]).await?;
    let delete = transaction.prepare_cached(DELETE_REPORT).await?;
    transaction.execute(&delete, &[&report.repository, &report.revision, &report.suite, &report.platform]).await?;
    let insert = transaction.prepare_cached(INSERT_REPORT).await?;
    let row = transaction
        .query_one(
            &insert,
            &[
                &report.repository,
                &report.revision,
                &report.push_id,
                &report.push_date,
                &report.suite,
                &report.platform,
                &root.lines_total,
                &root.lines_covered,
                &root.coverage_percent,
                &(paths as i64),
                &zero_coverage,
            ],
        )
        .await?;
    let report_id: i64 = row.get("id");
    let sink = transaction.copy_in(COPY_PATHS).await?;
    let writer = BinaryCopyInWriter::new(sink, PATH_TYPES);
    let mut writer = std::pin::pin!(writer);
    let mut written = 0u64;
    while let Some(path) = rows.recv().await {
        written += 1;
        writer
            .as_mut()
            .write(&[
                &report_id,
                &path.path,
                &path.parent,
                &path.kind,
                &path.name,
                &path.lines_total,
                &path.lines_covered,
                &path.lines_missed,
                &path.coverage_percent,
                &path.children,
                &path.lines,
            ])
            .await?;
    }
    if written != paths {
        return Err(DbError::Corrupt(format!("a report of {paths} paths, {written} of them read back")));
    }
    writer.finish().await?;
    transaction.commit().await?;
    Ok(CoverageReport {
        repository: report.repository.to_owned(),
        revision: report.revision.to_owned(),
        push_id: report.push_id,
        push_date: report.push_date,
        suite: report.suite.to_owned(),
        platform: report.platform.to_owned(),
        lines_total: root.lines_total as u64,
        lines_covered: root.lines_covered as u64,
        coverage_percent: root.coverage_percent,
        paths,
        uploaded_at: row.get("uploaded_at"),
    })
}

/// The report of `revision` (or a revision starting with it, from 12 characters).
pub async fn report_by_revision(
    pool: &Pool,
    repository: &str,
    revision: &str,
    suite: &str,
    platform: &str,
) -> Result<Option<ReportRef>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(REPORT_BY_REVISION).await?;
    Ok(client.query_opt(&statement, &[&repository, &revision, &suite, &platform]).await?.as_ref().map(to_report_ref))
}

/// The newest report.
pub async fn newest_report(
    pool: &Pool,
    repository: &str,
    suite: &str,
    platform: &str,
) -> Result<Option<ReportRef>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(REPORT_NEWEST).await?;
    Ok(client.query_opt(&statement, &[&repository, &suite, &platform]).await?.as_ref().map(to_report_ref))
}

/// The first report at or after push `push_id`.
pub async fn report_at_or_after(
    pool: &Pool,
    repository: &str,
    suite: &str,
    platform: &str,
    push_id: i64,
) -> Result<Option<ReportRef>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(REPORT_AT_OR_AFTER_PUSH).await?;
    Ok(client.query_opt(&statement, &[&repository, &suite, &platform, &push_id]).await?.as_ref().map(to_report_ref))
}

/// A path of a report, and its children when it is a directory.
pub async fn path_with_children(
    pool: &Pool,
    report_id: i64,
    path: &str,
) -> Result<Option<(PathRow, Vec<PathRow>)>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_PATH).await?;
    let Some(node) = client.query_opt(&statement, &[&report_id, &path]).await? else {
        return Ok(None);
    };
    let node = to_path_row(&node)?;
    let children = if node.kind == "directory" {
        let statement = client.prepare_cached(SELECT_CHILDREN).await?;
        client.query(&statement, &[&report_id, &path]).await?.iter().map(to_path_row).collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok(Some((node, children)))
}

/// The newest `limit` reports merging every suite and platform.
pub async fn latest(pool: &Pool, repository: &str, limit: i64) -> Result<Vec<LatestReport>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_LATEST).await?;
    let rows = client.query(&statement, &[&repository, &limit]).await?;
    Ok(rows.iter().map(|row| LatestReport { revision: row.get(0), push: row.get(1), date: row.get(2) }).collect())
}

/// The repositories that have merged reports, the most recently pushed first.
pub async fn repositories(pool: &Pool, limit: i64) -> Result<Vec<String>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_REPOSITORIES).await?;
    Ok(client.query(&statement, &[&limit]).await?.iter().map(|row| row.get(0)).collect())
}

/// The coverage of `path` in each report between two dates, oldest first.
pub async fn history(
    pool: &Pool,
    repository: &str,
    path: &str,
    suite: &str,
    platform: &str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<Vec<HistoryPoint>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_HISTORY).await?;
    let rows = client.query(&statement, &[&repository, &path, &suite, &platform, &start, &end]).await?;
    Ok(rows
        .iter()
        .map(|row| HistoryPoint { changeset: row.get(0), push: row.get(1), date: row.get(2), coverage: row.get(3) })
        .collect())
}

/// The suites and platforms that have reports of their own.
pub async fn filters(pool: &Pool, repository: &str) -> Result<CoverageFilters, DbError> {
    let client = pool.get().await?;
    let suites = client.query(&client.prepare_cached(SELECT_SUITES).await?, &[&repository]).await?;
    let platforms = client.query(&client.prepare_cached(SELECT_PLATFORMS).await?, &[&repository]).await?;
    Ok(CoverageFilters {
        suites: suites.iter().map(|row| row.get(0)).collect(),
        platforms: platforms.iter().map(|row| row.get(0)).collect(),
    })
}

/// The zero-coverage files of a report, and the date of its push.
pub async fn zero_coverage(pool: &Pool, report_id: i64) -> Result<(Vec<ZeroCoverageFile>, DateTime<Utc>), DbError> {
    let client = pool.get().await?;
    let row = client.query_one(&client.prepare_cached(SELECT_ZERO).await?, &[&report_id]).await?;
    let value: Value = row.get(0);
    let files =
        serde_json::from_value(value).map_err(|error| DbError::Corrupt(format!("zero-coverage report: {error}")))?;
    Ok((files, row.get(1)))
}

fn to_report_ref(row: &Row) -> ReportRef {
    ReportRef {
        id: row.get("id"),
        revision: row.get("revision"),
        push_id: row.get("push_id"),
        uploaded_at: row.get("uploaded_at"),
    }
}

fn to_path_row(row: &Row) -> Result<PathRow, DbError> {
    let kind = match row.get::<_, &str>("kind") {
        "directory" => "directory",
        "file" => "file",
        other => return Err(DbError::Corrupt(format!("path kind {other}"))),
    };
    Ok(PathRow {
        path: row.get("path"),
        parent: row.get("parent"),
        kind,
        name: row.get("name"),
        lines_total: row.get("lines_total"),
        lines_covered: row.get("lines_covered"),
        lines_missed: row.get("lines_missed"),
        coverage_percent: row.get("coverage_percent"),
        children: row.get("children"),
        lines: row.get("lines"),
    })
}
