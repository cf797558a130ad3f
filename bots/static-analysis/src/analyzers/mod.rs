//! The analyzers: their settings (built-in defaults, declared in each analyzer's module next to
//! its runner, and the `[analyzers.<name>]` overrides applied one setting at a time), how each
//! Debian tool is run on a set of files and how its output becomes [`Issue`]s. One process per job;
//! an analyzer that crashes fails its job, not the analysis.

pub mod clang_format;
pub mod clang_tidy;
pub mod cppcheck;
pub mod flake8;
pub mod shellcheck;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::Error;
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

    fn defaults(self) -> &'static Defaults {
        match self {
            Self::ClangTidy => &clang_tidy::DEFAULTS,
            Self::ClangFormat => &clang_format::DEFAULTS,
            Self::Cppcheck => &cppcheck::DEFAULTS,
            Self::Flake8 => &flake8::DEFAULTS,
            Self::Shellcheck => &shellcheck::DEFAULTS,
        }
    }
}

/// The sources of the C family that compile on their own.
const C_SOURCES: &[&str] = &["*.c", "*.cpp", "*.cc", "*.cxx", "*.m", "*.mm"];
/// The C family, headers included.
const C_FAMILY: &[&str] = &["*.c", "*.h", "*.cpp", "*.cc", "*.cxx", "*.hh", "*.hpp", "*.hxx", "*.m", "*.mm"];

/// An analyzer's built-in settings, each declared in the analyzer's module.
struct Defaults {
    command: &'static str,
    patterns: &'static [&'static str],
    /// Check rules in order: a check name or a prefix followed by `*`, and whether it is published.
    checks: &'static [(&'static str, bool)],
    files_per_process: usize,
}

/// Settings of one analyzer that replace its defaults (`[analyzers.flake8] enabled = false`,
/// `SHIPIT_ANALYZERS__CLANG_TIDY__COMMAND='["clang-tidy-16"]'`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzerOverrides {
    pub enabled: Option<bool>,
    /// The program and its first arguments.
    pub command: Option<Vec<String>>,
    /// Glob patterns of the files it analyzes (`*.py`, `src/**/*.c`).
    pub patterns: Option<Vec<String>>,
    /// Its checks, in order; the first whose name matches decides whether an issue is published.
    pub checks: Option<Vec<CheckRule>>,
    /// Files given to one process at most.
    pub files_per_process: Option<usize>,
}

/// Whether issues of the checks matching `name` are published. `name` is a check name, or a
/// prefix followed by `*`; for clang-tidy the names also make its `--checks` argument.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CheckRule {
    pub name: String,
    pub publish: bool,
}

/// One analyzer, ready to run.
#[derive(Clone, Debug)]
pub struct Analyzer {
    pub kind: Kind,
    pub command: Vec<String>,
    pub patterns: Vec<String>,
    pub checks: Vec<CheckRule>,
    pub files_per_process: usize,
}

impl Analyzer {
    /// The analyzer's name (`clang-tidy`).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The analyzer with its built-in settings.
    pub fn default_for(kind: Kind) -> Self {
        let defaults = kind.defaults();
        Self {
            kind,
            command: vec![defaults.command.to_owned()],
            patterns: defaults.patterns.iter().map(|pattern| (*pattern).to_owned()).collect(),
            checks: defaults
                .checks
                .iter()
                .map(|&(name, publish)| CheckRule { name: name.to_owned(), publish })
                .collect(),
            files_per_process: defaults.files_per_process,
        }
    }

    /// Whether the analyzer looks at `path`.
    pub fn matches(&self, path: &str) -> bool {
        self.patterns.iter().any(|pattern| path_matches(pattern, path))
    }

    /// Whether issues of `check` are published: the first rule matching decides, and a check no
    /// rule names is not published.
    pub fn publishes(&self, check: &str) -> bool {
        self.checks.iter().find(|rule| check_matches(&rule.name, check)).is_some_and(|rule| rule.publish)
    }
}

