//! The engine, in the API process: woken by `NOTIFY` on every committed change and by an
//! interval, it claims pipelines with work (`FOR UPDATE SKIP LOCKED`, so replicas sharing a
//! database never take the same step), then talks to the step services outside any transaction
//! and records what they answered.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use shipit_shared::api_types::pipelines::{PipelineDefinition, StepKind, StepStatus};
use tokio::sync::{Notify, Semaphore};
use tokio_postgres::AsyncMessage;

use super::definition;
use super::services::{self, Asker, StepError};
use super::transitions::{self, Action, Created, Outcome, Pacing, Work, service_base, service_uid};
use crate::config::PipelineSettings;
use crate::db;
use crate::state::AppState;

/// Pipelines claimed in one transaction at most.
const CLAIM_BATCH: usize = 8;

/// The shortest sleep between two passes that were not woken.
const MIN_WAIT: Duration = Duration::from_millis(5);

/// Longest error body kept in a step's message.
const MAX_ERROR_BODY_CHARS: usize = 500;

/// Runs the engine forever. `listen_config` reaches the database for `LISTEN`; without it (or
/// with `pipelines.listen` off) the engine wakes on its interval only.
pub async fn run(state: AppState, listen_config: Option<tokio_postgres::Config>) {
    let settings = state.config.pipelines.clone();
    let wake = Arc::new(Notify::new());
    let listener = listen_config.filter(|_| settings.listen).map(|config| tokio::spawn(listen(config, wake.clone())));
    let engine = Arc::new(Engine::new(state, settings, wake.clone()));
    let _listener = AbortOnDrop(listener);
    loop {
        engine.pass().await;
        let wait = engine.wait().await;
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
    }
}

struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// `LISTEN`s on the pipelines' channel, waking the engine on each notification; reconnects
/// with backoff when the connection drops.
async fn listen(config: tokio_postgres::Config, wake: Arc<Notify>) {
    let mut failures = 0u32;
    loop {
        match listen_once(&config, &wake).await {
            Ok(()) => failures = 0,
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, "pipeline notifications lost, reconnecting");
            }
        }
        // Whatever was announced meanwhile is found by the next pass.
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(failures.min(6))).await;
    }
}

async fn listen_once(config: &tokio_postgres::Config, wake: &Arc<Notify>) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let wake = wake.clone();
    // The connection delivers notifications only while polled: a task of its own does it.
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |context| connection.poll_message(context));
        while let Some(message) = messages.next().await {
            if let AsyncMessage::Notification(_) = message? {
                wake.notify_one();
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {}", db::pipelines::CHANNEL)).await?;
    let ended = driver.await;
    drop(client);
    ended.unwrap_or(Ok(()))
}

struct Engine {
    state: AppState,
    settings: PipelineSettings,
    http: reqwest::Client,
    pacing: Arc<Pacing>,
    /// Requests to step services in flight at once.
    slots: Arc<Semaphore>,
    wake: Arc<Notify>,
}

impl Engine {
    fn new(state: AppState, settings: PipelineSettings, wake: Arc<Notify>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout())
            .connect_timeout(settings.request_timeout())
            .build()
            .expect("an HTTP client with default TLS settings always builds");
        let pacing = Arc::new(Pacing::of(&settings));
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Self { state, settings, http, pacing, slots, wake }
    }

    /// How long to sleep unless woken: until the next step is due, at most the interval (a
    /// polling engine sleeps the interval).
    async fn wait(&self) -> Duration {
        let interval = self.settings.interval();
        if !self.settings.listen {
            return interval;
        }
        match transitions::next_due(&self.state.pool).await {
            // A floor, so that work due but held by another process is not spun on.
            Ok(Some(due)) => (due - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO).clamp(MIN_WAIT, interval),
            Ok(None) => interval,
            Err(error) => {
                tracing::warn!(%error, "cannot tell when pipeline work is due");
                interval
            }
        }
    }

    /// Claims what can be done now and starts it, until nothing is left or every slot is busy.
    async fn pass(self: &Arc<Self>) {
        loop {
            let free = self.slots.available_permits();
            if free == 0 {
                return;
            }
            // Small batches keep each claim's transaction, and the locks it holds, short.
            let batch = free.min(CLAIM_BATCH) as i64;
            let actions = match transitions::claim(&self.state.pool, batch, self.settings.lease()).await {
                Ok(actions) => actions,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim pipeline work");
                    return;
                }
            };
            if actions.is_empty() {
                return;
            }
            for action in actions {
                let Ok(permit) = self.slots.clone().acquire_owned().await else { return };
                self.launch(action, permit);
            }
        }
    }

    /// Does the work of a claimed step in a task of its own, records the answer, and goes on at
    /// once with the steps that answer made runnable.
    fn launch(self: &Arc<Self>, action: Action, permit: tokio::sync::OwnedSemaphorePermit) {
        let engine = self.clone();
        tokio::spawn(async move {
            let outcome = match (&action.step.api_url, action.step.kind) {
                (None, Some(kind)) => perform_built_in(&engine.state, kind, &action).await,
                _ => perform(&engine.http, &action).await,
            };
            tracing::debug!(step = %action.step.uid, pipeline = %action.step.pipeline_uid, work = ?action.work, ?outcome, "step service answered");
            // A polling engine (`listen` off) acts on its interval only, even on its own work.
            let lease = engine.settings.listen.then(|| engine.settings.lease());
            let recorded = transitions::record(&engine.state.pool, &action, outcome, &engine.pacing, lease).await;
            drop(permit);
            match recorded {
                Ok(next) => {
                    for action in next {
                        let Ok(permit) = engine.slots.clone().acquire_owned().await else { return };
                        engine.launch(action, permit);
                    }
                }
                // The lease runs out and the work is done again.
                Err(error) => {
                    tracing::warn!(%error, step = %action.step.uid, "cannot record what a step service answered")
                }
            }
            if engine.settings.listen {
                engine.wake.notify_one();
            }
        });
    }
}

