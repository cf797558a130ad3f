//! The bot's configuration: the channels and their branches, the repository, Bugzilla and the
//! history windows (the API and Taskcluster are the kit's common sections). Defaults < `shipit.toml` < `SHIPIT_*` variables
//! (`SHIPIT_BUGZILLA__API_KEY`, `SHIPIT_REPOSITORY__PATH`,
//! `SHIPIT_CHANNELS='[{name="beta",branch="beta"}]'`).

use std::path::PathBuf;

use serde::Deserialize;
use shipit_shared::api_types::uplift::is_valid_channel;

use crate::bugzilla::BugzillaSettings;
use crate::error::Error;
use crate::history::HistorySettings;

/// Everything the bot reads from its configuration.
// Unknown keys are allowed at the top: every `SHIPIT_*` variable lands here (`SHIPIT_LOG_FORMAT`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The release channels whose pending uplift requests are analysed and grafted.
    pub channels: Vec<ChannelSettings>,
    pub repository: RepositorySettings,
    pub bugzilla: BugzillaSettings,
    pub history: HistorySettings,
    /// Bugs fetched from Bugzilla at once.
    pub bug_concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let channel = |name: &str| ChannelSettings { name: name.into(), branch: name.into(), version: None };
        Self {
            channels: vec![channel("beta"), channel("release"), channel("esr140"), channel("esr153")],
            repository: RepositorySettings::default(),
            bugzilla: BugzillaSettings::default(),
            history: HistorySettings::default(),
            bug_concurrency: 8,
        }
    }
}

impl Settings {
    /// Refuses settings the run cannot work with, naming the setting.
    pub fn validate(&self) -> Result<(), Error> {
        if self.channels.is_empty() {
            return Err(Error::Config("channels: at least one channel is needed".into()));
        }
        for channel in &self.channels {
            if !is_valid_channel(&channel.name) {
                return Err(Error::Config(format!("channels: `{}` is not a channel name", channel.name)));
            }
            if channel.branch.trim().is_empty() {
                return Err(Error::Config(format!("channels: `{}` has no branch", channel.name)));
            }
        }
        if self.bug_concurrency == 0 {
            return Err(Error::Config("bug_concurrency must be at least 1".into()));
        }
        Ok(())
    }
}

/// A release channel: uplift requests `approval-mozilla-<name>?` land on `branch`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// `beta`, `release`, `esr140`: the suffix of the Bugzilla approval flag.
    pub name: String,
    /// The git branch of the channel in the repository (a branch name or any revision).
    pub branch: String,
    /// The major version the channel ships, shown by the API.
    #[serde(default)]
    pub version: Option<i32>,
}

/// The git repository holding the patches and the release branches.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepositorySettings {
    /// A local clone (bare or not); the bot never changes its refs, index or working tree.
    pub path: PathBuf,
    /// When set, the clone is made (bare) or fetched from this URL before each run.
    pub url: Option<String>,
    /// The branch where patches land first (nightly).
    pub main_branch: String,
}

impl Default for RepositorySettings {
    fn default() -> Self {
        Self { path: PathBuf::from("."), url: None, main_branch: "main".into() }
    }
}
