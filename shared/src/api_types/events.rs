//! Wire types of the event routes: events an event-driven bot claims before acting and confirms
//! once it acted, so that a restart or a redelivered message does not act twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::NewRun;

/// How long a claim holds by default, in seconds: time enough to start the bot, retries
/// included.
pub const DEFAULT_LEASE_SECS: u32 = 300;

/// One claim of `POST /events/claims`: an event, and the run to open when the claim is granted.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventClaim {
    /// Who acts on it: `code-coverage`, `risk`.
    pub source: String,
    /// The event's key: a task group id, `<repository>:<push id>`.
    pub key: String,
    /// The run the event starts; it is opened with the claim, in one transaction.
    pub run: NewRun,
    /// Anything worth keeping about the event (the bot, the routing key).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
    /// How long the claim holds unconfirmed, at most an hour (3600 seconds); after that, or
    /// once its run failed, the event may be claimed again.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u32,
}

/// The longest lease a claim may ask for, in seconds.
pub const MAX_LEASE_SECS: u32 = 3_600;

fn default_lease_secs() -> u32 {
    DEFAULT_LEASE_SECS
}

/// The body of `POST /events/claims`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventClaims {
    /// 1 to [`MAX_CLAIM_BATCH`] claims, each of a different event.
    pub claims: Vec<EventClaim>,
}

/// The most claims one `POST /events/claims` takes.
pub const MAX_CLAIM_BATCH: usize = 1_000;

/// What a claim got.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// The event is the claimant's, and this run was opened for it.
    Granted { run_id: i64 },
    /// The event was handled before, by this run when it started one.
    Handled { run_id: Option<i64> },
    /// Another claim of the event is pending, with this run when known: try again later.
    Busy { run_id: Option<i64> },
}

/// The answer of `POST /events/claims`: one outcome per claim, in the order of the claims.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClaimOutcomes {
    pub outcomes: Vec<ClaimOutcome>,
}

/// One event whose bot started, as `POST /events/handled` confirms it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandledEvent {
    pub source: String,
    pub key: String,
    /// The run its claim opened: a claim taken over by another run is not confirmed.
    pub run_id: i64,
    /// Merged into the event's details (the hook's task id).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

/// The body of `POST /events/handled`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandledEvents {
    /// At most [`MAX_HANDLED_BATCH`] events.
    pub events: Vec<HandledEvent>,
}

/// The most events one `POST /events/handled` confirms.
pub const MAX_HANDLED_BATCH: usize = 1_000;

/// The answer of `POST /events/handled`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Serialize, ToSchema)]
pub struct HandledCount {
    /// Pending claims confirmed now; events confirmed before or claimed by another run since
    /// are not counted.
    pub confirmed: u64,
}

/// An event as the API stores it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct EventRecord {
    /// Who handled it: `code-coverage`, `risk`, `static-analysis`.
    pub source: String,
    /// The event's key within its source: a task group id, `<repository>:<push id>`.
    pub key: String,
    pub run_id: Option<i64>,
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
    /// When it was first claimed.
    pub recorded_at: DateTime<Utc>,
    /// Whether its bot is known to have started; `false` while a claim is pending.
    pub handled: bool,
}

/// Whether `source` is a valid event source: 1 to 63 lowercase letters, digits and dashes,
/// starting with a letter.
pub fn is_valid_source(source: &str) -> bool {
    let mut bytes = source.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_lowercase())
        && source.len() <= 63
        && bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// Whether `key` is a valid event key: 1 to 200 letters, digits, `.`, `_`, `:` and `-`.
pub fn is_valid_key(key: &str) -> bool {
    (1..=200).contains(&key.len())
        && key.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-'))
}

/// `text` made into a valid key fragment: every other character becomes `_`.
pub fn key_fragment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_keys_are_plain() {
        assert!(is_valid_source("code-coverage"));
        assert!(!is_valid_source("Code"));
        assert!(!is_valid_source(""));
        assert!(is_valid_key("RS0UwZahQ_qAcdZzEb_Y9g"));
        assert!(is_valid_key("mozilla-central:12345"));
        assert!(!is_valid_key("a/b"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key(&"a".repeat(201)));
        assert_eq!(key_fragment("integration/autoland"), "integration_autoland");
        assert!(is_valid_key(&key_fragment("héllo wörld/x")));
    }
}
