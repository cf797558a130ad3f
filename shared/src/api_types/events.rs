//! Wire types of the event routes: events an event-driven bot has handled, recorded so that a
//! restart does not handle them twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The body of `PUT /events/{source}/{key}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// The run the event started, when it started one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// Anything worth keeping about how the event was handled (the hook's task id, the bot).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

/// A handled event as the API stores it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct EventRecord {
    /// Who handled it: `code-coverage`, `risk`, `static-analysis`.
    pub source: String,
    /// The event's key within its source: a task group id, `<repository>:<push id>`.
    pub key: String,
    pub run_id: Option<i64>,
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
    /// When it was first recorded; recording it again changes nothing.
    pub recorded_at: DateTime<Utc>,
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
