//! The library's error type.

use std::sync::Arc;

use shipit_shared::api_client::ApiClientError;
use shipit_shared::http::HttpError;

/// Why the listener could not do something.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// A message is not what its exchange publishes: not JSON, or a field is missing.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message reached a queue whose rule does not handle its exchange.
    #[error("no rule handles exchange `{exchange}` (routing key `{routing_key}`)")]
    Unroutable { exchange: String, routing_key: String },
    /// An upstream (the Taskcluster Queue, the pushlog) refused or could not be reached.
    #[error("upstream lookup failed: {0}")]
    Upstream(#[from] HttpError),
    /// The ShipIt API refused or could not be reached; shared by the messages of a batched call.
    #[error("ShipIt API call failed: {0}")]
    Api(#[source] Arc<ApiClientError>),
    /// Another claim of the event is pending: its handler may still start the bot.
    #[error("event `{0}` is being handled elsewhere")]
    Busy(String),
    /// Starting the bot failed; `transient` when trying again later may succeed.
    #[error("cannot trigger {bot}: {message}")]
    Trigger { bot: String, message: String, transient: bool },
    /// The broker refused or was lost.
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The health server could not start.
    #[error("cannot serve health and metrics: {0}")]
    Health(#[source] std::io::Error),
}

impl ListenerError {
    /// Whether handling the message again later may succeed: an outage rather than a message
    /// or a request that will always be refused.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Upstream(error) => is_transient_http(error),
            Self::Api(error) => match &**error {
                ApiClientError::Http(error) => is_transient_http(error),
                error => error.status().is_none_or(|status| status >= 500 || status == 429),
            },
            Self::Trigger { transient, .. } => *transient,
            Self::Busy(_) | Self::Broker(_) => true,
            Self::Malformed(_) | Self::Unroutable { .. } | Self::Config(_) | Self::Health(_) => false,
        }
    }

    /// A short, low-cardinality name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Unroutable { .. } => "unroutable",
            Self::Upstream(_) => "upstream",
            Self::Api(_) => "api",
            Self::Busy(_) => "busy",
            Self::Trigger { .. } => "trigger",
            Self::Broker(_) => "broker",
            Self::Config(_) => "config",
            Self::Health(_) => "health",
        }
    }
}

impl From<ApiClientError> for ListenerError {
    fn from(error: ApiClientError) -> Self {
        Self::Api(Arc::new(error))
    }
}

fn is_transient_http(error: &HttpError) -> bool {
    match error {
        HttpError::ServerError { .. } | HttpError::Transport { .. } => true,
        HttpError::ClientError { status, .. } => status.as_u16() == 429,
        HttpError::Build(_) | HttpError::Decode { .. } | HttpError::TooLarge { .. } | HttpError::Malformed { .. } => {
            false
        }
    }
}
