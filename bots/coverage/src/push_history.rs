//! Each file's history in a repository's pushlog (the first and last push that changed it, and
//! how many changesets did), read from hg.mozilla.org a page of pushes at a time and kept in the
//! cache directory between runs, so that a run reads only the pushes since the last one. The
//! zero-coverage report takes its push dates and commit counts from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};
use shipit_shared::api_types::coverage::ZeroCoverageFile;
use shipit_shared::http::{HttpError, UpstreamClient};
use shipit_shared::pushlog::{self, PushFiles};

use crate::CoverageError;

/// Paths longer than this, or holding a NUL byte, are not recorded.
pub const MAX_PATH_BYTES: usize = 4096;
/// The most paths one history records; pushes past it still count for the paths it has.
pub const MAX_FILES: usize = 5_000_000;
/// The format of the saved file; another one is read as no history.
const FORMAT: u32 = 1;

/// One file's pushes: the first and last push dates (Unix seconds) and the changesets.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Serialize)]
pub struct FileHistory {
    pub first_push: i64,
    pub last_push: i64,
    pub commits: u64,
}

/// The files of a repository's pushes up to `last_push_id`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct PushHistory {
    format: u32,
    repository: String,
    /// Every push up to this id has been read.
    pub last_push_id: i64,
    files: HashMap<String, FileHistory>,
}

impl PushHistory {
    /// An empty history of `repository`.
    pub fn new(repository: &str) -> Self {
        Self { format: FORMAT, repository: repository.to_owned(), last_push_id: 0, files: HashMap::new() }
    }

    /// Where the history of `repository` is kept under `cache_dir`. A repository path holds no
    /// `%`, so `/` written as `%2F` names one file per repository.
    pub fn file_in(cache_dir: &Path, repository: &str) -> PathBuf {
        cache_dir.join("pushlog").join(format!("{}.json", repository.replace('/', "%2F")))
    }

