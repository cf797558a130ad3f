//! Wire types of release pipelines: a DAG of steps, each created on a step service, and the Step
//! API every step service (pipelines included) implements.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::UnknownName;

/// What one pipeline may hold; the API answers 400 past them.
pub mod limits {
    /// Most steps of a pipeline.
    pub const MAX_STEPS: usize = 200;
    /// Longest pipeline uid, in bytes.
    pub const MAX_PIPELINE_UID_BYTES: usize = 200;
    /// Longest step uid, in bytes.
    pub const MAX_STEP_UID_BYTES: usize = 64;
    /// Longest description, in characters.
    pub const MAX_DESCRIPTION_CHARS: usize = 1_000;
    /// Longest `api_url`, in bytes.
    pub const MAX_API_URL_BYTES: usize = 2_000;
    /// Largest `parameters` of a step, in bytes of JSON.
    pub const MAX_PARAMETERS_BYTES: usize = 65_536;
    /// Longest step `timeout`, in seconds (30 days).
    pub const MAX_TIMEOUT_SECS: u64 = 30 * 24 * 3600;
}

/// A built-in step service of the API.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// People sign off (`/steps/signoff`).
    Signoff,
    /// A Taskcluster task group, tracked or created by a hook (`/steps/taskcluster`).
    Taskcluster,
    /// A bot run (`/steps/bot`).
    Bot,
    /// A nested pipeline (`/pipelines`).
    Pipeline,
}

impl StepKind {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signoff => "signoff",
            Self::Taskcluster => "taskcluster",
            Self::Bot => "bot",
            Self::Pipeline => "pipeline",
        }
    }

    /// Where the service is mounted on the API.
    pub fn path(self) -> &'static str {
        match self {
            Self::Signoff => "/steps/signoff",
            Self::Taskcluster => "/steps/taskcluster",
            Self::Bot => "/steps/bot",
            Self::Pipeline => "/pipelines",
        }
    }
}

impl std::str::FromStr for StepKind {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Signoff, Self::Taskcluster, Self::Bot, Self::Pipeline]
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

/// One step of a pipeline definition.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDefinition {
    /// Unique in its pipeline: letters, digits, `_` and `-`. The step is created on its service
    /// as `<pipeline uid>.<step uid>`.
    pub uid: String,
    /// A built-in step service; exactly one of `kind` and `api_url` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StepKind>,
    /// The base URL of an external step service (`http` or `https`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// What the step is created with on its service.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// Uids of the steps of this pipeline that must succeed before this one is created.
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The step fails unless finished this long after it started: `90s`, `30m`, `72h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// The body of `PUT /pipelines/{uid}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineDefinition {
    pub steps: Vec<StepDefinition>,
}

/// The body of `POST /pipelines`: the same as `PUT /pipelines/{uid}`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPipeline {
    pub uid: String,
    pub pipeline: PipelineDefinition,
}

/// Where a pipeline stands.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PipelineState {
    /// Accepted; no step started yet.
    Pending,
    Running,
    /// Every step succeeded.
    Completed,
    /// A step failed and nothing else can run.
    Failed,
    Cancelled,
}

impl PipelineState {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The state of the pipeline seen as a step (the Step API's vocabulary).
    pub fn as_step_state(self) -> StepServiceState {
        match self {
            Self::Pending | Self::Running => StepServiceState::InProgress,
            Self::Completed => StepServiceState::Success,
            Self::Failed => StepServiceState::Failure,
            Self::Cancelled => StepServiceState::Cancelled,
        }
    }
}

impl std::str::FromStr for PipelineState {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Pending, Self::Running, Self::Completed, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

/// Where a step of a pipeline stands.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Not created on its service yet.
    Pending,
    /// Being created on its service.
    Starting,
    InProgress,
    Success,
    Failure,
    Cancelled,
    /// A step it requires failed or was cancelled.
    Blocked,
}

impl StepState {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Starting => "starting",
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
            Self::Blocked => "blocked",
        }
    }

    /// Whether the step is created on its service and not finished.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Starting | Self::InProgress)
    }
}