/// The enabled analyzers, slowest first, with `overrides` (keyed by [`Kind::config_key`]) applied
/// to their defaults.
pub fn configured(overrides: &BTreeMap<String, AnalyzerOverrides>) -> Result<Vec<Analyzer>, Error> {
    for name in overrides.keys() {
        if Kind::from_config_key(name).is_none() {
            return Err(Error::Config(format!(
                "unknown analyzer `{name}` (known: clang_tidy, clang_format, cppcheck, flake8, shellcheck)"
            )));
        }
    }
    let mut analyzers = Vec::new();
    for kind in Kind::ALL {
        let mut analyzer = Analyzer::default_for(kind);
        let overrides = overrides.get(kind.config_key()).cloned().unwrap_or_default();
        if overrides.enabled == Some(false) {
            continue;
        }
        if let Some(command) = overrides.command {
            if command.is_empty() {
                return Err(Error::Config(format!("the command of {} is empty", kind.name())));
            }
            analyzer.command = command;
        }
        if let Some(patterns) = overrides.patterns {
            analyzer.patterns = patterns;
        }
        if let Some(checks) = overrides.checks {
            analyzer.checks = checks;
        }
        if let Some(files) = overrides.files_per_process {
            analyzer.files_per_process = files.max(1);
        }
        analyzers.push(analyzer);
    }
    Ok(analyzers)
}

/// A check name against a rule name: equal, or the rule ends in `*` and the check starts with
/// what precedes it.
fn check_matches(rule: &str, check: &str) -> bool {
    match rule.strip_suffix('*') {
        Some(prefix) => check.starts_with(prefix),
        None => rule == check,
    }
}

/// A path against a glob: `*` matches within a path component, `**/` any number of
/// directories, `?` one character. A pattern without `/` matches the file name alone.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    if pattern.contains('/') {
        glob(pattern.as_bytes(), path.as_bytes())
    } else {
        let name = path.rsplit('/').next().unwrap_or(path);
        glob(pattern.as_bytes(), name.as_bytes())
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', b'/', rest @ ..] => {
            glob(rest, text) || text.iter().enumerate().any(|(at, byte)| *byte == b'/' && glob(rest, &text[at + 1..]))
        }
        [b'*', rest @ ..] => {
            (0..=text.len()).take_while(|&at| at == 0 || text[at - 1] != b'/').any(|at| glob(rest, &text[at..]))
        }
        [b'?', rest @ ..] => text.first().is_some_and(|byte| *byte != b'/') && glob(rest, &text[1..]),
        [byte, rest @ ..] => text.first() == Some(byte) && glob(rest, &text[1..]),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(path_matches("*.c", "src/deep/a.c"));
        assert!(!path_matches("*.c", "src/a.cc"));
        assert!(path_matches("src/*.py", "src/a.py"));
        assert!(!path_matches("src/*.py", "src/x/a.py"));
        assert!(path_matches("src/**/*.py", "src/a.py"));
        assert!(path_matches("src/**/*.py", "src/x/y/a.py"));
        assert!(path_matches("a?.sh", "ab.sh"));
    }

    #[test]
    fn the_first_matching_check_rule_decides() {
        let mut analyzer = Analyzer::default_for(Kind::ClangTidy);
        assert!(analyzer.publishes("clang-analyzer-deadcode.DeadStores"));
        assert!(!analyzer.publishes("clang-analyzer-security.insecureAPI.strcpy"));
        assert!(!analyzer.publishes("readability-braces-around-statements"), "unlisted");
        analyzer.checks.insert(0, CheckRule { name: "bugprone-narrowing-conversions".to_owned(), publish: false });
        assert!(!analyzer.publishes("bugprone-narrowing-conversions"));
        assert!(analyzer.publishes("bugprone-branch-clone"));
        assert!(!Analyzer::default_for(Kind::Flake8).publishes("Q000"));
        assert!(Analyzer::default_for(Kind::Flake8).publishes("E225"));
    }
}
