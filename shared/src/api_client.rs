//! The typed client bots use to talk to the ShipIt API. Bots never open a database connection:
//! everything they record goes through here.

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::api_types::{NewRun, Problem, Run, RunFinish, RunPage, RunProgress, RunQuery};
use crate::http::{HttpError, UpstreamClient};

mod coverage;
pub mod events;
mod risk;
mod static_analysis;
mod uplift;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiClientError {
    /// The API could not be reached or kept failing.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The API refused the request and said why.
    #[error("the API answered {}: {}", .0.status, .0.detail)]
    Problem(Problem),
    /// The request could not be encoded.
    #[error("cannot encode the request: {0}")]
    Encode(String),
    /// The API answered something that is not what its contract says.
    #[error("unexpected answer from the API ({status}): {body}")]
    Unexpected { status: StatusCode, body: String },
}

impl ApiClientError {
    /// The HTTP status the API answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Problem(problem) => Some(problem.status),
            Self::Unexpected { status, .. } => Some(status.as_u16()),
            Self::Http(_) | Self::Encode(_) => None,
        }
    }
}

/// A client of the ShipIt API, with the bot's token when it has one.
#[derive(Clone, Debug)]
pub struct ApiClient {
    base_url: Url,
    token: Option<SecretString>,
    http: UpstreamClient,
}

impl ApiClient {
    /// A client of the API at `base_url` (e.g. `http://127.0.0.1:8000/`).
    pub fn new(base_url: Url, token: Option<SecretString>, http: UpstreamClient) -> Self {
        Self { base_url, token, http }
    }

    /// Opens a run (`POST /runs`).
    pub async fn open_run(&self, run: &NewRun) -> Result<Run, ApiClientError> {
        self.call(Method::POST, "runs", Some(run)).await
    }

    /// Reports progress of an open run (`PATCH /runs/{id}`).
    pub async fn report_progress(&self, id: i64, progress: &RunProgress) -> Result<Run, ApiClientError> {
        self.call(Method::PATCH, &format!("runs/{id}"), Some(progress)).await
    }

    /// Closes a run (`POST /runs/{id}/finish`).
    pub async fn finish_run(&self, id: i64, finish: &RunFinish) -> Result<Run, ApiClientError> {
        self.call(Method::POST, &format!("runs/{id}/finish"), Some(finish)).await
    }

    /// One run (`GET /runs/{id}`).
    pub async fn run(&self, id: i64) -> Result<Run, ApiClientError> {
        self.call::<(), _>(Method::GET, &format!("runs/{id}"), None).await
    }

    /// A page of runs, newest first (`GET /runs`).
    pub async fn runs(&self, query: &RunQuery) -> Result<RunPage, ApiClientError> {
        let url = self.url("runs")?;
        let request = self.authorized(self.http.client().get(url).query(query));
        decode(self.http.send(request).await?).await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ApiClientError> {
        let mut request = self.http.client().request(method, self.url(path)?);
        if let Some(body) = body {
            request = request.json(body);
        }
        decode(self.http.send(self.authorized(request)).await?).await
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    fn url(&self, path: &str) -> Result<Url, ApiClientError> {
        self.base_url.join(path).map_err(|error| ApiClientError::Unexpected {
            status: StatusCode::BAD_REQUEST,
            body: format!("cannot join {path} to {}: {error}", self.base_url),
        })
    }
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ApiClientError> {
    let status = response.status();
    let bytes =
        response.bytes().await.map_err(|source| HttpError::Transport { url: String::new(), attempts: 1, source })?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|error| ApiClientError::Unexpected { status, body: error.to_string() });
    }
    match serde_json::from_slice::<Problem>(&bytes) {
        Ok(problem) => Err(ApiClientError::Problem(problem)),
        Err(_) => Err(ApiClientError::Unexpected {
            status,
            body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
        }),
    }
}
