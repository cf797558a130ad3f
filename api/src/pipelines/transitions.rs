//! Every change of a pipeline and its steps, each in one transaction holding the pipeline's
//! lock: creation, cancel, retry, the engine's claims and what it learnt from step services.
//! Each change is audited and announced (`NOTIFY`) when it commits.

use std::time::Duration;

use chrono::Utc;
use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;
use shipit_shared::api_types::pipelines::{
    Pipeline, PipelineDefinition, PipelineState, PipelineStep, StepServiceState, StepState, StepStatus,
};

use super::audit::{Chain, Event};
use super::graph;
use crate::db::DbError;
use crate::db::pipelines::{self as queries, NewStep, PipelineRow, StepRow};

/// The uid of a step on its service: `<pipeline>.<step>`, then `~<attempt>` from the second
/// attempt on (neither uid may hold `~` in that place, so no two collide).
pub fn service_uid(pipeline_uid: &str, step_uid: &str, attempt: i32) -> String {
    if attempt <= 1 { format!("{pipeline_uid}.{step_uid}") } else { format!("{pipeline_uid}.{step_uid}~{attempt}") }
}

/// The pipeline and step a service uid names: `<pipeline>.<step>` or `<pipeline>.<step>~<n>`.
pub fn pipeline_step_of(uid: &str) -> Option<(&str, &str)> {
    let (pipeline, step) = uid.rsplit_once('.')?;
    let step = step.split_once('~').map_or(step, |(step, _)| step);
    (!pipeline.is_empty() && !step.is_empty()).then_some((pipeline, step))
}

/// The base URL of a step's service: its `api_url`, or the built-in service on this API.
pub fn service_base(step: &StepRow, public_url: &str) -> String {
    match (&step.api_url, step.kind) {
        (Some(url), _) => url.clone(),
        (None, Some(kind)) => format!("{}{}", public_url.trim_end_matches('/'), kind.path()),
        (None, None) => public_url.to_owned(),
    }
}

/// The full URL of a step on its service (of its current attempt, the first before any).
pub fn step_url(step: &StepRow, public_url: &str) -> String {
    format!("{}/{}", service_base(step, public_url), service_uid(&step.pipeline_uid, &step.uid, step.attempts))
}

/// What became of a definition sent for a uid.
#[derive(Debug)]
pub enum Created {
    /// A new pipeline.
    New,
    /// The same definition was accepted before: nothing changed.
    Same,
    /// Another definition holds the uid.
    Conflict,
}

/// Stores a validated pipeline, or tells how it compares with the one holding its uid.
pub async fn create(
    pool: &Pool,
    uid: &str,
    definition: &PipelineDefinition,
    steps: &[NewStep],
    actor: &str,
) -> Result<Created, DbError> {
    let json = serde_json::to_value(definition).map_err(|error| DbError::Corrupt(error.to_string()))?;
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    if queries::insert_pipeline(&transaction, uid, &json, actor).await?.is_none() {
        let existing = queries::lock_pipeline(&transaction, uid).await?;
        let same = existing
            .and_then(|row| serde_json::from_value::<PipelineDefinition>(row.definition).ok())
            .is_some_and(|stored| stored == *definition);
        return Ok(if same { Created::Same } else { Created::Conflict });
    }
    queries::insert_steps(&transaction, uid, steps).await?;
    let mut chain = Chain::open(uid);
    let created = Event {
        event: "pipeline_created",
        to_state: Some(PipelineState::Pending.as_str().to_owned()),
        cause: "request".to_owned(),
        actor: Some(actor.to_owned()),
        details: serde_json::Map::from_iter([("steps".to_owned(), Value::from(steps.len()))]),
        ..Event::default()
    };
    chain.append(&transaction, created).await?;
    queries::notify(&transaction, uid).await?;
    transaction.commit().await?;
    Ok(Created::New)
}

/// A pipeline as the API shows it, its steps' URLs on `public_url` for built-in services.
pub async fn view(pool: &Pool, uid: &str, public_url: &str) -> Result<Option<Pipeline>, DbError> {
    let Some(row) = queries::get_pipeline(pool, uid).await? else { return Ok(None) };
    let client = pool.get().await?;
    let steps = queries::steps(&client, uid).await?;
    let definition =
        serde_json::from_value(row.definition.clone()).map_err(|error| DbError::Corrupt(error.to_string()))?;
    Ok(Some(Pipeline {
        uid: row.uid.clone(),
        state: row.state,
        definition,
        steps: steps.iter().map(|step| step_view(step, public_url)).collect(),
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        finished_at: row.finished_at,
    }))
}

