//! The files the bot keeps between runs (the history index, the nickname directory): written whole
//! or not at all.

use std::path::Path;

use crate::error::Error;

/// [`shipit_shared::files::write_whole`], its failure naming the file.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    shipit_shared::files::write_whole(path, bytes)
        .map_err(|source| Error::Io { context: format!("cannot write {}", path.display()), source })
}
