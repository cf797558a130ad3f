//! The bot's configuration: which analyzers run, on which files, which of their checks are
//! published, and which paths are third-party.
//!
//! Every analyzer has built-in defaults; the TOML file or `SHIPIT_*` variables override them one
//! setting at a time (`[analyzers.flake8] enabled = false`,
//! `SHIPIT_ANALYZERS__CLANG_TIDY__COMMAND='["clang-tidy-16"]'`).

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::analyzers::Kind;
use crate::error::Error;

/// Everything the bot reads from its configuration.
// Unknown keys are allowed at the top: every `SHIPIT_*` variable lands here (`SHIPIT_LOG_FORMAT`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Overrides per analyzer, keyed by its name with `_` for `-` (`clang_tidy`).
    pub analyzers: BTreeMap<String, AnalyzerOverrides>,
    /// Path prefixes whose issues are never published (vendored code).
    pub third_party: Vec<String>,
    /// A file of the analyzed repository listing more third-party prefixes, one per line.
    pub third_party_file: Option<String>,
    /// Analyzer processes run at once (default: the number of CPUs).
    pub jobs: Option<usize>,
    pub phabricator: PhabricatorSettings,
}

/// Conduit of a Phabricator instance.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhabricatorSettings {
    /// The API root, ending in `/api/` (`https://phabricator.services.mozilla.com/api/`).
    pub url: Option<Url>,
    pub api_token: Option<SecretString>,
}

/// Settings of one analyzer that replace its defaults.
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

impl CheckRule {
    fn new(name: &str, publish: bool) -> Self {
        Self { name: name.to_owned(), publish }
    }
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
        const C_FAMILY: &[&str] = &["*.c", "*.h", "*.cpp", "*.cc", "*.cxx", "*.hh", "*.hpp", "*.hxx", "*.m", "*.mm"];
        const C_SOURCES: &[&str] = &["*.c", "*.cpp", "*.cc", "*.cxx", "*.m", "*.mm"];
        let (command, patterns, checks, files_per_process): (&str, &[&str], Vec<CheckRule>, usize) = match kind {
            Kind::ClangTidy => (
                "clang-tidy",
                C_SOURCES,
                vec![
                    CheckRule::new("-*", false),
                    CheckRule::new("clang-analyzer-deadcode.DeadStores", true),
                    CheckRule::new("clang-analyzer-core.*", true),
                    CheckRule::new("clang-analyzer-unix.*", true),
                    CheckRule::new("clang-analyzer-security.*", false),
                    CheckRule::new("bugprone-*", true),
                    CheckRule::new("performance-*", true),
                    CheckRule::new("modernize-use-nullptr", true),
                    CheckRule::new("readability-else-after-return", true),
                    CheckRule::new("readability-misleading-indentation", true),
                ],
                1,
            ),
            Kind::ClangFormat => ("clang-format", C_FAMILY, vec![CheckRule::new("*", true)], 1),
            Kind::Cppcheck => ("cppcheck", C_SOURCES, vec![CheckRule::new("*", true)], 1),
            // Q000 (bad quotes) is mozlint's one disabled rule: people disagreed with it.
            Kind::Flake8 => ("flake8", &["*.py"], vec![CheckRule::new("Q000", false), CheckRule::new("*", true)], 64),
            Kind::Shellcheck => ("shellcheck", &["*.sh", "*.bash"], vec![CheckRule::new("*", true)], 64),
        };
        Self {
            kind,
            command: vec![command.to_owned()],
            patterns: patterns.iter().map(|pattern| (*pattern).to_owned()).collect(),
            checks,
            files_per_process,
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

impl Settings {
    /// The enabled analyzers with their overrides applied.
    pub fn analyzers(&self) -> Result<Vec<Analyzer>, Error> {
        for name in self.analyzers.keys() {
            if Kind::from_config_key(name).is_none() {
                return Err(Error::Config(format!(
                    "unknown analyzer `{name}` (known: clang_tidy, clang_format, cppcheck, flake8, shellcheck)"
                )));
            }
        }
        let mut analyzers = Vec::new();
        for kind in Kind::ALL {
            let mut analyzer = Analyzer::default_for(kind);
            let overrides = self.analyzers.get(kind.config_key()).cloned().unwrap_or_default();
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
        analyzer.checks.insert(0, CheckRule::new("bugprone-narrowing-conversions", false));
        assert!(!analyzer.publishes("bugprone-narrowing-conversions"));
        assert!(analyzer.publishes("bugprone-branch-clone"));
        assert!(!Analyzer::default_for(Kind::Flake8).publishes("Q000"));
        assert!(Analyzer::default_for(Kind::Flake8).publishes("E225"));
    }

    #[test]
    fn overrides_apply_one_setting_at_a_time() {
        let settings: Settings = toml_settings(
            "[analyzers.flake8]\nenabled = false\n[analyzers.clang_tidy]\ncommand = [\"clang-tidy-16\"]\n",
        );
        let analyzers = settings.analyzers().unwrap();
        assert!(analyzers.iter().all(|analyzer| analyzer.kind != Kind::Flake8));
        let tidy = analyzers.iter().find(|analyzer| analyzer.kind == Kind::ClangTidy).unwrap();
        assert_eq!(tidy.command, ["clang-tidy-16"]);
        assert_eq!(tidy.patterns, Analyzer::default_for(Kind::ClangTidy).patterns);
        let unknown = toml_settings("[analyzers.pylint]\nenabled = true\n").analyzers().unwrap_err();
        assert!(unknown.to_string().contains("pylint"), "{unknown}");
    }

    fn toml_settings(text: &str) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bot.toml");
        std::fs::write(&path, text).unwrap();
        shipit_shared::config::load(Some(&path)).unwrap()
    }
}