fn step_view(step: &StepRow, public_url: &str) -> PipelineStep {
    PipelineStep {
        uid: step.uid.clone(),
        state: step.state,
        message: step.message.clone(),
        attempts: step.attempts,
        url: step_url(step, public_url),
        started_at: step.started_at,
        finished_at: step.finished_at,
        updated_at: step.updated_at,
    }
}

/// The status of a pipeline in the Step API's words, with its own state.
pub fn status_of(pipeline: &Pipeline) -> StepStatus {
    let failed: Vec<&str> =
        pipeline.steps.iter().filter(|step| step.state == StepState::Failure).map(|step| step.uid.as_str()).collect();
    let message = match pipeline.state {
        PipelineState::Failed => Some(format!("failed steps: {}", failed.join(", "))),
        state => Some(format!("pipeline {}", state.as_str())),
    };
    StepStatus { state: pipeline.state.as_step_state(), message }
}

/// A pipeline locked for a change: its row, its steps, and its audit chain.
struct Locked {
    row: PipelineRow,
    steps: Vec<StepRow>,
    before: Vec<StepRow>,
    chain: Chain,
}

impl Locked {
    async fn load(client: &impl GenericClient, row: PipelineRow) -> Result<Self, DbError> {
        let steps = queries::steps(client, &row.uid).await?;
        let chain = Chain::open(&row.uid);
        Ok(Self { before: steps.clone(), steps, row, chain })
    }

    fn index(&self, step_uid: &str) -> Option<usize> {
        self.steps.iter().position(|step| step.uid == step_uid)
    }

    /// Blocks and unblocks dependents, settles the pipeline's state, and writes every change
    /// with its audit entry (`cause` for the consequences), then announces it.
    async fn save(mut self, client: &impl GenericClient, cause: &str) -> Result<PipelineState, DbError> {
        graph::propagate_blocks(&mut self.steps);
        let mut changed = false;
        for (step, before) in self.steps.iter().zip(&self.before) {
            if step == before {
                continue;
            }
            changed = true;
            queries::update_step(client, step).await?;
            if step.state != before.state {
                let mut event = Event::transition(
                    Some(&step.uid),
                    before.state.as_str(),
                    step.state.as_str(),
                    step_cause(step, before, cause),
                )
                .with("attempt", step.attempts);
                if let Some(message) = &step.message {
                    event = event.with("message", message.clone());
                }
                self.chain.append(client, event).await?;
            }
        }
        let mut state = self.row.state;
        if let Some(next) = graph::pipeline_state(state, &self.steps) {
            queries::set_pipeline_state(client, &self.row.uid, next).await?;
            self.chain.append(client, Event::transition(None, state.as_str(), next.as_str(), cause)).await?;
            state = next;
            changed = true;
            // A nested pipeline tells the pipeline it is a step of at once.
            if next.as_step_state() != StepServiceState::InProgress
                && let Some((parent, step)) = pipeline_step_of(&self.row.uid)
                && crate::db::steps::wake_pipeline_step(client, parent, step).await?
            {
                queries::notify(client, parent).await?;
            }
        }
        if changed {
            queries::notify(client, &self.row.uid).await?;
        }
        Ok(state)
    }
}

/// The cause of a step's change: blocks follow from another step, and the engine starts steps,
/// whatever caused that.
fn step_cause(step: &StepRow, before: &StepRow, cause: &str) -> String {
    match (before.state, step.state) {
        (StepState::Pending, StepState::Blocked) => "a required step failed".to_owned(),
        (StepState::Blocked, StepState::Pending) => "a required step is retried".to_owned(),
        // The engine starts a step, whatever made it runnable.
        (StepState::Pending, StepState::Starting) => "engine".to_owned(),
        _ => cause.to_owned(),
    }
}

/// What became of a cancel.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// Cancelled now (or before).
    Done,
    NotFound,
    /// Nothing left to cancel: the pipeline completed.
    Completed,
}

