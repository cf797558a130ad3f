//! The static-analysis routes of the API client.

use reqwest::Method;

use super::{ApiClient, ApiClientError, decode};
use crate::api_types::static_analysis::{
    CheckStats, CheckStatsQuery, DiffIssues, IssueBatch, IssueBatchResult, KnownIssues, KnownIssuesQuery,
    RevisionSummary,
};

impl ApiClient {
    /// Records the issues found on a diff (`POST /static-analysis/diffs/{id}/issues`); sending
    /// the same issues again changes nothing.
    pub async fn post_static_analysis_issues(
        &self,
        diff_id: i64,
        batch: &IssueBatch,
    ) -> Result<IssueBatchResult, ApiClientError> {
        self.call(Method::POST, &format!("static-analysis/diffs/{diff_id}/issues"), Some(batch)).await
    }

    /// The issues recorded on a diff (`GET /static-analysis/diffs/{id}/issues`).
    pub async fn static_analysis_issues(&self, diff_id: i64) -> Result<DiffIssues, ApiClientError> {
        self.call::<(), _>(Method::GET, &format!("static-analysis/diffs/{diff_id}/issues"), None).await
    }

    /// A revision's diffs and their issue counts (`GET /static-analysis/revisions/{id}`).
    pub async fn static_analysis_revision(&self, revision_id: i64) -> Result<RevisionSummary, ApiClientError> {
        self.call::<(), _>(Method::GET, &format!("static-analysis/revisions/{revision_id}"), None).await
    }

    /// Issue counts per analyzer, check and day (`GET /static-analysis/checks`).
    pub async fn static_analysis_checks(&self, query: &CheckStatsQuery) -> Result<CheckStats, ApiClientError> {
        let url = self.url("static-analysis/checks")?;
        let request = self.authorized(self.http.client().get(url).query(query));
        decode(self.http.send(request).await?).await
    }

    /// Issues already present in a repository (`GET /static-analysis/issues/known`).
    pub async fn static_analysis_known_issues(&self, query: &KnownIssuesQuery) -> Result<KnownIssues, ApiClientError> {
        let url = self.url("static-analysis/issues/known")?;
        let request = self.authorized(self.http.client().get(url).query(query));
        decode(self.http.send(request).await?).await
    }
}
