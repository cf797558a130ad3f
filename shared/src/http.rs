//! The HTTP client for upstream services (Bugzilla, Taskcluster, Phabricator, the ShipIt API).
//!
//! Every request has a timeout. Server errors (5xx), timeouts and connection failures are retried
//! with exponential backoff and jitter; client errors (4xx) never are, since repeating them cannot
//! help. A client may instead replay recorded answers from files ([`Replay`]), so that a bot runs
//! offline on the same code path (the sample data).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::{Request, RequestBuilder, Response, StatusCode};

/// How often and how patiently a request is retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Wait before the second attempt; it doubles for each later one.
    pub initial_backoff: Duration,
    /// Upper bound of a single wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, initial_backoff: Duration::from_millis(500), max_backoff: Duration::from_secs(20) }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: half of it fixed, half random ("equal jitter"), so
    /// that many clients failing together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self.initial_backoff.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exponential.min(self.max_backoff);
        let half = capped / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

/// Why an upstream request failed for good.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request could not be built (bad URL, body that cannot be serialised).
    #[error("cannot build request: {0}")]
    Build(#[source] reqwest::Error),
    /// The upstream kept answering with a server error.
    #[error("{url} answered {status} after {attempts} attempt(s)")]
    ServerError { url: String, status: StatusCode, attempts: u32 },
    /// The upstream timed out or could not be reached, on every attempt.
    #[error("{url} failed after {attempts} attempt(s): {source}")]
    Transport {
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// The upstream answered with a client error, which is not retried.
    #[error("{url} answered {status}: {body}")]
    ClientError { url: String, status: StatusCode, body: String },
    /// The answer was not the JSON we expected.
    #[error("cannot decode the answer of {url}: {source}")]
    Decode {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The answer was larger than the caller accepts.
    #[error("the answer of {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    /// The answer was JSON, or meant to be, of another shape.
    #[error("cannot decode the answer of {url}: {source}")]
    Malformed {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Why [`read_limited`] could not read a body.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the limit (said by its `Content-Length`, or found while reading).
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed while the body was read.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// The whole body of `response`, never holding more than `limit` bytes of it.
pub async fn read_limited(mut response: Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A `reqwest::Client` with a timeout and a retry policy.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    client: reqwest::Client,
    retry: RetryPolicy,
    replay: Option<Arc<Replay>>,
}

impl UpstreamClient {
    /// A client whose requests time out after `timeout` and are retried as `retry` says.
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("shipit/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(HttpError::Build)?;
        Ok(Self { client, retry, replay: None })
    }

    /// The same client answering every request from the recorded answers under `directory`
    /// instead of the network.
    pub fn replaying(mut self, directory: impl Into<PathBuf>) -> Self {
        self.replay = Some(Arc::new(Replay { directory: directory.into() }));
        self
    }

    /// The inner client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request, retrying server errors, timeouts and connection errors. Any answer
    /// below 500 is returned as it is, 4xx included, for the caller to judge.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, HttpError> {
        let request = request.build().map_err(HttpError::Build)?;
        if let Some(replay) = &self.replay {
            return Ok(replay.answer(&request).await);
        }
        let url = redacted_url(&request);
        let mut original = Some(request);
        let mut attempt = 1;
        loop {
            // Each attempt sends a copy while more attempts remain; a streaming body cannot be
            // copied, so such a request gets a single attempt.
            let copy = original.as_ref().and_then(Request::try_clone).filter(|_| attempt < self.retry.max_attempts);
            let can_retry = copy.is_some();
            let Some(this_attempt) = copy.or_else(|| original.take()) else {
                unreachable!("the original request is only taken for the last attempt");
            };
            match self.client.execute(this_attempt).await {
                Ok(response) if response.status().is_server_error() && can_retry => {
                    tracing::warn!(
                        url,
                        status = response.status().as_u16(),
                        attempt,
                        "upstream server error, retrying"
                    );
                }
                Ok(response) if response.status().is_server_error() => {
                    return Err(HttpError::ServerError { url, status: response.status(), attempts: attempt });
                }
                Ok(response) => return Ok(response),
                Err(error) if is_transient(&error) && can_retry => {
                    tracing::warn!(url, %error, attempt, "upstream unreachable, retrying");
                }
                Err(error) if is_transient(&error) => {
                    return Err(HttpError::Transport { url, attempts: attempt, source: error });
                }
                Err(error) => return Err(HttpError::Build(error)),
            }
            tokio::time::sleep(self.retry.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Sends the request and decodes a successful JSON answer; a 4xx becomes
    /// [`HttpError::ClientError`] with the start of the body.
    pub async fn send_json<T: serde::de::DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, HttpError> {
        let response = self.send(request).await?;
        let url = response.url().to_string();
        let response = error_for_client_status(response).await?;
        response.json().await.map_err(|source| HttpError::Decode { url, source })
    }

    /// [`send_json`](Self::send_json) for answers that may be large: the body is read up to
    /// `limit` bytes, and a longer one is [`HttpError::TooLarge`].
    pub async fn send_json_limited<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
        limit: usize,
    ) -> Result<T, HttpError> {
        let response = self.send(request).await?;
        let url = response.url().to_string();
        let response = error_for_client_status(response).await?;
        let body = read_limited(response, limit).await.map_err(|error| match error {
            BodyError::TooLarge { limit } => HttpError::TooLarge { url: url.clone(), limit },
            BodyError::Transport(source) => HttpError::Transport { url: url.clone(), attempts: 1, source },
        })?;
        serde_json::from_slice(&body).map_err(|source| HttpError::Malformed { url, source })
    }
}

/// Recorded answers, one file per request: `<directory>/<host>/<path>/<METHOD>`, with `?<query>`
/// appended when the URL has one (`…/api/queue/v1/task-group/G/list/GET?limit=1000`), or
/// `?sha256-<digest of the query>` when that name would be too long. A recorded answer is a
/// 200 with the file as its body; a request without one gets a 404 naming the file it looked for.
#[derive(Debug)]
pub struct Replay {
    directory: PathBuf,
}

impl Replay {
    /// The file holding the answer to `method url`.
    pub fn file_for(directory: &Path, method: &str, url: &url::Url) -> PathBuf {
        /// File names stay well under the usual limit of 255 bytes.
        const LONGEST_NAME: usize = 160;
        let mut file = directory.join(url.host_str().unwrap_or("no-host"));
        if let Some(port) = url.port() {
            file.as_mut_os_string().push(format!(":{port}"));
        }
        for segment in url.path_segments().into_iter().flatten() {
            if !segment.is_empty() && segment != "." && segment != ".." {
                file.push(segment);
            }
        }
        let mut name = method.to_uppercase();
        if let Some(query) = url.query().filter(|query| !query.is_empty()) {
            name = format!("{name}?{query}");
            if name.len() > LONGEST_NAME {
                use sha2::Digest;
                let digest = hex::encode(sha2::Sha256::digest(query.as_bytes()));
                name = format!("{}?sha256-{}", method.to_uppercase(), &digest[..32]);
            }
        }
        file.join(name)
    }

    async fn answer(&self, request: &Request) -> Response {
        let file = Self::file_for(&self.directory, request.method().as_str(), request.url());
        let (status, body) = match tokio::fs::read(&file).await {
            Ok(body) => (StatusCode::OK, body),
            Err(error) => {
                tracing::warn!(url = redacted_url(request), file = %file.display(), %error, "no recorded answer");
                (StatusCode::NOT_FOUND, format!("no recorded answer at {}: {error}", file.display()).into_bytes())
            }
        };
        let answer = http::Response::builder().status(status).body(body).expect("a status and a body make a response");
        Response::from(answer)
    }
}

/// Turns a 4xx answer into [`HttpError::ClientError`], keeping the start of its body.
pub async fn error_for_client_status(response: Response) -> Result<Response, HttpError> {
    let status = response.status();
    if !status.is_client_error() {
        return Ok(response);
    }
    let url = response.url().to_string();
    let mut body = response.text().await.unwrap_or_default();
    body.truncate(body.floor_char_boundary(500));
    Err(HttpError::ClientError { url, status, body })
}

fn is_transient(error: &reqwest::Error) -> bool {
    error.is_timeout() || error.is_connect() || error.is_request()
}

/// The URL without its query string, which may carry an API key.
fn redacted_url(request: &Request) -> String {
    let mut url = request.url().clone();
    url.set_query(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    use super::*;

    fn client(timeout: Duration) -> UpstreamClient {
        let retry = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        };
        UpstreamClient::new(timeout, retry).unwrap()
    }

    /// Answers with the given statuses in turn, then with the last one.
    struct Sequence {
        statuses: Vec<u16>,
        calls: Arc<AtomicUsize>,
    }

    impl Respond for Sequence {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let status = self.statuses[call.min(self.statuses.len() - 1)];
            ResponseTemplate::new(status).set_body_json(serde_json::json!({"call": call}))
        }
    }

    async fn server(statuses: &[u16]) -> (MockServer, Arc<AtomicUsize>) {
        let server = MockServer::start().await;
        let calls = Arc::new(AtomicUsize::new(0));
        Mock::given(method("GET"))
            .and(path("/bug"))
            .respond_with(Sequence { statuses: statuses.to_vec(), calls: calls.clone() })
            .mount(&server)
            .await;
        (server, calls)
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_an_answer_comes() {
        let (server, calls) = server(&[503, 502, 200]).await;
        let client = client(Duration::from_secs(5));

        let body: serde_json::Value =
            client.send_json(client.client().get(format!("{}/bug", server.uri()))).await.unwrap();

        assert_eq!(body["call"], 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn server_errors_on_every_attempt_fail_with_the_last_status() {
        let (server, calls) = server(&[500]).await;
        let client = client(Duration::from_secs(5));

        let error = client.send(client.client().get(format!("{}/bug?api_key=secret", server.uri()))).await.unwrap_err();

        assert!(matches!(error, HttpError::ServerError { status, attempts: 3, .. } if status == 500), "{error:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(!error.to_string().contains("secret"), "the query string is kept out of errors: {error}");
    }

    #[tokio::test]
    async fn client_errors_are_never_retried() {
        for status in [400, 401, 403, 404, 429] {
            let (server, calls) = server(&[status]).await;
            let client = client(Duration::from_secs(5));

            let error = client
                .send_json::<serde_json::Value>(client.client().get(format!("{}/bug", server.uri())))
                .await
                .unwrap_err();

            assert!(matches!(error, HttpError::ClientError { .. }), "{status}: {error:?}");
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{status} was retried");
        }
    }

    #[tokio::test]
    async fn timeouts_are_retried_then_reported() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .expect(3)
            .mount(&server)
            .await;
        let client = client(Duration::from_millis(200));

        let error = client.send(client.client().get(format!("{}/slow", server.uri()))).await.unwrap_err();

        assert!(
            matches!(error, HttpError::Transport { attempts: 3, ref source, .. } if source.is_timeout()),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_then_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let client = client(Duration::from_secs(1));

        let error = client.send(client.client().get(format!("http://{address}/"))).await.unwrap_err();

        assert!(
            matches!(error, HttpError::Transport { attempts: 3, ref source, .. } if source.is_connect()),
            "{error:?}"
        );
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_stays_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first), "{first:?}");
            let third = policy.backoff(3);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third), "{third:?}");
            let capped = policy.backoff(30);
            assert!((Duration::from_millis(500)..=Duration::from_secs(1)).contains(&capped), "{capped:?}");
        }
    }

    #[tokio::test]
    async fn a_limited_json_answer_is_read_whole_up_to_its_limit_and_refused_past_it() {
        let server = MockServer::start().await;
        Mock::given(path("/small"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"files": ["a.c"]})))
            .mount(&server)
            .await;
        Mock::given(path("/large"))
            .respond_with(ResponseTemplate::new(200).set_body_string(format!("[\"{}\"]", "x".repeat(4096))))
            .mount(&server)
            .await;
        Mock::given(path("/broken"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{\"files\": [1"))
            .mount(&server)
            .await;
        let client = client(Duration::from_secs(5));
        let get = |page: &str| client.client().get(format!("{}/{page}", server.uri()));
        let small: serde_json::Value = client.send_json_limited(get("small"), 1024).await.unwrap();
        assert_eq!(small["files"][0], "a.c");
        let large = client.send_json_limited::<serde_json::Value>(get("large"), 1024).await.unwrap_err();
        assert!(matches!(large, HttpError::TooLarge { limit: 1024, .. }), "{large}");
        let broken = client.send_json_limited::<serde_json::Value>(get("broken"), 1024).await.unwrap_err();
        assert!(matches!(broken, HttpError::Malformed { .. }), "{broken}");
    }
}
