//! The Pulse listener: consumes Pulse (AMQP 0-9-1) messages and starts bot runs for those its
//! rules select, at least once and never twice for a handled event.

pub mod config;
pub mod error;
pub mod health;
pub mod listener;
pub mod replay;
pub mod rules;
pub mod stats;
pub mod trigger;

pub use config::{ListenerConfig, RuleConfig, RuleKind};
pub use error::ListenerError;
pub use listener::Listener;
pub use rules::Upstreams;
pub use stats::Stats;
pub use trigger::Trigger;
