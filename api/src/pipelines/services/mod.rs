//! The API's built-in step services, `/steps/signoff`, `/steps/taskcluster` and `/steps/bot`: the
//! Step API (create, status, cancel, definition, listing) over the `service_steps` table. The
//! pipeline engine calls these functions directly; people and other tools reach them over HTTP.
//! When a step ends for a reason of its own (the last signature, an expiry, a cancel), the
//! pipeline that created it is told at once.

pub mod bot;
pub mod notify;
pub mod signoff;
pub mod taskcluster;

use chrono::Utc;
use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};
use shipit_shared::api_types::pipelines::{
    ServiceStep, SignoffParameters, StepKind, StepServiceState, StepStatus, TaskclusterParameters,
};

use crate::config::seconds;
use crate::db::steps::{self as queries, ServiceStepRow};
use crate::db::{self, DbError};
use crate::pipelines::audit::{Chain, Event};
use crate::pipelines::definition;
use crate::pipelines::transitions::pipeline_step_of;
use crate::state::AppState;

/// Why a step service refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("no {service} step has the uid `{uid}`")]
    NotFound { service: &'static str, uid: String },
    /// The request conflicts with the step's state (another definition, finished already…).
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    /// The person may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The upstream (Taskcluster, the runner) failed; `transient` when trying later may help.
    #[error("{message}")]
    Upstream { message: String, transient: bool },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for StepError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Db(error.into())
    }
}

impl From<deadpool_postgres::PoolError> for StepError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Db(error.into())
    }
}

/// What became of a creation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// The same parameters were accepted before: nothing changed.
    Same,
}

/// The services mounted under `/steps/`; `pipeline` is `/pipelines` itself.
pub fn service_of(name: &str) -> Option<StepKind> {
    name.parse().ok().filter(|kind| *kind != StepKind::Pipeline)
}

fn not_found(service: StepKind, uid: &str) -> StepError {
    StepError::NotFound { service: service.as_str(), uid: uid.to_owned() }
}

/// Creates a step (idempotent: the same parameters again change nothing; others are a
/// conflict), then starts what it stands for (a hook, a run) unless that was done before.
pub async fn create(
    state: &AppState,
    service: StepKind,
    uid: &str,
    parameters: &Map<String, Value>,
    actor: &str,
) -> Result<(Created, ServiceStepRow), StepError> {
    definition::check_pipeline_uid(uid)
        .map_err(|error| StepError::Invalid { field: error.field, detail: error.detail })?;
    definition::check_builtin(service, parameters, super::known(state))
        .map_err(|error| StepError::Invalid { field: error.field, detail: error.detail })?;
    let json = Value::Object(parameters.clone());
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    let signoff: Option<SignoffParameters> = if service == StepKind::Signoff { Some(typed(parameters)?) } else { None };
    let expires_at = signoff
        .as_ref()
        .and_then(|signoff| signoff.expires_in.as_deref())
        .and_then(|text| humantime::parse_duration(text).ok())
        .and_then(|duration| chrono::Duration::from_std(duration).ok())
        .map(|duration| Utc::now() + duration);
    let (created, row) = match queries::insert_step(&transaction, service, uid, &json, expires_at, actor).await? {
        Some(row) => {
            if let Some(signoff) = &signoff {
                notify::queue(state, &transaction, &row, signoff, notify::Occasion::Started, &[]).await?;
            }
            (Created::New, row)
        }
        None => same_or_conflict(&transaction, service, uid, &json).await?,
    };
    transaction.commit().await?;
    if created == Created::New {
        tracing::info!(service = service.as_str(), step = uid, actor, "step created");
    }
    let row = match service {
        StepKind::Taskcluster => taskcluster::start(state, row).await?,
        StepKind::Bot => bot::start(state, row).await?,
        _ => row,
    };
    Ok((created, row))
}

