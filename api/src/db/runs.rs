//! Queries on the `runs` table.

use deadpool_postgres::Pool;
use serde_json::{Map, Value};
use shipit_shared::api_types::run_limits::{LISTED_ERROR_SUMMARY_CHARS, MAX_COUNTS};
use shipit_shared::api_types::{NewRun, Run, RunFinish, RunProgress, RunQuery, RunStatus};
use tokio_postgres::Row;

use super::{DbError, parse};

macro_rules! columns {
    () => {
        "id, bot, trigger, parameters, status, done, total, message, counts, error_summary, \
         created_at, updated_at, finished_at"
    };
}

const INSERT: &str = concat!("INSERT INTO runs (bot, trigger, parameters) VALUES ($1, $2, $3) RETURNING ", columns!());

const SELECT_ONE: &str = concat!("SELECT ", columns!(), " FROM runs WHERE id = $1");

const SELECT_LATEST_PER_BOT: &str =
    concat!("SELECT DISTINCT ON (bot) ", columns!(), " FROM runs ORDER BY bot, id DESC");

// A page carries the start of each error summary only: a page stays small whatever its runs hold.
const SELECT_PAGE: &str = "SELECT id, bot, trigger, parameters, status, done, total, message, counts, \
         left(error_summary, $5) AS error_summary, created_at, updated_at, finished_at \
     FROM runs \
     WHERE ($1::text IS NULL OR bot = $1) AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3) \
     ORDER BY id DESC LIMIT $4";

const REPORT_PROGRESS: &str = concat!(
    "UPDATE runs SET done = COALESCE($2, done), total = COALESCE($3, total), message = COALESCE($4, message), \
         counts = counts || $5, updated_at = now() \
     WHERE id = $1 AND status = 'running' AND (SELECT count(*) FROM jsonb_object_keys(counts || $5)) <= $6 \
     RETURNING ",
    columns!()
);

const FINISH: &str = concat!(
    "UPDATE runs SET status = $2, error_summary = $3, counts = counts || $4, updated_at = now(), finished_at = now() \
     WHERE id = $1 AND status = 'running' AND (SELECT count(*) FROM jsonb_object_keys(counts || $4)) <= $5 \
     RETURNING ",
    columns!()
);

const FAIL_SILENT: &str = concat!(
    "UPDATE runs SET status = 'failed', finished_at = now(), updated_at = now(), error_summary = $2 \
     WHERE status = 'running' AND updated_at < now() - make_interval(secs => $1) RETURNING ",
    columns!()
);

const SELECT_STATUS: &str = "SELECT status FROM runs WHERE id = $1";

const LOCK_BOT: &str = "SELECT pg_advisory_xact_lock(hashtextextended('run:' || $1, 0))";

const SELECT_OPEN_OF_BOT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM runs WHERE bot = $1 AND status = 'running' AND ($2::jsonb IS NULL OR parameters = $2) ORDER BY id LIMIT 1"
);

/// What became of an update aimed at an open run.
#[derive(Debug)]
pub enum RunUpdate {
    /// The run was open and is updated.
    Updated(Run),
    /// No run has this id.
    NotFound,
    /// The run is closed already, with this status.
    Closed(RunStatus),
    /// The run is open, but the merged counts would be more than a run may hold.
    TooManyCounts,
}

/// Which open runs keep a new run of the same bot from starting.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Overlap {
    /// Any open run of the bot (scheduled runs).
    AnyRun,
    /// An open run of the bot with the same parameters (reruns).
    SameParameters,
}

/// What became of a request to open a run that must not overlap others.
#[derive(Debug)]
pub enum OpenOutcome {
    Opened(Run),
    /// This open run is in the way.
    Busy(Run),
}

/// Opens a run unless an open run of the same bot is in the way. A transaction-scoped advisory
/// lock per bot makes the check and the insert one step, across API processes too.
pub async fn open_exclusive(pool: &Pool, run: &NewRun, overlap: Overlap) -> Result<OpenOutcome, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    transaction.execute(&transaction.prepare_cached(LOCK_BOT).await?, &[&run.bot]).await?;
    let parameters = Value::Object(run.parameters.clone());
    let same_parameters = (overlap == Overlap::SameParameters).then_some(&parameters);
    let open = transaction.prepare_cached(SELECT_OPEN_OF_BOT).await?;
    if let Some(row) = transaction.query_opt(&open, &[&run.bot, &same_parameters]).await? {
        return Ok(OpenOutcome::Busy(to_run(&row)?));
    }
    let insert = transaction.prepare_cached(INSERT).await?;
    let row = transaction.query_one(&insert, &[&run.bot, &run.trigger.as_str(), &parameters]).await?;
    transaction.commit().await?;
    Ok(OpenOutcome::Opened(to_run(&row)?))
}

