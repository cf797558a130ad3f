//! Queries on the `pipelines`, `pipeline_steps` and `pipeline_audit` tables.
//!
//! Every change to a pipeline or its steps happens in a transaction that first locks the
//! pipeline's row ([`lock_pipeline`], or [`claim_pipelines`] for the engine, which skips rows
//! another process holds): one lock per pipeline orders all its writers, its audit chain included.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use serde_json::{Map, Value};
use shipit_shared::api_types::pipelines::{PipelineState, PipelineSummary, StepKind, StepState};
use tokio_postgres::Row;

use super::{DbError, parse};

macro_rules! pipeline_columns {
    () => {
        "id, uid, definition, state, created_by, created_at, updated_at, finished_at"
    };
}

macro_rules! step_columns {
    () => {
        "pipeline_uid, uid, position, kind, api_url, parameters, requires, description, timeout_secs, state, \
         attempts, message, cancel_pending, due_at, lease_until, transient_failures, polls, started_at, \
         finished_at, updated_at"
    };
}

const INSERT_PIPELINE: &str = concat!(
    "INSERT INTO pipelines (uid, definition, created_by) VALUES ($1, $2, $3) ON CONFLICT (uid) DO NOTHING RETURNING ",
    pipeline_columns!()
);

const INSERT_STEPS: &str = "INSERT INTO pipeline_steps \
         (pipeline_uid, uid, position, kind, api_url, parameters, requires, description, timeout_secs) \
     SELECT $1, v.uid, v.position, v.kind, v.api_url, v.parameters, \
         ARRAY(SELECT jsonb_array_elements_text(v.requires)), v.description, v.timeout_secs \
     FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::float8[]) \
         AS v (uid, position, kind, api_url, parameters, requires, description, timeout_secs)";

const SELECT_PIPELINE: &str = concat!("SELECT ", pipeline_columns!(), " FROM pipelines WHERE uid = $1");

const LOCK_PIPELINE: &str = concat!("SELECT ", pipeline_columns!(), " FROM pipelines WHERE uid = $1 FOR UPDATE");

const SELECT_STEPS: &str =
    concat!("SELECT ", step_columns!(), " FROM pipeline_steps WHERE pipeline_uid = $1 ORDER BY position");

const SELECT_PAGE: &str = "SELECT id, uid, state, created_by, created_at, updated_at, finished_at FROM pipelines \
     WHERE ($1::text IS NULL OR state = $1) AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3";

/// Pipelines with work for the engine now: a step to create, or a step due for a look (create,
/// poll, cancel) whose lease is free, or one past its timeout.
const CLAIM_PIPELINES: &str = concat!(
    "SELECT ",
    pipeline_columns!(),
    " FROM pipelines p WHERE p.uid IN ( \
         SELECT s.pipeline_uid FROM pipeline_steps s JOIN pipelines q ON q.uid = s.pipeline_uid \
         WHERE s.state = 'pending' AND q.state IN ('pending', 'running') AND NOT EXISTS ( \
             SELECT 1 FROM pipeline_steps d \
             WHERE d.pipeline_uid = s.pipeline_uid AND d.uid = ANY (s.requires) AND d.state <> 'success') \
         UNION \
         SELECT pipeline_uid FROM pipeline_steps \
         WHERE (state IN ('starting', 'in_progress') OR cancel_pending) \
             AND ((due_at <= now() AND (lease_until IS NULL OR lease_until < now())) \
                 OR (state IN ('starting', 'in_progress') \
                     AND started_at + make_interval(secs => timeout_secs) <= now()))) \
     ORDER BY p.id LIMIT $1 FOR UPDATE SKIP LOCKED"
);

const NEXT_DUE: &str = "SELECT min(at) FROM ( \
         SELECT greatest(due_at, lease_until) AS at FROM pipeline_steps \
         WHERE (state IN ('starting', 'in_progress') OR cancel_pending) AND due_at IS NOT NULL \
         UNION ALL \
         SELECT started_at + make_interval(secs => timeout_secs) FROM pipeline_steps \
         WHERE state IN ('starting', 'in_progress') AND timeout_secs IS NOT NULL) AS due";

