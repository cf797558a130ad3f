//! The common library of the ShipIt bots and API: configuration, logging, the retrying HTTP
//! client for upstream services, the API's wire types and the typed API client bots use, the
//! runner that starts bots, and the bot kit every bot is written on; with the `testing` feature,
//! helpers for the workspace's tests.

pub mod api_client;
pub mod api_types;
pub mod bot;
pub mod config;
pub mod files;
pub mod http;
pub mod programs;
pub mod pushlog;
pub mod repository_cache;
pub mod runner;
pub mod secrets;
pub mod settings;
pub mod signals;
pub mod taskcluster;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
