//! Starting a bot: the one thing the listener needs from `shipit_shared::runner`, as a trait so
//! that the benchmark and tests can put something else behind it, and the runner the
//! configuration asks for.

use std::collections::BTreeMap;
use std::future::Future;

use secrecy::ExposeSecret;
use shipit_shared::api_client::ApiClient;
use shipit_shared::http::UpstreamClient;
use shipit_shared::runner::{LocalRunnerConfig, TaskclusterRunnerConfig};
pub use shipit_shared::runner::{Runner, StartedRun, TriggerRequest};

use crate::config::ListenerConfig;
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

/// The runner the configuration asks for: `[local_runner]` when present, else the bots'
/// Taskcluster hooks, with `[taskcluster]` credentials.
pub fn runner(config: &ListenerConfig, http: UpstreamClient, api: ApiClient) -> Result<Runner, ListenerError> {
    if let Some(local) = &config.local_runner {
        let mut environment = BTreeMap::new();
        if let Some(url) = &config.api.url {
            environment.insert("SHIPIT_API__URL".to_owned(), url.to_string());
        }
        if let Some(token) = &config.api.token {
            environment.insert("SHIPIT_API__TOKEN".to_owned(), token.expose_secret().to_owned());
        }
        let local = LocalRunnerConfig {
            bin_dir: local.bin_dir.clone(),
            log_dir: local.log_dir.clone(),
            environment,
            commands: local.commands.clone(),
        };
        return Ok(Runner::local(local, api));
    }
    let taskcluster = &config.taskcluster;
    let access_token = taskcluster.access_token.clone().ok_or_else(|| {
        ListenerError::Config(
            "taskcluster.access_token is required to trigger hooks (or set [local_runner])".to_owned(),
        )
    })?;
    let hooks = TaskclusterRunnerConfig {
        root_url: taskcluster.root_url.clone(),
        client_id: taskcluster.client_id.clone(),
        access_token,
        hook_group: taskcluster.hook_group.clone(),
        hook_prefix: taskcluster.hook_prefix.clone(),
    };
    Ok(Runner::taskcluster(hooks, http, api))
}
