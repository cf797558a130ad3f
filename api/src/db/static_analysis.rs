//! Queries on the static-analysis tables: diffs and the issues found on them.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use shipit_shared::api_types::static_analysis::{
    CheckStat, DiffSummary, IssueBatch, IssueBatchResult, KnownIssue, NewIssue, StoredIssue,
};
use tokio_postgres::Row;

use super::DbError;

/// Creates the diff, or touches it when it is recorded with the same revision and repository;
/// returns nothing when it belongs to another revision or repository.
const UPSERT_DIFF: &str = "INSERT INTO static_analysis_diffs (id, revision_id, repository, base_commit, head_commit) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (id) DO UPDATE SET updated_at = now(), \
         base_commit = COALESCE(EXCLUDED.base_commit, static_analysis_diffs.base_commit), \
         head_commit = COALESCE(EXCLUDED.head_commit, static_analysis_diffs.head_commit) \
     WHERE static_analysis_diffs.revision_id = EXCLUDED.revision_id \
       AND static_analysis_diffs.repository = EXCLUDED.repository \
     RETURNING id";

const SELECT_DIFF_OWNER: &str = "SELECT revision_id, repository FROM static_analysis_diffs WHERE id = $1";

/// Every issue of a batch in one statement; `xmax = 0` tells an inserted row from an updated one.
const UPSERT_ISSUES: &str = "INSERT INTO static_analysis_issues \
         (diff_id, repository, hash, analyzer, path, line, nb_lines, column_number, level, check_name, message, \
          in_patch, is_new, publishable) \
     SELECT $1, $2, * FROM UNNEST($3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], \
                                  $9::text[], $10::text[], $11::text[], $12::bool[], $13::bool[], $14::bool[]) \
     ON CONFLICT (diff_id, hash) DO UPDATE SET analyzer = EXCLUDED.analyzer, path = EXCLUDED.path, \
         line = EXCLUDED.line, nb_lines = EXCLUDED.nb_lines, column_number = EXCLUDED.column_number, \
         level = EXCLUDED.level, check_name = EXCLUDED.check_name, message = EXCLUDED.message, \
         in_patch = EXCLUDED.in_patch, is_new = EXCLUDED.is_new, publishable = EXCLUDED.publishable, \
         updated_at = now() \
     RETURNING (xmax = 0) AS inserted";

/// The issues of a diff that a new batch no longer holds.
const DELETE_VANISHED: &str = "DELETE FROM static_analysis_issues WHERE diff_id = $1 AND NOT (hash = ANY($2))";

const SELECT_ISSUES: &str = "SELECT diff_id, hash, analyzer, path, line, nb_lines, column_number, level, check_name, \
         message, in_patch, is_new, publishable, created_at, updated_at \
     FROM static_analysis_issues WHERE diff_id = $1 ORDER BY path, line, analyzer, check_name, hash";

macro_rules! diff_summaries {
    ($where:literal, $order:literal) => {
        concat!(
            "SELECT d.id, d.revision_id, d.repository, d.base_commit, d.head_commit, d.created_at, d.updated_at, \
                 count(i.hash) AS issues, count(i.hash) FILTER (WHERE i.publishable) AS publishable, \
                 count(i.hash) FILTER (WHERE i.level = 'error') AS errors \
             FROM static_analysis_diffs d LEFT JOIN static_analysis_issues i ON i.diff_id = d.id WHERE ",
            $where,
            " GROUP BY d.id ORDER BY ",
            $order
        )
    };
}

const SELECT_REVISION_DIFFS: &str = diff_summaries!("d.revision_id = $1", "d.id");

const SELECT_RECENT_DIFFS: &str =
    diff_summaries!("($1::text IS NULL OR d.repository = $1)", "d.updated_at DESC, d.id DESC LIMIT $2");

