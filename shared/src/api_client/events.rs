//! The event routes of the API client: claiming an event before acting on it, confirming it once
//! acted on, and reading what was handled.

use reqwest::{Method, StatusCode};

use super::{ApiClient, ApiClientError, decode};
use crate::api_types::events::{ClaimedEvent, EventClaim, EventRecord, HandledCount, HandledEvents};

/// What a claim got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The event is ours, and this run was opened for it.
    Granted { run_id: i64 },
    /// The event was handled before, by this run when it started one.
    Handled { run_id: Option<i64> },
    /// Another claim of the event is pending: try again later.
    Busy,
}

impl ApiClient {
    /// The record of an event (`GET /events/{source}/{key}`), or `None` when it was never
    /// claimed.
    pub async fn event(&self, source: &str, key: &str) -> Result<Option<EventRecord>, ApiClientError> {
        match self.call::<(), EventRecord>(Method::GET, &format!("events/{source}/{key}"), None).await {
            Ok(record) => Ok(Some(record)),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Claims an event and opens its run in one step (`POST /events/{source}/{key}/claim`).
    pub async fn claim_event(&self, source: &str, key: &str, claim: &EventClaim) -> Result<Claim, ApiClientError> {
        let url = self.url(&format!("events/{source}/{key}/claim"))?;
        let response = self.http.send(self.authorized(self.http.client().post(url).json(claim))).await?;
        let granted = response.status() == StatusCode::CREATED;
        match decode::<ClaimedEvent>(response).await {
            Ok(ClaimedEvent { run_id }) if !granted => Ok(Claim::Handled { run_id }),
            Ok(ClaimedEvent { run_id: Some(run_id) }) => Ok(Claim::Granted { run_id }),
            Ok(ClaimedEvent { run_id: None }) => Err(ApiClientError::Unexpected {
                status: StatusCode::CREATED,
                body: "a granted claim without its run".to_owned(),
            }),
            Err(error) if error.status() == Some(409) => Ok(Claim::Busy),
            Err(error) => Err(error),
        }
    }

    /// Confirms claimed events whose bots started (`POST /events/handled`).
    pub async fn events_handled(&self, events: &HandledEvents) -> Result<HandledCount, ApiClientError> {
        self.call(Method::POST, "events/handled", Some(events)).await
    }
}