/// Does the claimed work of a step of a built-in service, in this process.
async fn perform_built_in(state: &AppState, kind: StepKind, action: &Action) -> Outcome {
    let step = &action.step;
    let uid = service_uid(&step.pipeline_uid, &step.uid, step.attempts);
    let actor = format!("pipeline {}", step.pipeline_uid);
    let parameters = step.parameters.as_object().cloned().unwrap_or_default();
    if kind == StepKind::Pipeline {
        return perform_nested(state, action, &uid, &actor).await;
    }
    let answer = match action.work {
        Work::Create => services::create(state, kind, &uid, &parameters, &actor).await.map(|_| Outcome::Created),
        Work::Poll => services::status(state, kind, &uid, Asker::Engine).await.map(Outcome::Status),
        Work::Cancel => services::cancel(state, kind, &uid, &actor).await.map(|_| Outcome::CancelDone),
    };
    answer.unwrap_or_else(|error| match error {
        StepError::NotFound { .. } | StepError::Conflict(_) if action.work == Work::Cancel => Outcome::CancelDone,
        StepError::Upstream { transient: true, .. } | StepError::Db(_) => Outcome::Transient(error.to_string()),
        error => Outcome::Refused(error.to_string()),
    })
}

/// A nested pipeline, created, followed and cancelled in this process.
async fn perform_nested(state: &AppState, action: &Action, uid: &str, actor: &str) -> Outcome {
    let pool = &state.pool;
    match action.work {
        Work::Create => {
            let definition: PipelineDefinition = match serde_json::from_value(action.step.parameters.clone()) {
                Ok(definition) => definition,
                Err(error) => return Outcome::Refused(format!("not a pipeline definition: {error}")),
            };
            let steps = match definition::validate(&definition, super::known(state)) {
                Ok(steps) => steps,
                Err(error) => return Outcome::Refused(error.to_string()),
            };
            match transitions::create(pool, uid, &definition, &steps, actor).await {
                Ok(Created::New | Created::Same) => Outcome::Created,
                Ok(Created::Conflict) => {
                    Outcome::Refused(format!("the pipeline `{uid}` exists with another definition"))
                }
                Err(error) => Outcome::Transient(error.to_string()),
            }
        }
        Work::Poll => match transitions::view(pool, uid, &state.config.public_url()).await {
            Ok(Some(pipeline)) => Outcome::Status(transitions::status_of(&pipeline)),
            Ok(None) => Outcome::Refused(format!("the pipeline `{uid}` is gone")),
            Err(error) => Outcome::Transient(error.to_string()),
        },
        Work::Cancel => match transitions::cancel(pool, uid, actor).await {
            Ok(_) => Outcome::CancelDone,
            Err(error) => Outcome::Transient(error.to_string()),
        },
    }
}

/// Asks the step's external service to do the claimed work.
async fn perform(http: &reqwest::Client, action: &Action) -> Outcome {
    let step = &action.step;
    let url = format!("{}/{}", service_base(step, ""), service_uid(&step.pipeline_uid, &step.uid, step.attempts));
    let request = match action.work {
        Work::Create => http.put(&url).json(&step.parameters),
        Work::Poll => http.get(format!("{url}/status")),
        Work::Cancel => http.delete(&url),
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Outcome::Transient(format!("{url}: {error}")),
    };
    let status = response.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT {
        return Outcome::Transient(format!("{url} answered {status}"));
    }
    if action.work == Work::Cancel && matches!(status, StatusCode::NOT_FOUND | StatusCode::CONFLICT) {
        // Nothing to cancel: never created, or finished already.
        return Outcome::CancelDone;
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(MAX_ERROR_BODY_CHARS).collect();
        return Outcome::Refused(format!("{url} answered {status}: {body}"));
    }
    match action.work {
        Work::Create => Outcome::Created,
        Work::Cancel => Outcome::CancelDone,
        Work::Poll => match response.json::<StepStatus>().await {
            Ok(status) => Outcome::Status(status),
            Err(error) => Outcome::Transient(format!("{url}/status answered no step status: {error}")),
        },
    }
}
