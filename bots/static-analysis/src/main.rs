//! `static-analysis-bot`: analyzes a change with real analyzers and reports what it introduces.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use shipit_static_analysis::bot::{CheckRequest, Source, StaticAnalysisBot};
use shipit_static_analysis::phabricator::DiffReference;
use shipit_static_analysis::report::Format;

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
    /// The repository name the issues are recorded under in the ShipIt API (default: `--repo`).
    #[arg(long, env = "REPOSITORY", value_name = "NAME")]
    repository_name: Option<String>,
    /// The revision the change applies on (default for a Phabricator diff: its base commit).
    #[arg(long, env = "BASE_REVISION", value_name = "REV")]
    base: Option<String>,
    /// The revision holding the change.
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// A unified diff (git format) to apply on `--base`.
    #[arg(long, value_name = "FILE")]
    patch: Option<PathBuf>,
    /// A Phabricator diff, by id (`42`) or PHID (`PHID-DIFF-…`), fetched with Conduit and
    /// applied on `--base`.
    #[arg(long, env = "PHABRICATOR_DIFF", value_name = "DIFF")]
    phabricator_diff: Option<DiffReference>,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Check(args) = cli.command;
    match check_bot(args) {
        Ok(bot) => shipit_shared::bot::main(bot, cli.config.as_deref()),
        Err(error) => {
            shipit_shared::telemetry::init();
            tracing::error!(error = format!("{error:#}"), "static-analysis-bot failed");
            ExitCode::from(2)
        }
    }
}

fn check_bot(args: CheckArgs) -> anyhow::Result<StaticAnalysisBot> {
    let source = match (&args.head, &args.patch, &args.phabricator_diff) {
        (Some(head), _, _) => Source::Rev(head.clone()),
        (_, Some(patch), _) => {
            Source::Patch(std::fs::read(patch).with_context(|| format!("cannot read {}", patch.display()))?)
        }
        (_, _, Some(diff)) => Source::Phabricator(diff.clone()),
        _ => unreachable!("clap requires one of --head, --patch and --phabricator-diff"),
    };
    let request = CheckRequest {
        repository: args.repo.clone(),
        base: args.base.clone().filter(|base| !base.is_empty()),
        source,
        before_after: args.before_after,
        jobs: args.jobs,
        comment: args.comment,
        diff: args.diff_id.zip(args.revision_id),
        reproduce: reproduce(&args),
        fetch: args.fetch.clone(),
        repository_name: args.repository_name.clone(),
    };
    Ok(StaticAnalysisBot { request, format: args.format.into(), output: args.output })
}

/// The command a developer runs to get the same analysis.
fn reproduce(args: &CheckArgs) -> String {
    let mut command = String::from("static-analysis-bot check --repo .");
    if let Some(base) = &args.base {
        command.push_str(&format!(" --base {base}"));
    }
    match (&args.head, &args.patch, &args.phabricator_diff) {
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
