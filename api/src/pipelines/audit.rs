//! The tamper-evident audit log: every transition of a pipeline and its steps, with its time and
//! cause, each entry holding the SHA-256 of the previous entry of its pipeline; `verify` walks
//! every chain, and checks the chains' heads recorded elsewhere are still in them.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use deadpool_postgres::{GenericClient, Pool};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shipit_shared::api_types::pipelines::AuditEntry;

use crate::db::{self, DbError, pipelines::AuditRecord};

/// The `prev_hash` of the first entry of a chain.
const GENESIS: [u8; 32] = [0; 32];

/// What happened, before it is chained.
#[derive(Clone, Debug, Default)]
pub struct Event {
    pub step: Option<String>,
    pub event: &'static str,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub cause: String,
    pub actor: Option<String>,
    pub details: Map<String, Value>,
}

impl Event {
    /// A state change of the pipeline (`step` none) or of one of its steps.
    pub fn transition(step: Option<&str>, from: &str, to: &str, cause: impl Into<String>) -> Self {
        Self {
            step: step.map(str::to_owned),
            event: "state_changed",
            from_state: Some(from.to_owned()),
            to_state: Some(to.to_owned()),
            cause: cause.into(),
            ..Self::default()
        }
    }

    /// With this detail.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Asked by this caller.
    pub fn by(mut self, actor: &str) -> Self {
        self.actor = Some(actor.to_owned());
        self
    }
}

/// Appends entries to the chain of one pipeline, inside a transaction holding its lock.
pub struct Chain {
    pipeline_uid: String,
    /// The hash of the last entry, read at the first append.
    last: Option<Vec<u8>>,
}

impl Chain {
    /// The chain of `pipeline_uid`; the caller holds the pipeline's lock (or is creating it).
    pub fn open(pipeline_uid: &str) -> Self {
        Self { pipeline_uid: pipeline_uid.to_owned(), last: None }
    }

    /// Appends `event`, now.
    pub async fn append(&mut self, client: &impl GenericClient, event: Event) -> Result<(), DbError> {
        let prev_hash = match self.last.take() {
            Some(hash) => hash,
            None => {
                db::pipelines::last_audit_hash(client, &self.pipeline_uid).await?.unwrap_or_else(|| GENESIS.to_vec())
            }
        };
        // PostgreSQL keeps microseconds: the hash covers what it keeps.
        let at = Utc::now().trunc_subsecs(6);
        let mut record = AuditRecord {
            id: 0,
            pipeline_uid: self.pipeline_uid.clone(),
            step_uid: event.step,
            event: event.event.to_owned(),
            from_state: event.from_state,
            to_state: event.to_state,
            cause: event.cause,
            actor: event.actor,
            details: event.details,
            at,
            prev_hash,
            hash: Vec::new(),
        };
        record.hash = hash(&record).to_vec();
        db::pipelines::insert_audit(client, &record).await?;
        self.last = Some(record.hash);
        Ok(())
    }
}

/// The hash of an entry: SHA-256 of the previous hash and a canonical JSON of every field.
pub fn hash(record: &AuditRecord) -> [u8; 32] {
    let fields = Value::Array(vec![
        record.pipeline_uid.clone().into(),
        record.step_uid.clone().into(),
        record.event.clone().into(),
        record.from_state.clone().into(),
        record.to_state.clone().into(),
        record.cause.clone().into(),
        record.actor.clone().into(),
        Value::Object(record.details.clone()),
        timestamp(record.at).into(),
    ]);
    let mut hasher = Sha256::new();
    hasher.update(&record.prev_hash);
    hasher.update(canonical(&fields).as_bytes());
    hasher.finalize().into()
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// JSON with object keys sorted, whatever order the map keeps them in (jsonb reorders them).
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .iter()
                .map(|key| format!("{}:{}", Value::from(key.as_str()), canonical(&map[key.as_str()])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// An entry as the API shows it.
pub fn to_entry(record: AuditRecord) -> AuditEntry {
    AuditEntry {
        id: record.id,
        step: record.step_uid,
        event: record.event,
        from_state: record.from_state,
        to_state: record.to_state,
        cause: record.cause,
        actor: record.actor,
        details: record.details,
        at: record.at,
        prev_hash: hex::encode(&record.prev_hash),
        hash: hex::encode(&record.hash),
    }
}

/// An entry whose chain is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    pub pipeline_uid: String,
    pub id: i64,
    pub reason: &'static str,
}

/// Where a chain stood: how many entries it held and the hash of the last one. Heads kept
/// outside the database (`shipit-api audit heads`) reveal entries removed from a chain's end,
/// which the chain alone cannot show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub entries: u64,
    pub hash: Vec<u8>,
}

/// What `verify` found: the entries checked, the broken ones, the recorded heads no longer in
/// their chain, and each chain's head now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    pub entries: u64,
    pub broken: Vec<Broken>,
    /// A pipeline uid and why its recorded head does not hold.
    pub lost_heads: Vec<(String, String)>,
    pub heads: BTreeMap<String, Head>,
}

