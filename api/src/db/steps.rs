//! Queries of the built-in step services: their steps, the signatures of sign-off steps, and the
//! notifications waiting to be sent.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use shipit_shared::api_types::pipelines::{Signature, StepKind, StepServiceState};
use tokio_postgres::Row;

use super::{DbError, parse};

macro_rules! step_columns {
    () => {
        "id, service, uid, parameters, state, message, task_group_id, triggered_at, checked_at, run_id, \
         expires_at, created_by, created_at, updated_at, finished_at"
    };
}

const INSERT_STEP: &str = concat!(
    "INSERT INTO service_steps (service, uid, parameters, expires_at, created_by) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (service, uid) DO NOTHING RETURNING ",
    step_columns!()
);

const SELECT_STEP: &str = concat!("SELECT ", step_columns!(), " FROM service_steps WHERE service = $1 AND uid = $2");

const LOCK_STEP: &str =
    concat!("SELECT ", step_columns!(), " FROM service_steps WHERE service = $1 AND uid = $2 FOR UPDATE");

const UPDATE_STEP: &str = "UPDATE service_steps SET state = $3, message = $4, task_group_id = $5, triggered_at = $6, \
         checked_at = $7, run_id = $8, finished_at = $9, updated_at = now() \
     WHERE service = $1 AND uid = $2";

const SELECT_PAGE: &str = concat!(
    "SELECT ",
    step_columns!(),
    " FROM service_steps WHERE service = $1 AND ($2::text IS NULL OR state = $2) \
       AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
);

const SELECT_EXPIRED: &str = concat!(
    "SELECT ",
    step_columns!(),
    " FROM service_steps WHERE service = 'signoff' AND state = 'in_progress' AND expires_at <= now() \
     ORDER BY expires_at LIMIT $1"
);

const SELECT_SIGNATURES: &str =
    "SELECT email, group_name, credential, signed_at FROM signoff_signatures WHERE step_uid = $1 ORDER BY signed_at";

const INSERT_SIGNATURE: &str = "INSERT INTO signoff_signatures (step_uid, email, group_name, credential) \
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";

const DELETE_SIGNATURE: &str = "DELETE FROM signoff_signatures WHERE step_uid = $1 AND email = $2";

const WAKE_PIPELINE_STEP: &str = "UPDATE pipeline_steps SET due_at = now() \
     WHERE pipeline_uid = $1 AND uid = $2 AND state = 'in_progress' AND lease_until IS NULL";

const INSERT_NOTIFICATION: &str = "INSERT INTO notifications (channel, step_uid, event, recipients, subject, body, payload) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Due notifications, each only once those before it for the same step and channel are
/// delivered or given up (people are told in order).
const CLAIM_NOTIFICATIONS: &str = "UPDATE notifications SET lease_until = now() + make_interval(secs => $2) \
     WHERE id IN (SELECT id FROM notifications n \
         WHERE sent_at IS NULL AND given_up_at IS NULL AND due_at <= now() \
           AND (lease_until IS NULL OR lease_until < now()) \
           AND NOT EXISTS (SELECT 1 FROM notifications earlier \
               WHERE earlier.step_uid = n.step_uid AND earlier.channel = n.channel AND earlier.id < n.id \
                 AND earlier.sent_at IS NULL AND earlier.given_up_at IS NULL) \
         ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, channel, step_uid, event, recipients, subject, body, payload, attempts";

const NOTIFICATION_SENT: &str = "UPDATE notifications SET sent_at = now(), attempts = attempts + 1, lease_until = NULL, \
         last_error = NULL WHERE id = $1";

const NOTIFICATION_FAILED: &str = "UPDATE notifications SET attempts = attempts + 1, lease_until = NULL, last_error = $2, \
         due_at = now() + make_interval(secs => $3), given_up_at = CASE WHEN $4 THEN now() END \
     WHERE id = $1";

const SELECT_NOTIFICATIONS: &str = "SELECT id, channel, step_uid, event, recipients, subject, body, payload, attempts \
     FROM notifications WHERE step_uid = $1 ORDER BY id";

