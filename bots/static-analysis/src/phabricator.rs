//! Phabricator's Conduit API: fetching a diff and its raw patch, and publishing issues as inline
//! comments with one summary comment, never twice for the same issue.
//!
//! Conduit takes form posts with `api.token` and parameters flattened PHP-style
//! (`constraints[ids][0]=42`), and answers `{"result", "error_code", "error_info"}`.

use std::collections::HashSet;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shipit_shared::http::UpstreamClient;
use url::Url;

use crate::analysis::Analysis;
use crate::error::Error;

/// A Conduit client.
#[derive(Clone, Debug)]
pub struct Conduit {
    url: Url,
    token: SecretString,
    http: UpstreamClient,
}

/// A diff as a trigger names it: its id (`42`), or its PHID (`PHID-DIFF-…`), as the try tasks
/// of the code-review workflow tag it and as the original bot took it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffReference {
    Id(i64),
    Phid(String),
}

impl std::str::FromStr for DiffReference {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("PHID-DIFF-")
            && (1..=64).contains(&name.len())
            && name.bytes().all(|byte| byte.is_ascii_alphanumeric())
        {
            return Ok(Self::Phid(text.to_owned()));
        }
        match text.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Self::Id(id)),
            _ => Err(format!("`{text}` is neither a diff id (a positive number) nor a diff PHID (PHID-DIFF-…)")),
        }
    }
}

impl std::fmt::Display for DiffReference {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(formatter, "{id}"),
            Self::Phid(phid) => formatter.write_str(phid),
        }
    }
}

/// A diff as `differential.diff.search` describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffInfo {
    pub id: i64,
    pub phid: String,
    pub revision_phid: String,
    /// The commit the diff was made on, when Phabricator knows it.
    pub base: Option<String>,
}

/// What [`publish`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Published {
    /// Inline comments created.
    pub created: usize,
    /// Issues whose comment was there already.
    pub skipped: usize,
    /// Whether the summary comment was posted (only when there is a new inline comment).
    pub summary: bool,
}

#[derive(Deserialize)]
struct Answer<T> {
    result: Option<T>,
    error_code: Option<String>,
    error_info: Option<String>,
}

#[derive(Deserialize)]
struct SearchPage {
    data: Vec<Value>,
    #[serde(default)]
    cursor: Option<Cursor>,
}

#[derive(Deserialize)]
struct Cursor {
    after: Option<Value>,
}

impl Conduit {
    /// A client of the Conduit API at `url` (ending in `/api/`).
    pub fn new(url: Url, token: SecretString, http: UpstreamClient) -> Self {
        Self { url, token, http }
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, params: &[(String, String)]) -> Result<T, Error> {
        let failed = |detail: String| Error::Phabricator { method: method.to_owned(), detail };
        let url = self.url.join(method).map_err(|error| failed(error.to_string()))?;
        let mut form = vec![("api.token".to_owned(), self.token.expose_secret().to_owned())];
        form.extend(params.iter().cloned());
        let answer: Answer<T> = self.http.send_json(self.http.client().post(url).form(&form)).await?;
        if let Some(code) = answer.error_code {
            return Err(failed(format!("{code}: {}", answer.error_info.unwrap_or_default())));
        }
        answer.result.ok_or_else(|| failed("no result".to_owned()))
    }