/// Checks every chain of the log: each entry's hash, that it holds its predecessor's, and that
/// each head of `recorded` is still in its chain, at its place.
pub async fn verify(pool: &Pool, recorded: &BTreeMap<String, Head>) -> Result<Verification, DbError> {
    const BATCH: i64 = 1_000;
    let mut verification = Verification::default();
    let (mut cursor_uid, mut cursor_id) = (String::new(), 0_i64);
    let mut previous: Option<(String, Vec<u8>)> = None;
    loop {
        let batch = db::pipelines::audit_after(pool, &cursor_uid, cursor_id, BATCH).await?;
        for record in &batch {
            verification.entries += 1;
            let expected_prev = match &previous {
                Some((uid, hash)) if *uid == record.pipeline_uid => hash.as_slice(),
                _ => GENESIS.as_slice(),
            };
            if record.prev_hash != expected_prev {
                verification.broken.push(broken(record, "does not hold the hash of the entry before it"));
            } else if hash(record).as_slice() != record.hash {
                verification.broken.push(broken(record, "its hash does not match its content"));
            }
            let head = verification.heads.entry(record.pipeline_uid.clone()).or_default();
            head.entries += 1;
            head.hash.clone_from(&record.hash);
            if let Some(anchor) = recorded.get(&record.pipeline_uid)
                && anchor.entries == head.entries
                && anchor.hash != record.hash
            {
                let why = format!("entry {} of the chain is not the one recorded", anchor.entries);
                verification.lost_heads.push((record.pipeline_uid.clone(), why));
            }
            previous = Some((record.pipeline_uid.clone(), record.hash.clone()));
        }
        match batch.last() {
            Some(last) if batch.len() as i64 == BATCH => {
                (cursor_uid, cursor_id) = (last.pipeline_uid.clone(), last.id);
            }
            _ => break,
        }
    }
    for (uid, anchor) in recorded {
        let now = verification.heads.get(uid).map_or(0, |head| head.entries);
        if now < anchor.entries {
            let why = format!("the chain holds {now} entries where {} were recorded", anchor.entries);
            verification.lost_heads.push((uid.clone(), why));
        }
    }
    Ok(verification)
}

/// The heads as `shipit-api audit heads` prints them: a line a chain, `<entries> <hash> <uid>`.
pub fn format_heads(heads: &BTreeMap<String, Head>) -> String {
    heads.iter().map(|(uid, head)| format!("{} {} {uid}\n", head.entries, hex::encode(&head.hash))).collect()
}

/// Reads heads printed by [`format_heads`]; the number of the first bad line otherwise.
pub fn parse_heads(text: &str) -> Result<BTreeMap<String, Head>, String> {
    let mut heads = BTreeMap::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let bad = || format!("line {}: expected `<entries> <hash> <pipeline uid>`", number + 1);
        let mut fields = line.split_whitespace();
        let (Some(entries), Some(hash), Some(uid), None) = (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        let entries: u64 = entries.parse().map_err(|_| bad())?;
        let hash = hex::decode(hash).ok().filter(|hash| hash.len() == 32).ok_or_else(bad)?;
        heads.insert(uid.to_owned(), Head { entries, hash });
    }
    Ok(heads)
}

fn broken(record: &AuditRecord, reason: &'static str) -> Broken {
    Broken { pipeline_uid: record.pipeline_uid.clone(), id: record.id, reason }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_ignores_key_order() {
        let record = AuditRecord {
            id: 1,
            pipeline_uid: "p".into(),
            step_uid: Some("S".into()),
            event: "state_changed".into(),
            from_state: Some("pending".into()),
            to_state: Some("starting".into()),
            cause: "engine".into(),
            actor: None,
            details: json!({"b": 1, "a": [1, {"z": 2, "y": 3}]}).as_object().unwrap().clone(),
            at: Utc::now().trunc_subsecs(6),
            prev_hash: GENESIS.to_vec(),
            hash: vec![],
        };
        let reference = hash(&record);
        assert_eq!(canonical(&json!({"b": 1, "a": {"d": 1, "c": 2}})), r#"{"a":{"c":2,"d":1},"b":1}"#);
        assert_ne!(hash(&AuditRecord { to_state: Some("failure".into()), ..record.clone() }), reference);
        assert_ne!(hash(&AuditRecord { actor: Some("x".into()), ..record.clone() }), reference);
        assert_ne!(hash(&AuditRecord { prev_hash: vec![1; 32], ..record.clone() }), reference);
        assert_ne!(
            hash(&AuditRecord { at: record.at + chrono::Duration::microseconds(1), ..record.clone() }),
            reference
        );
        assert_eq!(hash(&AuditRecord { id: 99, ..record }), reference);
    }

    #[test]
    fn heads_read_back_as_printed_and_bad_lines_are_named() {
        let heads = BTreeMap::from([
            ("firefox-99.0b1".to_owned(), Head { entries: 12, hash: vec![7; 32] }),
            ("standalone".to_owned(), Head { entries: 1, hash: vec![0xab; 32] }),
        ]);
        assert_eq!(parse_heads(&format_heads(&heads)).unwrap(), heads);
        assert_eq!(parse_heads("3 abcd p\n").unwrap_err(), "line 1: expected `<entries> <hash> <pipeline uid>`");
        assert!(parse_heads(&format!("\nx {} p\n", "00".repeat(32))).unwrap_err().starts_with("line 2:"));
        assert!(parse_heads(&format!("1 {} p extra\n", "00".repeat(32))).is_err());
    }
}
