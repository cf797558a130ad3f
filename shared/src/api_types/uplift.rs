//! Wire types of the uplift routes: release channels, the analysis of each bug with a pending
//! uplift request, the grafts of its patches onto each channel's branch, and contributors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Whether `name` is a valid channel name: a lowercase letter, then up to 39 lowercase letters,
/// digits, `_` and `-` (`beta`, `esr140`).
pub fn is_valid_channel(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_lowercase())
        && name.len() <= 40
        && bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-')
}

/// A release channel and its current version, as the bot last declared it
/// (`PUT /uplift/channels/{channel}`).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelUpdate {
    /// The major version the channel ships (`147`), if known.
    #[serde(default)]
    pub version: Option<i32>,
    /// The git branch uplifts to this channel land on (`beta`, `esr140`).
    pub branch: String,
}

/// A release channel as `GET /uplift/channels` lists it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Channel {
    /// `beta`, `release`, `esr140`…
    pub name: String,
    pub version: Option<i32>,
    pub branch: String,
    /// Bugs with a pending uplift request to this channel.
    pub bug_count: i64,
}

/// A Bugzilla user involved in a bug, with their roles on it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BugUser {
    /// The Bugzilla user id.
    pub bugzilla_id: i64,
    pub email: String,
    /// The real name, or the login when there is none.
    pub name: String,
    /// `creator`, `assignee`, `author`, `reviewer`, `uplift_author`, `uplift_reviewer`.
    pub roles: Vec<String>,
}

/// The body of `POST /uplift/bugs`: the bot's analysis of one bug with pending uplift requests.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BugUpsert {
    pub bugzilla_id: i64,
    pub summary: String,
    pub product: String,
    pub component: String,
    /// Bugzilla status (`RESOLVED`, `VERIFIED`…).
    pub status: String,
    /// The channels with a pending `approval-mozilla-<channel>?` request.
    pub channels: Vec<String>,
    /// The analysis, as the bot's documented JSON schema describes it.
    #[schema(value_type = Object)]
    pub analysis: Value,
    /// The bot's hash of `analysis` (SHA-256, hex): an equal hash means nothing changed.
    pub analysis_hash: String,
    pub users: Vec<BugUser>,
}

/// What `POST /uplift/bugs` did.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct BugUpsertResult {
    pub bugzilla_id: i64,
    /// False when the stored analysis had the same hash and nothing was written.
    pub changed: bool,
}

/// One line of `GET /uplift/bugs` and `GET /uplift/channels/{channel}/bugs`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct BugSummary {
    pub bugzilla_id: i64,
    pub summary: String,
    pub product: String,
    pub component: String,
    pub status: String,
    pub channels: Vec<String>,
    pub analysis_hash: String,
    pub updated_at: DateTime<Utc>,
    /// The latest graft per channel, without its per-commit results.
    pub grafts: Vec<GraftSummary>,
}

/// `GET /uplift/bugs/{id}`: a bug's analysis, its users and its latest graft per channel.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Bug {
    pub bugzilla_id: i64,
    pub summary: String,
    pub product: String,
    pub component: String,
    pub status: String,
    pub channels: Vec<String>,
    #[schema(value_type = Object)]
    pub analysis: Value,
    pub analysis_hash: String,
    pub updated_at: DateTime<Utc>,
    pub contributors: Vec<Contributor>,
    /// The latest graft per channel.
    pub grafts: Vec<Graft>,
}

/// How one commit fared when grafted onto a branch.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GraftStatus {
    /// Applied cleanly; `tree` is the resulting tree.
    Merged,
    /// The branch already holds the change: applying it changes nothing.
    AlreadyApplied,
    /// Conflicts; `conflicts` lists the paths.
    Failed,
    /// Not tried because an earlier commit of the chain failed.
    Skipped,
}

impl GraftStatus {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merged => "merged",
            Self::AlreadyApplied => "already_applied",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// Whether the commit is on the branch after the graft (applied now or before).
    pub fn is_success(self) -> bool {
        matches!(self, Self::Merged | Self::AlreadyApplied)
    }
}

impl std::str::FromStr for GraftStatus {
    type Err = super::UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "merged" => Ok(Self::Merged),
            "already_applied" => Ok(Self::AlreadyApplied),
            "failed" => Ok(Self::Failed),
            "skipped" => Ok(Self::Skipped),
            _ => Err(super::UnknownName(name.to_owned())),
        }
    }
}

/// The result of grafting one commit (one line of `uplift-bot graft`).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GraftCommit {
    /// The grafted commit (full hex id).
    pub commit: String,
    pub status: GraftStatus,
    /// The tree after the graft, when `merged` or `already_applied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
    /// Conflicting paths, when `failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
}

/// The body of `POST /uplift/bugs/{id}/grafts`: a bug's patches grafted onto one channel's
/// branch.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGraft {
    pub channel: String,
    pub branch: String,
    /// The branch tip the patches were grafted onto.
    pub branch_tip: String,
    /// One result per patch, in graft order.
    pub commits: Vec<GraftCommit>,
}

/// A stored graft: `NewGraft` plus its verdict and time.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Graft {
    pub id: i64,
    pub channel: String,
    pub branch: String,
    pub branch_tip: String,
    /// True when every commit is `merged` or `already_applied`.
    pub success: bool,
    pub commits: Vec<GraftCommit>,
    pub tested_at: DateTime<Utc>,
}

/// A graft without its per-commit results.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct GraftSummary {
    pub channel: String,
    pub branch_tip: String,
    pub success: bool,
    pub tested_at: DateTime<Utc>,
}

/// A contributor: a Bugzilla user, with what release managers noted about them.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Contributor {
    /// The Bugzilla user id.
    pub bugzilla_id: i64,
    pub email: String,
    pub name: String,
    /// `https://www.gravatar.com/avatar/<md5 of the lower-case email>`.
    pub avatar_url: String,
    pub karma: i32,
    pub comment_public: String,
    /// Only shown to callers with `project:shipit:admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_private: Option<String>,
    /// Their roles on the bug, inside `GET /uplift/bugs/{id}`; empty elsewhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// The body of `PUT /uplift/contributors/{id}`: the fields to change.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContributorUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub karma: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_public: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_private: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_short_lowercase_words() {
        for name in ["beta", "release", "esr140", "a", "esr_140-b", &"a".repeat(40)] {
            assert!(is_valid_channel(name), "{name}");
        }
        for name in ["", "Beta", "1beta", "-beta", "be ta", "bêta", &"a".repeat(41)] {
            assert!(!is_valid_channel(name), "{name}");
        }
    }
}
