//! `coverage-bot`: merges lcov coverage reports.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use shipit_coverage::bot::CoverageBot;
use shipit_coverage::{ParseOptions, PrefixMap, covdir, discover, merge_inputs, output};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "coverage-bot", version, about = "Mozilla code coverage bot")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Merge lcov tracefiles, zip archives of them and directories holding either.
    Merge(MergeArgs),
    /// Merge the coverage of a push's test tasks from Taskcluster and upload the reports.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Repository path on hg.mozilla.org (mozilla-central, integration/autoland).
    #[arg(long, env = "REPOSITORY")]
    repository: String,
    /// The push's head revision; the newest coverage build when absent or empty.
    #[arg(long, env = "REVISION")]
    revision: Option<String>,
    /// A TOML configuration file (default: shipit.toml in the working directory, if any).
    #[arg(long, env = "SHIPIT_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Covdir)]
    format: Format,
    /// Rewrite source paths starting with FROM to start with TO (repeatable; first match wins).
    #[arg(long = "prefix-map", value_name = "FROM=TO")]
    prefix_map: Vec<String>,
    /// Fail on the first malformed record instead of skipping it with a warning.
    #[arg(long)]
    strict: bool,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// `.info` files, zip archives, or directories searched recursively for both.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Covdir,
    Lcov,
    Summary,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Merge(args) => {
            shipit_shared::telemetry::init();
            merge(args).map_or_else(
                |error| {
                    tracing::error!(error = format!("{error:#}"), "merge failed");
                    ExitCode::FAILURE
                },
                |()| ExitCode::SUCCESS,
            )
        }
        Command::Run(args) => {
            let revision = args.revision.filter(|revision| !revision.is_empty());
            let bot = CoverageBot { repository: args.repository, revision };
            shipit_shared::bot::main(bot, args.config.as_deref())
        }
    }
}

fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let options = ParseOptions { prefix_map: PrefixMap::parse(&args.prefix_map)?, strict: args.strict };
    let inputs = discover(&args.inputs)?;
    tracing::info!(inputs = inputs.len(), "merging");
    let outcome = merge_inputs(&inputs, &options, true)?;
    let totals = outcome.report.totals();
    tracing::info!(
        inputs = outcome.inputs,
        files = totals.files,
        lines = totals.lines,
        bytes = outcome.stats.bytes,
        malformed_records = outcome.stats.malformed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "merged"
    );
    if outcome.stats.malformed > 0 {
        tracing::warn!(malformed_records = outcome.stats.malformed, "malformed records were skipped");
    }

    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    match args.format {
        Format::Covdir => covdir::write_covdir(&outcome.report, &mut w),
        Format::Lcov => output::write_lcov(&outcome.report, &mut w),
        Format::Summary => output::write_summary(&totals, &outcome.stats, outcome.inputs, &mut w),
    }
    .and_then(|()| w.flush())
    .context("cannot write the report")?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "done");
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

    #[test]
    fn merge_args_parse() {
        let cli = Cli::try_parse_from([
            "coverage-bot",
            "merge",
            "--format",
            "lcov",
            "--prefix-map",
            "/a=b",
            "--prefix-map",
            "/c=",
            "--strict",
            "-o",
            "out.info",
            "x.info",
            "dir",
        ])
        .unwrap();
        let Command::Merge(args) = cli.command else { panic!("not a merge") };
        assert!(matches!(args.format, Format::Lcov));
        assert_eq!(args.prefix_map, ["/a=b", "/c="]);
        assert!(args.strict);
        assert_eq!(args.output, Some(PathBuf::from("out.info")));
        assert_eq!(args.inputs.len(), 2);
        assert!(Cli::try_parse_from(["coverage-bot", "merge"]).is_err(), "an input is required");
    }
}
