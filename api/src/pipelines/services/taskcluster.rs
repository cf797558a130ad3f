//! Taskcluster steps: follow an existing task group, or trigger a hook (once, even across
//! restarts) and follow the group its task creates. A group fails when a task failed or hit an
//! exception and succeeds when every task completed, reading every page of it; a cancel cancels
//! its unresolved tasks through the Queue.

use chrono::Utc;
use shipit_shared::api_types::pipelines::{StepKind, StepServiceState};
use shipit_shared::taskcluster::{Credentials, GroupTask, Taskcluster, TaskclusterError};

use super::{StepError, finish, not_found, taskcluster_parameters};
use crate::db::steps::{self as queries, ServiceStepRow};
use crate::state::AppState;

/// Readers over HTTP get the group's state as read this recently rather than read again.
pub const READ_AGAIN_AFTER: chrono::Duration = chrono::Duration::seconds(5);

/// A trigger older than this without an answer was lost (the API stopped while sending it).
const LOST_TRIGGER: chrono::Duration = chrono::Duration::minutes(2);

/// The Taskcluster of the API's `[taskcluster]` settings.
pub fn client(state: &AppState) -> Result<Taskcluster, StepError> {
    let settings = state.config.taskcluster.as_ref().ok_or_else(|| StepError::Invalid {
        field: "parameters".to_owned(),
        detail: "this API has no [taskcluster] settings: Taskcluster steps are off".to_owned(),
    })?;
    Ok(Taskcluster {
        root_url: settings.root_url.clone(),
        credentials: Some(Credentials {
            client_id: settings.client_id.clone(),
            access_token: settings.access_token.clone(),
        }),
        http: state.upstream.clone(),
    })
}

fn upstream(error: TaskclusterError) -> StepError {
    StepError::Upstream { transient: error.is_transient(), message: error.to_string() }
}

/// Records the group to follow, or triggers the hook unless it was triggered before.
pub async fn start(state: &AppState, row: ServiceStepRow) -> Result<ServiceStepRow, StepError> {
    let parameters = taskcluster_parameters(&row)?;
    if row.state != StepServiceState::InProgress || row.task_group_id.is_some() {
        return Ok(row);
    }
    let Some(hook) = parameters.hook else {
        let mut row = row;
        row.task_group_id = parameters.task_group_id;
        row.message = Some("following the task group".to_owned());
        let client = state.pool.get().await?;
        queries::update_step(&client, &row).await?;
        return Ok(row);
    };
    let taskcluster = client(state)?;
    // Claim the trigger: whoever sets `triggered_at` sends it, once.
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    let mut row = queries::get_step(&transaction, StepKind::Taskcluster, &row.uid, true)
        .await?
        .ok_or_else(|| not_found(StepKind::Taskcluster, &row.uid))?;
    if row.triggered_at.is_some() || row.task_group_id.is_some() {
        return Ok(row);
    }
    row.triggered_at = Some(Utc::now());
    row.message = Some(format!("triggering the hook {}/{}", hook.group, hook.id));
    queries::update_step(&transaction, &row).await?;
    transaction.commit().await?;
    let payload = serde_json::Value::Object(hook.payload.clone());
    match taskcluster.trigger_hook(&hook.group, &hook.id, &payload).await {
        Ok(task_id) => {
            row.task_group_id = Some(task_id.clone());
            row.message = Some(format!("triggered the hook {}/{}: task group {task_id}", hook.group, hook.id));
            queries::update_step(&client, &row).await?;
            tracing::info!(step = row.uid, hook = %format!("{}/{}", hook.group, hook.id), task_group = task_id, "hook triggered");
            Ok(row)
        }
        Err(error) if error.is_transient() => {
            // Not sent, or refused by a server error: the next creation request tries again.
            row.triggered_at = None;
            row.message = Some(format!("triggering the hook failed, to be retried: {error}"));
            queries::update_step(&client, &row).await?;
            Err(upstream(error))
        }
        Err(error) => {
            let message = format!("triggering the hook {}/{} failed: {error}", hook.group, hook.id);
            drop(client);
            let ended =
                finish(state, StepKind::Taskcluster, &row.uid, StepServiceState::Failure, message, "taskcluster")
                    .await?;
            Ok(ended.unwrap_or(row))
        }
    }
}

