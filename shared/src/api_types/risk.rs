//! The risk routes' wire types: the risk bot's assessments of pushed changes (one per repository,
//! revision and model version), and the model versions with their evaluation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// Bounds of an upload, past which the API answers 400.
pub mod limits {
    /// Assessments in one upload.
    pub const MAX_ASSESSMENTS: usize = 1_000;
    /// Reasons of one assessment.
    pub const MAX_REASONS: usize = 32;
    /// Files with function change sets in one assessment.
    pub const MAX_FUNCTION_FILES: usize = 2_000;
    /// Longest text field (a subject, a reason, a function name), in characters.
    pub const MAX_TEXT_CHARS: usize = 4_096;
    /// Largest model evaluation, in bytes of JSON.
    pub const MAX_EVALUATION_BYTES: usize = 64 * 1024;
    /// Page size of `GET /risk/assessments` at most (and by default 50).
    pub const MAX_PAGE: i64 = 500;
}

/// A risk band.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RiskBand {
    Low,
    Medium,
    High,
}

impl RiskBand {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// The band named `text`, as stored.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

/// The model that made assessments.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct RiskModelInfo {
    /// `<training date>-<digest>`: the same version always names the same parameters.
    pub version: String,
    /// `logistic-regression`.
    pub kind: String,
    /// Trained on the changes authored before this time.
    pub trained_until: DateTime<Utc>,
    /// The features, in the model's order.
    pub features: Vec<String>,
    /// Its figures on the changes after its training date (`risk-bot evaluate`'s JSON), when
    /// it was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub evaluation: Option<Value>,
}

/// A feature's part in a score.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct RiskReason {
    pub feature: String,
    pub value: f64,
    /// Its term of the log-odds: positive pushed the risk up.
    pub contribution: f64,
    /// The reason in words.
    pub text: String,
}

/// The functions a change added, removed and modified in one file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct FunctionChangeSet {
    pub path: String,
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub modified: Vec<String>,
}

/// The coverage, in the parent's coverage report, of the lines a change modifies or deletes.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct ChangedLinesCoverage {
    /// The report's revision (the change's parent, or the first report after it).
    pub report_revision: String,
    /// Changed lines the report instruments.
    pub instrumented: u64,
    pub covered: u64,
    /// Covered share of the instrumented changed lines, in percent; absent when none is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_percent: Option<f64>,
}

/// One change's assessment, as the bot sends it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct NewAssessment {
    /// The commit (40 hexadecimal digits).
    pub revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub author: String,
    pub author_time: DateTime<Utc>,
    /// The first line of its message.
    pub subject: String,
    /// The calibrated probability that it introduces a bug.
    pub probability: f64,
    pub band: RiskBand,
    /// What pushed the score up the most, then down.
    pub reasons: Vec<RiskReason>,
    /// Its feature values by name.
    #[schema(value_type = Object)]
    pub features: serde_json::Map<String, Value>,
    #[serde(default)]
    pub functions: Vec<FunctionChangeSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<ChangedLinesCoverage>,
}

/// `POST /risk/assessments`: the assessments of one push (or any changes) by one model.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct AssessmentUpload {
    /// The repository, as the pulse listener names it (`https://hg.mozilla.org/mozilla-central`).
    pub repository: String,
    pub model: RiskModelInfo,
    /// The run that made them, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    pub assessments: Vec<NewAssessment>,
}

/// What an upload changed: the same upload again inserts and updates nothing.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Serialize, ToSchema)]
pub struct AssessmentUploadResult {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// A stored assessment.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Assessment {
    pub id: i64,
    pub repository: String,
    pub model_version: String,
    #[serde(flatten)]
    pub assessment: NewAssessment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    pub uploaded_at: DateTime<Utc>,
}

/// `GET /risk/revisions/{rev}`: a revision's assessments, newest model first.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct RevisionAssessments {
    pub repository: String,
    pub revision: String,
    pub assessments: Vec<Assessment>,
}

/// The query of `GET /risk/revisions/{rev}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevisionQuery {
    pub repository: String,
}

/// The query of `GET /risk/assessments`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssessmentQuery {
    pub repository: String,
    /// Changes authored at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub band: Option<RiskBand>,
    /// Only probabilities at or above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    /// Only the assessments of this model version (every model's by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Page size (50 by default, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A page of assessments, riskiest first (ties: most recent first).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct AssessmentPage {
    pub assessments: Vec<Assessment>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A model version the API has assessments of.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct RiskModel {
    #[serde(flatten)]
    pub model: RiskModelInfo,
    pub assessments: i64,
    pub first_seen: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
}
