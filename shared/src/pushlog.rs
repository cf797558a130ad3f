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

/// The first push holding `changeset` (`{hgmo}/{repository}/json-pushes?changeset=…&version=2`);
/// `None` when the repository does not know the changeset.
pub async fn push_of(
    http: &UpstreamClient,
    hgmo_url: &str,
    repository: &str,
    changeset: &str,
) -> Result<Option<Push>, HttpError> {
    let url = format!("{}/{repository}/json-pushes", hgmo_url.trim_end_matches('/'));
    let request = http.client().get(url).query(&[("changeset", changeset), ("version", "2")]);
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