impl std::str::FromStr for StepState {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Pending, Self::Starting, Self::InProgress, Self::Success, Self::Failure, Self::Cancelled, Self::Blocked]
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

/// The state a step service reports for one of its steps.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepServiceState {
    InProgress,
    Success,
    Failure,
    Cancelled,
}

impl StepServiceState {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for StepServiceState {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::InProgress, Self::Success, Self::Failure, Self::Cancelled]
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

impl From<StepServiceState> for StepState {
    fn from(state: StepServiceState) -> Self {
        match state {
            StepServiceState::InProgress => Self::InProgress,
            StepServiceState::Success => Self::Success,
            StepServiceState::Failure => Self::Failure,
            StepServiceState::Cancelled => Self::Cancelled,
        }
    }
}

/// `GET {api_url}/{uid}/status` of the Step API.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct StepStatus {
    pub state: StepServiceState,
    /// More about the state, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A step of a pipeline as the API follows it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct PipelineStep {
    pub uid: String,
    pub state: StepState,
    pub message: Option<String>,
    pub attempts: i32,
    /// The step on its service: `{api_url}/{pipeline uid}.{step uid}` (with `~<attempt>` after
    /// the first attempt).
    pub url: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A pipeline: its definition, its state and its steps.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Pipeline {
    pub uid: String,
    pub state: PipelineState,
    pub definition: PipelineDefinition,
    pub steps: Vec<PipelineStep>,
    /// The token that created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A pipeline in a page of `GET /pipelines`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct PipelineSummary {
    /// Keyset cursor of the listing.
    pub id: i64,
    pub uid: String,
    pub state: PipelineState,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A page of `GET /pipelines`, newest first.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct PipelinePage {
    pub pipelines: Vec<PipelineSummary>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Query of `GET /pipelines`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineQuery {
    pub state: Option<PipelineState>,
    /// Only pipelines listed after this cursor (`next_before` of the previous page).
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// One entry of a pipeline's audit log: a transition, its time and its cause.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// The step, for a step's transition.
    pub step: Option<String>,
    /// `pipeline_created`, `state_changed`, `cancel_requested`, `retry_requested`, …
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    /// Why: `engine`, `step service`, `timeout`, `request`.
    pub cause: String,
    /// Who asked, for a request.
    pub actor: Option<String>,
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
    pub at: DateTime<Utc>,
    /// SHA-256 of the previous entry of this pipeline, hex.
    pub prev_hash: String,
    /// SHA-256 of this entry, hex.
    pub hash: String,
}

/// `GET /pipelines/{uid}/audit`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

/// Parameters of a sign-off step (`/steps/signoff`).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignoffParameters {
    /// Alternatives; the step succeeds once one is fully met. Each maps a group or an email to
    /// the number of signatures needed from it.
    pub policy: Vec<std::collections::BTreeMap<String, u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Addresses told when the step starts and when it completes or expires.
    #[serde(default)]
    pub notify: Vec<String>,
    /// The step fails unless signed within this long: `72h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// People who may not sign (whoever started the release).
    #[serde(default)]
    pub separate_from: Vec<String>,
}

/// Most alternatives of a policy, and most keys of one.
pub const MAX_POLICY_ENTRIES: usize = 16;

impl SignoffParameters {
    /// Checks what the types do not: the field at fault and why.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.policy.is_empty() || self.policy.len() > MAX_POLICY_ENTRIES {
            return Err(("policy".to_owned(), format!("a policy has 1 to {MAX_POLICY_ENTRIES} alternatives")));
        }
        for (index, alternative) in self.policy.iter().enumerate() {
            if alternative.is_empty() || alternative.len() > MAX_POLICY_ENTRIES {
                return Err((
                    format!("policy[{index}]"),
                    format!("an alternative names 1 to {MAX_POLICY_ENTRIES} groups or emails"),
                ));
            }
            for (who, &count) in alternative {
                if who.is_empty() || who.len() > 200 || !(1..=100).contains(&count) {
                    return Err((
                        format!("policy[{index}].{who}"),
                        "each group or email (1 to 200 bytes) needs 1 to 100 signatures".to_owned(),
                    ));
                }
            }
        }
        for (field, list) in [("notify", &self.notify), ("separate_from", &self.separate_from)] {
            if list.len() > 100 {
                return Err((field.to_owned(), format!("{field} holds at most 100 addresses")));
            }
            if let Some(index) = list.iter().position(|email| !is_plausible_email(email)) {
                return Err((format!("{field}[{index}]"), "not an email address".to_owned()));
            }
        }
        if let Some(text) = &self.expires_in {
            match humantime::parse_duration(text) {
                Ok(duration) if !duration.is_zero() => {}
                _ => return Err(("expires_in".to_owned(), "expires_in must be a duration such as `72h`".to_owned())),
            }
        }
        Ok(())
    }
}

