//! Input discovery and reading: plain tracefiles, zip archives holding them (read entry by
//! entry from the archive, never extracted to disk) and directories searched recursively.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::CoverageError;
use crate::lcov::{ParseOptions, ParseStats, parse_reader_with_buffer};
use crate::model::RecordSink;

/// One tracefile to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File { path: PathBuf, size: u64 },
    ZipEntry { archive: PathBuf, index: usize, name: String, size: u64 },
}

impl Input {
    /// The name used in messages: the path, or `archive.zip!entry`.
    pub fn display_name(&self) -> String {
        match self {
            Input::File { path, .. } => path.display().to_string(),
            Input::ZipEntry { archive, name, .. } => format!("{}!{name}", archive.display()),
        }
    }

    /// Bytes to parse (uncompressed), for progress reporting.
    pub fn size(&self) -> u64 {
        match self {
            Input::File { size, .. } | Input::ZipEntry { size, .. } => *size,
        }
    }

    /// Parses this input into `report`, reading through `buf` (reused between inputs). Zip
    /// entries are inflated as a stream through `buf` (and the inflater's small window), never
    /// held whole.
    pub fn parse_into<S: RecordSink + ?Sized>(
        &self,
        options: &ParseOptions,
        report: &mut S,
        buf: &mut Vec<u8>,
    ) -> Result<ParseStats, CoverageError> {
        let name = self.display_name();
        match self {
            Input::File { path, .. } => {
                let file = File::open(path).map_err(|source| CoverageError::Io { input: name.clone(), source })?;
                parse_reader_with_buffer(&name, file, options, report, buf)
            }
            Input::ZipEntry { archive, index, .. } => {
                let zip_error = |source| CoverageError::Zip { input: name.clone(), source };
                let file = File::open(archive).map_err(|source| CoverageError::Io { input: name.clone(), source })?;
                let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
                let entry = zip.by_index(*index).map_err(zip_error)?;
                parse_reader_with_buffer(&name, entry, options, report, buf)
            }
        }
    }
}

/// Expands the command-line inputs into the tracefiles to parse, in a stable order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Input>, CoverageError> {
    let mut inputs = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|_| CoverageError::NotFound(path.clone()))?;
        if metadata.is_dir() {
            walk(path, &mut inputs)?;
        } else if is_zip(path)? {
            zip_entries(path, &mut inputs)?;
        } else {
            // A file named explicitly is lcov whatever its extension.
            inputs.push(Input::File { path: path.clone(), size: metadata.len() });
        }
    }
    Ok(inputs)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CoverageError + '_ {
    move |source| CoverageError::Io { input: path.display().to_string(), source }
}

/// Recursively collects `*.info` files and `*.zip` archives under `dir`.
fn walk(dir: &Path, inputs: &mut Vec<Input>) -> Result<(), CoverageError> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error(dir))?;
    entries.sort();
    for path in entries {
        let metadata = std::fs::metadata(&path).map_err(io_error(&path))?;
        if metadata.is_dir() {
            walk(&path, inputs)?;
        } else if has_extension(&path, "info") {
            inputs.push(Input::File { size: metadata.len(), path });
        } else if has_extension(&path, "zip") {
            zip_entries(&path, inputs)?;
        }
    }
    Ok(())
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// A `.zip` name or a zip signature makes a file an archive.
fn is_zip(path: &Path) -> Result<bool, CoverageError> {
    if has_extension(path, "zip") {
        return Ok(true);
    }
    let mut magic = [0u8; 4];
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..]).map_err(io_error(path))? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06"))
}

/// Lists the `*.info` entries of an archive. A truncated or corrupt archive fails here, before
/// any parsing starts.
fn zip_entries(archive: &Path, inputs: &mut Vec<Input>) -> Result<(), CoverageError> {
    let zip_error = |source| CoverageError::Zip { input: archive.display().to_string(), source };
    let file = File::open(archive).map_err(io_error(archive))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
    let before = inputs.len();
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(zip_error)?;
        if entry.is_file() && has_extension(Path::new(entry.name()), "info") {
            inputs.push(Input::ZipEntry {
                archive: archive.to_path_buf(),
                index,
                name: entry.name().to_owned(),
                size: entry.size(),
            });
        }
    }
    if inputs.len() == before {
        tracing::warn!(archive = %archive.display(), "zip archive holds no .info file");
    }
    Ok(())
}