const SET_PIPELINE_STATE: &str = "UPDATE pipelines SET state = $2, updated_at = now(), \
         finished_at = CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now() END \
     WHERE uid = $1";

const UPDATE_STEP: &str = "UPDATE pipeline_steps SET state = $3, attempts = $4, message = $5, cancel_pending = $6, \
         due_at = $7, lease_until = $8, transient_failures = $9, polls = $10, started_at = $11, finished_at = $12, \
         updated_at = now() \
     WHERE pipeline_uid = $1 AND uid = $2";

const NOTIFY: &str = "SELECT pg_notify('shipit_pipelines', $1)";

const LAST_AUDIT_HASH: &str = "SELECT hash FROM pipeline_audit WHERE pipeline_uid = $1 ORDER BY id DESC LIMIT 1";

const INSERT_AUDIT: &str = "INSERT INTO pipeline_audit \
         (pipeline_uid, step_uid, event, from_state, to_state, cause, actor, details, at, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

macro_rules! audit_columns {
    () => {
        "id, pipeline_uid, step_uid, event, from_state, to_state, cause, actor, details, at, prev_hash, hash"
    };
}

const SELECT_AUDIT: &str =
    concat!("SELECT ", audit_columns!(), " FROM pipeline_audit WHERE pipeline_uid = $1 ORDER BY id");

const SELECT_AUDIT_AFTER: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM pipeline_audit WHERE (pipeline_uid, id) > ($1, $2) ORDER BY pipeline_uid, id LIMIT $3"
);

/// The channel on which every committed change of a pipeline is announced (its uid as payload).
pub const CHANNEL: &str = "shipit_pipelines";

/// A pipeline's row.
#[derive(Clone, Debug)]
pub struct PipelineRow {
    pub id: i64,
    pub uid: String,
    pub definition: Value,
    pub state: PipelineState,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A step as defined, to insert.
#[derive(Clone, Debug)]
pub struct NewStep {
    pub uid: String,
    pub kind: Option<StepKind>,
    pub api_url: Option<String>,
    pub parameters: Value,
    pub requires: Vec<String>,
    pub description: Option<String>,
    pub timeout_secs: Option<f64>,
}

/// A step's row: its definition and where the engine stands with it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRow {
    pub pipeline_uid: String,
    pub uid: String,
    pub position: i32,
    pub kind: Option<StepKind>,
    pub api_url: Option<String>,
    pub parameters: Value,
    pub requires: Vec<String>,
    pub description: Option<String>,
    pub timeout_secs: Option<f64>,
    pub state: StepState,
    pub attempts: i32,
    pub message: Option<String>,
    pub cancel_pending: bool,
    pub due_at: Option<DateTime<Utc>>,
    pub lease_until: Option<DateTime<Utc>>,
    pub transient_failures: i32,
    pub polls: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// An audit entry, as stored (`id` is the database's).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub pipeline_uid: String,
    pub step_uid: Option<String>,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub cause: String,
    pub actor: Option<String>,
    pub details: Map<String, Value>,
    pub at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Inserts a pipeline; `None` when the uid exists already (nothing is written then).
pub async fn insert_pipeline(
    client: &impl GenericClient,
    uid: &str,
    definition: &Value,
    created_by: &str,
) -> Result<Option<PipelineRow>, DbError> {
    let statement = client.prepare_cached(INSERT_PIPELINE).await?;
    client.query_opt(&statement, &[&uid, definition, &created_by]).await?.as_ref().map(to_pipeline).transpose()
}

/// Inserts the steps of a new pipeline, in their order.
pub async fn insert_steps(client: &impl GenericClient, pipeline_uid: &str, steps: &[NewStep]) -> Result<(), DbError> {
    let uids: Vec<&str> = steps.iter().map(|step| step.uid.as_str()).collect();
    let positions: Vec<i32> = (0..steps.len()).map(|index| index as i32).collect();
    let kinds: Vec<Option<&str>> = steps.iter().map(|step| step.kind.map(StepKind::as_str)).collect();
    let api_urls: Vec<Option<&str>> = steps.iter().map(|step| step.api_url.as_deref()).collect();
    let parameters: Vec<&Value> = steps.iter().map(|step| &step.parameters).collect();
    let requires: Vec<Value> = steps.iter().map(|step| Value::from(step.requires.clone())).collect();
    let descriptions: Vec<Option<&str>> = steps.iter().map(|step| step.description.as_deref()).collect();
    let timeouts: Vec<Option<f64>> = steps.iter().map(|step| step.timeout_secs).collect();
    let statement = client.prepare_cached(INSERT_STEPS).await?;
    client
        .execute(
            &statement,
            &[&pipeline_uid, &uids, &positions, &kinds, &api_urls, &parameters, &requires, &descriptions, &timeouts],
        )
        .await?;
    Ok(())
}

/// A pipeline by uid.
pub async fn get_pipeline(pool: &Pool, uid: &str) -> Result<Option<PipelineRow>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_PIPELINE).await?;
    client.query_opt(&statement, &[&uid]).await?.as_ref().map(to_pipeline).transpose()
}

