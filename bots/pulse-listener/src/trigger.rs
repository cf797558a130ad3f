//! Starting a bot: the one thing the listener needs from `shipit_shared::runner`, as a trait so
//! that the benchmark and tests can put something else behind it.

use std::future::Future;

pub use shipit_shared::runner::{Runner, StartedRun, TriggerRequest};

use crate::error::ListenerError;

/// Starts bot runs.
pub trait Trigger: Send + Sync + 'static {
    /// Starts `request`; a `ListenerError::Trigger` says whether trying again may help.
    fn trigger(&self, request: &TriggerRequest) -> impl Future<Output = Result<StartedRun, ListenerError>> + Send;
}

impl Trigger for Runner {
    async fn trigger(&self, request: &TriggerRequest) -> Result<StartedRun, ListenerError> {
        self.start(request).await.map_err(|error| ListenerError::Trigger {
            bot: request.bot.clone(),
            transient: error.is_transient(),
            message: error.to_string(),
        })
    }
}
