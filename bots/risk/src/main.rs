//! `risk-bot`: change features, labels, training, scores and evaluation on a git history, and
//! the run that scores a push.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use shipit_risk::bot::RiskBot;
use shipit_risk::dataset::{CacheChoice, Dataset, DatasetOptions};
use shipit_risk::history::{ReadOptions, WalkOptions};
use shipit_risk::labels::{self, Labels, SzzOptions};
use shipit_risk::model::{Model, TrainOptions};
use shipit_risk::output::{Format, parse_date, write_rows};
use shipit_risk::split;

#[derive(Debug, Parser)]
#[command(name = "risk-bot", version, about = "Just-in-time risk of changes, from the git history")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One row of change features per non-merge commit (Kamei's 14 and the function counts).
    Features(FeaturesArgs),
    /// The bug-introducing commits: from `Fixes:` trailers, a list of fix commits or Bugzilla.
    Label(LabelArgs),
    /// Train a model on the changes authored before a date.
    Train(TrainArgs),
    /// Score commits: probability, risk band, and what pushed it up or down.
    Score(ScoreArgs),
    /// Train before a date, test after it, against LApredict on the same split.
    Evaluate(EvaluateArgs),
    /// Score a push with the current model and upload the assessments (the hook's entry point).
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct HistoryArgs {
    /// The git repository (bare or not).
    #[arg(long, default_value = ".", value_name = "DIR")]
    repo: PathBuf,
    /// The cache of what commits changed (default: one file per repository under ~/.cache/shipit-risk).
    #[arg(long, value_name = "FILE", conflicts_with = "no_cache")]
    cache: Option<PathBuf>,
    /// Read every commit again and keep nothing.
    #[arg(long)]
    no_cache: bool,
    /// Only the first parent of each commit (the mainline), instead of every commit reachable.
    #[arg(long)]
    first_parent: bool,
    /// Leave out the function-level change sets (faster; fa, fr and fm are 0).
    #[arg(long)]
    no_functions: bool,
    /// Walk the history from this revision instead of HEAD.
    #[arg(long, value_name = "REV")]
    head: Option<String>,
}

impl HistoryArgs {
    fn options(&self) -> DatasetOptions {
        let cache = match (&self.cache, self.no_cache) {
            (_, true) => CacheChoice::None,
            (Some(file), false) => CacheChoice::File(file.clone()),
            (None, false) => CacheChoice::Default,
        };
        DatasetOptions {
            walk: WalkOptions { first_parent: self.first_parent, head: self.head.clone(), ..WalkOptions::default() },
            read: ReadOptions { functions: !self.no_functions, ..ReadOptions::default() },
            cache,
        }
    }

    /// The dataset, walking `revisions` besides HEAD; answers their full ids.
    fn dataset(&self, revisions: &[String]) -> anyhow::Result<(Dataset, Vec<String>)> {
        let repository = shipit_risk::history::open(&self.repo)?;
        let oids: Vec<git2::Oid> = revisions
            .iter()
            .map(|revision| shipit_risk::history::resolve(&repository, revision))
            .collect::<Result<_, _>>()?;
        let mut options = self.options();
        options.walk.extra = oids.clone();
        let dataset = Dataset::build(&self.repo, &options)?;
        Ok((dataset, oids.iter().map(git2::Oid::to_string).collect()))
    }
}