/// A pipeline by uid, its row locked until the end of the transaction.
pub async fn lock_pipeline(client: &impl GenericClient, uid: &str) -> Result<Option<PipelineRow>, DbError> {
    let statement = client.prepare_cached(LOCK_PIPELINE).await?;
    client.query_opt(&statement, &[&uid]).await?.as_ref().map(to_pipeline).transpose()
}

/// Up to `limit` pipelines with work for the engine, locked; those another process holds are
/// skipped.
pub async fn claim_pipelines(client: &impl GenericClient, limit: i64) -> Result<Vec<PipelineRow>, DbError> {
    let statement = client.prepare_cached(CLAIM_PIPELINES).await?;
    client.query(&statement, &[&limit]).await?.iter().map(to_pipeline).collect()
}

/// The earliest time a step is due, a lease runs out or a timeout passes.
pub async fn next_due(client: &impl GenericClient) -> Result<Option<DateTime<Utc>>, DbError> {
    let statement = client.prepare_cached(NEXT_DUE).await?;
    Ok(client.query_one(&statement, &[]).await?.try_get(0)?)
}

/// The steps of a pipeline, in their order.
pub async fn steps(client: &impl GenericClient, pipeline_uid: &str) -> Result<Vec<StepRow>, DbError> {
    let statement = client.prepare_cached(SELECT_STEPS).await?;
    client.query(&statement, &[&pipeline_uid]).await?.iter().map(to_step).collect()
}

/// A page of pipelines, newest first.
pub async fn list_pipelines(
    pool: &Pool,
    state: Option<PipelineState>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<PipelineSummary>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_PAGE).await?;
    let rows = client.query(&statement, &[&state.map(PipelineState::as_str), &before, &limit]).await?;
    rows.iter()
        .map(|row| {
            Ok(PipelineSummary {
                id: row.try_get("id")?,
                uid: row.try_get("uid")?,
                state: parse(row.try_get("state")?)?,
                created_by: row.try_get("created_by")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                finished_at: row.try_get("finished_at")?,
            })
        })
        .collect()
}

/// Sets a pipeline's state (and its end, for a final state).
pub async fn set_pipeline_state(client: &impl GenericClient, uid: &str, state: PipelineState) -> Result<(), DbError> {
    let statement = client.prepare_cached(SET_PIPELINE_STATE).await?;
    client.execute(&statement, &[&uid, &state.as_str()]).await?;
    Ok(())
}

/// Writes what the engine keeps of a step (its definition is never changed).
pub async fn update_step(client: &impl GenericClient, step: &StepRow) -> Result<(), DbError> {
    let statement = client.prepare_cached(UPDATE_STEP).await?;
    client
        .execute(
            &statement,
            &[
                &step.pipeline_uid,
                &step.uid,
                &step.state.as_str(),
                &step.attempts,
                &step.message,
                &step.cancel_pending,
                &step.due_at,
                &step.lease_until,
                &step.transient_failures,
                &step.polls,
                &step.started_at,
                &step.finished_at,
            ],
        )
        .await?;
    Ok(())
}

