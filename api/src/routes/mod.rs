//! The HTTP handlers, one module per area.

pub mod auth;
pub mod coverage;
pub mod events;
pub mod health;
pub mod index;
pub mod pipelines;
pub mod risk;
pub mod runs;
pub mod static_analysis;
pub mod steps;
pub mod uplift;