const SELECT_CHECK_STATS: &str = "SELECT analyzer, check_name, (created_at AT TIME ZONE 'UTC')::date AS day, \
         count(*) AS issues, count(*) FILTER (WHERE publishable) AS publishable \
     FROM static_analysis_issues \
     WHERE ($1::text IS NULL OR repository = $1) AND ($2::text IS NULL OR analyzer = $2) AND created_at >= $3 \
     GROUP BY analyzer, check_name, day ORDER BY day DESC, issues DESC, analyzer, check_name LIMIT $4";

const SELECT_KNOWN: &str = "SELECT DISTINCT ON (hash) hash, analyzer, path, level, check_name \
     FROM static_analysis_issues \
     WHERE repository = $1 AND NOT is_new AND ($2::text IS NULL OR path = $2) \
     ORDER BY hash LIMIT $3";

/// What became of a batch.
#[derive(Debug)]
pub enum BatchOutcome {
    Stored(IssueBatchResult),
    /// The diff is recorded under another revision or repository.
    Conflict {
        revision_id: i64,
        repository: String,
    },
}

/// Records the diff and its issues, in one transaction: the batch is the diff's whole set, so
/// issues recorded before and absent from it are removed. `issues` must not repeat a hash.
pub async fn store_issues(pool: &Pool, diff_id: i64, batch: &IssueBatch) -> Result<BatchOutcome, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let upsert_diff = transaction.prepare_cached(UPSERT_DIFF).await?;
    let stored = transaction
        .query_opt(&upsert_diff, &[&diff_id, &batch.revision_id, &batch.repository, &batch.base, &batch.head])
        .await?;
    if stored.is_none() {
        let owner = transaction.prepare_cached(SELECT_DIFF_OWNER).await?;
        let row = transaction.query_one(&owner, &[&diff_id]).await?;
        return Ok(BatchOutcome::Conflict { revision_id: row.get(0), repository: row.get(1) });
    }
    let issues = &batch.issues;
    let column = |get: fn(&NewIssue) -> String| issues.iter().map(get).collect::<Vec<String>>();
    let hashes = column(|issue| issue.hash.clone());
    let analyzers = column(|issue| issue.analyzer.clone());
    let paths = column(|issue| issue.path.clone());
    let lines: Vec<i32> = issues.iter().map(|issue| issue.line).collect();
    let nb_lines: Vec<i32> = issues.iter().map(|issue| issue.nb_lines).collect();
    let columns: Vec<Option<i32>> = issues.iter().map(|issue| issue.column).collect();
    let levels = column(|issue| issue.level.as_str().to_owned());
    let checks = column(|issue| issue.check.clone());
    let messages = column(|issue| issue.message.clone());
    let in_patch: Vec<bool> = issues.iter().map(|issue| issue.in_patch).collect();
    let is_new: Vec<bool> = issues.iter().map(|issue| issue.is_new).collect();
    let publishable: Vec<bool> = issues.iter().map(|issue| issue.publishable).collect();
    let upsert = transaction.prepare_cached(UPSERT_ISSUES).await?;
    let rows = transaction
        .query(
            &upsert,
            &[
                &diff_id,
                &batch.repository,
                &hashes,
                &analyzers,
                &paths,
                &lines,
                &nb_lines,
                &columns,
                &levels,
                &checks,
                &messages,
                &in_patch,
                &is_new,
                &publishable,
            ],
        )
        .await?;
    let delete = transaction.prepare_cached(DELETE_VANISHED).await?;
    let removed = transaction.execute(&delete, &[&diff_id, &hashes]).await? as i64;
    transaction.commit().await?;
    let inserted = rows.iter().filter(|row| row.get::<_, bool>("inserted")).count() as i64;
    Ok(BatchOutcome::Stored(IssueBatchResult { diff_id, inserted, updated: rows.len() as i64 - inserted, removed }))
}

