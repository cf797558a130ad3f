//! The coverage bot on the bot kit: one run merges and uploads the coverage of a push.

use serde_json::{Map, Value, json};
use shipit_shared::bot::{Bot, Context, Report};

use crate::CoverageError;
use crate::run::{RunConfig, RunContext};
use crate::taskcluster::Taskcluster;

/// A run for a push of `repository` (`REPOSITORY`), at `revision` (`REVISION`; the newest
/// coverage build when absent).
#[derive(Clone, Debug)]
pub struct CoverageBot {
    pub repository: String,
    pub revision: Option<String>,
}

impl Bot for CoverageBot {
    const NAME: &'static str = "coverage";
    type Settings = RunConfig;
    type Error = CoverageError;

    fn parameters(&self) -> Map<String, Value> {
        let mut parameters = Map::new();
        parameters.insert("REPOSITORY".into(), self.repository.clone().into());
        if let Some(revision) = &self.revision {
            parameters.insert("REVISION".into(), revision.clone().into());
        }
        parameters
    }

    async fn run(&self, context: &Context<RunConfig>) -> Result<Report, CoverageError> {
        let api = context.api()?;
        let taskcluster = Taskcluster::new(context.taskcluster.root_url.clone(), context.http.clone());
        let run_context = RunContext { config: &context.settings, taskcluster: &taskcluster, http: &context.http, api };
        let summary = crate::run::run(&run_context, &self.repository, self.revision.as_deref()).await?;
        tracing::info!(
            revision = %summary.revision,
            reports = summary.reports.len(),
            missing = summary.missing.len(),
            "coverage run done"
        );
        let counts = json!({
            "reports": summary.reports.len(),
            "artifacts": summary.artifacts,
            "missing": summary.missing.len(),
        });
        Ok(Report::with_failures(summary.missing, counts.as_object().cloned().unwrap_or_default()))
    }
}
