//! Logging setup: JSON lines when stderr is not a terminal (Taskcluster, containers), readable
//! lines on a terminal. `RUST_LOG` filters (default `info`); `SHIPIT_LOG_FORMAT=json|text`
//! forces a format. Logs go to stderr so that stdout stays free for command output.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Calling it twice is harmless: the second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,refinery_core=warn,tokio_postgres=warn,tokio_cron_scheduler=warn"));
    let json = match std::env::var("SHIPIT_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests, or a library calling init) is not an error worth
    // reporting: the first subscriber stays in place.
    let _already_set =
        if json { builder.json().flatten_event(true).with_current_span(false).try_init() } else { builder.try_init() };
}
