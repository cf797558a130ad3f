//! The pipeline engine's benchmark: `PIPELINES` pipelines of `STEPS` steps in a chain, on a mock
//! step service finishing each step 0 to 50 ms after its creation, served by one or two APIs
//! sharing one database. Prints steps per second and the delay between a step being seen
//! finished (the poll that found it) and the next step's creation on the service.
//!
//!   pipelines PIPELINES STEPS APIS notify|poll INTERVAL_SECS
//!
//! Run by `benches/pipelines/run.sh`; needs `SHIPIT_TEST_DATABASE_URL` or the test cluster.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use shipit_api::testing::{MockScript, MockStepService, TestApp};
use shipit_shared::api_types::pipelines::PipelinePage;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |index: usize, default: &str| args.get(index).cloned().unwrap_or_else(|| default.to_owned());
    let pipelines: usize = arg(0, "1000").parse().context("PIPELINES")?;
    let steps: usize = arg(1, "5").parse().context("STEPS")?;
    let apis: usize = arg(2, "1").parse().context("APIS")?;
    let listen = arg(3, "notify") == "notify";
    let interval: f64 = arg(4, "5").parse().context("INTERVAL_SECS")?;

    let configure = |config: &mut shipit_api::config::ApiConfig| {
        config.pipelines.listen = listen;
        config.pipelines.interval_secs = interval;
        config.pipelines.poll_initial_secs = 0.01;
        config.pipelines.poll_max_secs = 0.05;
        config.pipelines.concurrency = 64;
    };
    let first = TestApp::builder().configure(configure).pool_size(16).spawn().await;
    let mut replicas = Vec::new();
    for _ in 1..apis {
        replicas.push(TestApp::builder().configure(configure).pool_size(16).sharing_database_of(&first).spawn().await);
    }
    let service = MockStepService::start().await;
    let token = first.token(&["project:shipit:pipelines/manage"]).await;
    let definition = json!({"steps": (0..steps).map(|index| {
        let requires: Vec<String> = if index == 0 { vec![] } else { vec![format!("s{}", index - 1)] };
        service.script(&format!("s{index}"), MockScript::SucceedWithin(Duration::from_millis(50)));
        json!({"uid": format!("s{index}"), "api_url": service.url, "requires": requires})
    }).collect::<Vec<_>>()});

    let started = Instant::now();
    for index in 0..pipelines {
        let (status, body) = first.put(&format!("/pipelines/p{index}"), Some(&token), &definition).await;
        anyhow::ensure!(status == 201, "creating p{index}: {status} {body}");
    }
    loop {
        let done = completed(&first).await;
        if done == pipelines {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1800), "only {done} of {pipelines} completed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();

    let created = service.steps();
    anyhow::ensure!(created.values().all(|step| step.puts == 1), "a step was sent twice");
    let mut delays: Vec<f64> = Vec::new();
    for pipeline in 0..pipelines {
        for index in 1..steps {
            let previous = &created[&format!("p{pipeline}.s{}", index - 1)];
            let next = &created[&format!("p{pipeline}.s{index}")];
            let seen = previous.finished_at.context("a finished step without its time")?;
            delays.push(next.created_at.saturating_duration_since(seen).as_secs_f64() * 1000.0);
        }
    }
    delays.sort_by(f64::total_cmp);
    let percentile = |share: f64| delays[((delays.len() as f64 - 1.0) * share).round() as usize];
    let mode = if listen { "LISTEN/NOTIFY".to_owned() } else { format!("polling every {interval} s") };
    let total_steps = pipelines * steps;
    let mut out = std::io::stdout().lock();
    writeln!(out, "| engine | APIs | pipelines × steps | seconds | steps/s | delay p50 ms | delay p99 ms |")?;
    writeln!(out, "|---|---:|---|---:|---:|---:|---:|")?;
    writeln!(
        out,
        "| {mode} | {apis} | {pipelines} × {steps} | {:.1} | {:.0} | {:.1} | {:.1} |",
        elapsed.as_secs_f64(),
        total_steps as f64 / elapsed.as_secs_f64(),
        percentile(0.5),
        percentile(0.99)
    )?;
    drop(replicas);
    Ok(())
}

async fn completed(app: &TestApp) -> usize {
    let mut count = 0;
    let mut before: Option<i64> = None;
    loop {
        let cursor = before.map(|id| format!("&before={id}")).unwrap_or_default();
        let page: PipelinePage = app.get_json(&format!("/pipelines?state=completed&limit=200{cursor}")).await;
        count += page.pipelines.len();
        match page.next_before {
            Some(next) => before = Some(next),
            None => return count,
        }
    }
}