/// Cancels a pipeline: steps never created never will be, created ones are cancelled on their
/// service by the engine.
pub async fn cancel(pool: &Pool, uid: &str, actor: &str) -> Result<Cancelled, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let Some(row) = queries::lock_pipeline(&transaction, uid).await? else { return Ok(Cancelled::NotFound) };
    match row.state {
        PipelineState::Cancelled => return Ok(Cancelled::Done),
        PipelineState::Completed => return Ok(Cancelled::Completed),
        _ => {}
    }
    let previous = row.state;
    let mut locked = Locked::load(&transaction, row).await?;
    let now = Utc::now();
    for step in &mut locked.steps {
        match step.state {
            StepState::Pending | StepState::Blocked => {}
            StepState::Starting | StepState::InProgress => {
                step.cancel_pending = true;
                step.due_at = Some(now);
            }
            StepState::Success | StepState::Failure | StepState::Cancelled => continue,
        }
        step.state = StepState::Cancelled;
        step.message = Some(format!("cancelled by {actor}"));
        step.finished_at = Some(now);
    }
    queries::set_pipeline_state(&transaction, uid, PipelineState::Cancelled).await?;
    let event = Event::transition(None, previous.as_str(), PipelineState::Cancelled.as_str(), "request").by(actor);
    locked.chain.append(&transaction, event).await?;
    locked.row.state = PipelineState::Cancelled;
    locked.save(&transaction, "request").await?;
    queries::notify(&transaction, uid).await?;
    transaction.commit().await?;
    Ok(Cancelled::Done)
}

/// What became of a retry.
#[derive(Debug, PartialEq, Eq)]
pub enum Retried {
    /// The step has a new attempt coming.
    Done,
    NotFound,
    NoSuchStep,
    /// Only a failed or cancelled step is retried; this one is in that state.
    NotRetriable(StepState),
    /// The step service has not been told of the cancel of the previous attempt yet.
    CancelPending,
    /// The pipeline was cancelled.
    PipelineCancelled,
}

/// Gives a failed or cancelled step a new attempt; its dependents become pending again.
pub async fn retry(pool: &Pool, uid: &str, step_uid: &str, actor: &str) -> Result<Retried, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let Some(row) = queries::lock_pipeline(&transaction, uid).await? else { return Ok(Retried::NotFound) };
    if row.state == PipelineState::Cancelled {
        return Ok(Retried::PipelineCancelled);
    }
    let mut locked = Locked::load(&transaction, row).await?;
    let Some(index) = locked.index(step_uid) else { return Ok(Retried::NoSuchStep) };
    let step = &mut locked.steps[index];
    if !matches!(step.state, StepState::Failure | StepState::Cancelled) {
        return Ok(Retried::NotRetriable(step.state));
    }
    if step.cancel_pending {
        return Ok(Retried::CancelPending);
    }
    reset(step);
    // Dependents cancelled with the step (never created) come back with it.
    let mut downstream = vec![step_uid.to_owned()];
    while let Some(current) = downstream.pop() {
        for step in &mut locked.steps {
            if step.requires.contains(&current) && step.state == StepState::Cancelled && !step.cancel_pending {
                reset(step);
                downstream.push(step.uid.clone());
            }
        }
    }
    let event = Event {
        step: Some(step_uid.to_owned()),
        event: "retry_requested",
        cause: "request".to_owned(),
        ..Event::default()
    }
    .by(actor);
    locked.chain.append(&transaction, event).await?;
    locked.save(&transaction, "request").await?;
    transaction.commit().await?;
    Ok(Retried::Done)
}

fn reset(step: &mut StepRow) {
    step.state = StepState::Pending;
    step.message = None;
    step.started_at = None;
    step.finished_at = None;
    step.due_at = None;
    step.lease_until = None;
    step.transient_failures = 0;
    step.polls = 0;
}

/// What the engine does with a step it claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// `PUT {service}/{uid}` (again, after a restart: creation is idempotent).
    Create,
    /// `GET {service}/{uid}/status`.
    Poll,
    /// `DELETE {service}/{uid}`.
    Cancel,
}

/// A step claimed by this process until its lease runs out.
#[derive(Clone, Debug)]
pub struct Action {
    pub work: Work,
    /// The step as claimed: a result is kept only if the step has not moved since.
    pub step: StepRow,
}

