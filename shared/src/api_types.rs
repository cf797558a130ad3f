//! The wire types of the ShipIt API: what bots send and what the API answers. Both sides use
//! these definitions, so the contract cannot drift.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

pub mod coverage;
pub mod events;
pub mod pipelines;
pub mod risk;

pub mod static_analysis;
pub mod uplift;

/// What one run may hold, so that a run, and a page of runs, stays small whatever a bot sends;
/// the API answers 400 past them.
pub mod run_limits {
    /// Longest progress `message`, in characters.
    pub const MAX_MESSAGE_CHARS: usize = 1_000;
    /// Longest `error_summary`, in characters.
    pub const MAX_ERROR_SUMMARY_CHARS: usize = 65_536;
    /// How much of each `error_summary` a page of `GET /runs` carries, in characters; the run's
    /// own `GET /runs/{id}` carries all of it.
    pub const LISTED_ERROR_SUMMARY_CHARS: usize = 1_000;
    /// Most `counts` keys of a run, once merged.
    pub const MAX_COUNTS: usize = 32;
    /// Longest `counts` key, in bytes.
    pub const MAX_COUNT_KEY_BYTES: usize = 64;
    /// Largest `counts` value, in bytes of JSON.
    pub const MAX_COUNT_VALUE_BYTES: usize = 128;
    /// Largest `parameters`, in bytes of JSON.
    pub const MAX_PARAMETERS_BYTES: usize = 8_192;
}

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer of the API (RFC 9457 "problem details").
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request field at fault, for validation errors (`trigger`, `parameters.revision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The id of the run that conflicts with this request, for 409 answers about runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
}

/// What started a bot run.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// A cron schedule: a Taskcluster hook or the local scheduler.
    Schedule,
    /// A Pulse message seen by the pulse listener.
    Pulse,
    /// A person asked for it.
    Manual,
    /// A step of the pipeline.
    Pipeline,
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Opened and not closed yet.
    Running,
    /// Every item was processed.
    Succeeded,
    /// The run could not do its work, or it stopped reporting and was timed out.
    Failed,
    /// Some items failed and the others were processed.
    Partial,
}

impl RunStatus {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Partial => "partial",
        }
    }
}

impl RunTrigger {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Pulse => "pulse",
            Self::Manual => "manual",
            Self::Pipeline => "pipeline",
        }
    }
}

/// The body of `POST /runs`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The bot's name: lowercase letters, digits and dashes (`coverage`, `uplift`).
    pub bot: String,
    pub trigger: RunTrigger,
    /// The parameters the bot was started with.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
}

/// The body of `PATCH /runs/{id}`: progress of an open run. Absent fields keep their value;
/// `counts` are merged key by key.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunProgress {
    /// Items processed so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<i64>,
    /// Items to process in all, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// What the bot is doing now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Named counters (`bugs_analysed`, `artifacts_downloaded`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub counts: Map<String, Value>,
}

/// The body of `POST /runs/trigger`: start a bot now, with these parameters.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRun {
    pub bot: String,
    /// Checked against the `triggerSchema` of the bot's hook definition.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Succeeded,
    Failed,
    Partial,
}

impl From<RunOutcome> for RunStatus {
    fn from(outcome: RunOutcome) -> Self {
        match outcome {
            RunOutcome::Succeeded => Self::Succeeded,
            RunOutcome::Failed => Self::Failed,
            RunOutcome::Partial => Self::Partial,
        }
    }
}

/// The body of `POST /runs/{id}/finish`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunFinish {
    pub status: RunOutcome,
    /// What failed, for `failed` and `partial` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_summary: Option<String>,
    /// Final counters, merged into those reported so far.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub counts: Map<String, Value>,
}

/// A bot run as the API stores it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Run {
    pub id: i64,
    pub bot: String,
    pub trigger: RunTrigger,
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    pub status: RunStatus,
    pub done: Option<i64>,
    pub total: Option<i64>,
    pub message: Option<String>,
    #[schema(value_type = Object)]
    pub counts: Map<String, Value>,
    pub error_summary: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The last time the bot reported; a run silent for too long is marked failed.
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The query of `GET /runs`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams, Serialize)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only the runs of this bot.
    pub bot: Option<String>,
    /// Only the runs in this state.
    pub status: Option<RunStatus>,
    /// Runs per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// Only runs older than this id: the `next_before` of the previous page.
    pub before: Option<i64>,
}

/// A page of `GET /runs`, newest first.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct RunPage {
    pub runs: Vec<Run>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// A run status or trigger name that is not one of the known ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown name `{0}`")]
pub struct UnknownName(pub String);

impl std::str::FromStr for RunStatus {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Running, Self::Succeeded, Self::Failed, Self::Partial]
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

impl std::str::FromStr for RunTrigger {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Schedule, Self::Pulse, Self::Manual, Self::Pipeline]
            .into_iter()
            .find(|trigger| trigger.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}
