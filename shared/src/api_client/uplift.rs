//! The uplift routes of the API client.

use reqwest::{Method, StatusCode};

use super::{ApiClient, ApiClientError, decode};
use crate::api_types::uplift::{
    Bug, BugSummary, BugUpsert, BugUpsertResult, Channel, ChannelUpdate, Contributor, ContributorUpdate, Graft,
    NewGraft,
};

impl ApiClient {
    /// Declares a channel's branch and version (`PUT /uplift/channels/{channel}`).
    pub async fn put_uplift_channel(&self, channel: &str, update: &ChannelUpdate) -> Result<Channel, ApiClientError> {
        self.call(Method::PUT, &format!("uplift/channels/{channel}"), Some(update)).await
    }

    /// The channels and their pending bug counts (`GET /uplift/channels`).
    pub async fn uplift_channels(&self) -> Result<Vec<Channel>, ApiClientError> {
        self.call::<(), _>(Method::GET, "uplift/channels", None).await
    }

    /// Every stored bug, without its analysis (`GET /uplift/bugs`).
    pub async fn uplift_bugs(&self) -> Result<Vec<BugSummary>, ApiClientError> {
        self.call::<(), _>(Method::GET, "uplift/bugs", None).await
    }

    /// One bug with its analysis, contributors and latest grafts (`GET /uplift/bugs/{id}`).
    pub async fn uplift_bug(&self, bugzilla_id: i64) -> Result<Bug, ApiClientError> {
        self.call::<(), _>(Method::GET, &format!("uplift/bugs/{bugzilla_id}"), None).await
    }

    /// Stores a bug's analysis (`POST /uplift/bugs`); its grafts are kept.
    pub async fn upsert_uplift_bug(&self, bug: &BugUpsert) -> Result<BugUpsertResult, ApiClientError> {
        self.call(Method::POST, "uplift/bugs", Some(bug)).await
    }

    /// Removes a bug that has no pending request any more (`DELETE /uplift/bugs/{id}`).
    /// Answers false when the API did not know it.
    pub async fn delete_uplift_bug(&self, bugzilla_id: i64) -> Result<bool, ApiClientError> {
        let url = self.url(&format!("uplift/bugs/{bugzilla_id}"))?;
        let response = self.http.send(self.authorized(self.http.client().delete(url))).await?;
        match response.status() {
            StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => decode::<serde_json::Value>(response).await.map(|_| true),
        }
    }

    /// A bug's grafts, newest first (`GET /uplift/bugs/{id}/grafts`).
    pub async fn uplift_grafts(&self, bugzilla_id: i64) -> Result<Vec<Graft>, ApiClientError> {
        self.call::<(), _>(Method::GET, &format!("uplift/bugs/{bugzilla_id}/grafts"), None).await
    }

    /// Records a graft of a bug's patches onto a channel's branch (`POST /uplift/bugs/{id}/grafts`).
    pub async fn post_uplift_graft(&self, bugzilla_id: i64, graft: &NewGraft) -> Result<Graft, ApiClientError> {
        self.call(Method::POST, &format!("uplift/bugs/{bugzilla_id}/grafts"), Some(graft)).await
    }

    /// A contributor (`GET /uplift/contributors/{id}`).
    pub async fn uplift_contributor(&self, bugzilla_id: i64) -> Result<Contributor, ApiClientError> {
        self.call::<(), _>(Method::GET, &format!("uplift/contributors/{bugzilla_id}"), None).await
    }

    /// Changes a contributor's karma or comments (`PUT /uplift/contributors/{id}`, admin only).
    pub async fn put_uplift_contributor(
        &self,
        bugzilla_id: i64,
        update: &ContributorUpdate,
    ) -> Result<Contributor, ApiClientError> {
        self.call(Method::PUT, &format!("uplift/contributors/{bugzilla_id}"), Some(update)).await
    }
}
