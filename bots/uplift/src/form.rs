//! The uplift request form: which comment holds the form for a channel, its sections, which of
//! them look risky, and its HTML rendering.
//!
//! The form's wording changed many times (the 2018 change broke the original bot, release-services
//! #1698), so detection only relies on one thing every version kept: a title line containing
//! "Approval Request", written as a heading (`### Beta/Release Uplift Approval Request`,
//! `# Uplift Approval Request`, `### firefox-esr140 Uplift Approval Request`), in brackets
//! (`[Beta/Release Uplift Approval Request]`, `[ESR Uplift Approval Request]`,
//! `[Approval Request Comment]`), or as the bare `Approval Request Comment` line of the pre-2018
//! forms (`Approval Request Comment for 46` too). See [`find`] for which comment is chosen.
//!
//! A question is `[Question]: answer` (2014–2017 aurora, beta and release forms), `Question: answer`
//! (the 2012–2017 ESR and aurora forms, the 2018 structured forms: only the questions of
//! [`PLAIN_QUESTIONS`] or lines ending in `?:`), or `* **Question**: answer` (Phabricator and Lando,
//! 2019 on). The README's uplift section lists every wording, and the tests parse each one.
//! A comment may hold several forms (an ESR and a Beta/Release one): every title line ends the
//! section before it and starts a new form, see [`Section::form`].

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

use crate::bugzilla::Comment;

/// A parsed uplift request form.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct UpliftForm {
    /// The Bugzilla comment holding the form.
    pub comment_id: i64,
    /// Who posted it (the requester, or `phab-bot`/Lando on their behalf).
    pub author: String,
    /// When it was posted; `None` when Bugzilla sent no time.
    pub time: Option<DateTime<Utc>>,
    /// The form's title line (`Beta/Release Uplift Approval Request`).
    pub title: String,
    /// The titles of the other forms of the same comment, in order (an ESR form after a
    /// Beta/Release one); omitted when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub later_titles: Vec<String>,
    pub sections: Vec<Section>,
    /// The comment's text, as written.
    pub text: String,
    /// The sections as HTML, built from escaped text: no markup of the comment survives.
    pub html: String,
}

/// One answer of the form, or the text before the first answer.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Section {
    /// The question (`User impact if declined`); `None` for text before the first one.
    pub title: Option<String>,
    /// A slug of the title (`user-impact-if-declined`), `no-header` without a title; used as the
    /// CSS class in `html`.
    pub key: String,
    /// The answer, trimmed; it may span several lines.
    pub text: String,
    /// The answer calls for a release manager's attention: a medium or high risk, string changes,
    /// no test coverage.
    pub risky: bool,
    /// Which form of the comment the section belongs to: 0 for the one of `title`, `n` for the
    /// one of `later_titles[n - 1]`; omitted when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub form: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// How far after a flag's request time its form may be posted (the form and the flag are set
/// together, but bots post the form a little later).
const FORM_DELAY: Duration = Duration::minutes(10);

static TITLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^[ \t]*(?:#{1,6}[ \t]*([^\n]*?approval request[^\n]*?)|\[([^\]\n]*approval request[^\]\n]*)\]|(approval request comment\b[^\n:]{0,40}?))[ \t]*$",
    )
    .expect("a valid regex")
});

/// `[Label]: value` (old form), `* **Label**: value` (markdown forms), `Label: value` (2018 form;
/// a label without a colon, see [`PLAIN_QUESTIONS`] for the others).
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[ \t]*(?:\[(?P<bracket>[^\]]+)\]|[*-][ \t]+\*\*(?P<bold>[^*]+?):?\*\*|(?P<plain>[A-Z][^:\n]{2,120}?))[ \t]*:(?P<value>.*)$",
    )
    .expect("a valid regex")
});

static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(https?://[^\s<>]+)|\b(bug)\s*(\d+)|\b(attachment)\s*(\d+)|\b(comment)\s*(\d+)")
        .expect("a valid regex")
});

