//! Release pipelines: a DAG of steps, each created on its step service, followed by the engine
//! to its end, every transition in a hash-chained audit log.

pub mod audit;
pub mod definition;
pub mod engine;
pub mod graph;
pub mod services;
pub mod transitions;