#[derive(Debug, clap::Args)]
struct FeaturesArgs {
    #[command(flatten)]
    history: HistoryArgs,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Only commits authored on or after this date (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only commits authored before this date.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// A label file for the history features (`pbug`, `abug`, …); the `Fixes:` trailers when absent.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Only these commits (any revision); every commit of the history when none.
    #[arg(value_name = "REV")]
    revisions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LabelSource {
    /// `Fixes: <sha>` trailers name the introducing commits (ground truth); SZZ is measured against them.
    FixesTrailer,
    /// A file of fix commits (one id per line): SZZ finds what they fix.
    FixCommits,
    /// Bugzilla: defects with `regressed_by`, and the regressor bugs' landing commits.
    Bugzilla,
}

#[derive(Debug, clap::Args)]
struct LabelArgs {
    #[command(flatten)]
    history: HistoryArgs,
    #[arg(long, value_enum)]
    source: LabelSource,
    /// The fix list (with `--source fix-commits`).
    #[arg(value_name = "FILE", required_if_eq("source", "fix-commits"))]
    file: Option<PathBuf>,
    /// With `fixes-trailer`: write SZZ's labels (from the trailers' fixes) instead of the trailers'.
    #[arg(long)]
    szz: bool,
    /// Commits blame looks through (`git blame --ignore-revs-file` format).
    #[arg(long, value_name = "FILE")]
    ignore_revs: Option<PathBuf>,
    /// Bugzilla's URL (with `--source bugzilla`).
    #[arg(long, default_value = "https://bugzilla.mozilla.org", value_name = "URL")]
    bugzilla: url::Url,
    /// Write the labels to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    #[command(flatten)]
    history: HistoryArgs,
    /// Train on the changes authored before this date, with the labels known before it.
    #[arg(long, value_name = "DATE")]
    until: String,
    /// A label file (`risk-bot label`); the `Fixes:` trailers when absent.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Only these features (comma-separated; `la` alone is LApredict).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    features: Vec<String>,
    /// Also measure the model on the changes after `--until` and keep the figures in the model.
    #[arg(long)]
    evaluate: bool,
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ScoreArgs {
    #[command(flatten)]
    history: HistoryArgs,
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    #[arg(long, value_enum, default_value_t = ScoreFormat::Text)]
    format: ScoreFormat,
    /// How many reasons each way.
    #[arg(long, default_value_t = 3)]
    reasons: usize,
    /// A label file for the history features (`pbug`, `abug`, …); the `Fixes:` trailers when absent.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    #[arg(required = true, value_name = "REV")]
    revisions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScoreFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct EvaluateArgs {
    #[command(flatten)]
    history: HistoryArgs,
    /// Train strictly before this date, test from it on.
    #[arg(long, value_name = "DATE")]
    split: String,
    /// A label file (`risk-bot label`); the `Fixes:` trailers when absent.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ScoreFormat::Text)]
    format: ScoreFormat,
    /// Only these features (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    features: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The pushed repository, as the pulse listener names it (`https://hg.mozilla.org/mozilla-central`).
    #[arg(long, env = "REPOSITORY")]
    repository: String,
    /// The pushed revisions, separated by spaces or commas.
    #[arg(long, env = "REVISIONS", value_delimiter = ' ')]
    revisions: Vec<String>,
    /// A TOML configuration file (default: shipit.toml in the working directory, if any).
    #[arg(long, env = "SHIPIT_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Run(args) = cli.command {
        let revisions: Vec<String> = args
            .revisions
            .iter()
            .flat_map(|revision| revision.split([',', ' ']))
            .filter(|revision| !revision.is_empty())
            .map(str::to_owned)
            .collect();
        let bot = RiskBot { repository: args.repository, revisions };
        return shipit_shared::bot::main(bot, args.config.as_deref());
    }
    shipit_shared::telemetry::init();
    let result = match cli.command {
        Command::Features(args) => features(args),
        Command::Label(args) => label(args),
        Command::Train(args) => train(args),
        Command::Score(args) => score(args),
        Command::Evaluate(args) => evaluate(args),
        Command::Run(_) => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "risk-bot failed");
            ExitCode::FAILURE
        }
    }
}

fn stdout_or(path: Option<&PathBuf>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    })
}

