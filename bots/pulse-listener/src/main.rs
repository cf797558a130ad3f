//! `pulse-listener`: turns Pulse events into bot runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shipit_pulse_listener::{Listener, ListenerConfig, Upstreams, health};
use shipit_shared::api_client::ApiClient;
use shipit_shared::http::{RetryPolicy, UpstreamClient};
use shipit_shared::runner::{Runner, TaskclusterRunnerConfig};

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shipit_shared::telemetry::init();
    let cli = Cli::parse();
    let config: ListenerConfig =
        shipit_shared::config::load(cli.config.as_deref()).context("cannot load the configuration")?;
    match cli.command {
        Command::Run => run(config).await,
        Command::Bindings => bindings(&config),
    }
}

async fn run(config: ListenerConfig) -> anyhow::Result<()> {
    let http =
        UpstreamClient::new(Duration::from_secs(30), RetryPolicy::default()).context("cannot build the HTTP client")?;
    let api_url = config.api.url.clone().context("api.url is required (SHIPIT_API__URL): events are recorded there")?;
    let api = ApiClient::new(api_url, config.api.token.clone(), http.clone());
    let taskcluster = &config.taskcluster;
    let runner = Runner::taskcluster(
        TaskclusterRunnerConfig {
            root_url: taskcluster.root_url.clone(),
            client_id: taskcluster.client_id.clone(),
            access_token: taskcluster.access_token.clone().context("taskcluster.access_token is required")?,
            hook_group: taskcluster.hook_group.clone(),
            hook_prefix: taskcluster.hook_prefix.clone(),
        },
        http.clone(),
        api.clone(),
    );
    let upstreams = Upstreams { http, taskcluster: taskcluster.root_url.clone() };
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
