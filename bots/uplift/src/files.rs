//! The files the bot keeps between runs (the history index, the nickname directory): written whole
//! or not at all.

use std::io::Write;
use std::path::Path;

use crate::error::Error;

/// Writes `bytes` to a temporary file beside `path`, then renames it there: a crash leaves the
/// old file whole.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let failed = |source| Error::Io { context: format!("cannot write {}", path.display()), source };
    let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(failed)?;
    temporary.write_all(bytes).map_err(failed)?;
    temporary.persist(path).map_err(|error| failed(error.error))?;
    Ok(())
}
