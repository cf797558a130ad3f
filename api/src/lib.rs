//! The ShipIt API: a thin PostgreSQL-backed HTTP API where every bot records its runs and
//! results, and where dashboards read them.

pub mod admin;
pub mod app;
pub mod auth;
pub mod bots;
pub mod config;
pub mod covdir;
pub mod coverage_cache;
pub mod database;
pub mod db;
pub mod embedded_pg;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod persons;
pub mod pipelines;
pub mod pushes;
pub mod router;
pub mod routes;
pub mod run_store;
pub mod scheduler;
pub mod sources;
pub mod state;
pub mod sweeper;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ui;
