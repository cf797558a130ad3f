//! Starting a bot: the one thing the listener needs from `shipit_shared::runner`, as a trait so
//! that the benchmark and tests can put something else behind it.

use std::future::Future;

pub use shipit_shared::runner::{Runner, StartedRun, TriggerRequest};

use crate::error::ListenerError;

/// Starts bot runs.
pub trait Trigger: Send + Sync + 'static {
    /// Starts `request` as run `run_id`, opened in the API already; a `ListenerError::Trigger`
    /// says whether trying again may help.
    fn launch(
        &self,
        run_id: i64,
        request: &TriggerRequest,
    ) -> impl Future<Output = Result<StartedRun, ListenerError>> + Send;
}

impl Trigger for Runner {
    async fn launch(&self, run_id: i64, request: &TriggerRequest) -> Result<StartedRun, ListenerError> {
        Runner::launch(self, run_id, request).await.map_err(|error| ListenerError::Trigger {
            bot: request.bot.clone(),
            transient: error.is_transient(),
            message: error.to_string(),
        })
    }
}
