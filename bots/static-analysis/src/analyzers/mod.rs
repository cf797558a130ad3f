//! The analyzers: how each Debian tool is run on a set of files and how its output becomes
//! [`Issue`]s. One process per job; an analyzer that crashes fails its job, not the analysis.

pub mod clang_format;
pub mod clang_tidy;
pub mod cppcheck;
pub mod flake8;
pub mod shellcheck;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::config::Analyzer;
use crate::issue::Issue;

/// The analyzers the bot knows.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Kind {
    ClangTidy,
    ClangFormat,
    Cppcheck,
    Flake8,
    Shellcheck,
}

impl Kind {
    /// Every analyzer, slowest first (jobs are started in this order so that the long ones do not
    /// end up alone at the end).
    pub const ALL: [Self; 5] = [Self::ClangTidy, Self::Cppcheck, Self::Flake8, Self::ClangFormat, Self::Shellcheck];

    /// The analyzer's name in issues and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClangTidy => "clang-tidy",
            Self::ClangFormat => "clang-format",
            Self::Cppcheck => "cppcheck",
            Self::Flake8 => "flake8",
            Self::Shellcheck => "shellcheck",
        }
    }

    /// Its key in the configuration (`[analyzers.clang_tidy]`).
    pub fn config_key(self) -> &'static str {
        match self {
            Self::ClangTidy => "clang_tidy",
            Self::ClangFormat => "clang_format",
            Self::Cppcheck => "cppcheck",
            Self::Flake8 => "flake8",
            Self::Shellcheck => "shellcheck",
        }
    }

    /// The analyzer named `key` in the configuration.
    pub fn from_config_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.config_key() == key)
    }

    /// The Debian package that installs it.
    pub fn debian_package(self) -> &'static str {
        // Debian names the packages after the tools.
        self.name()
    }
}

/// What the analyzers need to know about the tree they run in.
#[derive(Clone, Debug)]
pub struct Context {
    /// The checkout, the working directory of every process.
    pub root: PathBuf,
    /// The directory holding `compile_commands.json`, when the repository has one.
    pub compile_commands: Option<PathBuf>,
    /// The touched headers, whose issues clang-tidy should report.
    pub headers: Vec<String>,
}

/// The result of one analyzer process.
#[derive(Debug)]
pub struct JobResult {
    pub duration: Duration,
    pub outcome: Result<Vec<Issue>, String>,
}

/// Runs `analyzer` on `files` (relative to `context.root`). The issues have no hash yet.
pub fn run(analyzer: &Analyzer, context: &Context, files: &[String]) -> JobResult {
    let started = Instant::now();
    let outcome = run_inner(analyzer, context, files);
    JobResult { duration: started.elapsed(), outcome }
}

fn run_inner(analyzer: &Analyzer, context: &Context, files: &[String]) -> Result<Vec<Issue>, String> {
    let mut command = Command::new(&analyzer.command[0]);
    command.args(&analyzer.command[1..]).current_dir(&context.root);
    match analyzer.kind {
        Kind::ClangTidy => clang_tidy::arguments(&mut command, analyzer, context, files),
        Kind::ClangFormat => clang_format::arguments(&mut command, files),
        Kind::Cppcheck => cppcheck::arguments(&mut command, files),
        Kind::Flake8 => flake8::arguments(&mut command, files),
        Kind::Shellcheck => shellcheck::arguments(&mut command, files),
    }
    tracing::debug!(analyzer = analyzer.name(), files = files.len(), command = ?command, "running");
    let output = command.output().map_err(|error| format!("cannot start {}: {error}", analyzer.command[0]))?;
    check_status(analyzer.kind, &output)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let root = context.root.to_string_lossy();
    let mut issues = match analyzer.kind {
        Kind::ClangTidy => clang_tidy::parse(&stdout, &root),
        Kind::ClangFormat => {
            let [file] = files else { return Err("clang-format runs on one file at a time".to_owned()) };
            let path = context.root.join(file);
            let original = std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
            clang_format::issues(file, &original, &stdout)
        }
        Kind::Cppcheck => cppcheck::parse(&stderr, &root),
        Kind::Flake8 => flake8::parse(&stdout, &root),
        Kind::Shellcheck => shellcheck::parse(&stdout, &root)?,
    };
    crate::issue::dedup(&mut issues);
    Ok(issues)
}

/// Exit codes that mean "ran and reported"; anything else, or a signal, is a crash.
fn check_status(kind: Kind, output: &Output) -> Result<(), String> {
    let accepted: &[i32] = match kind {
        // clang-tidy exits 1 when the code does not compile; it still reports what it found.
        Kind::ClangTidy | Kind::Flake8 | Kind::Shellcheck => &[0, 1],
        Kind::ClangFormat | Kind::Cppcheck => &[0],
    };
    let tail = || {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    match output.status.code() {
        Some(code) if accepted.contains(&code) => Ok(()),
        Some(code) => Err(format!("{} exited with status {code}: {}", kind.name(), tail())),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = output.status.signal().unwrap_or_default();
            Err(format!("{} was killed by signal {signal}: {}", kind.name(), tail()))
        }
    }
}

/// `path` as printed by a tool, made relative to the checkout `root`.
pub(crate) fn relative_path(path: &str, root: &str) -> String {
    let path = path.strip_prefix(root).and_then(|rest| rest.strip_prefix('/')).unwrap_or(path);
    path.strip_prefix("./").unwrap_or(path).to_owned()
}
