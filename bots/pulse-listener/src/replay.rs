//! `pulse-listener replay`: recorded Pulse messages handled as if they had been consumed, by the
//! same rules, claims and runner as a consuming listener, as one recorded run of the listener that
//! ends once the runs it started have ended. How the sample data gets its Pulse events offline, and
//! how an operator replays messages from an outage.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::RunStatus;
use shipit_shared::bot::{Bot, Context, Report};

use crate::config::ListenerConfig;
use crate::error::ListenerError;
use crate::listener::{Listener, Outcome, RecordedMessage};
use crate::rules::Upstreams;
use crate::trigger::runner;

/// The largest recorded message read.
const MESSAGE_LIMIT: u64 = 1024 * 1024;

/// How long the replay waits for each run it started to end.
const RUN_WAIT: Duration = Duration::from_secs(30 * 60);

/// A replay of the messages recorded in `files`, one message (a JSON object of `exchange`,
/// `routingKey` and `payload`) per file.
pub struct ReplayBot {
    pub files: Vec<PathBuf>,
}

impl Bot for ReplayBot {
    const NAME: &'static str = "pulse-listener";
    type Settings = ListenerConfig;
    type Error = ListenerError;

    async fn run(&self, context: &Context<ListenerConfig>) -> Result<Report, ListenerError> {
        let api = context.api().map_err(|error| ListenerError::Config(error.to_string()))?.clone();
        let config = &context.settings;
        let trigger = runner(config, context.http.clone(), api.clone())?;
        let upstreams = Upstreams { http: context.http.clone(), taskcluster: config.taskcluster.root_url.clone() };
        let listener = Listener::new(config.clone(), trigger, api.clone(), upstreams)?;

        let mut counts = Counts::default();
        let mut failures = Vec::new();
        let mut started = Vec::new();
        for (index, file) in self.files.iter().enumerate() {
            context.progress(index as i64, self.files.len() as i64, &file.display().to_string(), Map::new()).await;
            let message = match read_message(file) {
                Ok(message) => message,
                Err(reason) => {
                    counts.add("unreadable");
                    failures.push(format!("{}: {reason}", file.display()));
                    continue;
                }
            };
            counts.add("messages");
            let outcomes = listener.replay(&message).await;
            if outcomes.is_empty() {
                counts.add("unbound");
            }
            for (rule, outcome) in outcomes {
                match outcome {
                    Outcome::Triggered { run_id } => {
                        counts.add("triggered");
                        started.push(run_id);
                    }
                    Outcome::Ack(kind) => counts.add(kind),
                    Outcome::Requeue { error, .. } | Outcome::DeadLetter(error) => {
                        counts.add("dead_lettered");
                        failures.push(format!("{}: rule {rule}: {error}", file.display()));
                    }
                }
            }
        }
        let replayed = self.files.len() as i64;
        context.progress(replayed, replayed, "replayed", Map::new()).await;
        for run_id in started {
            let status = wait_for_end(&api, run_id).await?;
            counts.add(&format!("runs_{}", status.as_str()));
        }
        Ok(Report::with_failures(failures, counts.0))
    }
}

/// Counts by name.
#[derive(Default)]
struct Counts(Map<String, Value>);

impl Counts {
    fn add(&mut self, name: &str) {
        let count = self.0.entry(name.to_owned()).or_insert(Value::from(0));
        *count = Value::from(count.as_u64().unwrap_or(0) + 1);
    }
}

fn read_message(file: &std::path::Path) -> Result<RecordedMessage, String> {
    use std::io::Read;
    let mut text = Vec::new();
    std::fs::File::open(file)
        .and_then(|opened| opened.take(MESSAGE_LIMIT + 1).read_to_end(&mut text))
        .map_err(|error| format!("cannot read it: {error}"))?;
    if text.len() as u64 > MESSAGE_LIMIT {
        return Err(format!("larger than {MESSAGE_LIMIT} bytes"));
    }
    serde_json::from_slice(&text).map_err(|error| format!("not a recorded message: {error}"))
}

/// The status run `run_id` ended with.
async fn wait_for_end(api: &ApiClient, run_id: i64) -> Result<RunStatus, ListenerError> {
    let deadline = tokio::time::Instant::now() + RUN_WAIT;
    loop {
        let run = api.run(run_id).await?;
        if run.status != RunStatus::Running {
            return Ok(run.status);
        }
        if tokio::time::Instant::now() > deadline {
            return Ok(RunStatus::Running);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
