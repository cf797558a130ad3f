//! The library's one error type.

/// Why a step of the bot failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository cannot be opened, or a revision does not exist in it.
    #[error("git: {context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    /// git could not say whether the commit applies (it is missing or too old, it failed or timed
    /// out): no verdict, rather than a guess.
    #[error("cannot decide whether {commit} applies: {reason}")]
    Undecided { commit: String, reason: String },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Bugzilla answered something that is not what its API documents.
    #[error("bugzilla {request}: {detail}")]
    Bugzilla {
        request: String,
        /// Bugzilla's error code, when it sent one (101: no such bug, 51: no such user).
        code: Option<i64>,
        detail: String,
    },
    /// The repository could not be cloned or fetched into its cache.
    #[error(transparent)]
    RepositoryCache(#[from] shipit_shared::repository_cache::RepositoryCacheError),
    /// A worker thread panicked.
    #[error("{0} panicked")]
    Panicked(String),
    /// The ShipIt API refused the results.
    #[error("the ShipIt API: {0}")]
    Api(#[from] shipit_shared::api_client::ApiClientError),
    /// An upstream HTTP service failed.
    #[error(transparent)]
    Http(#[from] shipit_shared::http::HttpError),
}

impl Error {
    /// Bugzilla does not know a user that was asked for (error 51).
    pub fn is_unknown_user(&self) -> bool {
        matches!(self, Self::Bugzilla { code: Some(51), .. })
    }

    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Self {
        let context = context.into();
        move |source| Self::Git { context, source }
    }
}