/// The state of a group from its tasks, and what to tell people.
pub fn group_state(tasks: &[GroupTask]) -> (StepServiceState, String) {
    if let Some(task) = tasks.iter().find(|task| task.status.state.is_none()) {
        return (
            StepServiceState::Failure,
            format!("Taskcluster answered task {} without a state", task.status.task_id),
        );
    }
    let in_state = |wanted: &[&str]| {
        tasks.iter().filter(|task| task.status.state.as_deref().is_some_and(|state| wanted.contains(&state))).count()
    };
    let failed: Vec<&str> = tasks
        .iter()
        .filter(|task| matches!(task.status.state.as_deref(), Some("failed" | "exception")))
        .map(|task| task.status.task_id.as_str())
        .collect();
    let completed = in_state(&["completed"]);
    let total = tasks.len();
    if !failed.is_empty() {
        let named: Vec<&str> = failed.iter().take(5).copied().collect();
        return (
            StepServiceState::Failure,
            format!("{} of {total} tasks failed or hit an exception: {}", failed.len(), named.join(", ")),
        );
    }
    if total > 0 && completed == total {
        return (StepServiceState::Success, format!("all {total} tasks completed"));
    }
    if total == 0 {
        return (StepServiceState::InProgress, "the task group has no task yet".to_owned());
    }
    (StepServiceState::InProgress, format!("{completed} of {total} tasks completed"))
}

/// Reads the group (every page) and ends the step when the group has ended.
pub async fn refresh(state: &AppState, row: ServiceStepRow) -> Result<ServiceStepRow, StepError> {
    let Some(group) = row.task_group_id.clone() else {
        let lost = row.triggered_at.is_some_and(|at| Utc::now() - at > LOST_TRIGGER);
        if !lost {
            return Ok(row);
        }
        let message = "the hook was triggered but its answer never came (the API stopped meanwhile): find its \
                       task group in Taskcluster before retrying this step"
            .to_owned();
        let ended =
            finish(state, StepKind::Taskcluster, &row.uid, StepServiceState::Failure, message, "taskcluster").await?;
        return Ok(ended.unwrap_or(row));
    };
    let tasks = client(state)?.task_group(&group).await.map_err(upstream)?;
    let (outcome, message) = group_state(&tasks);
    if outcome == StepServiceState::InProgress {
        let mut row = row;
        row.message = Some(message);
        row.checked_at = Some(Utc::now());
        let client = state.pool.get().await?;
        queries::update_step(&client, &row).await?;
        return Ok(row);
    }
    let ended = finish(state, StepKind::Taskcluster, &row.uid, outcome, message, "taskcluster").await?;
    match ended {
        Some(row) => Ok(row),
        None => super::get(state, StepKind::Taskcluster, &row.uid).await,
    }
}

/// Cancels the unresolved tasks of the step's group; answers what was done.
pub async fn cancel_tasks(state: &AppState, row: &ServiceStepRow) -> Result<String, StepError> {
    let Some(group) = &row.task_group_id else {
        return Ok("cancelled before any task group was known".to_owned());
    };
    let taskcluster = client(state)?;
    let tasks = taskcluster.task_group(group).await.map_err(upstream)?;
    let unresolved: Vec<&GroupTask> = tasks
        .iter()
        .filter(|task| matches!(task.status.state.as_deref(), Some("unscheduled" | "pending" | "running")))
        .collect();
    let mut refused = Vec::new();
    for task in &unresolved {
        match taskcluster.cancel_task(&task.status.task_id).await {
            Ok(()) => {}
            Err(error) if error.is_transient() => return Err(upstream(error)),
            Err(error) => refused.push(format!("{}: {error}", task.status.task_id)),
        }
    }
    let cancelled = unresolved.len() - refused.len();
    let mut message = format!("cancelled: {cancelled} unresolved task(s) of group {group} cancelled");
    if !refused.is_empty() {
        message.push_str(&format!("; Taskcluster refused {}: {}", refused.len(), refused.join("; ")));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(name: &str) -> Vec<GroupTask> {
        let path = format!("{}/../fixtures/taskcluster-step/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        let page: serde_json::Value = serde_json::from_str(&text).unwrap();
        serde_json::from_value(page["tasks"].clone()).unwrap()
    }

    #[test]
    fn the_five_recorded_groups_give_the_originals_answers() {
        assert_eq!(group_state(&recorded("allcompletedid")).0, StepServiceState::Success);
        assert_eq!(group_state(&recorded("somependingid")).0, StepServiceState::InProgress);
        assert_eq!(group_state(&recorded("somefailedid")).0, StepServiceState::Failure);
        assert_eq!(group_state(&recorded("someexceptionid")).0, StepServiceState::Failure);
        let (state, message) = group_state(&recorded("badformatid"));
        assert_eq!(state, StepServiceState::Failure);
        assert!(message.contains("without a state"), "{message}");
        assert_eq!(group_state(&[]).0, StepServiceState::InProgress);
    }
}
