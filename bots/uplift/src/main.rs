//! `uplift-bot`: grafts commits in memory, and runs the uplift analysis pass.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use git2::{Oid, Repository};
use serde::Serialize;
use shipit_shared::api_types::uplift::{GraftCommit, GraftStatus};
use shipit_uplift::Error;
use shipit_uplift::bot::UpliftBot;
use shipit_uplift::graft::{self, GraftJob};

/// Exit codes, shown by `uplift-bot graft --help`.
const GRAFT_EXIT_CODES: &str = "\
Output: one line per commit and branch, in order. JSON lines are `{\"commit\", \"status\", \"tree\"
(when merged or already_applied), \"conflicts\" (when failed)}`, plus \"branch\" (the --onto value)
when several --onto are given. Status: merged, already_applied, failed, skipped (an earlier commit
of the chain failed), undecided (git could not say, with a \"reason\"; the rest of that chain is not
printed). The merges are git's own (`git merge-tree`, git 2.45 or later on PATH).

Exit status: 0 when every commit is merged or already applied, 1 when a graft failed, 2 on a usage
or repository error (unknown revision, unreadable repository), 3 when a graft was undecided (and
none failed).";

#[derive(Debug, Parser)]
#[command(name = "uplift-bot", version, about = "Mozilla uplift bot")]
struct Cli {
    /// Configuration file (TOML); `SHIPIT_*` variables override it.
    #[arg(long, global = true, env = "SHIPIT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Graft (cherry-pick) commits in memory onto branches: the repository is left untouched.
    #[command(after_help = GRAFT_EXIT_CODES)]
    Graft(GraftArgs),
    /// One pass: analyse the bugs with pending uplift requests, graft their patches onto every
    /// release branch, record it all in the ShipIt API.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Only this bug (repeat, or separate with commas); every pending bug by default.
    #[arg(long = "bug", env = "BUG_ID", value_delimiter = ',', value_name = "ID")]
    bugs: Vec<i64>,
    /// Write the markdown report of the new graft failures to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Comment on Bugzilla about each new graft failure (off by default; also on with
    /// `bugzilla.write_back`).
    #[arg(long)]
    comment: bool,
    /// With --comment: print the comments instead of posting them.
    #[arg(long, requires = "comment")]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct GraftArgs {
    /// The git repository (bare or not).
    #[arg(long, default_value = ".", value_name = "DIR")]
    repo: PathBuf,
    /// The branch (any revision) to graft onto. Repeat it to graft onto several branches in
    /// parallel.
    #[arg(long, required = true, value_name = "BRANCH")]
    onto: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// The commits (any revisions), grafted in this order, each onto the result of the previous.
    #[arg(required = true, value_name = "COMMIT")]
    commits: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per line.
    Json,
    /// One readable line per commit.
    Text,
}

/// The JSON line of a chain git could not decide.
#[derive(Serialize)]
struct Undecided<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<&'a str>,
    commit: &'a str,
    status: &'static str,
    reason: &'a str,
}

/// A line of the JSON output.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<&'a str>,
    #[serde(flatten)]
    graft: &'a GraftCommit,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Graft(args) => {
            shipit_shared::telemetry::init();
            graft(&args).unwrap_or_else(|error| {
                tracing::error!(error = format!("{error:#}"), "uplift-bot graft failed");
                ExitCode::from(2)
            })
        }
        Command::Run(args) => {
            let bot = UpliftBot { bugs: args.bugs, report: args.report, comment: args.comment, dry_run: args.dry_run };
            shipit_shared::bot::main(bot, cli.config.as_deref())
        }
    }
}