/// Claims up to `limit` pipelines with work (skipping those another process holds): fails the
/// steps past their timeout, starts the runnable steps, and leases the steps due for a look.
pub async fn claim(pool: &Pool, limit: i64, lease: Duration) -> Result<Vec<Action>, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let rows = queries::claim_pipelines(&transaction, limit).await?;
    let now = Utc::now();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let mut actions = Vec::new();
    for row in rows {
        let mut locked = Locked::load(&transaction, row).await?;
        for step in &mut locked.steps {
            let timed_out = step.state.is_active()
                && step.timeout_secs.zip(step.started_at).is_some_and(|(secs, started)| {
                    started + chrono::Duration::milliseconds((secs * 1000.0) as i64) <= now
                });
            if timed_out {
                let secs = step.timeout_secs.unwrap_or_default();
                step.state = StepState::Failure;
                step.message = Some(format!(
                    "timed out: not finished {} after it started",
                    humantime::format_duration(Duration::from_secs_f64(secs))
                ));
                step.finished_at = Some(now);
                step.cancel_pending = true;
                step.due_at = Some(now);
            }
        }
        actions.extend(start_runnable(&mut locked, now, lease_until));
        for step in &mut locked.steps {
            let due = step.due_at.is_some_and(|due| due <= now) && step.lease_until.is_none_or(|until| until < now);
            let work = match step.state {
                _ if step.cancel_pending => Work::Cancel,
                StepState::Starting => Work::Create,
                StepState::InProgress => Work::Poll,
                _ => continue,
            };
            if due {
                step.lease_until = Some(lease_until);
                actions.push(Action { work, step: step.clone() });
            }
        }
        let cause = "engine";
        locked.save(&transaction, cause).await?;
    }
    transaction.commit().await?;
    Ok(actions)
}

/// Starts the runnable steps of a pipeline that is not cancelled, leased to this process.
fn start_runnable(locked: &mut Locked, now: chrono::DateTime<Utc>, lease_until: chrono::DateTime<Utc>) -> Vec<Action> {
    if locked.row.state == PipelineState::Cancelled {
        return Vec::new();
    }
    let mut actions = Vec::new();
    for index in graph::runnable(&locked.steps) {
        let step = &mut locked.steps[index];
        step.state = StepState::Starting;
        step.attempts += 1;
        step.started_at = Some(now);
        step.due_at = Some(now);
        step.lease_until = Some(lease_until);
        actions.push(Action { work: Work::Create, step: step.clone() });
    }
    actions
}

/// When the engine next has work, at the earliest: a step due, a lease running out, a timeout.
pub async fn next_due(pool: &Pool) -> Result<Option<chrono::DateTime<Utc>>, DbError> {
    let client = pool.get().await?;
    queries::next_due(&client).await
}

/// What a step service answered.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The step exists on its service (created now or before).
    Created,
    /// Its status.
    Status(StepStatus),
    /// The service knows of the cancel, or has nothing to cancel.
    CancelDone,
    /// A client error: never retried.
    Refused(String),
    /// A server error, a timeout, no connection: retried with backoff.
    Transient(String),
}

/// Longest message kept from a step service, in characters.
const MAX_MESSAGE_CHARS: usize = 1_000;