/// The questions of the forms written without brackets or bold (the 2012–2017 ESR and aurora
/// forms, the 2018 structured forms), lower case. Some hold a colon (`sec:{high,crit}`) or do not
/// end in `?`, so only this list makes them questions.
pub const PLAIN_QUESTIONS: &[&str] = &[
    "bug caused by (feature/regressing bug #)",
    "feature/bug causing the regression",
    "feature/regressing bug #",
    "if this is not a sec:{high,crit} bug, please state case for esr consideration",
    "user impact if declined",
    "testing completed (on m-c, etc.)",
    "fix landed on version",
    "is this code covered by automated tests?",
    "has the fix been verified in nightly?",
    "needs manual test from qe?",
    "if yes, steps to reproduce",
    "list of other uplifts needed",
    "risk to taking this patch (and alternatives if risky)",
    "risk to taking this patch",
    "why is the change risky/not risky? (and alternatives if risky)",
    "why is the change risky/not risky?",
    "string changes made/needed",
    "string or uuid changes made by this patch",
    "string or idl/uuid changes made by this patch",
    "is android affected?",
];

/// The first form title in the comment's text, if any.
pub fn title(text: &str) -> Option<String> {
    titles(text).into_iter().next()
}

/// Every form title in the comment's text, in order.
pub fn titles(text: &str) -> Vec<String> {
    TITLE
        .captures_iter(text)
        .filter_map(|captures| captures.iter().skip(1).flatten().next().map(|title| title.as_str()))
        .map(|title| title.trim().trim_matches('*').trim().to_owned())
        .collect()
}

/// Whether a form with this title may be a request to `channel`. Lando's titles name the channel
/// (`firefox-esr140 Uplift Approval Request`); the 2018 forms say `ESR` or `Beta/Release`; older
/// ones say nothing and fit any channel.
fn fits(title: &str, channel: &str) -> bool {
    let title = title.to_lowercase();
    if let Some(start) = title.find("firefox-") {
        let named = title[start + "firefox-".len()..].split_whitespace().next().unwrap_or_default();
        return named == channel;
    }
    let esr = channel.starts_with("esr");
    if title.contains("esr") {
        return esr;
    }
    if title.contains("beta/release") {
        return !esr;
    }
    true
}

/// The comment holding the form of the request to `channel` made at `requested_at`: among the
/// comments with a title that fits the channel, the latest posted no later than [`FORM_DELAY`]
/// after the request (a request made again with a new form picks the new one); without such a
/// comment or a request time, the latest fitting one. A comment without a time counts as the
/// oldest. The author is not compared: bots (`phab-bot`) post the forms of Phabricator and Lando
/// requests.
pub fn find<'a>(comments: &'a [Comment], channel: &str, requested_at: Option<DateTime<Utc>>) -> Option<&'a Comment> {
    let mut candidates: Vec<&Comment> =
        comments.iter().filter(|comment| titles(&comment.text).iter().any(|title| fits(title, channel))).collect();
    candidates.sort_by_key(|comment| (comment.time, comment.id));
    let before = |comment: &&&Comment| {
        requested_at.is_none_or(|time| comment.time.is_none_or(|posted| posted <= time + FORM_DELAY))
    };
    candidates.iter().rev().find(before).or(candidates.last()).copied()
}

/// Parses the form in `comment`; links in the HTML point into `bugzilla_url`.
pub fn parse(comment: &Comment, bugzilla_url: &str) -> UpliftForm {
    let mut sections: Vec<Section> = Vec::new();
    let mut current = untitled(0);
    let mut titles: Vec<String> = Vec::new();
    for line in comment.text.lines() {
        if let Some(title) = title(line) {
            // A later title ends the section before it: it starts the comment's next form.
            if !titles.is_empty() {
                sections.push(std::mem::replace(&mut current, untitled(titles.len())));
            }
            titles.push(title);
            continue;
        }
        if let Some((header, value)) = (!titles.is_empty()).then(|| header(line)).flatten() {
            let form = titles.len() - 1;
            sections.push(std::mem::replace(&mut current, new_section(header, value, form)));
        } else {
            current.text.push_str(line);
            current.text.push('\n');
        }
    }
    sections.push(current);
    sections.retain(|section| section.title.is_some() || !section.text.trim().is_empty());
    for section in &mut sections {
        section.text = section.text.trim().to_owned();
        section.risky = is_risky(section);
    }
    let mut html = String::new();
    let mut form = 0;
    for section in &sections {
        // The title of each later form heads its first section.
        if section.form != form {
            form = section.form;
            html.push_str(&format!("<h1 class=\"form-title\">{}</h1>", escape(&titles[form])));
        }
        html.push_str(&section_html(section, bugzilla_url));
    }
    let mut titles = titles.into_iter();
    UpliftForm {
        comment_id: comment.id,
        author: comment.author.clone(),
        time: comment.time,
        title: titles.next().unwrap_or_default(),
        later_titles: titles.collect(),
        sections,
        text: comment.text.clone(),
        html,
    }
}