async fn same_or_conflict(
    client: &impl GenericClient,
    service: StepKind,
    uid: &str,
    parameters: &Value,
) -> Result<(Created, ServiceStepRow), StepError> {
    let row = queries::get_step(client, service, uid, false).await?.ok_or_else(|| not_found(service, uid))?;
    if &row.parameters != parameters {
        return Err(StepError::Conflict(format!("the {} step `{uid}` exists with other parameters", service.as_str())));
    }
    Ok((Created::Same, row))
}

fn typed<T: serde::de::DeserializeOwned>(parameters: &Map<String, Value>) -> Result<T, StepError> {
    serde_json::from_value(Value::Object(parameters.clone()))
        .map_err(|error| StepError::Invalid { field: "parameters".to_owned(), detail: error.to_string() })
}

/// A step as stored, or 404.
pub async fn get(state: &AppState, service: StepKind, uid: &str) -> Result<ServiceStepRow, StepError> {
    let client = state.pool.get().await?;
    queries::get_step(&client, service, uid, false).await?.ok_or_else(|| not_found(service, uid))
}

/// A step as the API shows it, sign-off progress included.
pub async fn view(state: &AppState, row: ServiceStepRow) -> Result<ServiceStep, StepError> {
    let progress = match row.service {
        StepKind::Signoff => {
            let client = state.pool.get().await?;
            let signatures = queries::signatures(&client, &row.uid).await?;
            let parameters: SignoffParameters = typed(&object(&row.parameters))?;
            Some(signoff::progress(&row, &parameters, signatures))
        }
        _ => None,
    };
    Ok(ServiceStep {
        id: row.id,
        uid: row.uid,
        service: row.service,
        state: row.state,
        message: row.message,
        parameters: object(&row.parameters),
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        finished_at: row.finished_at,
        task_group_id: row.task_group_id,
        run_id: row.run_id,
        signoff: progress,
    })
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Whether a status is read for the engine, which paces its polls, or for anyone over HTTP,
/// who may not make the API read Taskcluster more than every [`taskcluster::READ_AGAIN_AFTER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asker {
    Engine,
    Reader,
}

/// The step's status, brought up to date: a Taskcluster group is read, a run looked up, an
/// expired sign-off failed.
pub async fn status(state: &AppState, service: StepKind, uid: &str, asker: Asker) -> Result<StepStatus, StepError> {
    let row = get(state, service, uid).await?;
    let read_lately = row.checked_at.is_some_and(|at| Utc::now() - at < taskcluster::READ_AGAIN_AFTER);
    let row = if row.state != StepServiceState::InProgress || (asker == Asker::Reader && read_lately) {
        row
    } else {
        match service {
            StepKind::Signoff => signoff::refresh(state, row).await?,
            StepKind::Taskcluster => taskcluster::refresh(state, row).await?,
            StepKind::Bot => bot::refresh(state, row).await?,
            StepKind::Pipeline => row,
        }
    };
    Ok(StepStatus { state: row.state, message: row.message })
}

/// Cancels a step that has not finished (a Taskcluster group's unresolved tasks are cancelled
/// first); 409 for a finished one.
pub async fn cancel(state: &AppState, service: StepKind, uid: &str, actor: &str) -> Result<ServiceStepRow, StepError> {
    let row = get(state, service, uid).await?;
    if row.state != StepServiceState::InProgress {
        return Err(StepError::Conflict(format!("the step `{uid}` has finished: {}", row.state.as_str())));
    }
    let message = match service {
        StepKind::Taskcluster => taskcluster::cancel_tasks(state, &row).await?,
        StepKind::Bot => match row.run_id {
            Some(run) => format!("cancelled by {actor}; run {run} goes on: runs cannot be stopped"),
            None => format!("cancelled by {actor}"),
        },
        _ => format!("cancelled by {actor}"),
    };
    finish(state, service, uid, StepServiceState::Cancelled, message, actor)
        .await?
        .ok_or_else(|| StepError::Conflict(format!("the step `{uid}` finished meanwhile")))
}