fn is_plausible_email(text: &str) -> bool {
    text.len() <= 254
        && text.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !text.chars().any(|character| character.is_whitespace() || character.is_control())
}

/// Parameters of a Taskcluster step (`/steps/taskcluster`): track a task group, or trigger a
/// hook and track the group it creates.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskclusterParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookTrigger>,
}

/// A Taskcluster hook to trigger.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookTrigger {
    pub group: String,
    pub id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Map<String, Value>,
}

impl TaskclusterParameters {
    /// Exactly one of `task_group_id` and `hook`, each well formed: the field at fault and why.
    pub fn check(&self) -> Result<(), (String, String)> {
        match (&self.task_group_id, &self.hook) {
            (Some(id), None) if is_slug_id(id) => Ok(()),
            (Some(_), None) => {
                Err(("task_group_id".to_owned(), "a task group id is 22 letters, digits, `_` and `-`".to_owned()))
            }
            (None, Some(hook)) => {
                let plain = |text: &str| {
                    !text.is_empty()
                        && text.len() <= 64
                        && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_-./".contains(&byte))
                };
                if !plain(&hook.group) {
                    return Err(("hook.group".to_owned(), "a hook group is 1 to 64 plain characters".to_owned()));
                }
                if !plain(&hook.id) {
                    return Err(("hook.id".to_owned(), "a hook id is 1 to 64 plain characters".to_owned()));
                }
                Ok(())
            }
            _ => Err((String::new(), "give exactly one of `task_group_id` and `hook`".to_owned())),
        }
    }
}

/// Whether `text` is a Taskcluster slug id.
pub fn is_slug_id(text: &str) -> bool {
    text.len() == 22 && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// Parameters of a bot step (`/steps/bot`): the same as `POST /runs/trigger`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotParameters {
    pub bot: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
}

/// A step of a built-in step service (`GET /steps/{service}/{uid}`).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct ServiceStep {
    /// Keyset cursor of the listing.
    pub id: i64,
    pub uid: String,
    pub service: StepKind,
    pub state: StepServiceState,
    pub message: Option<String>,
    /// What the step was created with.
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// The token (or pipeline engine) that created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Taskcluster: the task group followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_group_id: Option<String>,
    /// Bot: the run started for the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// Sign-off: the policy, the signatures and who may still sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signoff: Option<SignoffProgress>,
}

/// Where a sign-off step stands.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct SignoffProgress {
    pub policy: Vec<std::collections::BTreeMap<String, u32>>,
    pub signatures: Vec<Signature>,
    /// The groups and emails whose signature would still count, while the step waits.
    pub may_sign: Vec<String>,
    /// People who may not sign.
    pub separate_from: Vec<String>,
    /// The step fails unless signed before this.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A signature of a sign-off step.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct Signature {
    pub email: String,
    /// The group (or the email) the person signed for.
    pub group: String,
    /// How the person signed in: `local` or `oidc`.
    pub credential: String,
    pub signed_at: DateTime<Utc>,
}

/// The body of `PUT /steps/signoff/{uid}/sign`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The group (one of the signer's) or the signer's own email that the signature counts for.
    pub group: String,
}

/// A page of `GET /steps/{service}`, newest first.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, ToSchema)]
pub struct ServiceStepPage {
    pub steps: Vec<ServiceStep>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Query of `GET /steps/{service}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceStepQuery {
    /// Only steps in this state.
    pub status: Option<StepServiceState>,
    /// Only steps listed after this cursor (`next_before` of the previous page).
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}
