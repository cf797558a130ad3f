//! Which push of a repository holds a changeset, for coverage reads of a changeset without a
//! report: asked of hg.mozilla.org's pushlog, the answers (negative ones too) kept in a bounded
//! cache for a while, and a bounded number of lookups in flight at once, so that anonymous
//! readers cannot turn the API into a load on hg.mozilla.org or hold its requests.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use shipit_shared::http::UpstreamClient;
use shipit_shared::pushlog;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// How long a push found stays cached: a changeset never moves to another push.
const FOUND_TTL: Duration = Duration::from_secs(24 * 3600);

/// Cached pushlog lookups, and the limit on lookups in flight.
#[derive(Debug)]
pub struct PushLookups {
    cache: Mutex<Cache>,
    in_flight: Semaphore,
    not_found_ttl: Duration,
}

#[derive(Debug)]
struct Cache {
    capacity: usize,
    entries: HashMap<(String, String), (Instant, Option<i64>)>,
    /// Keys oldest first, to evict when full.
    order: VecDeque<(String, String)>,
}

impl PushLookups {
    /// At most `capacity` answers cached, `concurrency` lookups at once; a changeset the
    /// pushlog does not know is asked again after `not_found_ttl`.
    pub fn new(capacity: usize, concurrency: usize, not_found_ttl: Duration) -> Self {
        Self {
            cache: Mutex::new(Cache { capacity: capacity.max(1), entries: HashMap::new(), order: VecDeque::new() }),
            in_flight: Semaphore::new(concurrency),
            not_found_ttl,
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
        if let Some(answer) = self.cached(&key) {
            return Ok(answer);
        }
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many pushlog lookups at once, try again")
                .with_retry_after(2));
        };
        match pushlog::push_of(http, hgmo_url, repository, changeset).await {
            Ok(push) => {
                let answer = push.map(|push| push.id);
                self.remember(key, answer);
                Ok(answer)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot ask the pushlog");
                Err(ApiError::new(StatusCode::BAD_GATEWAY, format!("cannot find the push of {changeset}: {error}")))
            }
        }
    }

    fn cached(&self, key: &(String, String)) -> Option<Option<i64>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, answer) = cache.entries.get(key)?;
        let ttl = if answer.is_some() { FOUND_TTL } else { self.not_found_ttl };
        (at.elapsed() < ttl).then_some(*answer)
    }

    fn remember(&self, key: (String, String), answer: Option<i64>) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.entries.insert(key.clone(), (Instant::now(), answer)).is_none() {
            cache.order.push_back(key);
        }
        while cache.entries.len() > cache.capacity {
            match cache.order.pop_front() {
                Some(oldest) => {
                    cache.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// How many answers are cached.
    pub fn cached_answers(&self) -> usize {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entries.len()
    }
}