/// Ends a step still in progress with `outcome`, telling its pipeline; `None` when it had
/// finished already.
pub async fn finish(
    state: &AppState,
    service: StepKind,
    uid: &str,
    outcome: StepServiceState,
    message: String,
    actor: &str,
) -> Result<Option<ServiceStepRow>, StepError> {
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    let mut audit = Audit::open(&transaction, uid).await?;
    let Some(mut row) = queries::get_step(&transaction, service, uid, true).await? else {
        return Err(not_found(service, uid));
    };
    if row.state != StepServiceState::InProgress {
        return Ok(None);
    }
    end(&mut row, outcome, message);
    queries::update_step(&transaction, &row).await?;
    if service == StepKind::Signoff {
        let parameters: SignoffParameters = typed(&object(&row.parameters))?;
        let signatures = queries::signatures(&transaction, uid).await?;
        let occasion =
            if outcome == StepServiceState::Success { notify::Occasion::Completed } else { notify::Occasion::Ended };
        notify::queue(state, &transaction, &row, &parameters, occasion, &signatures).await?;
    }
    let event = Event::transition(audit.step(), "in_progress", outcome.as_str(), "step service")
        .by(actor)
        .with("service", service.as_str())
        .with("message", row.message.clone().unwrap_or_default());
    audit.append(&transaction, event).await?;
    tell_pipeline(&transaction, uid).await?;
    transaction.commit().await?;
    tracing::info!(service = service.as_str(), step = uid, state = outcome.as_str(), "step finished");
    Ok(Some(row))
}

/// Sets a final state on a row.
fn end(row: &mut ServiceStepRow, outcome: StepServiceState, message: String) {
    row.state = outcome;
    row.message = Some(message);
    row.finished_at = Some(Utc::now());
}

/// Makes the pipeline step behind `uid` due now and wakes the engines, when it commits.
async fn tell_pipeline(client: &impl GenericClient, uid: &str) -> Result<(), DbError> {
    if let Some((pipeline, step)) = pipeline_step_of(uid)
        && queries::wake_pipeline_step(client, pipeline, step).await?
    {
        db::pipelines::notify(client, pipeline).await?;
    }
    Ok(())
}

/// The audit chain a step's events go to: its pipeline's (locked first, so that the chain has
/// one writer at a time), or a chain of its own for a step no pipeline created.
struct Audit {
    chain: Chain,
    step: Option<String>,
}

impl Audit {
    /// Opens the chain; call before locking the step's row (pipelines are always locked first).
    async fn open(client: &impl GenericClient, uid: &str) -> Result<Self, DbError> {
        if let Some((pipeline, step)) = pipeline_step_of(uid)
            && db::pipelines::lock_pipeline(client, pipeline).await?.is_some()
        {
            return Ok(Self { chain: Chain::open(pipeline), step: Some(step.to_owned()) });
        }
        Ok(Self { chain: Chain::open(uid), step: None })
    }

    fn step(&self) -> Option<&str> {
        self.step.as_deref()
    }

    async fn append(&mut self, client: &impl GenericClient, event: Event) -> Result<(), DbError> {
        self.chain.append(client, event).await
    }
}

/// Sends what is due and fails expired sign-offs, every `notifications.interval_secs`, forever.
pub async fn run(state: AppState) {
    let interval = seconds(state.config.notifications.interval_secs);
    loop {
        if let Err(error) = signoff::expire_due(&state).await {
            tracing::warn!(%error, "cannot expire sign-off steps");
        }
        loop {
            match notify::send_due(&state).await {
                Ok(sent) if sent as i64 == notify::BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot send notifications");
                    break;
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Parameters of a Taskcluster step, as stored.
fn taskcluster_parameters(row: &ServiceStepRow) -> Result<TaskclusterParameters, StepError> {
    typed(&object(&row.parameters))
}
