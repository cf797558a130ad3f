//! The library's single error type: of the merge, of Taskcluster and of the coverage run.

use std::io;
use std::path::PathBuf;

/// Everything that can make a merge or a coverage run fail. Each variant names the input it is
/// about, so that a failure in a run over hundreds of artifacts points at the one to look at.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    #[error("input not found: {}", .0.display())]
    NotFound(PathBuf),
    #[error("cannot read {input}: {source}")]
    Io {
        input: String,
        #[source]
        source: io::Error,
    },
    #[error("{input} is not a readable zip archive: {source}")]
    Zip {
        input: String,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("{input} is not an lcov tracefile: {reason}")]
    NotLcov { input: String, reason: String },
    #[error("{input}:{line}: malformed record: {message}")]
    Malformed { input: String, line: u64, message: String },
    #[error("invalid prefix map {0:?}: expected FROM=TO with a non-empty FROM")]
    InvalidPrefixMap(String),
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
    /// A setting of the coverage run is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The push has no coverage build, or none that can be found.
    #[error("{0}")]
    NoBuild(String),
    /// A downloaded artifact could not be saved into the cache.
    #[error("cannot save {}: {source}", .path.display())]
    Save {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A Taskcluster URL could not be made from the root URL.
    #[error("bad Taskcluster URL: {0}")]
    TaskclusterUrl(#[from] url::ParseError),
    /// An upstream service (Taskcluster, the pushlog) failed.
    #[error(transparent)]
    Upstream(#[from] shipit_shared::http::HttpError),
    /// The ShipIt API refused or failed.
    #[error(transparent)]
    Api(#[from] shipit_shared::api_client::ApiClientError),
    /// The ShipIt API is not configured.
    #[error(transparent)]
    NoApi(#[from] shipit_shared::bot::ApiNotConfigured),
}
