//! Queries on the `events` table: events a bot claims before acting on them and confirms once it
//! acted, keyed by source and key.
//!
//! A claim is pending while `claim_expires_at` is set, handled once it is cleared. A pending claim
//! lapses, so that the event may be claimed again, when its lease ran out or its run failed (a
//! bot that could not be started closes its run as failed).

use std::collections::HashSet;

use deadpool_postgres::Pool;
use serde_json::Value;
use shipit_shared::api_types::events::{ClaimOutcome, EventClaim, EventRecord, HandledEvent};
use tokio_postgres::Row;

use super::DbError;

const SELECT_ONE: &str = "SELECT source, key, run_id, details, recorded_at, claim_expires_at IS NULL AS handled \
     FROM events WHERE source = $1 AND key = $2";

/// The claimed events that exist, locked in one order so that concurrent batches do not deadlock.
const LOCK_CLAIMED: &str = "SELECT v.ord, e.run_id, e.claim_expires_at IS NULL AS handled, \
         e.claim_expires_at <= now() OR COALESCE(r.status = 'failed', true) AS lapsed \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS v (source, key, ord) \
     JOIN events e ON e.source = v.source AND e.key = v.key LEFT JOIN runs r ON r.id = e.run_id \
     ORDER BY e.source, e.key FOR UPDATE OF e";

/// Opens runs, answering their ids in the order of the arrays.
const INSERT_RUNS: &str = "WITH v AS ( \
         SELECT nextval('runs_id_seq') AS id, v.* \
         FROM unnest($1::text[], $2::text[], $3::jsonb[]) WITH ORDINALITY AS v (bot, trigger, parameters, ord)), \
     inserted AS (INSERT INTO runs (id, bot, trigger, parameters) SELECT id, bot, trigger, parameters FROM v) \
     SELECT id FROM v ORDER BY ord";

/// A concurrent first claim makes an insert nothing, once that claim commits: its event is not
/// returned.
const INSERT_CLAIMS: &str = "INSERT INTO events (source, key, run_id, details, claim_expires_at) \
     SELECT source, key, run_id, details, now() + make_interval(secs => lease) \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[], $5::float8[]) AS v (source, key, run_id, details, lease) \
     ORDER BY source, key \
     ON CONFLICT (source, key) DO NOTHING RETURNING run_id";

const RECLAIM: &str = "UPDATE events e SET run_id = v.run_id, details = v.details, \
         claim_expires_at = now() + make_interval(secs => v.lease) \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[], $5::float8[]) AS v (source, key, run_id, details, lease) \
     WHERE e.source = v.source AND e.key = v.key";

const DELETE_RUNS: &str = "DELETE FROM runs WHERE id = ANY($1)";

const CONFIRM: &str = "UPDATE events e SET claim_expires_at = NULL, details = e.details || v.details \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[]) AS v (source, key, run_id, details) \
     WHERE e.source = v.source AND e.key = v.key AND e.run_id = v.run_id AND e.claim_expires_at IS NOT NULL";

/// Claims events, each of a different event, and opens their runs, in one transaction: a claim is
/// granted when its event is new or its pending claim lapsed. One outcome per claim, in order.
pub async fn claim(pool: &Pool, claims: &[EventClaim]) -> Result<Vec<ClaimOutcome>, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let sources: Vec<&str> = claims.iter().map(|claim| claim.source.as_str()).collect();
    let keys: Vec<&str> = claims.iter().map(|claim| claim.key.as_str()).collect();
    // `None` until decided: the claims to grant.
    let mut outcomes: Vec<Option<ClaimOutcome>> = vec![None; claims.len()];
    let mut lapsed = vec![false; claims.len()];
    let lock = transaction.prepare_cached(LOCK_CLAIMED).await?;
    for row in transaction.query(&lock, &[&sources, &keys]).await? {
        let index = usize::try_from(row.try_get::<_, i64>("ord")? - 1)
            .map_err(|error| DbError::Corrupt(format!("claim ordinal: {error}")))?;
        let run_id: Option<i64> = row.try_get("run_id")?;
        if row.try_get("handled")? {
            outcomes[index] = Some(ClaimOutcome::Handled { run_id });
        } else if row.try_get("lapsed")? {
            lapsed[index] = true;
        } else {
            outcomes[index] = Some(ClaimOutcome::Busy { run_id });
        }
    }
    let granted: Vec<usize> = (0..claims.len()).filter(|&index| outcomes[index].is_none()).collect();
    if granted.is_empty() {
        return Ok(outcomes.into_iter().flatten().collect());
    }

    let bots: Vec<&str> = granted.iter().map(|&index| claims[index].run.bot.as_str()).collect();
    let triggers: Vec<&str> = granted.iter().map(|&index| claims[index].run.trigger.as_str()).collect();
    let parameters: Vec<Value> =
        granted.iter().map(|&index| Value::Object(claims[index].run.parameters.clone())).collect();
    let insert_runs = transaction.prepare_cached(INSERT_RUNS).await?;
    let run_ids: Vec<i64> = transaction
        .query(&insert_runs, &[&bots, &triggers, &parameters])
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let granted: Vec<(usize, i64)> = granted.into_iter().zip(run_ids).collect();
    for &(index, run_id) in &granted {
        outcomes[index] = Some(ClaimOutcome::Granted { run_id });
    }

    let (reclaimed, inserted): (Vec<_>, Vec<_>) = granted.into_iter().partition(|&(index, _)| lapsed[index]);
    let mut lost = Vec::new();
    if !inserted.is_empty() {
        let statement = transaction.prepare_cached(INSERT_CLAIMS).await?;
        let stored: HashSet<i64> = transaction
            .query(&statement, &ClaimColumns::new(claims, &inserted).params())
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        for (index, run_id) in inserted {
            if !stored.contains(&run_id) {
                lost.push(run_id);
                outcomes[index] = Some(ClaimOutcome::Busy { run_id: None });
            }
        }
    }
    if !reclaimed.is_empty() {
        let statement = transaction.prepare_cached(RECLAIM).await?;
        transaction.execute(&statement, &ClaimColumns::new(claims, &reclaimed).params()).await?;
    }
    if !lost.is_empty() {
        // The runs of claims that lost a race for a new event are not kept.
        transaction.execute(&transaction.prepare_cached(DELETE_RUNS).await?, &[&lost]).await?;
    }
    transaction.commit().await?;
    Ok(outcomes.into_iter().flatten().collect())
}

/// Granted claims as the arrays `INSERT_CLAIMS` and `RECLAIM` take.
struct ClaimColumns<'a> {
    sources: Vec<&'a str>,
    keys: Vec<&'a str>,
    run_ids: Vec<i64>,
    details: Vec<Value>,
    leases: Vec<f64>,
}

impl<'a> ClaimColumns<'a> {
    /// The claims at these indices, with their runs.
    fn new(claims: &'a [EventClaim], granted: &[(usize, i64)]) -> Self {
        let claim = |&(index, _): &(usize, i64)| &claims[index];
        Self {
            sources: granted.iter().map(|grant| claim(grant).source.as_str()).collect(),
            keys: granted.iter().map(|grant| claim(grant).key.as_str()).collect(),
            run_ids: granted.iter().map(|&(_, run_id)| run_id).collect(),
            details: granted.iter().map(|grant| Value::Object(claim(grant).details.clone())).collect(),
            leases: granted.iter().map(|grant| f64::from(claim(grant).lease_secs)).collect(),
        }
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 5] {
        [&self.sources, &self.keys, &self.run_ids, &self.details, &self.leases]
    }
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
