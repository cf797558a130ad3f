//! The risk routes of the API client, and the coverage read the risk bot adds to its assessments.

use reqwest::Method;

use super::{ApiClient, ApiClientError, decode};
use crate::api_types::coverage::{PathCoverage, PathQuery};
use crate::api_types::risk::{
    AssessmentPage, AssessmentQuery, AssessmentUpload, AssessmentUploadResult, RevisionAssessments, RevisionQuery,
    RiskModel,
};

impl ApiClient {
    /// Records assessments (`POST /risk/assessments`); the same upload again changes nothing.
    pub async fn upload_risk_assessments(
        &self,
        upload: &AssessmentUpload,
    ) -> Result<AssessmentUploadResult, ApiClientError> {
        self.call(Method::POST, "risk/assessments", Some(upload)).await
    }

    /// A revision's assessments (`GET /risk/revisions/{rev}`).
    pub async fn risk_revision(&self, revision: &str, repository: &str) -> Result<RevisionAssessments, ApiClientError> {
        let url = self.url(&format!("risk/revisions/{revision}"))?;
        let query = RevisionQuery { repository: repository.to_owned() };
        let request = self.authorized(self.http.client().get(url).query(&query));
        decode(self.http.send(request).await?).await
    }

    /// A page of assessments, riskiest first (`GET /risk/assessments`).
    pub async fn risk_assessments(&self, query: &AssessmentQuery) -> Result<AssessmentPage, ApiClientError> {
        let url = self.url("risk/assessments")?;
        let request = self.authorized(self.http.client().get(url).query(query));
        decode(self.http.send(request).await?).await
    }

    /// The model versions with their evaluation (`GET /risk/models`).
    pub async fn risk_models(&self) -> Result<Vec<RiskModel>, ApiClientError> {
        self.call::<(), _>(Method::GET, "risk/models", None).await
    }

    /// A file's per-line coverage at a changeset (`GET /coverage/path`); `None` when the API
    /// has no report for it, or no such file in the report.
    pub async fn coverage_file(&self, query: &PathQuery) -> Result<Option<PathCoverage>, ApiClientError> {
        let url = self.url("coverage/path")?;
        let request = self.authorized(self.http.client().get(url).query(query));
        match decode(self.http.send(request).await?).await {
            Ok(coverage) => Ok(Some(coverage)),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }
}