/// The text of a form before its first question.
fn untitled(form: usize) -> Section {
    Section { title: None, key: "no-header".to_owned(), text: String::new(), risky: false, form }
}

fn new_section(title: String, value: &str, form: usize) -> Section {
    let key = slug(&title);
    Section { title: Some(title), key, text: format!("{}\n", value.trim()), risky: false, form }
}

/// The question and the start of the answer, when the line opens a section.
fn header(line: &str) -> Option<(String, &str)> {
    let captures = HEADER.captures(line);
    let value = captures.as_ref().and_then(|captures| captures.name("value")).map_or("", |value| value.as_str());
    if let Some(label) = captures.as_ref().and_then(|captures| captures.name("bracket").or(captures.name("bold"))) {
        return Some((label.as_str().trim().to_owned(), value));
    }
    if let Some(known) = plain_question(line) {
        return Some(known);
    }
    // Another plain line is a question only if it asks something; a URL is not one.
    let label = captures.as_ref()?.name("plain")?.as_str().trim();
    (!value.starts_with("//") && label.ends_with('?')).then(|| (label.to_owned(), value))
}

/// One of [`PLAIN_QUESTIONS`] followed by a colon, as written, and the start of the answer.
fn plain_question(line: &str) -> Option<(String, &str)> {
    let line = line.trim_start();
    PLAIN_QUESTIONS.iter().find_map(|question| {
        let label = line.get(..question.len()).filter(|label| label.eq_ignore_ascii_case(question))?;
        let value = line[question.len()..].trim_start().strip_prefix(':')?;
        Some((label.to_owned(), value))
    })
}

/// What libmozdata flagged: a medium or high risk, string changes, no test coverage.
fn is_risky(section: &Section) -> bool {
    let Some(title) = &section.title else { return false };
    let title = title.to_lowercase();
    let answer = section.text.lines().next().unwrap_or_default().trim().trim_end_matches('.').to_lowercase();
    let none = matches!(answer.as_str(), "" | "none" | "no" | "n/a" | "na" | "nothing");
    if title.contains("string") {
        !none
    } else if title.contains("test coverage") || title.contains("covered by automated test") {
        none
    } else if title.starts_with("risk") || title == "is the change risky?" {
        let level = answer.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default();
        matches!(level, "medium" | "high" | "yes")
    } else {
        false
    }
}

fn slug(title: &str) -> String {
    let words: Vec<String> =
        title.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_lowercase).collect();
    words.join("-")
}

fn section_html(section: &Section, bugzilla_url: &str) -> String {
    let class = if section.risky { format!("{} risky", section.key) } else { section.key.clone() };
    let lines: Vec<String> = section
        .text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| linkify(&escape(line.trim()), bugzilla_url))
        .collect();
    let body = format!("<div class=\"{class}\">{}</div>", lines.join("<br />"));
    match &section.title {
        Some(title) => format!("<h1 class=\"{class}\">{}</h1>{body}", escape(title)),
        None => body,
    }
}

/// Escapes the characters HTML gives a meaning to.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Links URLs, `bug N`, `attachment N` and `comment N` in already escaped text; the result has
/// no quote or angle bracket that the text did not get from us.
fn linkify(escaped: &str, bugzilla_url: &str) -> String {
    LINK.replace_all(escaped, |captures: &Captures<'_>| {
        let text = &captures[0];
        let href = if let Some(url) = captures.get(1) {
            url.as_str().to_owned()
        } else if let Some(bug) = captures.get(3) {
            format!("{bugzilla_url}/show_bug.cgi?id={}", bug.as_str())
        } else if let Some(attachment) = captures.get(5) {
            format!("{bugzilla_url}/attachment.cgi?id={}&amp;action=edit", attachment.as_str())
        } else {
            format!("#c{}", &captures[7])
        };
        format!("<a href=\"{href}\" target=\"_blank\" rel=\"noopener\">{text}</a>")
    })
    .into_owned()
}
