//! The ShipIt API: a thin PostgreSQL-backed HTTP API where every bot records its runs and
//! results, and where dashboards read them.

pub mod admin;
pub mod app;
pub mod auth;
pub mod bots;
pub mod config;
pub mod database;
pub mod db;
pub mod embedded_pg;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod routes;
pub mod scheduler;
#[cfg(feature = "testing")]
pub mod testing;