fn graft(args: &GraftArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let repo = Repository::open(&args.repo).with_context(|| format!("cannot open {}", args.repo.display()))?;
    let commits = args.commits.iter().map(|spec| resolve(&repo, spec)).collect::<anyhow::Result<Vec<_>>>()?;
    let jobs = args
        .onto
        .iter()
        .map(|branch| Ok(GraftJob { onto: resolve(&repo, branch)?, commits: commits.clone() }))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let results = graft::graft_many(&args.repo, &jobs)?;

    let mut out = BufWriter::new(std::io::stdout().lock());
    let (mut failed, mut undecided) = (0, 0);
    for (onto, result) in args.onto.iter().zip(results) {
        let branch = (args.onto.len() > 1).then_some(onto.as_str());
        let grafts = match result {
            Err(Error::Undecided { commit, reason }) => {
                undecided += 1;
                let line = Undecided { branch, commit: &commit, status: "undecided", reason: &reason };
                match args.format {
                    Format::Json => serde_json::to_writer(&mut out, &line)?,
                    Format::Text => write!(out, "{}{commit} undecided {reason}", prefix(branch))?,
                }
                writeln!(out)?;
                continue;
            }
            result => result.with_context(|| format!("cannot graft onto {onto}"))?,
        };
        for graft in &grafts {
            failed += usize::from(graft.status == GraftStatus::Failed);
            match args.format {
                Format::Json => serde_json::to_writer(&mut out, &Line { branch, graft })?,
                Format::Text => write!(out, "{}", text_line(branch, graft))?,
            }
            writeln!(out)?;
        }
    }
    out.flush().context("cannot write the results")?;
    tracing::info!(
        branches = args.onto.len(),
        commits = commits.len(),
        failed,
        undecided,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "grafted"
    );
    Ok(match (failed, undecided) {
        (0, 0) => ExitCode::SUCCESS,
        (0, _) => ExitCode::from(3),
        _ => ExitCode::from(1),
    })
}

/// `branch ` when there are several, else nothing.
fn prefix(branch: Option<&str>) -> String {
    branch.map(|branch| format!("{branch} ")).unwrap_or_default()
}

fn resolve(repo: &Repository, spec: &str) -> anyhow::Result<Oid> {
    let commit = repo.revparse_single(spec).and_then(|object| object.peel_to_commit());
    Ok(commit.with_context(|| format!("{spec} is not a commit of {}", repo.path().display()))?.id())
}

/// `[branch ]commit status [tree | conflicting paths]`.
fn text_line(branch: Option<&str>, graft: &GraftCommit) -> String {
    let mut line = prefix(branch);
    line.push_str(&format!("{} {}", graft.commit, graft.status.as_str()));
    if let Some(tree) = &graft.tree {
        line.push_str(&format!(" {tree}"));
    }
    if !graft.conflicts.is_empty() {
        line.push_str(&format!(" {}", graft.conflicts.join(" ")));
    }
    line
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
    fn graft_needs_a_branch_and_a_commit() {
        assert!(Cli::try_parse_from(["uplift-bot", "graft", "HEAD"]).is_err());
        assert!(Cli::try_parse_from(["uplift-bot", "graft", "--onto", "beta"]).is_err());
        let cli = Cli::try_parse_from([
            "uplift-bot",
            "graft",
            "--repo",
            "/r",
            "--onto",
            "beta",
            "--onto",
            "esr140",
            "--format",
            "text",
            "a",
            "b",
        ])
        .unwrap();
        let Command::Graft(args) = cli.command else { panic!("a graft command") };
        assert_eq!(args.onto, ["beta", "esr140"]);
        assert_eq!(args.commits, ["a", "b"]);
        assert_eq!(args.format, Format::Text);
    }

    #[test]
    fn run_takes_bugs_and_comments_only_when_asked() {
        let cli = Cli::try_parse_from(["uplift-bot", "run", "--bug", "1,2", "--bug", "3"]).unwrap();
        let Command::Run(args) = cli.command else { panic!("a run command") };
        assert_eq!(args.bugs, [1, 2, 3]);
        assert!(!args.comment && !args.dry_run);
        assert!(Cli::try_parse_from(["uplift-bot", "run", "--dry-run"]).is_err(), "--dry-run needs --comment");
        assert!(Cli::try_parse_from(["uplift-bot", "run", "--bug", "x"]).is_err());
        assert!(Cli::try_parse_from(["uplift-bot", "run", "--comment", "--dry-run", "--report", "r.md"]).is_ok());
    }

    #[test]
    fn text_lines() {
        let failed = GraftCommit {
            commit: "c1".into(),
            status: GraftStatus::Failed,
            tree: None,
            conflicts: vec!["a.txt".into(), "b/c.txt".into()],
        };
        assert_eq!(text_line(Some("beta"), &failed), "beta c1 failed a.txt b/c.txt");
        let merged =
            GraftCommit { commit: "c2".into(), status: GraftStatus::Merged, tree: Some("t".into()), conflicts: vec![] };
        assert_eq!(text_line(None, &merged), "c2 merged t");
    }
}
