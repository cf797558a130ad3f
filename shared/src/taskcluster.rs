//! The few Taskcluster calls ShipIt makes (trigger a hook, read every page of a task group,
//! cancel a task), Hawk-signed where Taskcluster wants credentials.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::http::{HttpError, UpstreamClient};

/// Most pages of one task group read for one status (1,000 tasks a page).
pub const MAX_TASK_GROUP_PAGES: usize = 100;

/// A Taskcluster client's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub client_id: String,
    pub access_token: SecretString,
}

/// Why a Taskcluster call failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskclusterError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A URL or a signature could not be made.
    #[error("cannot sign the request to {url}: {reason}")]
    Sign { url: String, reason: String },
    /// Taskcluster answered, but not what its API documents.
    #[error("unexpected answer from Taskcluster: {0}")]
    Unexpected(String),
}

impl TaskclusterError {
    /// Whether trying again later may succeed (5xx, timeouts, no connection).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Http(HttpError::ServerError { .. } | HttpError::Transport { .. }))
    }
}

/// The `Authorization` header of a Hawk-signed request, as Taskcluster checks it.
pub fn hawk_header(method: &str, url: &Url, credentials: &Credentials) -> Result<String, TaskclusterError> {
    let sign_error = |reason: String| TaskclusterError::Sign { url: url.to_string(), reason };
    let key = hawk::Key::new(credentials.access_token.expose_secret().as_bytes(), hawk::DigestAlgorithm::Sha256)
        .map_err(|error| sign_error(format!("bad access token: {error}")))?;
    let credentials = hawk::Credentials { id: credentials.client_id.clone(), key };
    let request = hawk::RequestBuilder::from_url(method, url).map_err(|error| sign_error(error.to_string()))?.request();
    let header = request.make_header(&credentials).map_err(|error| sign_error(error.to_string()))?;
    Ok(format!("Hawk {header}"))
}

/// One task of a `listTaskGroup` page: only what ShipIt reads.
#[derive(Clone, Debug, Deserialize)]
pub struct GroupTask {
    pub status: GroupTaskStatus,
}

/// A task's status in a `listTaskGroup` page.
#[derive(Clone, Debug, Deserialize)]
pub struct GroupTaskStatus {
    #[serde(rename = "taskId")]
    pub task_id: String,
    /// `unscheduled`, `pending`, `running`, `completed`, `failed` or `exception`; absent in a
    /// malformed answer.
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GroupPage {
    tasks: Vec<GroupTask>,
    #[serde(default, rename = "continuationToken")]
    continuation_token: Option<String>,
}

/// A Taskcluster deployment and, to change anything, credentials.
#[derive(Clone, Debug)]
pub struct Taskcluster {
    pub root_url: Url,
    pub credentials: Option<Credentials>,
    pub http: UpstreamClient,
}

impl Taskcluster {
    fn url(&self, path: &str) -> Result<Url, TaskclusterError> {
        self.root_url
            .join(path)
            .map_err(|error| TaskclusterError::Sign { url: path.to_owned(), reason: error.to_string() })
    }

    fn sign(&self, method: &str, url: &Url) -> Result<String, TaskclusterError> {
        let credentials = self.credentials.as_ref().ok_or_else(|| TaskclusterError::Sign {
            url: url.to_string(),
            reason: "no Taskcluster credentials are configured".to_owned(),
        })?;
        hawk_header(method, url, credentials)
    }

    /// `triggerHook`: starts the hook's task with `payload` and answers its task id (the task
    /// group a decision task creates has the same id).
    pub async fn trigger_hook(&self, group: &str, hook: &str, payload: &Value) -> Result<String, TaskclusterError> {
        let url = self.url(&format!("api/hooks/v1/hooks/{group}/{hook}/trigger"))?;
        let authorization = self.sign("POST", &url)?;
        let request = self.http.client().post(url).header(reqwest::header::AUTHORIZATION, authorization).json(payload);
        let answer: Value = self.http.send_json(request).await?;
        answer
            .get("status")
            .and_then(|status| status.get("taskId"))
            .or_else(|| answer.get("taskId"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| TaskclusterError::Unexpected(format!("no taskId in the trigger's answer: {answer:.200}")))
    }

    /// Every task of a group, reading every page (`continuationToken`), at most
    /// [`MAX_TASK_GROUP_PAGES`] pages.
    pub async fn task_group(&self, task_group_id: &str) -> Result<Vec<GroupTask>, TaskclusterError> {
        let url = self.url(&format!("api/queue/v1/task-group/{task_group_id}/list"))?;
        let mut tasks = Vec::new();
        let mut continuation: Option<String> = None;
        for _ in 0..MAX_TASK_GROUP_PAGES {
            let mut request = self.http.client().get(url.clone()).query(&[("limit", "1000")]);
            if let Some(token) = &continuation {
                request = request.query(&[("continuationToken", token)]);
            }
            let page: GroupPage = self.http.send_json(request).await?;
            tasks.extend(page.tasks);
            match page.continuation_token.filter(|token| !token.is_empty()) {
                Some(token) => continuation = Some(token),
                None => return Ok(tasks),
            }
        }
        Err(TaskclusterError::Unexpected(format!(
            "task group {task_group_id} has more than {MAX_TASK_GROUP_PAGES} pages of tasks"
        )))
    }

    /// `cancelTask`.
    pub async fn cancel_task(&self, task_id: &str) -> Result<(), TaskclusterError> {
        if !crate::api_types::pipelines::is_slug_id(task_id) {
            return Err(TaskclusterError::Unexpected(format!("{task_id:?} is not a task id")));
        }
        let url = self.url(&format!("api/queue/v1/task/{task_id}/cancel"))?;
        let authorization = self.sign("POST", &url)?;
        let request = self.http.client().post(url).header(reqwest::header::AUTHORIZATION, authorization);
        let _: Value = self.http.send_json(request).await?;
        Ok(())
    }
}
