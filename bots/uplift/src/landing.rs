//! Landings: the commits a bug's comments cite (`https://hg.mozilla.org/<repository>/rev/<hash>`,
//! `https://github.com/<owner>/<name>/commit/<hash>`), which of those links are of the bot's
//! repository, and the mercurial → git mapper that turns cited mercurial revisions into commits.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use shipit_shared::http::UpstreamClient;
use url::Url;

use crate::bugzilla::Comment;
use crate::error::Error;

/// Firefox's repositories on GitHub: `mozilla-firefox/firefox` and its predecessor, the
/// `mozilla/gecko-dev` mirror, made of the same commits. When the configured repository is one of
/// them, or names no GitHub repository at all (the defaults are Firefox's), links to any of these
/// and to Firefox's mercurial repositories (`mozilla-central`, `integration/*`,
/// `releases/mozilla-*`) are landings. A setting would belong in `config.rs`; until then this list
/// is the known mirrors.
pub const FIREFOX_GITHUB: &[&str] = &["mozilla-firefox/firefox", "mozilla/gecko-dev"];

/// A landing cited in a comment (`https://hg.mozilla.org/releases/mozilla-beta/rev/<hex>`,
/// `https://github.com/<owner>/<repo>/commit/<hex>`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Landing {
    /// The comment's time: when the landing was reported; `None` when the comment has no time.
    pub time: Option<DateTime<Utc>>,
    /// The revision as cited.
    pub revision: String,
    /// The repository path (`mozilla-central`, `releases/mozilla-beta`, `mozilla-firefox/firefox`).
    pub repository: String,
    /// `nightly`, `beta`, `release`, `esr<N>`, `aurora`; `None` when the URL does not say (GitHub).
    pub channel: Option<String>,
    /// The git commit, when the mapper or the repository knows it.
    pub commit: Option<String>,
}

/// A commit link in a comment that is not a landing of the bot's repository.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IgnoredLink {
    /// The comment's time; `None` when the comment has no time.
    pub time: Option<DateTime<Utc>>,
    /// The comment's number on the bug (0 is the description).
    pub comment: i64,
    /// The link as written.
    pub url: String,
}

/// What the comments of a bug cite.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Landings {
    /// Landings of the repository, oldest first.
    pub landings: Vec<Landing>,
    /// Links to commits of other repositories, oldest first.
    pub ignored: Vec<IgnoredLink>,
}

/// Which repositories' links are landings.
#[derive(Clone, Debug, PartialEq)]
pub struct Repositories {
    /// GitHub repositories, `owner/name` in lower case.
    github: BTreeSet<String>,
    /// Firefox's mercurial repositories count too.
    firefox: bool,
}

impl Default for Repositories {
    /// Firefox's repositories.
    fn default() -> Self {
        Self { github: FIREFOX_GITHUB.iter().map(|name| (*name).to_owned()).collect(), firefox: true }
    }
}

static HG_LANDING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"https?://hg\.mozilla\.org/([\w./-]+?)/rev/([0-9a-f]{7,40})\b").expect("a valid regex")
});
static GITHUB_LANDING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"https?://github\.com/([\w.-]+/[\w.-]+)/commit/([0-9a-f]{7,40})\b").expect("a valid regex")
});
/// A GitHub repository in a clone URL or a commit URL template.
static GITHUB_REPOSITORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)github\.com[/:]([\w.-]+)/([\w.-]+?)(?:\.git)?(?:[/?#]|$)").expect("a valid regex")
});

impl Repositories {
    /// The repositories named by these URLs (the clone URL, the commit URL template) with their
    /// known mirrors; Firefox's when none of them names a GitHub repository.
    pub fn new<'a>(urls: impl IntoIterator<Item = &'a str>) -> Self {
        let github: BTreeSet<String> = urls
            .into_iter()
            .filter_map(|url| GITHUB_REPOSITORY.captures(url))
            .map(|captures| format!("{}/{}", &captures[1], &captures[2]).to_lowercase())
            .collect();
        if github.is_empty() || github.iter().any(|name| FIREFOX_GITHUB.contains(&name.as_str())) {
            let mut firefox = Self::default();
            firefox.github.extend(github);
            return firefox;
        }
        Self { github, firefox: false }
    }

    fn is_github(&self, name: &str) -> bool {
        self.github.contains(&name.to_lowercase())
    }
}

