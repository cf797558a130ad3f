//! Coverage calls of the API client.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};

use super::{ApiClient, ApiClientError, decode};
use crate::api_types::coverage::{CoverageReport, CoverageUpload};

impl ApiClient {
    /// Uploads a coverage report (`POST /coverage/reports`), gzip-compressed: a mozilla-central
    /// report is tens of megabytes of JSON and compresses about tenfold.
    pub async fn upload_coverage(&self, upload: &CoverageUpload) -> Result<CoverageReport, ApiClientError> {
        let json = serde_json::to_vec(upload).map_err(|error| ApiClientError::Encode(error.to_string()))?;
        let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::fast());
        let body = encoder
            .write_all(&json)
            .and_then(|()| encoder.finish())
            .map_err(|error| ApiClientError::Encode(error.to_string()))?;
        let request = self
            .http
            .client()
            .post(self.url("coverage/reports")?)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(body);
        decode(self.http.send(self.authorized(request)).await?).await
    }
}
