//! The common library of the ShipIt bots and API: configuration, logging, the retrying HTTP
//! client for upstream services, the API's wire types and the typed API client bots use.

pub mod api_client;
pub mod api_types;
pub mod bot_run;
pub mod config;
pub mod http;
pub mod programs;
pub mod pushlog;
pub mod repository_cache;
pub mod runner;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
