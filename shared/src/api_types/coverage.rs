//! Wire types of the coverage routes: the report a coverage run uploads, and what dashboards read.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The suite or platform name of the report that merges all of them.
pub const ALL: &str = "all";

/// A node of a covdir report, as grcov's `-t covdir` writes it: a directory with `children`, or
/// a file with its `coverage` array (hit count per line, -1 where a line cannot be covered).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CovdirNode {
    pub name: String,
    pub lines_total: u64,
    pub lines_covered: u64,
    pub lines_missed: u64,
    pub coverage_percent: f64,
    /// Per line (index 0 is line 1): hits, or -1 for a line that cannot be covered. Files only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Vec<i64>>,
    /// Directories only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub children: Option<BTreeMap<String, CovdirNode>>,
}

/// A file in which no line is covered.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct ZeroCoverageFile {
    /// Repository-relative path.
    pub name: String,
    /// Functions in the file (the JavaScript `top-level` pseudo-function excluded).
    pub funcs: u64,
    /// Functions never executed.
    pub uncovered_funcs: u64,
    /// Instrumented lines.
    pub size: u64,
    /// The day (UTC) of the first push that changed the file; absent when the pushlog the
    /// coverage bot read does not name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_push_date: Option<NaiveDate>,
    /// The day (UTC) of the last push that changed the file, up to the report's push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_date: Option<NaiveDate>,
    /// Changesets that changed the file, up to the report's push.
    #[serde(default)]
    pub commits: u64,
}

/// `POST /coverage/reports`: one report of a push, for one suite and platform (`all` for the
/// merge of every suite or platform). Uploading the same key again replaces the report.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoverageUpload {
    pub repository: String,
    pub revision: String,
    /// The push's id in the repository's pushlog; orders reports.
    pub push_id: i64,
    pub push_date: DateTime<Utc>,
    pub suite: String,
    pub platform: String,
    /// The root of the covdir tree.
    pub covdir: CovdirNode,
    /// Files with no covered line (sent with the `all`/`all` report).
    #[serde(default)]
    pub zero_coverage: Vec<ZeroCoverageFile>,
}

/// What `POST /coverage/reports` stored.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct CoverageReport {
    pub repository: String,
    pub revision: String,
    pub push_id: i64,
    pub push_date: DateTime<Utc>,
    pub suite: String,
    pub platform: String,
    pub lines_total: u64,
    pub lines_covered: u64,
    pub coverage_percent: f64,
    /// Directories and files stored.
    pub paths: u64,
    pub uploaded_at: DateTime<Utc>,
}

/// An entry of `GET /coverage/latest`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct LatestReport {
    pub revision: String,
    pub push: i64,
    pub date: DateTime<Utc>,
}

/// The query of `GET /coverage/path`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, Serialize)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    pub repository: String,
    /// A revision; the newest report when absent. A revision without a report resolves to the
    /// first report at or after its push.
    pub changeset: Option<String>,
    /// Repository-relative path; the root when absent or empty.
    pub path: Option<String>,
    /// `all` when absent.
    pub suite: Option<String>,
    /// `all` when absent.
    pub platform: Option<String>,
}

/// The answer of `GET /coverage/path`: the node, with its children one level deep (their own
/// children are only counted) or, for a file, its coverage array.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathCoverage {
    /// `directory` or `file`.
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    /// The revision of the report that answered.
    pub changeset: String,
    pub name: String,
    pub lines_total: u64,
    pub lines_covered: u64,
    pub lines_missed: u64,
    pub coverage_percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<BTreeMap<String, PathChild>>,
}

/// A child in `GET /coverage/path`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathChild {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub path: String,
    pub lines_total: u64,
    pub lines_covered: u64,
    pub lines_missed: u64,
    pub coverage_percent: f64,
    /// For a directory, how many entries it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<u64>,
}

/// The query of `GET /coverage/history`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, Serialize)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    pub repository: String,
    /// Root when absent.
    pub path: Option<String>,
    /// Only pushes at or after this date.
    pub start: Option<DateTime<Utc>>,
    /// Only pushes at or before this date.
    pub end: Option<DateTime<Utc>>,
    pub suite: Option<String>,
    pub platform: Option<String>,
}

/// A point of `GET /coverage/history`, oldest first.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct HistoryPoint {
    pub changeset: String,
    pub push: i64,
    pub date: DateTime<Utc>,
    pub coverage: f64,
}

/// The answer of `GET /coverage/filters`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct CoverageFilters {
    pub suites: Vec<String>,
    pub platforms: Vec<String>,
}

/// The query of `GET /coverage/latest`, `/coverage/filters` and `/coverage/zero`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, Serialize)]
#[into_params(parameter_in = Query)]
pub struct RepositoryQuery {
    pub repository: String,
    /// For `/coverage/zero`: the revision (newest report when absent).
    pub changeset: Option<String>,
}

/// The query of `GET /coverage/source`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, Serialize)]
#[into_params(parameter_in = Query)]
pub struct SourceQuery {
    /// The repository on hg.mozilla.org (`mozilla-central`).
    pub repository: String,
    /// The changeset, 12 to 40 hexadecimal digits.
    pub changeset: String,
    /// The file, repository-relative.
    pub path: String,
}

/// The answer of `GET /coverage/zero`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct ZeroCoverageReport {
    pub changeset: String,
    pub push: i64,
    /// When the report's push landed: the push ages of its files are measured from it.
    pub push_date: DateTime<Utc>,
    pub files: Vec<ZeroCoverageFile>,
}