    /// The history saved at `path`; an empty one when there is none, or when the file is
    /// unreadable, of another format or of another repository (it is then read again).
    pub fn load(path: &Path, repository: &str) -> Self {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Self::new(repository),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read the push history; reading the pushlog again");
                return Self::new(repository);
            }
        };
        match serde_json::from_slice::<Self>(&bytes) {
            Ok(history) if history.format == FORMAT && history.repository == repository => history,
            Ok(_) => Self::new(repository),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "the push history is corrupt; reading the pushlog again");
                Self::new(repository)
            }
        }
    }

    /// Saves the history at `path` whole or not at all ([`shipit_shared::files::write_whole`]).
    pub fn save(&self, path: &Path) -> Result<(), CoverageError> {
        let failed = |source| CoverageError::Save { path: path.to_owned(), source };
        if let Some(directory) = path.parent() {
            std::fs::create_dir_all(directory).map_err(failed)?;
        }
        let bytes = serde_json::to_vec(self).map_err(|error| failed(error.into()))?;
        shipit_shared::files::write_whole(path, &bytes).map_err(failed)
    }

    /// The history of `path`, if a push changed it.
    pub fn file(&self, path: &str) -> Option<FileHistory> {
        self.files.get(path).copied()
    }

    /// How many paths the history holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Counts one push: every changeset is a commit of each file it lists.
    pub fn record(&mut self, push: &PushFiles) {
        let date = push.date.timestamp();
        for files in &push.changesets {
            for path in files {
                if path.is_empty() || path.len() > MAX_PATH_BYTES || path.contains('\0') {
                    continue;
                }
                if let Some(history) = self.files.get_mut(path) {
                    history.first_push = history.first_push.min(date);
                    history.last_push = history.last_push.max(date);
                    history.commits += 1;
                } else if self.files.len() < MAX_FILES {
                    self.files.insert(path.clone(), FileHistory { first_push: date, last_push: date, commits: 1 });
                }
            }
        }
        self.last_push_id = self.last_push_id.max(push.id);
    }

    /// Reads the pushes after `last_push_id` up to `up_to` from `{hgmo}/{repository}`, `page`
    /// pushes a request. What was read before a failure is kept: `last_push_id` moves at the end
    /// of each page, so saving after an error loses nothing and the next run goes on from there.
    pub async fn update(
        &mut self,
        http: &UpstreamClient,
        hgmo_url: &str,
        up_to: i64,
        page: i64,
    ) -> Result<(), HttpError> {
        let page = page.max(1);
        let start = self.last_push_id;
        let progress = indicatif::ProgressBar::new(up_to.saturating_sub(start).max(0) as u64).with_message("pushlog");
        let mut requests = 0_u64;
        while self.last_push_id < up_to {
            let last = self.last_push_id.saturating_add(page).min(up_to);
            let Some(answer) =
                pushlog::pushes_with_files(http, hgmo_url, &self.repository, self.last_push_id, last).await?
            else {
                break;
            };
            for push in &answer.pushes {
                self.record(push);
            }
            self.last_push_id = last;
            requests += 1;
            progress.set_position((last - start) as u64);
            if progress.is_hidden() && (last == up_to || requests.is_multiple_of(10)) {
                tracing::info!(push = last, up_to, files = self.files.len(), "pushlog read");
            }
        }
        progress.finish_and_clear();
        Ok(())
    }

    /// Fills the push dates and commit counts of `files` from the history.
    pub fn annotate(&self, files: &mut [ZeroCoverageFile]) {
        let day =
            |seconds: i64| -> Option<NaiveDate> { DateTime::from_timestamp(seconds, 0).map(|date| date.date_naive()) };
        for file in files {
            if let Some(history) = self.file(&file.name) {
                file.first_push_date = day(history.first_push);
                file.last_push_date = day(history.last_push);
                file.commits = history.commits;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn push(id: i64, day: u32, changesets: &[&[&str]]) -> PushFiles {
        let date = chrono::NaiveDate::from_ymd_opt(2018, 3, day).unwrap().and_hms_opt(12, 0, 0).unwrap();
        PushFiles {
            id,
            date: DateTime::<Utc>::from_naive_utc_and_offset(date, Utc),
            changesets: changesets.iter().map(|files| files.iter().map(|file| (*file).to_owned()).collect()).collect(),
        }
    }

    #[test]
    fn each_changeset_counts_once_per_file_and_dates_widen() {
        let mut history = PushHistory::new("mozilla-central");
        history.record(&push(3, 10, &[&["a.c", "b.c"], &["a.c"]]));
        history.record(&push(1, 2, &[&["a.c"]]));
        let a = history.file("a.c").unwrap();
        assert_eq!(a.commits, 3);
        assert!(a.first_push < a.last_push);
        assert_eq!(history.file("b.c").unwrap().commits, 1);
        assert_eq!(history.last_push_id, 3);
        assert_eq!(history.file("c.c"), None);
    }

    #[test]
    fn odd_paths_are_not_recorded() {
        let mut history = PushHistory::new("mozilla-central");
        let long = "x".repeat(MAX_PATH_BYTES + 1);
        history.record(&push(1, 1, &[&["", "a\0b", &long, "ok.c"]]));
        assert_eq!(history.len(), 1);
    }

    #[test]
    fn a_saved_history_is_read_back_and_a_foreign_or_corrupt_one_is_not() {
        let directory = tempfile::tempdir().unwrap();
        let path = PushHistory::file_in(directory.path(), "integration/autoland");
        assert!(path.ends_with("pushlog/integration%2Fautoland.json"));
        let mut history = PushHistory::new("integration/autoland");
        history.record(&push(7, 4, &[&["dom/a.cpp"]]));
        history.save(&path).unwrap();
        assert_eq!(PushHistory::load(&path, "integration/autoland"), history);
        assert!(PushHistory::load(&path, "mozilla-central").is_empty());
        std::fs::write(&path, b"{\"format\": 1, \"repository\": ").unwrap();
        let reread = PushHistory::load(&path, "integration/autoland");
        assert!(reread.is_empty());
        assert_eq!(reread.last_push_id, 0);
    }

    #[test]
    fn files_get_their_days_and_commits() {
        let mut history = PushHistory::new("mozilla-central");
        history.record(&push(1, 2, &[&["a.c"]]));
        history.record(&push(2, 9, &[&["a.c"]]));
        let mut files = vec![
            ZeroCoverageFile {
                name: "a.c".into(),
                funcs: 1,
                uncovered_funcs: 1,
                size: 3,
                first_push_date: None,
                last_push_date: None,
                commits: 0,
            },
            ZeroCoverageFile {
                name: "gone.c".into(),
                funcs: 0,
                uncovered_funcs: 0,
                size: 1,
                first_push_date: None,
                last_push_date: None,
                commits: 0,
            },
        ];
        history.annotate(&mut files);
        assert_eq!(files[0].first_push_date, NaiveDate::from_ymd_opt(2018, 3, 2));
        assert_eq!(files[0].last_push_date, NaiveDate::from_ymd_opt(2018, 3, 9));
        assert_eq!(files[0].commits, 2);
        assert_eq!((files[1].first_push_date, files[1].commits), (None, 0));
    }
}
