//! The rules of the DAG, on steps in memory: which steps may be created, which are blocked, and
//! what state the pipeline is in as a consequence.

use std::collections::HashMap;

use shipit_shared::api_types::pipelines::{PipelineState, StepState};

use crate::db::pipelines::StepRow;

/// Whether a step in this state stops its dependents.
fn stops_dependents(state: StepState) -> bool {
    matches!(state, StepState::Failure | StepState::Cancelled | StepState::Blocked)
}

/// Indices of the steps that may be created now: pending, every step they require succeeded.
pub fn runnable(steps: &[StepRow]) -> Vec<usize> {
    let states: HashMap<&str, StepState> = steps.iter().map(|step| (step.uid.as_str(), step.state)).collect();
    (0..steps.len())
        .filter(|&index| {
            steps[index].state == StepState::Pending
                && steps[index]
                    .requires
                    .iter()
                    .all(|required| states.get(required.as_str()) == Some(&StepState::Success))
        })
        .collect()
}

/// Blocks the pending steps that require a stopped step, and unblocks the blocked ones that no
/// longer do; answers each change (index, previous state).
pub fn propagate_blocks(steps: &mut [StepRow]) -> Vec<(usize, StepState)> {
    let mut changes = Vec::new();
    // A definition is acyclic, so a chain settles in at most one round per step.
    for _ in 0..=steps.len() {
        let states: HashMap<String, StepState> = steps.iter().map(|step| (step.uid.clone(), step.state)).collect();
        let mut changed = false;
        for (index, step) in steps.iter_mut().enumerate() {
            let stopped =
                step.requires.iter().any(|required| states.get(required).is_some_and(|&state| stops_dependents(state)));
            let next = match step.state {
                StepState::Pending if stopped => StepState::Blocked,
                StepState::Blocked if !stopped => StepState::Pending,
                _ => continue,
            };
            changes.push((index, step.state));
            step.state = next;
            changed = true;
        }
        if !changed {
            break;
        }
    }
    changes
}

/// The state the pipeline should be in, given its steps; `None` when it stays as it is.
pub fn pipeline_state(current: PipelineState, steps: &[StepRow]) -> Option<PipelineState> {
    if current == PipelineState::Cancelled {
        return None;
    }
    let next = if steps.iter().all(|step| step.state == StepState::Success) {
        PipelineState::Completed
    } else if steps.iter().all(|step| !step.state.is_active() && step.state != StepState::Pending) {
        PipelineState::Failed
    } else if steps.iter().any(|step| step.state != StepState::Pending) || current != PipelineState::Pending {
        PipelineState::Running
    } else {
        PipelineState::Pending
    };
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    fn step(uid: &str, state: StepState, requires: &[&str]) -> StepRow {
        StepRow {
            pipeline_uid: "p".into(),
            uid: uid.into(),
            position: 0,
            kind: None,
            api_url: Some("http://service".into()),
            parameters: json!({}),
            requires: requires.iter().map(|&required| required.to_owned()).collect(),
            description: None,
            timeout_secs: None,
            state,
            attempts: 0,
            message: None,
            cancel_pending: false,
            due_at: None,
            lease_until: None,
            transient_failures: 0,
            polls: 0,
            started_at: None,
            finished_at: None,
            updated_at: Utc::now(),
        }
    }

    use StepState::{Blocked, Failure, InProgress, Pending, Success};

    #[test]
    fn a_step_is_runnable_once_everything_it_requires_succeeded() {
        let steps = vec![
            step("A", Success, &[]),
            step("B", InProgress, &[]),
            step("C", Pending, &["A"]),
            step("D", Pending, &["A", "B"]),
            step("E", Pending, &[]),
        ];
        assert_eq!(runnable(&steps), vec![2, 4]);
    }

    #[test]
    fn a_failure_blocks_every_step_downstream_and_a_retry_unblocks_them() {
        let mut steps = vec![
            step("B", Failure, &[]),
            step("S", Pending, &["B"]),
            step("P", Pending, &["S"]),
            step("X", Pending, &[]),
        ];
        let changes = propagate_blocks(&mut steps);
        assert_eq!(changes.len(), 2);
        assert_eq!([steps[1].state, steps[2].state, steps[3].state], [Blocked, Blocked, Pending]);
        assert_eq!(pipeline_state(PipelineState::Running, &steps), None);

        steps[3].state = Success;
        assert_eq!(pipeline_state(PipelineState::Running, &steps), Some(PipelineState::Failed));

        steps[0].state = Pending;
        propagate_blocks(&mut steps);
        assert_eq!([steps[1].state, steps[2].state], [Pending, Pending]);
        assert_eq!(pipeline_state(PipelineState::Failed, &steps), Some(PipelineState::Running));
    }

    #[test]
    fn a_pipeline_completes_when_every_step_succeeded_and_a_cancelled_one_stays_cancelled() {
        let mut steps = vec![step("A", Success, &[]), step("B", InProgress, &["A"])];
        assert_eq!(pipeline_state(PipelineState::Pending, &steps), Some(PipelineState::Running));
        steps[1].state = Success;
        assert_eq!(pipeline_state(PipelineState::Running, &steps), Some(PipelineState::Completed));
        assert_eq!(pipeline_state(PipelineState::Cancelled, &steps), None);
        let fresh = vec![step("A", Pending, &[])];
        assert_eq!(pipeline_state(PipelineState::Pending, &fresh), None);
    }
}
