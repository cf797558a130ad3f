//! Starting bot runs from the API: on-demand reruns and the local schedules (the same cron
//! expressions as the Taskcluster hooks), through the configured runner. Two runs of one bot
//! never overlap: see [`db::runs::open_exclusive`].

use serde_json::Map;
use shipit_shared::api_types::{NewRun, Run, RunTrigger};
use shipit_shared::runner::{RunnerError, TriggerRequest};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::db::{self, runs::OpenOutcome, runs::Overlap};
use crate::state::AppState;

/// Why a run was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("this API has no runner configured")]
    NoRunner,
    #[error("run {} of {} is still running", .0.id, .0.bot)]
    Busy(Box<Run>),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
}

/// Opens a run unless `overlap` says another is in the way, then starts it.
pub async fn start_run(state: &AppState, request: &TriggerRequest, overlap: Overlap) -> Result<Run, StartError> {
    let runner = state.runner.as_ref().ok_or(StartError::NoRunner)?;
    let new_run = NewRun { bot: request.bot.clone(), trigger: request.trigger, parameters: request.parameters.clone() };
    let run = match db::runs::open_exclusive(&state.pool, &new_run, overlap).await? {
        OpenOutcome::Opened(run) => run,
        OpenOutcome::Busy(run) => return Err(StartError::Busy(Box::new(run))),
    };
    runner.launch(run.id, request).await?;
    Ok(run)
}

/// Starts the local schedules of every bot that has one. The scheduler stops when dropped.
pub async fn start_schedules(state: AppState) -> Result<JobScheduler, tokio_cron_scheduler::JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    for bot in state.bots.iter() {
        for schedule in &bot.schedules {
            let (state, name) = (state.clone(), bot.name.clone());
            let job = Job::new_async(schedule.as_str(), move |_, _| {
                let (state, name) = (state.clone(), name.clone());
                Box::pin(async move { scheduled_run(&state, &name).await })
            })?;
            scheduler.add(job).await?;
            tracing::info!(bot.name = %bot.name, schedule, "scheduled");
        }
    }
    scheduler.start().await?;
    Ok(scheduler)
}

async fn scheduled_run(state: &AppState, bot: &str) {
    let request = TriggerRequest { bot: bot.to_owned(), trigger: RunTrigger::Schedule, parameters: Map::new() };
    match start_run(state, &request, Overlap::AnyRun).await {
        Ok(run) => {
            metrics::counter!("shipit_scheduled_runs_total", "bot" => bot.to_owned(), "outcome" => "started")
                .increment(1);
            tracing::info!(run.id = run.id, bot.name = bot, "scheduled run started");
        }
        Err(StartError::Busy(run)) => {
            metrics::counter!("shipit_scheduled_runs_total", "bot" => bot.to_owned(), "outcome" => "skipped")
                .increment(1);
            tracing::info!(
                bot.name = bot,
                running = run.id,
                "scheduled run skipped: the previous one is still running"
            );
        }
        Err(error) => {
            metrics::counter!("shipit_scheduled_runs_total", "bot" => bot.to_owned(), "outcome" => "failed")
                .increment(1);
            tracing::warn!(bot.name = bot, %error, "scheduled run failed to start");
        }
    }
}