/// Announces a change of the pipeline on [`CHANNEL`], when the transaction commits.
pub async fn notify(client: &impl GenericClient, pipeline_uid: &str) -> Result<(), DbError> {
    let statement = client.prepare_cached(NOTIFY).await?;
    client.execute(&statement, &[&pipeline_uid]).await?;
    Ok(())
}

/// The hash of the last audit entry of a pipeline.
pub async fn last_audit_hash(client: &impl GenericClient, pipeline_uid: &str) -> Result<Option<Vec<u8>>, DbError> {
    let statement = client.prepare_cached(LAST_AUDIT_HASH).await?;
    Ok(client.query_opt(&statement, &[&pipeline_uid]).await?.map(|row| row.get(0)))
}

/// Appends an audit entry (its `id` is ignored: the database gives it).
pub async fn insert_audit(client: &impl GenericClient, entry: &AuditRecord) -> Result<(), DbError> {
    let statement = client.prepare_cached(INSERT_AUDIT).await?;
    client
        .execute(
            &statement,
            &[
                &entry.pipeline_uid,
                &entry.step_uid,
                &entry.event,
                &entry.from_state,
                &entry.to_state,
                &entry.cause,
                &entry.actor,
                &Value::Object(entry.details.clone()),
                &entry.at,
                &entry.prev_hash,
                &entry.hash,
            ],
        )
        .await?;
    Ok(())
}

/// The audit log of a pipeline, oldest first.
pub async fn audit(pool: &Pool, pipeline_uid: &str) -> Result<Vec<AuditRecord>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_AUDIT).await?;
    client.query(&statement, &[&pipeline_uid]).await?.iter().map(to_audit).collect()
}

/// A batch of the whole audit log, by pipeline then in order, after the entry `(pipeline, id)`.
pub async fn audit_after(pool: &Pool, pipeline_uid: &str, id: i64, limit: i64) -> Result<Vec<AuditRecord>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_AUDIT_AFTER).await?;
    client.query(&statement, &[&pipeline_uid, &id, &limit]).await?.iter().map(to_audit).collect()
}

fn to_pipeline(row: &Row) -> Result<PipelineRow, DbError> {
    Ok(PipelineRow {
        id: row.try_get("id")?,
        uid: row.try_get("uid")?,
        definition: row.try_get("definition")?,
        state: parse(row.try_get("state")?)?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn to_step(row: &Row) -> Result<StepRow, DbError> {
    Ok(StepRow {
        pipeline_uid: row.try_get("pipeline_uid")?,
        uid: row.try_get("uid")?,
        position: row.try_get("position")?,
        kind: row.try_get::<_, Option<&str>>("kind")?.map(parse).transpose()?,
        api_url: row.try_get("api_url")?,
        parameters: row.try_get("parameters")?,
        requires: row.try_get("requires")?,
        description: row.try_get("description")?,
        timeout_secs: row.try_get("timeout_secs")?,
        state: parse(row.try_get("state")?)?,
        attempts: row.try_get("attempts")?,
        message: row.try_get("message")?,
        cancel_pending: row.try_get("cancel_pending")?,
        due_at: row.try_get("due_at")?,
        lease_until: row.try_get("lease_until")?,
        transient_failures: row.try_get("transient_failures")?,
        polls: row.try_get("polls")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn to_audit(row: &Row) -> Result<AuditRecord, DbError> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        pipeline_uid: row.try_get("pipeline_uid")?,
        step_uid: row.try_get("step_uid")?,
        event: row.try_get("event")?,
        from_state: row.try_get("from_state")?,
        to_state: row.try_get("to_state")?,
        cause: row.try_get("cause")?,
        actor: row.try_get("actor")?,
        details: match row.try_get("details")? {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        at: row.try_get("at")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}
