//! The uplift bot on the bot kit: one run is one pass over the pending uplift requests.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use shipit_shared::bot::{Bot, Context, Report};

use crate::bugzilla::Bugzilla;
use crate::config::Settings;
use crate::error::Error;
use crate::report;
use crate::run::{self, RunContext, RunOptions};

/// A pass, as `uplift-bot run` was asked for it.
#[derive(Clone, Debug, Default)]
pub struct UpliftBot {
    /// Only these bugs (`BUG_ID`); every pending bug when empty.
    pub bugs: Vec<i64>,
    /// Where to write the markdown report of the new graft failures.
    pub report: Option<PathBuf>,
    /// Comment on Bugzilla about each new graft failure (also when `bugzilla.write_back` is set).
    pub comment: bool,
    /// With `comment`: print the comments instead of posting them.
    pub dry_run: bool,
}

impl Bot for UpliftBot {
    const NAME: &'static str = "uplift";
    type Settings = Settings;
    type Error = Error;

    fn parameters(&self) -> Map<String, Value> {
        let mut parameters = Map::new();
        if !self.bugs.is_empty() {
            let bugs: Vec<String> = self.bugs.iter().map(i64::to_string).collect();
            parameters.insert("BUG_ID".into(), bugs.join(",").into());
        }
        parameters
    }

    async fn run(&self, context: &Context<Settings>) -> Result<Report, Error> {
        let settings = &context.settings;
        settings.validate()?;
        let api = context.api().map_err(|error| Error::Config(error.to_string()))?;
        let bugzilla = Bugzilla::new(&settings.bugzilla, context.http.clone());
        let options = RunOptions {
            only: self.bugs.iter().copied().collect(),
            comment: self.comment || settings.bugzilla.write_back,
            dry_run: self.dry_run,
        };
        let run_context = RunContext { settings, bugzilla: &bugzilla, api, http: &context.http };
        let summary = run::run(&run_context, &options).await?;
        if let Some(path) = &self.report {
            let bug_url = format!("{}/show_bug.cgi?id=", settings.bugzilla.url.as_str().trim_end_matches('/'));
            write_report(path, &report::markdown(&summary.new_failures, &bug_url))?;
        }
        if self.dry_run {
            let mut out = std::io::stdout().lock();
            for (bug, body) in &summary.comments {
                writeln!(out, "--- comment that would be posted on bug {bug}:\n{body}")
                    .map_err(|error| Error::Config(format!("cannot print the comments: {error}")))?;
            }
        }
        tracing::info!(counts = ?summary.counts(), "uplift pass done");
        Ok(Report::with_failures(summary.failures(), summary.counts()))
    }
}

/// Writes the report, making its directory when needed.
fn write_report(path: &Path, report: &str) -> Result<(), Error> {
    let failed = |error: std::io::Error| Error::Config(format!("cannot write the report {}: {error}", path.display()));
    if let Some(directory) = path.parent().filter(|directory| !directory.as_os_str().is_empty()) {
        std::fs::create_dir_all(directory).map_err(failed)?;
    }
    std::fs::write(path, report).map_err(failed)
}
