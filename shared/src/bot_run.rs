//! The run a bot records while it works: adopted when whoever started the bot opened it already
//! (`SHIPIT_RUN_ID`), opened otherwise, and closed with the outcome.

use serde_json::{Map, Value};

use crate::api_client::{ApiClient, ApiClientError};
use crate::api_types::{NewRun, RunFinish, RunOutcome, RunProgress, RunTrigger};
use crate::runner::RUN_ID_VARIABLE;

/// The run opened for this bot by whoever started it, from `SHIPIT_RUN_ID`.
pub fn run_id_from_environment() -> Option<i64> {
    std::env::var(RUN_ID_VARIABLE).ok().and_then(|id| id.trim().parse().ok())
}

/// A bot's run in the API.
#[derive(Debug)]
pub struct BotRun {
    api: ApiClient,
    id: i64,
}

impl BotRun {
    /// Adopts run `adopted` (see [`run_id_from_environment`]), or opens one (a bot started by
    /// hand).
    pub async fn begin(
        api: ApiClient,
        adopted: Option<i64>,
        bot: &str,
        parameters: Map<String, Value>,
    ) -> Result<Self, ApiClientError> {
        let id = match adopted {
            Some(id) => api.run(id).await?.id,
            None => api.open_run(&NewRun { bot: bot.to_owned(), trigger: RunTrigger::Manual, parameters }).await?.id,
        };
        tracing::info!(run.id = id, bot.name = bot, adopted = adopted.is_some(), "run begun");
        Ok(Self { api, id })
    }

    /// The run's id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Reports progress; a failure to report is logged, never fatal to the work.
    pub async fn progress(&self, done: i64, total: i64, message: &str) {
        let progress =
            RunProgress { done: Some(done), total: Some(total), message: Some(message.to_owned()), counts: Map::new() };
        if let Err(error) = self.api.report_progress(self.id, &progress).await {
            tracing::warn!(run.id = self.id, %error, "cannot report progress");
        }
    }

    /// Closes the run.
    pub async fn finish(
        self,
        outcome: RunOutcome,
        error_summary: Option<String>,
        counts: Map<String, Value>,
    ) -> Result<(), ApiClientError> {
        self.api.finish_run(self.id, &RunFinish { status: outcome, error_summary, counts }).await?;
        tracing::info!(run.id = self.id, outcome = ?outcome, "run finished");
        Ok(())
    }
}
