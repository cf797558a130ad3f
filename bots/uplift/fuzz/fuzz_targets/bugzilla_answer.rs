//! Fuzzes what the uplift bot reads from Bugzilla: the bytes as a bug, an attachment, a comment
//! and a history entry (the odd-field readers), and as a comment's text given to the request-form
//! parser. Never a panic, and no markup of a comment survives into the form's HTML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipit_uplift::bugzilla::{Attachment, Bug, Comment, HistoryEntry};
use shipit_uplift::form;

fuzz_target!(|data: &[u8]| {
    let _bug = serde_json::from_slice::<Bug>(data);
    let _attachment = serde_json::from_slice::<Attachment>(data);
    let _history = serde_json::from_slice::<HistoryEntry>(data);
    let comment = serde_json::from_slice::<Comment>(data).unwrap_or_else(|_| Comment {
        id: 1,
        count: 1,
        author: "someone@example.com".to_owned(),
        time: None,
        text: String::from_utf8_lossy(data).into_owned(),
    });
    let parsed = form::parse(&comment, "https://bugzilla.mozilla.org");
    let html = parsed.html.to_lowercase();
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<iframe"), "{html}");
    let _titles = form::titles(&comment.text);
});