fn features(args: FeaturesArgs) -> anyhow::Result<()> {
    let (mut dataset, wanted) = args.history.dataset(&args.revisions)?;
    let labels = labels_for(&dataset, args.labels.as_ref())?;
    labels.add_history_to(&mut dataset);
    let since = args.since.as_deref().map(parse_date).transpose()?;
    let until = args.until.as_deref().map(parse_date).transpose()?;
    let wanted: std::collections::HashSet<String> = wanted.into_iter().collect();
    let rows = dataset.rows.iter().filter(|row| {
        (wanted.is_empty() || wanted.contains(&row.commit))
            && since.is_none_or(|since| row.author_time >= since)
            && until.is_none_or(|until| row.author_time < until)
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_rows(&mut out, args.format, rows).context("cannot print the rows")?;
    out.flush().context("cannot print the rows")?;
    tracing::info!(stats = ?dataset.stats, "features done");
    Ok(())
}

/// The labels of a history: a label file, or the `Fixes:` trailers.
fn labels_for(dataset: &Dataset, file: Option<&PathBuf>) -> anyhow::Result<Labels> {
    Ok(match file {
        Some(file) => Labels::read(file, dataset)?,
        None => labels::from_trailers(dataset).0,
    })
}

fn label(args: LabelArgs) -> anyhow::Result<()> {
    let (dataset, _) = args.history.dataset(&[])?;
    let szz_options = SzzOptions { ignore_revs: args.ignore_revs.clone() };
    let labels = match args.source {
        LabelSource::FixesTrailer => {
            let (truth, stats) = labels::from_trailers(&dataset);
            let fixes: Vec<String> = truth
                .labels
                .iter()
                .map(|label| label.fix.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let found = labels::szz(&args.history.repo, &dataset, &fixes, &szz_options)?;
            let agreement = labels::agreement(&truth, &found);
            tracing::info!(trailers = ?stats, szz = ?agreement, "SZZ against the Fixes: trailers");
            let mut err = std::io::stderr().lock();
            writeln!(
                err,
                "{} trailers ({} unresolved) in {} fixes name {} introducing commits; SZZ on those fixes: precision {:.3}, recall {:.3} ({} of {} named pairs found, {} pairs proposed, {} fixes with no candidate)",
                stats.trailers,
                stats.unresolved,
                stats.fixes,
                stats.introducing,
                agreement.precision,
                agreement.recall,
                agreement.both,
                agreement.named,
                agreement.found,
                agreement.empty
            )?;
            if args.szz { found } else { truth }
        }
        LabelSource::FixCommits => {
            let file = args.file.as_ref().context("--source fix-commits needs the FILE of fix commits")?;
            let fixes = labels::read_fix_list(file, &dataset)?;
            labels::szz(&args.history.repo, &dataset, &fixes, &szz_options)?
        }
        LabelSource::Bugzilla => {
            let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let http = shipit_shared::http::UpstreamClient::new(
                std::time::Duration::from_secs(60),
                shipit_shared::http::RetryPolicy::default(),
            )?;
            runtime.block_on(shipit_risk::bugzilla::labels(&http, &args.bugzilla, &dataset))?
        }
    };
    let mut out = std::io::BufWriter::new(stdout_or(args.output.as_ref())?);
    labels.write_csv(&mut out).context("cannot write the labels")?;
    out.flush().context("cannot write the labels")?;
    Ok(())
}

fn train_options(features: &[String]) -> TrainOptions {
    if features.is_empty() {
        TrainOptions::default()
    } else {
        TrainOptions { features: features.to_vec(), ..TrainOptions::default() }
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let until = parse_date(&args.until)?;
    let (mut dataset, _) = args.history.dataset(&[])?;
    let labels = labels_for(&dataset, args.labels.as_ref())?;
    let options = train_options(&args.features);
    let model = if args.evaluate {
        let (mut model, evaluation) = split::evaluate(&mut dataset, &labels, until, &args.until, &options)?;
        model.evaluation = Some(serde_json::to_value(&evaluation)?);
        model
    } else {
        let (rows, targets) = split::training(&mut dataset, &labels, until);
        Model::train(&rows, &targets, until, &options)?
    };
    model.save(&args.output)?;
    tracing::info!(
        model.version = %model.version,
        changes = model.training.changes,
        positives = model.training.positives,
        cross_validation.roc_auc = model.training.cross_validation.roc_auc,
        "model trained"
    );
    Ok(())
}

fn score(args: ScoreArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.model)?;
    let (mut dataset, ids) = args.history.dataset(&args.revisions)?;
    let labels = labels_for(&dataset, args.labels.as_ref())?;
    labels.add_history_to(&mut dataset);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (revision, id) in args.revisions.iter().zip(&ids) {
        let Some(row) = dataset.row(id) else {
            writeln!(out, "{revision}: a merge, not scored")?;
            continue;
        };
        let score = model.score(row, args.reasons);
        match args.format {
            ScoreFormat::Json => {
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({"commit": id, "model": model.version, "score": score}),
                )?;
                writeln!(out)?;
            }
            ScoreFormat::Text => {
                let change = &dataset.changes[dataset.index[id]];
                writeln!(out, "{} {}", &id[..12], change.subject)?;
                writeln!(
                    out,
                    "  risk {:.1}% ({} risk; {:.1}% of all changes introduce a bug)",
                    score.probability * 100.0,
                    score.band.as_str(),
                    model.training.base_rate * 100.0
                )?;
                for reason in &score.up {
                    writeln!(out, "  + {}", reason.text)?;
                }
                for reason in &score.down {
                    writeln!(out, "  - {}", reason.text)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn evaluate(args: EvaluateArgs) -> anyhow::Result<()> {
    let date = parse_date(&args.split)?;
    let (mut dataset, _) = args.history.dataset(&[])?;
    let labels = labels_for(&dataset, args.labels.as_ref())?;
    let (_, evaluation) = split::evaluate(&mut dataset, &labels, date, &args.split, &train_options(&args.features))?;
    let mut out = std::io::stdout().lock();
    match args.format {
        ScoreFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&evaluation)?)?,
        ScoreFormat::Text => write!(out, "{}", split::render(&evaluation))?,
    }
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
    fn the_subcommands_parse_as_the_issue_spells_them() {
        let evaluate =
            Cli::try_parse_from(["risk-bot", "evaluate", "--repo", "r", "--split", "2020-10-01", "--format", "json"])
                .unwrap();
        assert!(matches!(evaluate.command, Command::Evaluate(EvaluateArgs { format: ScoreFormat::Json, .. })));
        let label =
            Cli::try_parse_from(["risk-bot", "label", "--repo", "r", "--source", "fix-commits", "fixes.txt"]).unwrap();
        assert!(matches!(
            label.command,
            Command::Label(LabelArgs { source: LabelSource::FixCommits, file: Some(_), .. })
        ));
        assert!(
            Cli::try_parse_from(["risk-bot", "label", "--source", "fix-commits"]).is_err(),
            "the fix list is required"
        );
        let train = Cli::try_parse_from(["risk-bot", "train", "--until", "2020-10-01", "-o", "m.json"]).unwrap();
        assert!(matches!(train.command, Command::Train(_)));
        let score = Cli::try_parse_from(["risk-bot", "score", "--model", "m.json", "HEAD", "HEAD~1"]).unwrap();
        assert!(matches!(score.command, Command::Score(ScoreArgs { ref revisions, .. }) if revisions.len() == 2));
    }
}
