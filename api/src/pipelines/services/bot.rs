//! Bot steps: a bot run started through the runner (the checks of `POST /runs/trigger`, once
//! even across restarts), succeeding when the run succeeded and failing with its error summary
//! otherwise.

use chrono::Utc;
use shipit_shared::api_types::RunStatus;
use shipit_shared::api_types::RunTrigger;
use shipit_shared::api_types::pipelines::{BotParameters, StepKind, StepServiceState};
use shipit_shared::runner::TriggerRequest;

use super::{StepError, finish, not_found, object, typed};
use crate::db;
use crate::db::runs::Overlap;
use crate::db::steps::{self as queries, ServiceStepRow};
use crate::scheduler::{self, StartError};
use crate::state::AppState;

/// A start older than this without a run was lost (the API stopped while starting it).
const LOST_START: chrono::Duration = chrono::Duration::minutes(2);

/// Starts the run unless it was started before. A run of the bot with the same parameters
/// already going is followed instead of starting another.
pub async fn start(state: &AppState, row: ServiceStepRow) -> Result<ServiceStepRow, StepError> {
    if row.state != StepServiceState::InProgress || row.run_id.is_some() || row.triggered_at.is_some() {
        return Ok(row);
    }
    let parameters: BotParameters = typed(&object(&row.parameters))?;
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    let mut row = queries::get_step(&transaction, StepKind::Bot, &row.uid, true)
        .await?
        .ok_or_else(|| not_found(StepKind::Bot, &row.uid))?;
    if row.triggered_at.is_some() || row.run_id.is_some() {
        return Ok(row);
    }
    row.triggered_at = Some(Utc::now());
    queries::update_step(&transaction, &row).await?;
    transaction.commit().await?;
    let request = TriggerRequest {
        bot: parameters.bot.clone(),
        trigger: RunTrigger::Pipeline,
        parameters: parameters.parameters,
    };
    let failure = match scheduler::start_run(state, &request, Overlap::SameParameters).await {
        Ok(run) => {
            row.run_id = Some(run.id);
            row.message = Some(format!("run {} of {} started", run.id, run.bot));
            queries::update_step(&client, &row).await?;
            return Ok(row);
        }
        Err(StartError::Busy(run)) => {
            row.run_id = Some(run.id);
            row.message = Some(format!("following run {}, already running with these parameters", run.id));
            queries::update_step(&client, &row).await?;
            return Ok(row);
        }
        Err(StartError::Runner(error)) if error.is_transient() => {
            row.triggered_at = None;
            queries::update_step(&client, &row).await?;
            return Err(StepError::Upstream { message: error.to_string(), transient: true });
        }
        Err(StartError::Db(error)) => {
            row.triggered_at = None;
            queries::update_step(&client, &row).await?;
            return Err(error.into());
        }
        Err(error) => format!("the run could not be started: {error}"),
    };
    drop(client);
    let ended = finish(state, StepKind::Bot, &row.uid, StepServiceState::Failure, failure, "runner").await?;
    Ok(ended.unwrap_or(row))
}

/// Ends the step when its run has ended.
pub async fn refresh(state: &AppState, row: ServiceStepRow) -> Result<ServiceStepRow, StepError> {
    let Some(run_id) = row.run_id else {
        if row.triggered_at.is_none_or(|at| Utc::now() - at <= LOST_START) {
            return Ok(row);
        }
        let message = "the run was being started when the API stopped: look for it in /runs before retrying this step";
        let ended =
            finish(state, StepKind::Bot, &row.uid, StepServiceState::Failure, message.to_owned(), "runner").await?;
        return Ok(ended.unwrap_or(row));
    };
    let Some(run) = db::runs::get(&state.pool, run_id).await? else {
        return Err(StepError::Conflict(format!("run {run_id} of this step is gone")));
    };
    let (outcome, message) = match run.status {
        RunStatus::Running => return Ok(row),
        RunStatus::Succeeded => (StepServiceState::Success, format!("run {run_id} succeeded")),
        RunStatus::Failed | RunStatus::Partial => {
            let status = if run.status == RunStatus::Failed { "failed" } else { "partly failed" };
            let summary = run.error_summary.unwrap_or_else(|| "no error summary".to_owned());
            (StepServiceState::Failure, format!("run {run_id} {status}: {summary}"))
        }
    };
    let ended = finish(state, StepKind::Bot, &row.uid, outcome, message, "runner").await?;
    match ended {
        Some(row) => Ok(row),
        None => super::get(state, StepKind::Bot, &row.uid).await,
    }
}