/// A step of a built-in service, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceStepRow {
    pub id: i64,
    pub service: StepKind,
    pub uid: String,
    pub parameters: Value,
    pub state: StepServiceState,
    pub message: Option<String>,
    pub task_group_id: Option<String>,
    pub triggered_at: Option<DateTime<Utc>>,
    pub checked_at: Option<DateTime<Utc>>,
    pub run_id: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn to_step(row: &Row) -> Result<ServiceStepRow, DbError> {
    Ok(ServiceStepRow {
        id: row.try_get("id")?,
        service: parse(row.try_get("service")?)?,
        uid: row.try_get("uid")?,
        parameters: row.try_get("parameters")?,
        state: parse(row.try_get("state")?)?,
        message: row.try_get("message")?,
        task_group_id: row.try_get("task_group_id")?,
        triggered_at: row.try_get("triggered_at")?,
        checked_at: row.try_get("checked_at")?,
        run_id: row.try_get("run_id")?,
        expires_at: row.try_get("expires_at")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Inserts a step; `None` when the uid exists already on that service (nothing is written then).
pub async fn insert_step(
    client: &impl GenericClient,
    service: StepKind,
    uid: &str,
    parameters: &Value,
    expires_at: Option<DateTime<Utc>>,
    created_by: &str,
) -> Result<Option<ServiceStepRow>, DbError> {
    let statement = client.prepare_cached(INSERT_STEP).await?;
    let row = client.query_opt(&statement, &[&service.as_str(), &uid, parameters, &expires_at, &created_by]).await?;
    row.as_ref().map(to_step).transpose()
}

/// A step, read (`lock` false) or locked until the transaction ends.
pub async fn get_step(
    client: &impl GenericClient,
    service: StepKind,
    uid: &str,
    lock: bool,
) -> Result<Option<ServiceStepRow>, DbError> {
    let statement = client.prepare_cached(if lock { LOCK_STEP } else { SELECT_STEP }).await?;
    let row = client.query_opt(&statement, &[&service.as_str(), &uid]).await?;
    row.as_ref().map(to_step).transpose()
}

/// Writes what a service keeps of a step (its parameters are never changed).
pub async fn update_step(client: &impl GenericClient, step: &ServiceStepRow) -> Result<(), DbError> {
    let statement = client.prepare_cached(UPDATE_STEP).await?;
    client
        .execute(
            &statement,
            &[
                &step.service.as_str(),
                &step.uid,
                &step.state.as_str(),
                &step.message,
                &step.task_group_id,
                &step.triggered_at,
                &step.checked_at,
                &step.run_id,
                &step.finished_at,
            ],
        )
        .await?;
    Ok(())
}

/// A page of a service's steps, newest first.
pub async fn list_steps(
    client: &impl GenericClient,
    service: StepKind,
    state: Option<StepServiceState>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ServiceStepRow>, DbError> {
    let statement = client.prepare_cached(SELECT_PAGE).await?;
    let rows =
        client.query(&statement, &[&service.as_str(), &state.map(StepServiceState::as_str), &before, &limit]).await?;
    rows.iter().map(to_step).collect()
}

/// Sign-off steps past their expiry and still waiting (not locked: the caller locks each one,
/// its pipeline first).
pub async fn expired(client: &impl GenericClient, limit: i64) -> Result<Vec<ServiceStepRow>, DbError> {
    let statement = client.prepare_cached(SELECT_EXPIRED).await?;
    client.query(&statement, &[&limit]).await?.iter().map(to_step).collect()
}

/// The signatures of a sign-off step, oldest first.
pub async fn signatures(client: &impl GenericClient, step_uid: &str) -> Result<Vec<Signature>, DbError> {
    let statement = client.prepare_cached(SELECT_SIGNATURES).await?;
    let rows = client.query(&statement, &[&step_uid]).await?;
    rows.iter()
        .map(|row| {
            Ok(Signature {
                email: row.try_get("email")?,
                group: row.try_get("group_name")?,
                credential: row.try_get("credential")?,
                signed_at: row.try_get("signed_at")?,
            })
        })
        .collect()
}

/// Adds a signature; false when the person has signed the step already.
pub async fn insert_signature(
    client: &impl GenericClient,
    step_uid: &str,
    email: &str,
    group: &str,
    credential: &str,
) -> Result<bool, DbError> {
    let statement = client.prepare_cached(INSERT_SIGNATURE).await?;
    Ok(client.execute(&statement, &[&step_uid, &email, &group, &credential]).await? == 1)
}

/// Removes a person's signature; false when there was none.
pub async fn delete_signature(client: &impl GenericClient, step_uid: &str, email: &str) -> Result<bool, DbError> {
    let statement = client.prepare_cached(DELETE_SIGNATURE).await?;
    Ok(client.execute(&statement, &[&step_uid, &email]).await? == 1)
}

/// Makes a pipeline's step due for a look now (its built-in service has news), unless a
/// process holds it; true when it did.
pub async fn wake_pipeline_step(
    client: &impl GenericClient,
    pipeline_uid: &str,
    step_uid: &str,
) -> Result<bool, DbError> {
    let statement = client.prepare_cached(WAKE_PIPELINE_STEP).await?;
    Ok(client.execute(&statement, &[&pipeline_uid, &step_uid]).await? == 1)
}

/// A notification to send, or as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct NotificationRow {
    pub id: i64,
    /// `email` or `webhook`.
    pub channel: String,
    pub step_uid: String,
    pub event: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub payload: Value,
    pub attempts: i32,
}

fn to_notification(row: &Row) -> Result<NotificationRow, DbError> {
    Ok(NotificationRow {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        step_uid: row.try_get("step_uid")?,
        event: row.try_get("event")?,
        recipients: row.try_get("recipients")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        payload: row.try_get("payload")?,
        attempts: row.try_get("attempts")?,
    })
}

/// Queues a notification (its `id` and `attempts` are ignored).
pub async fn insert_notification(client: &impl GenericClient, notification: &NotificationRow) -> Result<(), DbError> {
    let statement = client.prepare_cached(INSERT_NOTIFICATION).await?;
    client
        .execute(
            &statement,
            &[
                &notification.channel,
                &notification.step_uid,
                &notification.event,
                &notification.recipients,
                &notification.subject,
                &notification.body,
                &notification.payload,
            ],
        )
        .await?;
    Ok(())
}

/// Leases up to `limit` notifications due for sending for `lease_secs`.
pub async fn claim_notifications(
    client: &impl GenericClient,
    limit: i64,
    lease_secs: f64,
) -> Result<Vec<NotificationRow>, DbError> {
    let statement = client.prepare_cached(CLAIM_NOTIFICATIONS).await?;
    client.query(&statement, &[&limit, &lease_secs]).await?.iter().map(to_notification).collect()
}

/// Marks a notification delivered.
pub async fn notification_sent(client: &impl GenericClient, id: i64) -> Result<(), DbError> {
    let statement = client.prepare_cached(NOTIFICATION_SENT).await?;
    client.execute(&statement, &[&id]).await?;
    Ok(())
}

/// Records a failed delivery: tried again after `retry_secs`, or never again when `give_up`.
pub async fn notification_failed(
    client: &impl GenericClient,
    id: i64,
    error: &str,
    retry_secs: f64,
    give_up: bool,
) -> Result<(), DbError> {
    let statement = client.prepare_cached(NOTIFICATION_FAILED).await?;
    client.execute(&statement, &[&id, &error, &retry_secs, &give_up]).await?;
    Ok(())
}

/// The notifications of a step, oldest first.
pub async fn notifications(client: &impl GenericClient, step_uid: &str) -> Result<Vec<NotificationRow>, DbError> {
    let statement = client.prepare_cached(SELECT_NOTIFICATIONS).await?;
    client.query(&statement, &[&step_uid]).await?.iter().map(to_notification).collect()
}
