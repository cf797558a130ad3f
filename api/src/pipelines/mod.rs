//! Release pipelines: a DAG of steps, each created on its step service, followed by the engine
//! to its end, every transition in a hash-chained audit log.

pub mod audit;
pub mod definition;
pub mod engine;
pub mod graph;
pub mod services;
pub mod transitions;

use crate::state::AppState;

/// What this API checks pipeline definitions against: its bots and its step service hosts.
pub fn known(state: &AppState) -> definition::Known<'_> {
    definition::Known { bots: &state.bots, step_service_hosts: &state.config.pipelines.step_service_hosts }
}
