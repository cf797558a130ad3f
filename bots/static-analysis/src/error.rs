//! The library's one error type.

use std::path::PathBuf;

/// Why an analysis could not be done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An analyzer needed for the touched files is not installed.
    #[error(
        "{analyzer} is needed for {files} touched file(s) but `{program}` is not installed: apt-get install {package}"
    )]
    MissingAnalyzer { analyzer: String, program: String, package: String, files: usize },
    /// The repository cannot be opened, or a revision does not exist in it.
    #[error("git: {context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    /// The patch is not a unified diff, or does not apply on the base revision.
    #[error("the patch does not apply on {base}: {detail}")]
    PatchDoesNotApply { base: String, detail: String },
    /// The repository could not be cloned or fetched from its URL.
    #[error(transparent)]
    Fetch(#[from] shipit_shared::repository_cache::RepositoryCacheError),
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Phabricator refused a call or answered something unexpected.
    #[error("phabricator {method}: {detail}")]
    Phabricator { method: String, detail: String },
    /// The ShipIt API refused the results.
    #[error("the ShipIt API: {0}")]
    Api(#[from] shipit_shared::api_client::ApiClientError),
    /// An upstream HTTP service failed.
    #[error(transparent)]
    Http(#[from] shipit_shared::http::HttpError),
}

impl Error {
    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Self {
        let context = context.into();
        move |source| Self::Git { context, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
