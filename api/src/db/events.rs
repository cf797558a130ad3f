//! Queries on the `events` table: events a bot has handled, keyed by source and key.

use deadpool_postgres::Pool;
use serde_json::Value;
use shipit_shared::api_types::events::{EventRecord, NewEvent};
use tokio_postgres::Row;

use super::DbError;

/// Inserts unless the event is recorded already; the first record wins.
const INSERT: &str = "INSERT INTO events (source, key, run_id, details) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (source, key) DO NOTHING RETURNING source, key, run_id, details, recorded_at";

const SELECT_ONE: &str = "SELECT source, key, run_id, details, recorded_at FROM events WHERE source = $1 AND key = $2";

/// What recording an event did.
#[derive(Debug)]
pub enum Recorded {
    /// It was not recorded before; this is the new record.
    Created(EventRecord),
    /// It was recorded before; this is the first record, unchanged.
    Existing(EventRecord),
    /// The event names a run that does not exist.
    NoSuchRun,
}

/// Records an event unless it is recorded already.
pub async fn record(pool: &Pool, source: &str, key: &str, event: &NewEvent) -> Result<Recorded, DbError> {
    let client = pool.get().await?;
    let details = Value::Object(event.details.clone());
    let insert = client.prepare_cached(INSERT).await?;
    match client.query_opt(&insert, &[&source, &key, &event.run_id, &details]).await {
        Ok(Some(row)) => return Ok(Recorded::Created(to_event(&row)?)),
        Ok(None) => {}
        Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => {
            return Ok(Recorded::NoSuchRun);
        }
        Err(error) => return Err(error.into()),
    }
    let select = client.prepare_cached(SELECT_ONE).await?;
    // The conflicting row was committed before our insert saw it, and events are never
    // deleted by the API, so it is there.
    Ok(Recorded::Existing(to_event(&client.query_one(&select, &[&source, &key]).await?)?))
}

/// One event, if recorded.
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
    })
}
