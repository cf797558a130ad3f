//! Wire types of the static-analysis routes: the issues a bot found on a diff, and what the API
//! answers about diffs, revisions, checks and known issues.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// How serious an issue is. Errors are always published; warnings only when the patch touches
/// their lines (or, before/after, when they are new).
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueLevel {
    Error,
    Warning,
}

impl IssueLevel {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

impl std::str::FromStr for IssueLevel {
    type Err = super::UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "error" => Ok(Self::Error),
            "warning" => Ok(Self::Warning),
            _ => Err(super::UnknownName(name.to_owned())),
        }
    }
}

/// One issue found by an analyzer on a diff, as a bot reports it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIssue {
    /// The analyzer that found it (`clang-tidy`, `flake8`).
    pub analyzer: String,
    /// Repository-relative path.
    pub path: String,
    /// First line, from 1 (0 for an issue about the whole file).
    pub line: i32,
    /// Number of lines, at least 1.
    pub nb_lines: i32,
    pub column: Option<i32>,
    pub level: IssueLevel,
    /// The analyzer's name for the rule (`modernize-use-nullptr`, `E501`, `SC2086`).
    pub check: String,
    pub message: String,
    /// Identity of the issue that does not depend on its line: SHA-256 (hex) of the analyzer,
    /// path, level, check, source lines without whitespace, and message.
    pub hash: String,
    /// The issue touches a line the patch added or changed.
    pub in_patch: bool,
    /// The issue is not present at the patch's base.
    pub is_new: bool,
    /// The bot published it (inline comment, report).
    pub publishable: bool,
}

/// The body of `POST /static-analysis/diffs/{id}/issues`: the issues found on one diff.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBatch {
    /// The revision the diff belongs to (Phabricator `D` number).
    pub revision_id: i64,
    /// The repository the diff applies to (a URL or a short name such as `mozilla-central`).
    pub repository: String,
    /// The commit the diff was applied on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The commit or tree analyzed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    pub issues: Vec<NewIssue>,
}

/// What `POST /static-analysis/diffs/{id}/issues` did.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct IssueBatchResult {
    pub diff_id: i64,
    /// Issues whose hash was not recorded on this diff before.
    pub inserted: i64,
    /// Issues recorded already, updated in place.
    pub updated: i64,
    /// Issues recorded on this diff before and absent from this batch (fixed since): removed.
    pub removed: i64,
}

/// An issue as the API stores it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct StoredIssue {
    #[serde(flatten)]
    pub issue: NewIssue,
    pub diff_id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /static-analysis/diffs/{id}/issues`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct DiffIssues {
    pub diff_id: i64,
    pub revision_id: i64,
    pub repository: String,
    pub issues: Vec<StoredIssue>,
}

/// A diff of a revision with its issue counts.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct DiffSummary {
    pub id: i64,
    pub base: Option<String>,
    pub head: Option<String>,
    pub issues: i64,
    pub publishable: i64,
    pub errors: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /static-analysis/revisions/{id}`: a revision's diffs, oldest first.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct RevisionSummary {
    pub id: i64,
    pub repository: String,
    pub diffs: Vec<DiffSummary>,
}

/// The query of `GET /static-analysis/checks`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, Serialize)]
#[into_params(parameter_in = Query)]
pub struct CheckStatsQuery {
    /// Only issues of this repository.
    pub repository: Option<String>,
    /// Only issues of this analyzer.
    pub analyzer: Option<String>,
    /// Only issues first recorded at or after this time (default: 30 days ago).
    pub since: Option<DateTime<Utc>>,
}

/// Issues of one check on one day.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct CheckStat {
    pub analyzer: String,
    pub check: String,
    /// The UTC day the issues were first recorded.
    pub day: NaiveDate,
    pub issues: i64,
    pub publishable: i64,
}

/// `GET /static-analysis/checks`: counts per analyzer, check and day, newest day first.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct CheckStats {
    pub checks: Vec<CheckStat>,
}

/// The query of `GET /static-analysis/issues/known`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, Serialize)]
#[into_params(parameter_in = Query)]
pub struct KnownIssuesQuery {
    /// The repository, as bots report it.
    pub repository: String,
    /// Only issues of this repository-relative path.
    pub path: Option<String>,
}

/// An issue already present in a repository: found at the base of an analyzed diff.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct KnownIssue {
    pub hash: String,
    pub analyzer: String,
    pub path: String,
    pub level: IssueLevel,
    pub check: String,
}

/// `GET /static-analysis/issues/known`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct KnownIssues {
    pub repository: String,
    pub issues: Vec<KnownIssue>,
}
