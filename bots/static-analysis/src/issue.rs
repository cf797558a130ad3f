//! The one issue shape every analyzer produces, and its identity that does not depend on the
//! line number.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
pub use shipit_shared::api_types::static_analysis::IssueLevel as Level;

/// One problem reported by an analyzer.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Issue {
    /// The analyzer's name (`clang-tidy`, `flake8`).
    pub analyzer: String,
    /// Repository-relative path, `/`-separated.
    pub path: String,
    /// First line, from 1; 0 for an issue about the whole file.
    pub line: u32,
    /// Lines covered, at least 1.
    pub nb_lines: u32,
    /// Column, from 1, when the analyzer gives one.
    pub column: Option<u32>,
    pub level: Level,
    /// The analyzer's rule name.
    pub check: String,
    pub message: String,
    /// Filled by [`Issue::compute_hash`] once the source is known.
    #[serde(default)]
    pub hash: String,
    /// The analyzer's own rendering of the context (source line, caret, fix-it), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Notes attached to the issue (clang's `note:` lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Replacement text for lines `line..line + nb_lines` (clang-format, shellcheck fixes); an
    /// empty string deletes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl Issue {
    /// An issue without hash, body, notes or suggestion.
    pub fn new(
        analyzer: &str,
        path: impl Into<String>,
        line: u32,
        column: Option<u32>,
        level: Level,
        check: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            analyzer: analyzer.to_owned(),
            path: path.into(),
            line,
            nb_lines: 1,
            column,
            level,
            check: check.into(),
            message: message.into(),
            hash: String::new(),
            body: None,
            notes: Vec::new(),
            suggestion: None,
        }
    }

    /// The lines the issue covers, from 1 (empty for a whole-file issue).
    pub fn lines(&self) -> std::ops::Range<u32> {
        if self.line == 0 { 0..0 } else { self.line..self.line + self.nb_lines.max(1) }
    }

    /// Sets [`Issue::hash`] from the issue and the text of its file (`None` when the file cannot be
    /// read). The line number is left out and each source line is stripped of its whitespace, so
    /// an issue moved or re-indented by a patch keeps its identity.
    pub fn compute_hash(&mut self, source: Option<&str>) {
        let mut hasher = Sha256::new();
        for field in [self.analyzer.as_str(), self.path.as_str(), self.level.as_str(), self.check.as_str()] {
            hasher.update(field.as_bytes());
            hasher.update([0]);
        }
        if let Some(source) = source {
            let range = self.lines();
            let lines = source.lines().skip(range.start.saturating_sub(1) as usize).take(range.len());
            for line in lines {
                hasher.update(line.split_whitespace().collect::<String>().as_bytes());
                hasher.update(b"\n");
            }
        }
        hasher.update([0]);
        hasher.update(self.message.as_bytes());
        self.hash = hex::encode(hasher.finalize());
    }

    /// The text of a review comment: `Warning: Message [analyzer: check]`, then the analyzer's
    /// context when it gave one.
    pub fn as_text(&self) -> String {
        let level = match self.level {
            Level::Error => "Error",
            Level::Warning => "Warning",
        };
        let mut text = format!("{level}: {} [{}: {}]", capitalized(&self.message), self.analyzer, self.check);
        if let Some(body) = self.body.as_deref().filter(|body| !body.trim().is_empty()) {
            text.push_str("\n\n");
            text.push_str(body);
        }
        if let Some(suggestion) = &self.suggestion {
            if suggestion.is_empty() {
                text.push_str("\n\nDelete these lines.");
            } else {
                text.push_str("\n\nReplace by:\n\n");
                text.push_str(suggestion);
            }
        }
        text
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Keeps the first of issues reported more than once at the same place (clang-tidy reports a
/// header's issues once per translation unit including it).
pub fn dedup(issues: &mut Vec<Issue>) {
    let mut seen = std::collections::HashSet::new();
    issues.retain(|issue| {
        seen.insert((
            issue.analyzer.clone(),
            issue.path.clone(),
            issue.line,
            issue.column,
            issue.check.clone(),
            issue.message.clone(),
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(line: u32) -> Issue {
        Issue::new("flake8", "a.py", line, Some(1), Level::Warning, "E225", "missing whitespace around operator")
    }

    #[test]
    fn the_hash_ignores_line_numbers_and_indentation() {
        let mut before = issue(2);
        before.compute_hash(Some("import os\nx=1\n"));
        let mut moved = issue(4);
        moved.compute_hash(Some("import os\n\n\n    x = 1\n"));
        assert_eq!(before.hash, moved.hash);
        assert_eq!(before.hash.len(), 64);
    }

    #[test]
    fn the_hash_depends_on_the_source_lines_and_the_message() {
        let mut one = issue(2);
        one.compute_hash(Some("import os\nx=1\n"));
        let mut other_line = issue(2);
        other_line.compute_hash(Some("import os\ny=1\n"));
        let mut other_message = issue(2);
        other_message.message = "something else".into();
        other_message.compute_hash(Some("import os\nx=1\n"));
        assert_ne!(one.hash, other_line.hash);
        assert_ne!(one.hash, other_message.hash);
    }

    #[test]
    fn text_capitalises_the_message() {
        let text = issue(1).as_text();
        assert_eq!(text, "Warning: Missing whitespace around operator [flake8: E225]");
    }
}
