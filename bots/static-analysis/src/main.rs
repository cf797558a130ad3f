//! `static-analysis-bot`: analyzes a change with real analyzers and reports what it introduces.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use shipit_static_analysis::bot::{self, CheckRequest, Source};
use shipit_static_analysis::config::Settings;
use shipit_static_analysis::report::{self, Format};

#[derive(Debug, Parser)]
#[command(name = "static-analysis-bot", version, about = "Mozilla static analysis bot")]
struct Cli {
    /// Configuration file (TOML); `SHIPIT_*` variables override it.
    #[arg(long, global = true, env = "SHIPIT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyze the change between two commits, a patch, or a Phabricator diff.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("change").required(true).args(["head", "patch", "phabricator_diff"]))]
struct CheckArgs {
    /// The git repository (its working tree is left untouched).
    #[arg(long, default_value = ".", value_name = "DIR")]
    repo: PathBuf,
    /// Clone the repository at URL into `--repo` (a bare clone), or fetch it there when it
    /// exists, before the analysis.
    #[arg(long, env = "REPOSITORY_URL", value_name = "URL")]
    fetch: Option<String>,
    /// The revision the change applies on (default for a Phabricator diff: its base commit).
    #[arg(long, env = "BASE_REVISION", value_name = "REV")]
    base: Option<String>,
    /// The revision holding the change.
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// A unified diff (git format) to apply on `--base`.
    #[arg(long, value_name = "FILE")]
    patch: Option<PathBuf>,
    /// A Phabricator diff id, fetched with Conduit and applied on `--base`.
    #[arg(long, env = "PHABRICATOR_DIFF", value_name = "ID")]
    phabricator_diff: Option<i64>,
    /// Also analyze the base, and publish only the issues not found there.
    #[arg(long)]
    before_after: bool,
    /// Post inline comments on the Phabricator revision (with `--phabricator-diff`).
    #[arg(long, requires = "phabricator_diff")]
    comment: bool,
    /// Record the issues in the ShipIt API under this diff id (with `--revision-id`; a
    /// Phabricator diff gives both).
    #[arg(long, requires = "revision_id", value_name = "ID")]
    diff_id: Option<i64>,
    /// The revision of `--diff-id`.
    #[arg(long, requires = "diff_id", value_name = "ID")]
    revision_id: Option<i64>,
    /// Analyzer processes at once (default: the number of CPUs).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Markdown)]
    format: OutputFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Json,
    Rdjson,
    Sarif,
    Markdown,
}

impl From<OutputFormat> for Format {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Json => Self::Json,
            OutputFormat::Rdjson => Self::Rdjson,
            OutputFormat::Sarif => Self::Sarif,
            OutputFormat::Markdown => Self::Markdown,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shipit_shared::telemetry::init();
    let cli = Cli::parse();
    let settings: Settings =
        shipit_shared::config::load(cli.config.as_deref()).context("cannot load the configuration")?;
    match cli.command {
        Command::Check(args) => check(settings, args).await,
    }
}

async fn check(settings: Settings, args: CheckArgs) -> anyhow::Result<()> {
    let source = match (&args.head, &args.patch, args.phabricator_diff) {
        (Some(head), _, _) => Source::Rev(head.clone()),
        (_, Some(patch), _) => {
            Source::Patch(std::fs::read(patch).with_context(|| format!("cannot read {}", patch.display()))?)
        }
        (_, _, Some(diff)) => Source::Phabricator(diff),
        _ => unreachable!("clap requires one of --head, --patch and --phabricator-diff"),
    };
    let request = CheckRequest {
        repository: args.repo.clone(),
        base: args.base.clone(),
        source,
        before_after: args.before_after,
        jobs: args.jobs,
        comment: args.comment,
        diff: args.diff_id.zip(args.revision_id),
        reproduce: reproduce(&args),
        fetch: args.fetch.clone(),
    };
    let outcome = bot::check(&settings, &request).await.context("analysis failed")?;

    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    report::write(&outcome.analysis, args.format.into(), &request.reproduce, &mut out)
        .and_then(|()| out.flush())
        .context("cannot write the report")?;
    Ok(())
}

/// The command a developer runs to get the same analysis.
fn reproduce(args: &CheckArgs) -> String {
    let mut command = String::from("static-analysis-bot check --repo .");
    if let Some(base) = &args.base {
        command.push_str(&format!(" --base {base}"));
    }
    match (&args.head, &args.patch, args.phabricator_diff) {
        (Some(head), _, _) => command.push_str(&format!(" --head {head}")),
        (_, Some(patch), _) => command.push_str(&format!(" --patch {}", patch.display())),
        (_, _, Some(diff)) => command.push_str(&format!(" --phabricator-diff {diff}")),
        _ => {}
    }
    if args.before_after {
        command.push_str(" --before-after");
    }
    command
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
    fn one_change_source_is_required() {
        assert!(Cli::try_parse_from(["static-analysis-bot", "check", "--base", "main"]).is_err());
        assert!(
            Cli::try_parse_from(["static-analysis-bot", "check", "--base", "a", "--head", "b", "--patch", "p"])
                .is_err()
        );
        let cli = Cli::try_parse_from([
            "static-analysis-bot",
            "check",
            "--repo",
            "/r",
            "--base",
            "main",
            "--head",
            "topic",
            "--before-after",
            "--format",
            "sarif",
        ])
        .unwrap();
        let Command::Check(args) = cli.command;
        assert!(args.before_after);
        assert_eq!(args.fetch, None);
        assert!(matches!(args.format, OutputFormat::Sarif));
        assert_eq!(reproduce(&args), "static-analysis-bot check --repo . --base main --head topic --before-after");
        assert!(
            Cli::try_parse_from(["static-analysis-bot", "check", "--base", "a", "--head", "b", "--diff-id", "3"])
                .is_err(),
            "a diff id needs its revision"
        );
        let cli = Cli::try_parse_from([
            "static-analysis-bot",
            "check",
            "--repo",
            "/cache/repo",
            "--fetch",
            "https://example.com/r.git",
            "--phabricator-diff",
            "42",
        ])
        .unwrap();
        let Command::Check(args) = cli.command;
        assert_eq!(args.fetch.as_deref(), Some("https://example.com/r.git"));
        assert_eq!(reproduce(&args), "static-analysis-bot check --repo . --phabricator-diff 42");
    }
}
