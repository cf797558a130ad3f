//! `pulse-listener`: turns Pulse events into bot runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

use shipit_pulse_listener::replay::ReplayBot;
use shipit_pulse_listener::trigger::runner;
use shipit_pulse_listener::{Listener, ListenerConfig, Upstreams, health};
use shipit_shared::api_client::ApiClient;
use shipit_shared::http::{RetryPolicy, UpstreamClient};

/// Each message costs many small allocations (JSON, HTTP); mimalloc makes them cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "pulse-listener", version, about = "Starts ShipIt bots on Pulse events")]
struct Cli {
    /// Configuration file (TOML); `SHIPIT_*` variables override it.
    #[arg(long, env = "SHIPIT_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume until interrupted, reconnecting whenever the broker is lost.
    Run,
    /// Print the queues and bindings the configuration declares, then exit.
    Bindings,
    /// Handle recorded messages (one JSON file each: `exchange`, `routingKey`, `payload`) as if
    /// consumed, as one run of the listener that ends when the runs they start have ended.
    Replay {
        #[arg(required = true, value_name = "MESSAGE")]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Replay { files } = cli.command {
        return shipit_shared::bot::main(ReplayBot { files }, cli.config.as_deref());
    }
    shipit_shared::telemetry::init();
    let outcome = shipit_shared::config::load(cli.config.as_deref()).context("cannot load the configuration").and_then(
        |config: ListenerConfig| match cli.command {
            Command::Bindings => bindings(&config),
            _ => tokio::runtime::Runtime::new().context("cannot start the runtime")?.block_on(run(config)),
        },
    );
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "the listener failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: ListenerConfig) -> anyhow::Result<()> {
    let http =
        UpstreamClient::new(Duration::from_secs(30), RetryPolicy::default()).context("cannot build the HTTP client")?;
    let api_url = config.api.url.clone().context("api.url is required (SHIPIT_API__URL): events are recorded there")?;
    let api = ApiClient::new(api_url, config.api.token.clone(), http.clone());
    let runner = runner(&config, http.clone(), api.clone())?;
    let upstreams = Upstreams { http, taskcluster: config.taskcluster.root_url.clone() };
    let listen = config.listen;
    let listener = Listener::new(config, runner, api, upstreams).context("invalid configuration")?;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let health = match listen {
        Some(address) => {
            let socket =
                tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
            tracing::info!(%address, "serving health and metrics");
            let mut stopped = stopped.clone();
            Some(tokio::spawn(health::serve(socket, listener.stats(), async move {
                let _stopped = stopped.wait_for(|stop| *stop).await;
            })))
        }
        None => None,
    };
    listener
        .run(async {
            shipit_shared::signals::stop_requested().await;
        })
        .await;
    stop.send_replace(true);
    if let Some(health) = health {
        health.await.context("the health server panicked")?.context("the health server failed")?;
    }
    Ok(())
}

fn bindings(config: &ListenerConfig) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for rule in &config.rules {
        for key in &rule.routing_keys {
            writeln!(out, "{}\t{}\t{}\t-> {}", config.broker.queue_name(&rule.name), rule.exchange, key, rule.bot)?;
        }
    }
    writeln!(out, "{}\t(dead letters)", config.broker.dead_letter_queue())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