/// The diff's revision and repository, and its issues; `None` when the diff is not recorded.
pub async fn diff_issues(pool: &Pool, diff_id: i64) -> Result<Option<(i64, String, Vec<StoredIssue>)>, DbError> {
    let client = pool.get().await?;
    let owner = client.prepare_cached(SELECT_DIFF_OWNER).await?;
    let Some(row) = client.query_opt(&owner, &[&diff_id]).await? else { return Ok(None) };
    let select = client.prepare_cached(SELECT_ISSUES).await?;
    let issues = client.query(&select, &[&diff_id]).await?.iter().map(to_issue).collect::<Result<_, _>>()?;
    Ok(Some((row.get(0), row.get(1), issues)))
}

/// The diffs of a revision with their counts, oldest first, and the repository of the last.
pub async fn revision_diffs(pool: &Pool, revision_id: i64) -> Result<Vec<(String, DiffSummary)>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_REVISION_DIFFS).await?;
    let rows = client.query(&select, &[&revision_id]).await?;
    Ok(rows.iter().map(|row| (row.get("repository"), to_diff_summary(row))).collect())
}

/// A diff with its revision and repository.
#[derive(Clone, Debug)]
pub struct RecentDiff {
    pub revision_id: i64,
    pub repository: String,
    pub diff: DiffSummary,
}

/// The most recently analysed diffs, of one repository or all.
pub async fn recent_diffs(pool: &Pool, repository: Option<&str>, limit: i64) -> Result<Vec<RecentDiff>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_RECENT_DIFFS).await?;
    let rows = client.query(&select, &[&repository, &limit]).await?;
    Ok(rows
        .iter()
        .map(|row| RecentDiff {
            revision_id: row.get("revision_id"),
            repository: row.get("repository"),
            diff: to_diff_summary(row),
        })
        .collect())
}

fn to_diff_summary(row: &Row) -> DiffSummary {
    DiffSummary {
        id: row.get("id"),
        base: row.get("base_commit"),
        head: row.get("head_commit"),
        issues: row.get("issues"),
        publishable: row.get("publishable"),
        errors: row.get("errors"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// Issue counts per analyzer, check and day.
pub async fn check_stats(
    pool: &Pool,
    repository: Option<&str>,
    analyzer: Option<&str>,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<CheckStat>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_CHECK_STATS).await?;
    let rows = client.query(&select, &[&repository, &analyzer, &since, &limit]).await?;
    Ok(rows
        .iter()
        .map(|row| CheckStat {
            analyzer: row.get("analyzer"),
            check: row.get("check_name"),
            day: row.get("day"),
            issues: row.get("issues"),
            publishable: row.get("publishable"),
        })
        .collect())
}

/// Issues found at the base of some diff of `repository` (at `path`), one per hash.
pub async fn known_issues(
    pool: &Pool,
    repository: &str,
    path: Option<&str>,
    limit: i64,
) -> Result<Vec<KnownIssue>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_KNOWN).await?;
    let rows = client.query(&select, &[&repository, &path, &limit]).await?;
    rows.iter()
        .map(|row| {
            Ok(KnownIssue {
                hash: row.get("hash"),
                analyzer: row.get("analyzer"),
                path: row.get("path"),
                level: parse_level(row.get("level"))?,
                check: row.get("check_name"),
            })
        })
        .collect()
}

fn to_issue(row: &Row) -> Result<StoredIssue, DbError> {
    Ok(StoredIssue {
        issue: NewIssue {
            analyzer: row.get("analyzer"),
            path: row.get("path"),
            line: row.get("line"),
            nb_lines: row.get("nb_lines"),
            column: row.get("column_number"),
            level: parse_level(row.get("level"))?,
            check: row.get("check_name"),
            message: row.get("message"),
            hash: row.get("hash"),
            in_patch: row.get("in_patch"),
            is_new: row.get("is_new"),
            publishable: row.get("publishable"),
        },
        diff_id: row.get("diff_id"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

fn parse_level(name: &str) -> Result<shipit_shared::api_types::static_analysis::IssueLevel, DbError> {
    name.parse().map_err(|error: shipit_shared::api_types::UnknownName| DbError::Corrupt(error.to_string()))
}
