//! The source of a file at a changeset, for the dashboard's file view: read from hg.mozilla.org's
//! `raw-file` and kept in memory (a file at a changeset never changes). Reads are bounded: at
//! most [`MAX_SOURCE_BYTES`] per file, a few lookups in flight at once, and a failure is kept for
//! [`FAILURE_TTL`] so that a page viewed again does not ask again.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use moka::sync::Cache;
use shipit_shared::http::{BodyError, UpstreamClient, read_limited};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The largest source read; coverage.moz.tools showed no larger file either.
pub const MAX_SOURCE_BYTES: usize = 2 * 1024 * 1024;
/// How long a failed lookup is answered from memory.
const FAILURE_TTL: Duration = Duration::from_secs(60);
/// How long hg.mozilla.org has to answer: a reader waits for it.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `(repository, changeset, path)`.
type SourceKey = (String, String, String);

/// Sources read and failures, bounded.
pub struct SourceFiles {
    found: Cache<SourceKey, Arc<str>>,
    failed: Cache<SourceKey, (StatusCode, String)>,
    in_flight: Semaphore,
}

impl std::fmt::Debug for SourceFiles {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("SourceFiles").field("found", &self.found.entry_count()).finish()
    }
}

impl SourceFiles {
    /// Keeps about `bytes` of sources; `concurrency` lookups at once.
    pub fn new(bytes: u64, concurrency: usize) -> Self {
        let found = Cache::builder()
            .max_capacity(bytes)
            .weigher(|_: &SourceKey, source: &Arc<str>| u32::try_from(source.len()).unwrap_or(u32::MAX))
            .build();
        let failed = Cache::builder().max_capacity(10_000).time_to_live(FAILURE_TTL).build();
        Self { found, failed, in_flight: Semaphore::new(concurrency) }
    }

    /// The text of `path` at `changeset` of `repository` (a plain hg.mozilla.org path such as
    /// `mozilla-central`, a checked changeset and a normalised path). 404 when hg.mozilla.org
    /// has no such file, 413 when it is larger than [`MAX_SOURCE_BYTES`], 502 when it fails, 503
    /// with `Retry-After` when too many lookups are in flight.
    pub async fn get(
        &self,
        http: &UpstreamClient,
        hgmo_url: &str,
        repository: &str,
        changeset: &str,
        path: &str,
    ) -> Result<Arc<str>, ApiError> {
        let key = (repository.to_owned(), changeset.to_ascii_lowercase(), path.to_owned());
        if let Some(source) = self.found.get(&key) {
            return Ok(source);
        }
        if let Some((status, detail)) = self.failed.get(&key) {
            return Err(ApiError::new(status, detail));
        }
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many source lookups at once, try again")
                .with_retry_after(2));
        };
        match read(http, hgmo_url, &key).await {
            Ok(source) => {
                let source: Arc<str> = Arc::from(source);
                self.found.insert(key, source.clone());
                Ok(source)
            }
            Err((status, detail)) => {
                tracing::info!(%status, %detail, "no source for the file view");
                self.failed.insert(key, (status, detail.clone()));
                Err(ApiError::new(status, detail))
            }
        }
    }
}

/// `GET <hgmo>/<repository>/raw-file/<changeset>/<path>`, at most [`MAX_SOURCE_BYTES`].
async fn read(http: &UpstreamClient, hgmo_url: &str, key: &SourceKey) -> Result<String, (StatusCode, String)> {
    let (repository, changeset, path) = key;
    let bad_gateway = |detail: String| (StatusCode::BAD_GATEWAY, detail);
    let mut url = url::Url::parse(hgmo_url).map_err(|error| bad_gateway(format!("hgmo_url: {error}")))?;
    url.path_segments_mut()
        .map_err(|()| bad_gateway("hgmo_url cannot have a path".to_owned()))?
        .pop_if_empty()
        .extend(repository.split('/'))
        .push("raw-file")
        .push(changeset)
        .extend(path.split('/'));
    let request = http.client().get(url.clone()).timeout(TIMEOUT);
    // A reader waits: one attempt, no retry.
    let response = request.send().await.map_err(|error| bad_gateway(format!("hg.mozilla.org: {error}")))?;
    match response.status() {
        status if status.is_success() => {}
        StatusCode::NOT_FOUND => {
            return Err((StatusCode::NOT_FOUND, format!("hg.mozilla.org has no {path} at {changeset}")));
        }
        status => return Err(bad_gateway(format!("hg.mozilla.org answered {status} for {path}"))),
    }
    let body = read_limited(response, MAX_SOURCE_BYTES).await.map_err(|error| match error {
        BodyError::TooLarge { .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, format!("{path} is larger than {MAX_SOURCE_BYTES} bytes"))
        }
        BodyError::Transport(error) => bad_gateway(format!("hg.mozilla.org: {error}")),
    })?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}
