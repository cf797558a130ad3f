//! The repository cache of the hook's task: a bare clone of a remote repository made on first
//! use and fetched on every run after, so that the revisions of the change are there before the
//! analysis. The git command line does the network part: the bot's libgit2 is built without
//! transports (and a full checkout needs every blob, so no partial clone either).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::Error;

/// Makes `directory` a copy of the repository at `url`: cloned (bare) when it does not exist
/// or is empty, fetched otherwise. A clone is made beside `directory` and renamed into place,
/// so a clone that fails halfway leaves nothing behind.
pub fn update(url: &str, directory: &Path) -> Result<(), Error> {
    let refused = |detail: String| Error::Fetch { url: url.to_owned(), detail };
    if url.is_empty() || url.starts_with('-') {
        return Err(refused("not a repository URL".to_owned()));
    }
    if !crate::analyzers::is_installed("git") {
        return Err(refused("`git` is not installed: apt-get install git".to_owned()));
    }
    let exists = directory.exists();
    let empty = exists && std::fs::read_dir(directory).map_err(Error::io(directory))?.next().is_none();
    if !exists || empty {
        return clone(url, directory);
    }
    let repository = git2::Repository::open(directory).map_err(|error| {
        refused(format!("{} exists and is not a git repository: {}", directory.display(), error.message()))
    })?;
    // A bare cache mirrors the branches; a working repository keeps its own and gets the
    // remote's as remote-tracking branches, never touching its checked-out branch.
    let refspec =
        if repository.is_bare() { "+refs/heads/*:refs/heads/*" } else { "+refs/heads/*:refs/remotes/origin/*" };
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
    std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    let staging = tempfile::Builder::new().prefix(".clone-").tempdir_in(parent).map_err(Error::io(parent))?;
    let target = staging.path().join("repository");
    let started = std::time::Instant::now();
    git(Command::new("git").args(["clone", "--bare", "--quiet", "--"]).arg(url).arg(&target)).map_err(refused)?;
    if directory.exists() {
        // Empty, as checked: rename cannot replace a directory on every platform.
        std::fs::remove_dir(directory).map_err(Error::io(directory))?;
    }
    std::fs::rename(&target, directory).map_err(Error::io(directory))?;
    tracing::info!(url, directory = %directory.display(), duration_ms = started.elapsed().as_millis() as u64, "repository cloned");
    Ok(())
}

/// Runs a git command without a terminal to prompt on, and returns its error output on failure.
fn git(command: &mut Command) -> Result<(), String> {
    let output = command
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot start git: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!("git {}: {}", output.status, stderr.trim()))
}