/// What a step service said, fit for storing: control characters (NUL among them, which
/// PostgreSQL refuses) replaced, bounded.
fn clean(text: &str) -> String {
    text.chars()
        .map(|character| if character.is_control() && character != '\n' { '\u{fffd}' } else { character })
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

/// How the engine paces a step: status polls back off from `poll_initial` to `poll_max`,
/// transient errors likewise from `retry_initial` to `retry_max`.
#[derive(Clone, Debug)]
pub struct Pacing {
    pub poll_initial: Duration,
    pub poll_max: Duration,
    pub retry: shipit_shared::http::RetryPolicy,
}

impl Pacing {
    /// The pacing of these settings.
    pub fn of(settings: &crate::config::PipelineSettings) -> Self {
        use crate::config::seconds;
        Self {
            poll_initial: seconds(settings.poll_initial_secs),
            poll_max: seconds(settings.poll_max_secs),
            retry: shipit_shared::http::RetryPolicy {
                max_attempts: u32::MAX,
                initial_backoff: seconds(settings.retry_initial_secs),
                max_backoff: seconds(settings.retry_max_secs),
            },
        }
    }

    fn poll_delay(&self, polls: i32) -> Duration {
        let factor = 2u32.saturating_pow(polls.clamp(0, 20) as u32);
        self.poll_initial.saturating_mul(factor).min(self.poll_max)
    }
}

/// Records what the service answered for a claimed step, unless the step moved since (a cancel,
/// a timeout): then only the lease is given back. The steps this makes runnable are started in
/// the same transaction, leased to this process: their creation is returned, to do at once.
pub async fn record(
    pool: &Pool,
    action: &Action,
    outcome: Outcome,
    pacing: &Pacing,
    // The lease of the steps to start now; none for a polling engine, which leaves them to its
    // next pass.
    lease: Option<Duration>,
) -> Result<Vec<Action>, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let Some(row) = queries::lock_pipeline(&transaction, &action.step.pipeline_uid).await? else {
        return Ok(Vec::new());
    };
    let mut locked = Locked::load(&transaction, row).await?;
    let Some(index) = locked.index(&action.step.uid) else { return Ok(Vec::new()) };
    let now = Utc::now();
    let later = |delay: Duration| now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60));
    let step = &mut locked.steps[index];
    let unchanged = step.state == action.step.state
        && step.attempts == action.step.attempts
        && step.cancel_pending == action.step.cancel_pending;
    step.lease_until = None;
    if !unchanged {
        locked.save(&transaction, "engine").await?;
        transaction.commit().await?;
        return Ok(Vec::new());
    }
    let url = step_url(step, "");
    match (action.work, outcome) {
        (_, Outcome::Transient(error)) => {
            step.transient_failures += 1;
            step.due_at = Some(later(pacing.retry.backoff(step.transient_failures as u32)));
            step.message = Some(clean(&format!(
                "the step service failed ({} in a row), retrying: {error}",
                step.transient_failures
            )));
        }
        (Work::Cancel, Outcome::CancelDone | Outcome::Refused(_)) => {
            step.cancel_pending = false;
            step.due_at = None;
            let event = Event {
                step: Some(step.uid.clone()),
                event: "service_cancelled",
                cause: "engine".to_owned(),
                ..Event::default()
            };
            locked.chain.append(&transaction, event).await?;
        }
        (Work::Create, Outcome::Created) => {
            step.state = StepState::InProgress;
            step.transient_failures = 0;
            step.message = None;
            step.due_at = Some(later(pacing.poll_delay(0)));
        }
        (Work::Create | Work::Poll, Outcome::Refused(error)) => {
            let what = if action.work == Work::Create { "creating" } else { "following" };
            step.state = StepState::Failure;
            step.message = Some(clean(&format!("{what} the step on its service failed: {error}")));
            step.finished_at = Some(now);
            step.due_at = None;
        }
        (Work::Poll, Outcome::Status(status)) => {
            step.transient_failures = 0;
            step.message = status.message.as_deref().map(clean);
            if status.state == StepServiceState::InProgress {
                step.polls += 1;
                step.due_at = Some(later(pacing.poll_delay(step.polls)));
            } else {
                step.state = status.state.into();
                step.finished_at = Some(now);
                step.due_at = None;
            }
        }
        (work, outcome) => {
            tracing::warn!(?work, ?outcome, step = %url, "unexpected answer for this work");
            step.due_at = Some(later(pacing.poll_delay(step.polls)));
        }
    }
    graph::propagate_blocks(&mut locked.steps);
    let next = match lease {
        Some(lease) => {
            let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
            start_runnable(&mut locked, now, lease_until)
        }
        None => Vec::new(),
    };
    locked.save(&transaction, "step service").await?;
    transaction.commit().await?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_step_service_says_is_stored_without_control_characters_and_bounded() {
        assert_eq!(clean("ok\nbad\0byte\u{7}"), "ok\nbad\u{fffd}byte\u{fffd}");
        assert_eq!(clean(&"x".repeat(5_000)).chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn a_service_uid_names_its_pipeline_and_step() {
        assert_eq!(pipeline_step_of("firefox-99.0b1.S"), Some(("firefox-99.0b1", "S")));
        assert_eq!(pipeline_step_of("firefox-99.0b1.S~3"), Some(("firefox-99.0b1", "S")));
        assert_eq!(pipeline_step_of("outer.N.B"), Some(("outer.N", "B")));
        assert_eq!(pipeline_step_of("standalone"), None);
        assert_eq!(pipeline_step_of(".S"), None);
    }

    #[test]
    fn attempts_after_the_first_get_a_uid_of_their_own() {
        assert_eq!(service_uid("firefox-99.0b1", "S", 0), "firefox-99.0b1.S");
        assert_eq!(service_uid("firefox-99.0b1", "S", 1), "firefox-99.0b1.S");
        assert_eq!(service_uid("firefox-99.0b1", "S", 2), "firefox-99.0b1.S~2");
    }
}
