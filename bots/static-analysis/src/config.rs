//! The bot's configuration: which paths are third-party, how many analyzer processes run at once,
//! and Phabricator. Each analyzer's `[analyzers.<name>]` section is read here and applied
//! to its defaults by [`crate::analyzers`], where each analyzer declares its own.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::analyzers::{self, Analyzer, AnalyzerOverrides};
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

impl Settings {
    /// The enabled analyzers with their overrides applied.
    pub fn analyzers(&self) -> Result<Vec<Analyzer>, Error> {
        analyzers::configured(&self.analyzers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::Kind;

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
