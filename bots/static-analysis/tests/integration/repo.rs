//! Small git repositories made in the tests.

use std::path::Path;

use git2::{IndexAddOption, Repository, Signature};
use tempfile::TempDir;

/// A repository in a temporary directory, with a working tree.
pub(crate) struct TestRepo {
    dir: TempDir,
    repo: Repository,
}

impl TestRepo {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        Self { dir, repo }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `files` (an empty text removes the file), commits every change and returns the
    /// commit id.
    pub(crate) fn commit(&self, files: &[(&str, &str)]) -> String {
        for (path, text) in files {
            let full = self.dir.path().join(path);
            if text.is_empty() {
                std::fs::remove_file(&full).unwrap();
                continue;
            }
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, text).unwrap();
        }
        let mut index = self.repo.index().unwrap();
        index.add_all(["*"], IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let signature = Signature::now("Test", "test@example.com").unwrap();
        let parent = self.repo.head().ok().and_then(|head| head.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo.commit(Some("HEAD"), &signature, &signature, "change", &tree, &parents).unwrap().to_string()
    }

    /// `git diff base head` in git's format.
    pub(crate) fn diff(&self, base: &str, head: &str) -> Vec<u8> {
        let tree = |rev: &str| self.repo.revparse_single(rev).unwrap().peel_to_tree().unwrap();
        let diff = self.repo.diff_tree_to_tree(Some(&tree(base)), Some(&tree(head)), None).unwrap();
        let mut patch = Vec::new();
        diff.print(git2::DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                patch.push(line.origin() as u8);
            }
            patch.extend_from_slice(line.content());
            true
        })
        .unwrap();
        patch
    }

    /// A fingerprint of everything git keeps: HEAD, the index and every object file.
    pub(crate) fn state(&self) -> Vec<String> {
        let git = self.dir.path().join(".git");
        let mut state = vec![self.repo.head().unwrap().target().unwrap().to_string()];
        state.push(format!("{:?}", std::fs::read(git.join("index")).unwrap()));
        let mut stack = vec![git.join("objects")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    state.push(path.display().to_string());
                }
            }
        }
        state.sort();
        state
    }
}
