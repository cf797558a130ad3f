//! The library's one error type.

/// Why a step of the risk bot failed.
#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    /// The repository cannot be read, or a revision is not in it.
    #[error("git: {context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    /// A file cannot be read or written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An input file (labels, a model) is not what it should be.
    #[error("{0}")]
    Invalid(String),
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Too little data to train or evaluate.
    #[error("cannot train: {0}")]
    Training(String),
    /// Bugzilla answered something that is not what its API documents.
    #[error("bugzilla {request}: {detail}")]
    Bugzilla { request: String, detail: String },
    /// The repository could not be cloned or fetched into its cache.
    #[error(transparent)]
    RepositoryCache(#[from] shipit_shared::repository_cache::RepositoryCacheError),
    /// The ShipIt API refused the results.
    #[error("the ShipIt API: {0}")]
    Api(#[from] shipit_shared::api_client::ApiClientError),
    /// The ShipIt API is needed and not configured.
    #[error(transparent)]
    ApiNotConfigured(#[from] shipit_shared::bot::ApiNotConfigured),
    /// An upstream HTTP service failed.
    #[error(transparent)]
    Http(#[from] shipit_shared::http::HttpError),
    /// A blocking task panicked or was cancelled.
    #[error("{0}")]
    Task(String),
}

impl RiskError {
    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Self {
        let context = context.into();
        move |source| Self::Git { context, source }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
