//! The repository cache of a bot's hook task: a bare clone of a remote repository made on first
//! use and fetched on every run after, so that the revisions a bot needs are there before it
//! works. The git command line does the network part: the bots' libgit2 is built without
//! transports (and a full checkout needs every blob, so no partial clone either).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why the cache could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryCacheError {
    /// git could not clone or fetch the repository.
    #[error("cannot fetch {url}: {detail}")]
    Fetch { url: String, detail: String },
    /// The cache directory could not be prepared.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

type Error = RepositoryCacheError;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io { path, source }
}

/// Makes `directory` a copy of the repository at `url`: cloned (bare) when it does not exist
/// or is empty, fetched otherwise. A clone is made beside `directory` and renamed into place,
/// so a clone that fails halfway leaves nothing behind.
pub fn update(url: &str, directory: &Path) -> Result<(), Error> {
    let refused = |detail: String| Error::Fetch { url: url.to_owned(), detail };
    if url.is_empty() || url.starts_with('-') {
        return Err(refused("not a repository URL".to_owned()));
    }
    if !crate::programs::is_installed("git") {
        return Err(refused("`git` is not installed: apt-get install git".to_owned()));
    }
    let exists = directory.exists();
    let empty = exists && std::fs::read_dir(directory).map_err(io_error(directory))?.next().is_none();
    if !exists || empty {
        return clone(url, directory);
    }
    // `rev-parse` would find a repository above `directory`: only its own git directory counts.
    let not_a_repository = || refused(format!("{} exists and is not a git repository", directory.display()));
    let own = directory.canonicalize().map_err(io_error(directory))?;
    let git_dir = git_output(Command::new("git").arg("-C").arg(directory).args(["rev-parse", "--absolute-git-dir"]))
        .map_err(|_| not_a_repository())?;
    let git_dir = Path::new(git_dir.trim());
    // A bare cache mirrors the branches; a working repository keeps its own and gets the
    // remote's as remote-tracking branches, never touching its checked-out branch.
    let refspec = if git_dir == own {
        "+refs/heads/*:refs/heads/*"
    } else if git_dir == own.join(".git") {
        "+refs/heads/*:refs/remotes/origin/*"
    } else {
        return Err(not_a_repository());
    };
    let started = std::time::Instant::now();
    git(Command::new("git")
        .arg("-C")
        .arg(directory)
        .args(["fetch", "--quiet", "--prune", "--tags", "--force", "--"])
        .arg(url)
        .arg(refspec))
    .map_err(refused)?;
    tracing::info!(url, directory = %directory.display(), duration_ms = started.elapsed().as_millis() as u64, "repository fetched");
    Ok(())
}

fn clone(url: &str, directory: &Path) -> Result<(), Error> {
    let refused = |detail: String| Error::Fetch { url: url.to_owned(), detail };
    let parent = match directory.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    let staging = tempfile::Builder::new().prefix(".clone-").tempdir_in(parent).map_err(io_error(parent))?;
    let target = staging.path().join("repository");
    let started = std::time::Instant::now();
    git(Command::new("git").args(["clone", "--bare", "--quiet", "--"]).arg(url).arg(&target)).map_err(refused)?;
    if directory.exists() {
        // Empty, as checked: rename cannot replace a directory on every platform.
        std::fs::remove_dir(directory).map_err(io_error(directory))?;
    }
    std::fs::rename(&target, directory).map_err(io_error(directory))?;
    tracing::info!(url, directory = %directory.display(), duration_ms = started.elapsed().as_millis() as u64, "repository cloned");
    Ok(())
}

/// Runs a git command without a terminal to prompt on, and returns its error output on failure.
fn git(command: &mut Command) -> Result<(), String> {
    git_output(command).map(drop)
}

/// Runs a git command like [`git`] and returns its standard output.
fn git_output(command: &mut Command) -> Result<String, String> {
    let output = command
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot start git: {error}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!("git {}: {}", output.status, stderr.trim()))
}
