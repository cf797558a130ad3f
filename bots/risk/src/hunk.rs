//! A hunk of a line diff, as the history, the function change sets and SZZ read it.

/// A hunk of a line diff: `old_lines` lines from `old_start` replaced by `new_lines` from
/// `new_start` (1-based; a start is the line before the hunk when its side is empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
}
