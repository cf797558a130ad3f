//! The pushlog of hg.mozilla.org: which push holds a changeset.

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
    if !is_valid_repository(repository) {
        return None;
    }
    let mut url = url::Url::parse(hgmo_url).ok()?;
    url.path_segments_mut().ok()?.pop_if_empty().extend(repository.split('/')).push("json-pushes");
    url.query_pairs_mut().clear().append_pair("changeset", changeset).append_pair("version", "2");
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