/// The landings the comments cite, and the commit links they cite that are not landings, oldest
/// first; comments reporting a backout are skipped.
pub fn find(comments: &[Comment], repositories: &Repositories) -> Landings {
    let mut landings = BTreeSet::new();
    let mut ignored = BTreeSet::new();
    for comment in comments {
        let lower = comment.text.to_lowercase();
        if lower.contains("backed out") || lower.contains("backout") {
            continue;
        }
        let ignore = |url: &str| IgnoredLink { time: comment.time, comment: comment.count, url: url.to_owned() };
        for captures in HG_LANDING.captures_iter(&comment.text) {
            let repository = captures[1].to_owned();
            match hg_channel(&repository).filter(|_| repositories.firefox) {
                Some(channel) => {
                    landings.insert(Landing {
                        time: comment.time,
                        revision: captures[2].to_owned(),
                        channel: Some(channel),
                        repository,
                        commit: None,
                    });
                }
                None => {
                    ignored.insert(ignore(&captures[0]));
                }
            }
        }
        for captures in GITHUB_LANDING.captures_iter(&comment.text) {
            if !repositories.is_github(&captures[1]) {
                ignored.insert(ignore(&captures[0]));
                continue;
            }
            landings.insert(Landing {
                time: comment.time,
                revision: captures[2].to_owned(),
                repository: captures[1].to_owned(),
                channel: None,
                commit: Some(captures[2].to_owned()),
            });
        }
    }
    Landings { landings: landings.into_iter().collect(), ignored: ignored.into_iter().collect() }
}

/// The channel of one of Firefox's mercurial repositories; `None` for any other repository
/// (`try`, `comm-central`, `projects/*`, `users/*`).
fn hg_channel(repository: &str) -> Option<String> {
    if repository == "mozilla-central" || repository.starts_with("integration/") {
        return Some("nightly".to_owned());
    }
    let branch = repository.strip_prefix("releases/mozilla-")?;
    let known = matches!(branch, "beta" | "release" | "aurora")
        || branch.strip_prefix("esr").is_some_and(|version| version.bytes().all(|byte| byte.is_ascii_digit()));
    known.then(|| branch.to_owned())
}

/// A mercurial → git revision mapping service, answering `GET {url}/rev/hg/<hg>` with
/// `"<git> <hg>"` (like the original's `mapper`).
#[derive(Clone, Debug)]
pub struct Mapper {
    url: Url,
    http: UpstreamClient,
}

impl Mapper {
    /// A client of the mapping service at `url`.
    pub fn new(url: Url, http: UpstreamClient) -> Self {
        Self { url, http }
    }

    /// The git commit of a mercurial revision; `None` when the service does not know it (404).
    pub async fn git_commit(&self, hg: &str) -> Result<Option<String>, Error> {
        let path = format!("{}/rev/hg/{hg}", self.url.as_str().trim_end_matches('/'));
        let response = self.http.send(self.http.client().get(&path)).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = shipit_shared::http::error_for_client_status(response).await?;
        let url = response.url().to_string();
        let text = response.text().await.map_err(|source| shipit_shared::http::HttpError::Decode { url, source })?;
        Ok(text.split_whitespace().next().filter(|git| git.len() == 40).map(str::to_owned))
    }

    /// Maps the mercurial landings that have no commit yet.
    pub async fn resolve(&self, landings: &mut [Landing]) -> Result<(), Error> {
        for landing in landings.iter_mut().filter(|landing| landing.commit.is_none()) {
            landing.commit = self.git_commit(&landing.revision).await?;
        }
        Ok(())
    }
}
