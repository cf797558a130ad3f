//! The pushlog of hg.mozilla.org: which push holds a changeset, and the files each push of a
//! range changed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::http::{HttpError, UpstreamClient};

/// A push of a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Push {
    pub id: i64,
    pub date: DateTime<Utc>,
}

#[derive(Deserialize)]
struct JsonPushes {
    pushes: BTreeMap<String, PushEntry>,
}

#[derive(Deserialize)]
struct PushEntry {
    date: i64,
}

/// A push with the files its changesets changed, one list per changeset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushFiles {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub changesets: Vec<Vec<String>>,
}

/// The most bytes of one page of the full pushlog.
pub const MAX_PAGE_BYTES: usize = 256 << 20;

#[derive(Deserialize)]
struct FullPushes {
    lastpushid: i64,
    pushes: BTreeMap<String, FullPushEntry>,
}

#[derive(Deserialize)]
struct FullPushEntry {
    date: i64,
    changesets: Vec<FullChangeset>,
}

#[derive(Deserialize)]
struct FullChangeset {
    #[serde(default)]
    files: Vec<String>,
}

/// A page of the full pushlog: the pushes after `after` up to `last` (at most), in push order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPage {
    pub pushes: Vec<PushFiles>,
    /// The newest push of the repository.
    pub last_push_id: i64,
}

/// `{hgmo}/{repository}/json-pushes?version=2&full=1&startID={after}&endID={last}`: the pushes
/// with an id above `after` and at most `last`, each changeset with its files. A push whose id
/// or date is not a number in range is left out; `None` when `repository` is not a valid path.
pub async fn pushes_with_files(
    http: &UpstreamClient,
    hgmo_url: &str,
    repository: &str,
    after: i64,
    last: i64,
) -> Result<Option<PushPage>, HttpError> {
    let Some(mut url) = repository_url(hgmo_url, repository, "json-pushes") else { return Ok(None) };
    url.query_pairs_mut()
        .append_pair("version", "2")
        .append_pair("full", "1")
        .append_pair("startID", &after.to_string())
        .append_pair("endID", &last.to_string());
    let page: FullPushes = http.send_json_limited(http.client().get(url), MAX_PAGE_BYTES).await?;
    let mut pushes: Vec<PushFiles> = page
        .pushes
        .into_iter()
        .filter_map(|(id, push)| {
            let id: i64 = id.parse().ok().filter(|id| *id > after && *id <= last)?;
            let date = DateTime::from_timestamp(push.date, 0)?;
            let changesets = push.changesets.into_iter().map(|changeset| changeset.files).collect();
            Some(PushFiles { id, date, changesets })
        })
        .collect();
    pushes.sort_by_key(|push| push.id);
    Ok(Some(PushPage { pushes, last_push_id: page.lastpushid }))
}

/// Whether `repository` is a path of hg.mozilla.org (`mozilla-central`, `integration/autoland`):
/// 1 to 100 bytes of segments of ASCII letters, digits, `_`, `.` and `-`, separated by `/`, none
/// of them `.` or `..`.
pub fn is_valid_repository(repository: &str) -> bool {
    repository.len() <= 100
        && repository.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_.-".contains(&byte))
        })
}

/// `{hgmo}/{repository}/json-pushes?changeset=…&version=2`, built segment by segment so that
/// nothing in `repository` or `changeset` can change the path or the query; `None` when
/// `repository` is not a valid path or `hgmo_url` not a base URL.
pub fn json_pushes_url(hgmo_url: &str, repository: &str, changeset: &str) -> Option<url::Url> {
    let mut url = repository_url(hgmo_url, repository, "json-pushes")?;
    url.query_pairs_mut().append_pair("changeset", changeset).append_pair("version", "2");
    Some(url)
}

/// `{hgmo}/{repository}/{page}` without query or fragment; `None` when `repository` is not a
/// valid path or `hgmo_url` not a base URL.
fn repository_url(hgmo_url: &str, repository: &str, page: &str) -> Option<url::Url> {
    if !is_valid_repository(repository) {
        return None;
    }
    let mut url = url::Url::parse(hgmo_url).ok()?;
    url.path_segments_mut().ok()?.pop_if_empty().extend(repository.split('/')).push(page);
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

/// The first push holding `changeset` (`{hgmo}/{repository}/json-pushes?changeset=…&version=2`);
/// `None` when the repository does not know the changeset, or is not a valid repository path.
pub async fn push_of(
    http: &UpstreamClient,
    hgmo_url: &str,
    repository: &str,
    changeset: &str,
) -> Result<Option<Push>, HttpError> {
    if !is_valid_repository(repository) {
        return Ok(None);
    }
    // An unparsable base URL is reported by the client as a request it cannot build.
    let request = match json_pushes_url(hgmo_url, repository, changeset) {
        Some(url) => http.client().get(url),
        None => http.client().get(hgmo_url),
    };
    let pushes: JsonPushes = match http.send_json(request).await {
        Ok(pushes) => pushes,
        Err(HttpError::ClientError { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => return Ok(None),
        Err(error) => return Err(error),
    };
    Ok(pushes
        .pushes
        .iter()
        .filter_map(|(id, push)| Some(Push { id: id.parse().ok()?, date: DateTime::from_timestamp(push.date, 0)? }))
        .min_by_key(|push| push.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_plain_paths() {
        for valid in ["mozilla-central", "integration/autoland", "releases/mozilla-esr140", "a.b_c"] {
            assert!(is_valid_repository(valid), "{valid}");
        }
        for invalid in ["", "../../x", "a/../b", "a#frag", "a?x=1&y=", "/a", "a/", "a//b", "a b", "a%2F"] {
            assert!(!is_valid_repository(invalid), "{invalid}");
        }
    }

    #[test]
    fn the_url_is_built_segment_by_segment() {
        let url = json_pushes_url("https://hg.mozilla.org/", "integration/autoland", "abc&x=1#f").unwrap();
        assert_eq!(
            url.as_str(),
            "https://hg.mozilla.org/integration/autoland/json-pushes?changeset=abc%26x%3D1%23f&version=2"
        );
        let url = json_pushes_url("http://127.0.0.1:9/hg", "mozilla-central", "abc").unwrap();
        assert_eq!(url.path(), "/hg/mozilla-central/json-pushes");
        assert_eq!(json_pushes_url("https://hg.mozilla.org", "../x", "abc"), None);
    }
}