    /// The diff `reference` names (`differential.diff.search`).
    pub async fn diff(&self, reference: &DiffReference) -> Result<DiffInfo, Error> {
        let constraint = match reference {
            DiffReference::Id(id) => ("constraints[ids][0]".into(), id.to_string()),
            DiffReference::Phid(phid) => ("constraints[phids][0]".into(), phid.clone()),
        };
        let page: SearchPage = self.call("differential.diff.search", &[constraint]).await?;
        let missing = |what: &str| Error::Phabricator {
            method: "differential.diff.search".into(),
            detail: format!("diff {reference}: no {what}"),
        };
        let diff = page.data.first().ok_or_else(|| missing("such diff"))?;
        let fields = &diff["fields"];
        let base = fields["refs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|reference| reference["type"] == "base")
            .and_then(|reference| reference["identifier"].as_str())
            .map(str::to_owned);
        Ok(DiffInfo {
            id: diff["id"].as_i64().ok_or_else(|| missing("id"))?,
            phid: diff["phid"].as_str().ok_or_else(|| missing("phid"))?.to_owned(),
            revision_phid: fields["revisionPHID"].as_str().ok_or_else(|| missing("revisionPHID"))?.to_owned(),
            base,
        })
    }

    /// The id (`D` number) of the revision `phid` (`differential.revision.search`).
    pub async fn revision_id(&self, phid: &str) -> Result<i64, Error> {
        let page: SearchPage =
            self.call("differential.revision.search", &[("constraints[phids][0]".into(), phid.to_owned())]).await?;
        page.data.first().and_then(|revision| revision["id"].as_i64()).ok_or_else(|| Error::Phabricator {
            method: "differential.revision.search".into(),
            detail: format!("no revision {phid}"),
        })
    }

    /// The patch of diff `id` (`differential.getrawdiff`).
    pub async fn raw_diff(&self, id: i64) -> Result<String, Error> {
        let mut patch: String = self.call("differential.getrawdiff", &[("diffID".into(), id.to_string())]).await?;
        if !patch.ends_with('\n') {
            patch.push('\n');
        }
        Ok(patch)
    }

    /// The PHID of the bot's user (`user.whoami`).
    pub async fn whoami(&self) -> Result<String, Error> {
        let user: Value = self.call("user.whoami", &[]).await?;
        user["phid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Phabricator { method: "user.whoami".into(), detail: "no phid".into() })
    }

    /// The inline comments `author` made on the revision, as (path, text) pairs
    /// (`transaction.search`, every page).
    pub async fn inline_comments(&self, revision_phid: &str, author: &str) -> Result<HashSet<(String, String)>, Error> {
        let mut comments = HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let mut params = vec![("objectIdentifier".to_owned(), revision_phid.to_owned())];
            if let Some(after) = &after {
                params.push(("after".to_owned(), after.clone()));
            }
            let page: SearchPage = self.call("transaction.search", &params).await?;
            for transaction in &page.data {
                if transaction["type"] != "inline" || transaction["authorPHID"] != author {
                    continue;
                }
                let Some(path) = transaction["fields"]["path"].as_str() else { continue };
                for comment in transaction["comments"].as_array().into_iter().flatten() {
                    if let Some(text) = comment["content"]["raw"].as_str() {
                        comments.insert((path.to_owned(), text.to_owned()));
                    }
                }
            }
            after = page.cursor.and_then(|cursor| cursor.after).and_then(|after| match after {
                Value::String(text) => Some(text),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            });
            if after.is_none() {
                return Ok(comments);
            }
        }
    }

    /// Creates a draft inline comment (`differential.createinline`).
    pub async fn create_inline(
        &self,
        diff_id: i64,
        path: &str,
        line: u32,
        length: u32,
        text: &str,
    ) -> Result<(), Error> {
        let params = [
            ("diffID".to_owned(), diff_id.to_string()),
            ("filePath".to_owned(), path.to_owned()),
            ("lineNumber".to_owned(), line.to_string()),
            ("lineLength".to_owned(), length.to_string()),
            ("content".to_owned(), text.to_owned()),
            ("isNewFile".to_owned(), "1".to_owned()),
        ];
        self.call::<Value>("differential.createinline", &params).await.map(drop)
    }

    /// Posts a comment on the revision with the draft inline comments (`differential.createcomment`).
    pub async fn create_comment(&self, revision_id: i64, message: &str) -> Result<(), Error> {
        let params = [
            ("revision_id".to_owned(), revision_id.to_string()),
            ("message".to_owned(), message.to_owned()),
            ("attach_inlines".to_owned(), "1".to_owned()),
        ];
        self.call::<Value>("differential.createcomment", &params).await.map(drop)
    }
}

/// Publishes the analysis on the revision: one inline comment per published issue on a file of
/// the diff (Phabricator cannot place others) unless the bot made the same comment on the same
/// file before, then the summary when at least one comment is new.
pub async fn publish(
    conduit: &Conduit,
    diff: &DiffInfo,
    revision_id: i64,
    analysis: &Analysis,
    summary: &str,
) -> Result<Published, Error> {
    let me = conduit.whoami().await?;
    let mut existing = conduit.inline_comments(&diff.revision_phid, &me).await?;
    let mut published = Published::default();
    for reported in analysis.publishable() {
        let issue = &reported.issue;
        if !analysis.files.contains(&issue.path) {
            continue;
        }
        let text = issue.as_text();
        if !existing.insert((issue.path.clone(), text.clone())) {
            published.skipped += 1;
            continue;
        }
        conduit.create_inline(diff.id, &issue.path, issue.line.max(1), issue.nb_lines.max(1) - 1, &text).await?;
        published.created += 1;
    }
    if published.created > 0 {
        conduit.create_comment(revision_id, summary).await?;
        published.summary = true;
    }
    tracing::info!(
        diff.id = diff.id,
        revision.id = revision_id,
        created = published.created,
        skipped = published.skipped,
        "published on Phabricator"
    );
    Ok(published)
}

#[cfg(test)]
mod tests {
    use super::DiffReference;

    #[test]
    fn a_diff_is_named_by_its_id_or_its_phid_and_nothing_else() {
        assert_eq!("42".parse(), Ok(DiffReference::Id(42)));
        assert_eq!(
            "PHID-DIFF-3wwyr5dw4ozxdotzdkbb".parse(),
            Ok(DiffReference::Phid("PHID-DIFF-3wwyr5dw4ozxdotzdkbb".into()))
        );
        for refused in ["0", "-3", "D42", "PHID-DREV-abc", "PHID-DIFF-", "PHID-DIFF-a/b", "99999999999999999999", ""] {
            assert!(refused.parse::<DiffReference>().is_err(), "{refused}");
        }
        assert_eq!(DiffReference::Id(42).to_string(), "42");
    }
}
