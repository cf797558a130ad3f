//! The event routes of the API client: claiming an event before acting on it, confirming it once
//! acted on, and reading what was handled.

use reqwest::{Method, StatusCode};

use super::{ApiClient, ApiClientError};
use crate::api_types::events::{ClaimOutcome, ClaimOutcomes, EventClaims, EventRecord, HandledCount, HandledEvents};

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

    /// Claims events and opens their runs, in one step (`POST /events/claims`): one outcome per
    /// claim, in order.
    pub async fn claim_events(&self, claims: &EventClaims) -> Result<Vec<ClaimOutcome>, ApiClientError> {
        let outcomes: ClaimOutcomes = self.call(Method::POST, "events/claims", Some(claims)).await?;
        if outcomes.outcomes.len() != claims.claims.len() {
            return Err(ApiClientError::Unexpected {
                status: StatusCode::OK,
                body: format!("{} outcomes for {} claims", outcomes.outcomes.len(), claims.claims.len()),
            });
        }
        Ok(outcomes.outcomes)
    }

    /// Confirms claimed events whose bots started (`POST /events/handled`).
    pub async fn events_handled(&self, events: &HandledEvents) -> Result<HandledCount, ApiClientError> {
        self.call(Method::POST, "events/handled", Some(events)).await
    }
}
