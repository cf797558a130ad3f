//! The Taskcluster calls of a coverage run: the Index (build task of a revision), the Queue (task
//! definitions, task-group pages with continuation tokens) and artifact downloads. These are
//! public reads, so plain HTTP through the retrying upstream client is enough; the official
//! `taskcluster` crate would add Hawk signing and a second HTTP stack for nothing.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use shipit_shared::http::{HttpError, UpstreamClient, error_for_client_status};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::error::CoverageError;

/// A task's definition, as far as the coverage run reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub task_group_id: String,
    pub metadata: TaskMetadata,
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// A task's name.
#[derive(Clone, Debug, Deserialize)]
pub struct TaskMetadata {
    pub name: String,
}

/// A task of a task group, with its state.
#[derive(Clone, Debug, Deserialize)]
pub struct GroupTask {
    pub status: TaskStatus,
    pub task: TaskDefinition,
}

/// A task's state: `completed`, `failed`, `exception`, `running`, `pending` or `unscheduled`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub task_id: String,
    pub state: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexedTask {
    task_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskGroupPage {
    tasks: Vec<GroupTask>,
    continuation_token: Option<String>,
}

/// What became of an artifact download.
#[derive(Debug, PartialEq, Eq)]
pub enum Download {
    /// Downloaded now.
    Fetched(PathBuf),
    /// Already in the cache from an earlier run.
    Cached(PathBuf),
    /// The task has no such artifact.
    Missing,
}

/// A client of one Taskcluster deployment.
#[derive(Clone, Debug)]
pub struct Taskcluster {
    root_url: Url,
    http: UpstreamClient,
}

impl Taskcluster {
    /// The deployment at `root_url` (e.g. `https://firefox-ci-tc.services.mozilla.com/`).
    pub fn new(root_url: Url, http: UpstreamClient) -> Self {
        Self { root_url, http }
    }

    fn url(&self, path: &str) -> Result<Url, CoverageError> {
        Ok(self.root_url.join(path)?)
    }

    /// The task indexed at `route`, or `None` when nothing is indexed there.
    pub async fn find_indexed_task(&self, route: &str) -> Result<Option<String>, CoverageError> {
        let response = self.http.send(self.http.client().get(self.url(&format!("api/index/v1/task/{route}"))?)).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let url = response.url().to_string();
        let response = error_for_client_status(response).await?;
        let task: IndexedTask = response.json().await.map_err(|source| HttpError::Decode { url, source })?;
        Ok(Some(task.task_id))
    }

    /// A task's definition.
    pub async fn task(&self, task_id: &str) -> Result<TaskDefinition, CoverageError> {
        Ok(self.http.send_json(self.http.client().get(self.url(&format!("api/queue/v1/task/{task_id}"))?)).await?)
    }

    /// Every task of a group, following continuation tokens.
    pub async fn task_group(&self, group_id: &str) -> Result<Vec<GroupTask>, CoverageError> {
        let url = self.url(&format!("api/queue/v1/task-group/{group_id}/list"))?;
        let mut tasks = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let mut request = self.http.client().get(url.clone());
            if let Some(token) = &continuation {
                request = request.query(&[("continuationToken", token)]);
            }
            let page: TaskGroupPage = self.http.send_json(request).await?;
            tasks.extend(page.tasks);
            match page.continuation_token.filter(|token| !token.is_empty()) {
                Some(token) => continuation = Some(token),
                None => return Ok(tasks),
            }
        }
    }

    /// Downloads an artifact into `cache_dir/<task id>/<artifact file name>`, unless an earlier
    /// run did. The file appears under its name only once complete, so an interrupted download
    /// is fetched again, never used half-written.
    pub async fn download_artifact(
        &self,
        task_id: &str,
        name: &str,
        cache_dir: &Path,
    ) -> Result<Download, CoverageError> {
        let file_name = name.rsplit('/').next().unwrap_or(name);
        let directory = cache_dir.join(task_id);
        let path = directory.join(file_name);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(Download::Cached(path));
        }
        let url = self.url(&format!("api/queue/v1/task/{task_id}/artifacts/{name}"))?;
        let response = self.http.send(self.http.client().get(url)).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Download::Missing);
        }
        let url = response.url().to_string();
        let mut response = error_for_client_status(response).await?;
        let save_error = |source| CoverageError::Save { path: path.clone(), source };
        tokio::fs::create_dir_all(&directory).await.map_err(save_error)?;
        // Streamed to disk: artifacts are tens of megabytes and several download at once.
        let partial = directory.join(format!("{file_name}.part"));
        let mut file = tokio::fs::File::create(&partial).await.map_err(save_error)?;
        while let Some(chunk) =
            response.chunk().await.map_err(|source| HttpError::Transport { url: url.clone(), attempts: 1, source })?
        {
            file.write_all(&chunk).await.map_err(save_error)?;
        }
        file.flush().await.map_err(save_error)?;
        tokio::fs::rename(&partial, &path).await.map_err(save_error)?;
        Ok(Download::Fetched(path))
    }
}
