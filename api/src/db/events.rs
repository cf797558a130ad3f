//! Queries on the `events` table: events a bot claims before acting on them and confirms once it
//! acted, keyed by source and key.
//!
//! A claim is pending while `claim_expires_at` is set, handled once it is cleared. A pending claim
//! lapses, so that the event may be claimed again, when its lease ran out or its run failed (a
//! bot that could not be started closes its run as failed).

use deadpool_postgres::Pool;
use serde_json::Value;
use shipit_shared::api_types::events::{EventClaim, EventRecord, HandledEvent};
use tokio_postgres::Row;

use super::DbError;

const SELECT_ONE: &str = "SELECT source, key, run_id, details, recorded_at, claim_expires_at IS NULL AS handled \
     FROM events WHERE source = $1 AND key = $2";

const SELECT_FOR_CLAIM: &str = "SELECT e.run_id, e.claim_expires_at IS NULL AS handled, \
         e.claim_expires_at <= now() OR COALESCE(r.status = 'failed', true) AS lapsed \
     FROM events e LEFT JOIN runs r ON r.id = e.run_id \
     WHERE e.source = $1 AND e.key = $2 FOR UPDATE OF e";

const INSERT_RUN: &str = "INSERT INTO runs (bot, trigger, parameters) VALUES ($1, $2, $3) RETURNING id";

/// A concurrent first claim makes this insert nothing, once that claim commits.
const INSERT_CLAIM: &str = "INSERT INTO events (source, key, run_id, details, claim_expires_at) \
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) ON CONFLICT (source, key) DO NOTHING";

const RECLAIM: &str = "UPDATE events SET run_id = $3, details = $4, claim_expires_at = now() + make_interval(secs => $5) \
     WHERE source = $1 AND key = $2";

const CONFIRM: &str = "UPDATE events e SET claim_expires_at = NULL, details = e.details || v.details \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[]) AS v (source, key, run_id, details) \
     WHERE e.source = v.source AND e.key = v.key AND e.run_id = v.run_id AND e.claim_expires_at IS NOT NULL";

/// What claiming an event did.
#[derive(Debug)]
pub enum Claimed {
    /// The claim is granted and this run opened for it.
    Granted(i64),
    /// The event was handled before, by this run when it started one.
    Handled(Option<i64>),
    /// Another claim is pending, with this run.
    Busy(Option<i64>),
}

/// Claims an event and opens its run, in one transaction: granted when the event is new or its
/// pending claim lapsed.
pub async fn claim(pool: &Pool, source: &str, key: &str, claim: &EventClaim) -> Result<Claimed, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let existing =
        transaction.query_opt(&transaction.prepare_cached(SELECT_FOR_CLAIM).await?, &[&source, &key]).await?;
    if let Some(row) = &existing {
        let run_id: Option<i64> = row.try_get("run_id")?;
        if row.try_get("handled")? {
            return Ok(Claimed::Handled(run_id));
        }
        if !row.try_get::<_, bool>("lapsed")? {
            return Ok(Claimed::Busy(run_id));
        }
    }
    let parameters = Value::Object(claim.run.parameters.clone());
    let insert_run = transaction.prepare_cached(INSERT_RUN).await?;
    let run_id: i64 =
        transaction.query_one(&insert_run, &[&claim.run.bot, &claim.run.trigger.as_str(), &parameters]).await?.get(0);
    let details = Value::Object(claim.details.clone());
    let lease = f64::from(claim.lease_secs);
    let statement = if existing.is_some() { RECLAIM } else { INSERT_CLAIM };
    let statement = transaction.prepare_cached(statement).await?;
    if transaction.execute(&statement, &[&source, &key, &run_id, &details, &lease]).await? == 0 {
        // Dropping the transaction rolls the run back.
        return Ok(Claimed::Busy(None));
    }
    transaction.commit().await?;
    Ok(Claimed::Granted(run_id))
}

/// Confirms pending claims whose run is the one named; returns how many were confirmed.
pub async fn confirm(pool: &Pool, events: &[HandledEvent]) -> Result<u64, DbError> {
    let client = pool.get().await?;
    let sources: Vec<&str> = events.iter().map(|event| event.source.as_str()).collect();
    let keys: Vec<&str> = events.iter().map(|event| event.key.as_str()).collect();
    let run_ids: Vec<i64> = events.iter().map(|event| event.run_id).collect();
    let details: Vec<Value> = events.iter().map(|event| Value::Object(event.details.clone())).collect();
    let statement = client.prepare_cached(CONFIRM).await?;
    Ok(client.execute(&statement, &[&sources, &keys, &run_ids, &details]).await?)
}

/// One event, if claimed.
pub async fn get(pool: &Pool, source: &str, key: &str) -> Result<Option<EventRecord>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_ONE).await?;
    client.query_opt(&statement, &[&source, &key]).await?.as_ref().map(to_event).transpose()
}

fn to_event(row: &Row) -> Result<EventRecord, DbError> {
    let details = match row.try_get::<_, Value>("details")? {
        Value::Object(map) => map,
        other => return Err(DbError::Corrupt(format!("event details are not an object: {other}"))),
    };
    Ok(EventRecord {
        source: row.try_get("source")?,
        key: row.try_get("key")?,
        run_id: row.try_get("run_id")?,
        details,
        recorded_at: row.try_get("recorded_at")?,
        handled: row.try_get("handled")?,
    })
}
