//! The sweeper of silent runs: an open run that has not reported within `run_timeout_secs` is
//! marked failed, so a crashed bot cannot leave a run open forever.

use std::time::Duration;

use crate::db;
use crate::state::AppState;

/// Checks open runs for their timeout every `sweep_interval_secs`, forever.
pub async fn sweep_silent_runs(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs_f64(state.config.sweep_interval_secs.max(0.01)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = fail_silent_runs(&state).await {
            tracing::warn!(%error, "cannot check open runs for their timeout");
        }
    }
}

/// Marks failed the open runs that have not reported within the configured timeout.
pub async fn fail_silent_runs(state: &AppState) -> Result<usize, db::DbError> {
    let failed = db::runs::fail_silent(&state.pool, state.config.run_timeout_secs as i64).await?;
    for run in &failed {
        metrics::counter!("shipit_runs_finished_total", "bot" => run.bot.clone(), "status" => "failed").increment(1);
        tracing::warn!(run.id = run.id, bot.name = %run.bot, "run timed out: marked failed");
    }
    Ok(failed.len())
}
