//! Which push of a repository holds a changeset, for coverage reads of a changeset without a
//! report: asked of hg.mozilla.org's pushlog, the answers (negative ones too) kept in a bounded
//! cache for a while, and a bounded number of lookups in flight at once, so that anonymous
//! readers cannot turn the API into a load on hg.mozilla.org or hold its requests.

use std::time::Duration;

use axum::http::StatusCode;
use moka::sync::Cache;
use shipit_shared::http::UpstreamClient;
use shipit_shared::pushlog;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// How long a push found stays cached: a changeset never moves to another push.
const FOUND_TTL: Duration = Duration::from_secs(24 * 3600);

/// `(repository, changeset in lower case)`.
type PushKey = (String, String);

/// Cached pushlog lookups, and the limit on lookups in flight.
pub struct PushLookups {
    found: Cache<PushKey, i64>,
    not_found: Cache<PushKey, ()>,
    in_flight: Semaphore,
}

impl std::fmt::Debug for PushLookups {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PushLookups")
            .field("found", &self.found.entry_count())
            .field("not_found", &self.not_found.entry_count())
            .finish()
    }
}

impl PushLookups {
    /// At most `capacity` answers of each kind cached, `concurrency` lookups at once; a
    /// changeset the pushlog does not know is asked again after `not_found_ttl`.
    pub fn new(capacity: usize, concurrency: usize, not_found_ttl: Duration) -> Self {
        let capacity = u64::try_from(capacity.max(1)).unwrap_or(u64::MAX);
        Self {
            found: Cache::builder().max_capacity(capacity).time_to_live(FOUND_TTL).build(),
            not_found: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(not_found_ttl.max(Duration::from_nanos(1)))
                .build(),
            in_flight: Semaphore::new(concurrency),
        }
    }

    /// The id of the first push of `repository` holding `changeset`, `None` when the pushlog
    /// does not know it. 503 with `Retry-After` when too many lookups are in flight; 502 when
    /// the pushlog fails.
    pub async fn push_of(
        &self,
        http: &UpstreamClient,
        hgmo_url: &str,
        repository: &str,
        changeset: &str,
    ) -> Result<Option<i64>, ApiError> {
        let key = (repository.to_owned(), changeset.to_ascii_lowercase());
        if let Some(push) = self.found.get(&key) {
            return Ok(Some(push));
        }
        if self.not_found.contains_key(&key) {
            return Ok(None);
        }
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many pushlog lookups at once, try again")
                .with_retry_after(2));
        };
        match pushlog::push_of(http, hgmo_url, repository, changeset).await {
            Ok(Some(push)) => {
                self.found.insert(key, push.id);
                Ok(Some(push.id))
            }
            Ok(None) => {
                self.not_found.insert(key, ());
                Ok(None)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot ask the pushlog");
                Err(ApiError::new(StatusCode::BAD_GATEWAY, format!("cannot find the push of {changeset}: {error}")))
            }
        }
    }
}