/// Opens a run.
pub async fn insert(pool: &Pool, run: &NewRun) -> Result<Run, DbError> {
    let client = pool.get().await?;
    let parameters = Value::Object(run.parameters.clone());
    let statement = client.prepare_cached(INSERT).await?;
    to_run(&client.query_one(&statement, &[&run.bot, &run.trigger.as_str(), &parameters]).await?)
}

/// One run.
pub async fn get(pool: &Pool, id: i64) -> Result<Option<Run>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_ONE).await?;
    client.query_opt(&statement, &[&id]).await?.as_ref().map(to_run).transpose()
}

/// Runs matching `query`, newest first, at most `limit` of them.
pub async fn list(pool: &Pool, query: &RunQuery, limit: i64) -> Result<Vec<Run>, DbError> {
    let client = pool.get().await?;
    let status = query.status.map(RunStatus::as_str);
    let statement = client.prepare_cached(SELECT_PAGE).await?;
    let listed = LISTED_ERROR_SUMMARY_CHARS as i32;
    let rows = client.query(&statement, &[&query.bot, &status, &query.before, &limit, &listed]).await?;
    rows.iter().map(to_run).collect()
}

/// The newest run of each bot that has run, by bot name.
pub async fn latest_per_bot(pool: &Pool) -> Result<Vec<Run>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_LATEST_PER_BOT).await?;
    client.query(&statement, &[]).await?.iter().map(to_run).collect()
}

/// Records progress of an open run and resets its timeout.
pub async fn report_progress(pool: &Pool, id: i64, progress: &RunProgress) -> Result<RunUpdate, DbError> {
    let client = pool.get().await?;
    let counts = Value::Object(progress.counts.clone());
    let statement = client.prepare_cached(REPORT_PROGRESS).await?;
    let row = client
        .query_opt(&statement, &[&id, &progress.done, &progress.total, &progress.message, &counts, &max_counts()])
        .await?;
    update_outcome(&client, id, row).await
}

/// Closes an open run with its outcome.
pub async fn finish(pool: &Pool, id: i64, finish: &RunFinish) -> Result<RunUpdate, DbError> {
    let client = pool.get().await?;
    let counts = Value::Object(finish.counts.clone());
    let status = RunStatus::from(finish.status).as_str();
    let statement = client.prepare_cached(FINISH).await?;
    let row = client.query_opt(&statement, &[&id, &status, &finish.error_summary, &counts, &max_counts()]).await?;
    update_outcome(&client, id, row).await
}

/// Marks failed every open run that has not reported for `timeout_secs`; returns them.
pub async fn fail_silent(pool: &Pool, timeout_secs: i64) -> Result<Vec<Run>, DbError> {
    let client = pool.get().await?;
    let summary = format!("no report from the bot for {timeout_secs} s: marked failed, the bot probably crashed");
    let statement = client.prepare_cached(FAIL_SILENT).await?;
    let rows = client.query(&statement, &[&(timeout_secs as f64), &summary]).await?;
    rows.iter().map(to_run).collect()
}

async fn update_outcome(
    client: &deadpool_postgres::Client,
    id: i64,
    updated: Option<Row>,
) -> Result<RunUpdate, DbError> {
    if let Some(row) = updated {
        return Ok(RunUpdate::Updated(to_run(&row)?));
    }
    let statement = client.prepare_cached(SELECT_STATUS).await?;
    match client.query_opt(&statement, &[&id]).await? {
        None => Ok(RunUpdate::NotFound),
        Some(row) => match parse(row.get("status"))? {
            RunStatus::Running => Ok(RunUpdate::TooManyCounts),
            status => Ok(RunUpdate::Closed(status)),
        },
    }
}

fn max_counts() -> i64 {
    MAX_COUNTS as i64
}

fn to_run(row: &Row) -> Result<Run, DbError> {
    Ok(Run {
        id: row.get("id"),
        bot: row.get("bot"),
        trigger: parse(row.get("trigger"))?,
        parameters: object(row.get("parameters")),
        status: parse(row.get("status"))?,
        done: row.get("done"),
        total: row.get("total"),
        message: row.get("message"),
        counts: object(row.get("counts")),
        error_summary: row.get("error_summary"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        finished_at: row.get("finished_at"),
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
