//! The bot's settings (the API, Taskcluster and upstream sections are the kit's): the model, the
//! repositories it scores and where it keeps its caches. Defaults < `shipit.toml` < `SHIPIT_*`
//! variables (`SHIPIT_MODEL=/models/risk.json`, `SHIPIT_CACHE_DIR=/cache`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::RiskError;

/// Everything `risk-bot run` reads from its configuration.
// Unknown keys are allowed at the top: every `SHIPIT_*` variable lands here (`SHIPIT_LOG_FORMAT`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct RiskSettings {
    /// The model file (`risk-bot train`).
    pub model: PathBuf,
    /// Where the repositories are cloned and the change caches kept (the hook's `/cache`).
    pub cache_dir: PathBuf,
    /// The repositories the pulse listener may name.
    pub repositories: Vec<RepositorySettings>,
    /// Add the coverage of the changed lines from the API's report of the parent, when it has one.
    pub coverage: bool,
    /// Reasons kept each way (up, down).
    pub reasons: usize,
    /// List the functions each change added, removed and modified.
    pub functions: bool,
    /// A label file (`risk-bot label`) for the label-history features; the `Fixes:` trailers
    /// of the history when absent.
    pub labels: Option<PathBuf>,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            model: PathBuf::from("model.json"),
            cache_dir: PathBuf::from("cache"),
            repositories: Vec::new(),
            coverage: true,
            reasons: 3,
            functions: true,
            labels: None,
        }
    }
}

/// A repository the bot scores.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySettings {
    /// The repository on hg.mozilla.org, by URL or path (`mozilla-central`); `REPOSITORY` may name it
    /// either way.
    pub name: String,
    /// A git clone URL: the bot keeps a bare clone under `cache_dir` and fetches it each run.
    #[serde(default)]
    pub url: Option<String>,
    /// A local git repository to read instead (nothing is fetched).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The repository's name in the coverage reports (`mozilla-central`); `name`'s path on
    /// hg.mozilla.org when absent.
    #[serde(default)]
    pub coverage_repository: Option<String>,
}

impl RepositorySettings {
    /// The coverage reports' name of the repository.
    pub fn coverage_name(&self) -> String {
        self.coverage_repository.clone().unwrap_or_else(|| pushlog_path(&self.name).to_owned())
    }
}

/// A repository named by its hg.mozilla.org URL or by its path there (`mozilla-central`,
/// `integration/autoland`), as the path: the pulse listener sends the path, people write either.
fn pushlog_path(repository: &str) -> &str {
    let trimmed = repository.trim().trim_end_matches('/');
    trimmed
        .strip_prefix("https://hg.mozilla.org/")
        .or_else(|| trimmed.strip_prefix("http://hg.mozilla.org/"))
        .unwrap_or(trimmed)
}

impl RiskSettings {
    /// The settings of `repository`, refusing one that is not configured or has neither a
    /// path nor a URL.
    pub fn repository(&self, repository: &str) -> Result<&RepositorySettings, RiskError> {
        let wanted = pushlog_path(repository);
        let found =
            self.repositories.iter().find(|candidate| pushlog_path(&candidate.name) == wanted).ok_or_else(|| {
                let known: Vec<&str> = self.repositories.iter().map(|r| r.name.as_str()).collect();
                RiskError::Config(format!(
                    "repositories: `{repository}` is not configured (known: {})",
                    known.join(", ")
                ))
            })?;
        if found.url.is_none() && found.path.is_none() {
            return Err(RiskError::Config(format!("repositories: `{}` has neither a url nor a path", found.name)));
        }
        Ok(found)
    }

    /// Refuses settings the run cannot work with, naming the setting.
    pub fn validate(&self) -> Result<(), RiskError> {
        if self.reasons > shipit_shared::api_types::risk::limits::MAX_REASONS / 2 {
            return Err(RiskError::Config(format!(
                "reasons: at most {} each way",
                shipit_shared::api_types::risk::limits::MAX_REASONS / 2
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coverage_name_is_the_pushlog_path() {
        let central =
            RepositorySettings { name: "https://hg.mozilla.org/mozilla-central".into(), ..Default::default() };
        assert_eq!(central.coverage_name(), "mozilla-central");
        let autoland =
            RepositorySettings { name: "https://hg.mozilla.org/integration/autoland/".into(), ..Default::default() };
        assert_eq!(autoland.coverage_name(), "integration/autoland");
    }

    #[test]
    fn an_unknown_repository_is_refused_naming_the_known_ones() {
        let settings = RiskSettings {
            repositories: vec![RepositorySettings { name: "a".into(), path: Some("/r".into()), ..Default::default() }],
            ..RiskSettings::default()
        };
        assert!(settings.repository("a/").is_ok());
        let central = RiskSettings {
            repositories: vec![RepositorySettings {
                name: "https://hg.mozilla.org/mozilla-central".into(),
                path: Some("/r".into()),
                ..Default::default()
            }],
            ..RiskSettings::default()
        };
        assert!(central.repository("mozilla-central").is_ok(), "the pulse listener sends the path");
        assert!(central.repository("https://hg.mozilla.org/mozilla-central/").is_ok());
        let error = settings.repository("b").unwrap_err().to_string();
        assert!(error.contains("`b` is not configured (known: a)"), "{error}");
    }
}
