//! The event routes of the API client: what an event-driven bot has already handled.

use reqwest::{Method, StatusCode};

use super::{ApiClient, ApiClientError, decode};
use crate::api_types::events::{EventRecord, NewEvent};

impl ApiClient {
    /// The record of a handled event (`GET /events/{source}/{key}`), or `None` when it was
    /// never recorded.
    pub async fn event(&self, source: &str, key: &str) -> Result<Option<EventRecord>, ApiClientError> {
        match self.call::<(), EventRecord>(Method::GET, &format!("events/{source}/{key}"), None).await {
            Ok(record) => Ok(Some(record)),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Records a handled event (`PUT /events/{source}/{key}`). Returns the stored record and
    /// whether this call created it; recording it again keeps the first record.
    pub async fn record_event(
        &self,
        source: &str,
        key: &str,
        event: &NewEvent,
    ) -> Result<(EventRecord, bool), ApiClientError> {
        let url = self.url(&format!("events/{source}/{key}"))?;
        let request = self.authorized(self.http.client().put(url).json(event));
        let response = self.http.send(request).await?;
        let created = response.status() == StatusCode::CREATED;
        Ok((decode(response).await?, created))
    }
}
