//! The page shell (navigation, who is signed in) and the small pieces every page uses: dates,
//! percentages, state badges, links with a query.

use axum::http::StatusCode;
use axum::response::Html;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::Viewer;
use super::assets;

/// What the shell needs to know of a page.
pub(super) struct Shell<'a> {
    pub(super) title: &'a str,
    /// The navigation entry to mark as current (`runs`, `coverage`…).
    pub(super) section: &'a str,
    pub(super) viewer: &'a Viewer,
}

const SECTIONS: [(&str, &str, &str); 7] = [
    ("home", "/ui/", "Home"),
    ("runs", "/ui/runs", "Runs"),
    ("uplift", "/ui/uplift", "Uplift"),
    ("coverage", "/ui/coverage", "Coverage"),
    ("static-analysis", "/ui/static-analysis", "Static analysis"),
    ("risk", "/ui/risk", "Risk"),
    ("pipelines", "/ui/pipelines", "Pipelines"),
];

/// A whole page.
pub(super) fn page(shell: &Shell<'_>, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (shell.title) " · ShipIt" }
                link rel="icon" type="image/svg+xml" href=(assets::url("icon.svg"));
                link rel="stylesheet" href=(assets::url("style.css"));
                script src=(assets::url("app.js")) defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    nav aria-label="Sections" {
                        a class="brand" href="/ui/" { "ShipIt" }
                        ul {
                            @for (key, href, label) in SECTIONS {
                                li {
                                    @if key == shell.section {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div class="who" {
                        @if let Some(session) = &shell.viewer.session {
                            span { "Signed in as " strong { (session.caller.name) } }
                            form method="post" action="/ui/sign-out" class="inline" {
                                input type="hidden" name="csrf" value=(session.csrf);
                                button type="submit" class="link" { "Sign out" }
                            }
                        } @else {
                            a href="/ui/sign-in" { "Sign in" }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
                footer { "ShipIt " (env!("CARGO_PKG_VERSION")) " · " a href="/openapi.json" { "API" } }
            }
        }
    };
    Html(markup.into_string())
}

/// The page shown for an error, with its status.
pub(super) fn error_page(
    viewer: &Viewer,
    status: StatusCode,
    title: &str,
    detail: &str,
    field: Option<&str>,
) -> Html<String> {
    let body = html! {
        h1 { (status.as_u16()) " " (title) }
        p class="error" { (detail) }
        @if let Some(field) = field { p { "Field: " code { (field) } } }
        p { a href="/ui/" { "Back to the dashboard" } }
    };
    page(&Shell { title, section: "", viewer }, body)
}

/// A time as people read it, with the exact UTC time on hover and for machines.
pub(super) fn when(time: DateTime<Utc>) -> Markup {
    let exact = time.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! { time datetime=(time.to_rfc3339()) title=(exact) { (readable(time, Utc::now())) } }
}

/// How long before `now` (or after it), or the day for a time more than 60 days past: "4255 days
/// ago" says less than the date.
fn readable(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if now - time > chrono::Duration::days(60) {
        return time.format("%Y-%m-%d").to_string();
    }
    ago(now - time)
}

/// How long ago, or in how long for a time to come (an expiry).
fn ago(elapsed: chrono::Duration) -> String {
    let seconds = elapsed.num_seconds();
    let span = |seconds: i64| match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86_400),
    };
    match seconds {
        -1..=0 => "just now".to_owned(),
        i64::MIN..-1 => format!("in {}", span(seconds.saturating_neg())),
        _ => format!("{} ago", span(seconds)),
    }
}

/// A badge for a state (`succeeded`, `failed`, `running`…), coloured by its class.
pub(super) fn badge(state: &str) -> Markup {
    html! { span class={ "badge " (state_class(state)) } { (state) } }
}

/// The colour class of a state word (`assets/app.js` keeps the same table for live updates).
pub(super) fn state_class(state: &str) -> &'static str {
    match state {
        "succeeded" | "success" | "completed" | "merged" | "applied" | "already_applied" | "low" => "good",
        "failed" | "failure" | "conflict" | "error" | "high" | "cancelled" | "blocked" => "bad",
        "running" | "in_progress" | "starting" | "partial" | "medium" | "undecided" | "warning" => "warn",
        _ => "neutral",
    }
}

/// A coverage percentage as a bar with its number; the colour says the range.
pub(super) fn percent_bar(percent: f64) -> Markup {
    let range = coverage_range(percent);
    let width = percent.clamp(0.0, 100.0);
    html! {
        svg class={ "meter " (range) } width="100" height="10" viewBox="0 0 100 10" aria-hidden="true" {
            rect class="track" width="100" height="10" {}
            rect class="fill" width=(format!("{width:.1}")) height="10" {}
        }
        " "
        span class="number" { (format!("{percent:.2} %")) }
    }
}

/// The coverage range a percentage falls in (the classes of coverage.moz.tools' colours).
fn coverage_range(percent: f64) -> &'static str {
    match percent {
        p if p >= 80.0 => "good",
        p if p >= 60.0 => "warn",
        p if p > 0.0 => "bad",
        _ => "none",
    }
}

/// The first 12 characters of a revision.
pub(super) fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

/// `path?key=value&…`, skipping empty values, each value encoded.
pub(super) fn href(path: &str, query: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in query.iter().filter(|(_, value)| !value.is_empty()) {
        serializer.append_pair(key, value);
    }
    let query = serializer.finish();
    if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
}

/// A JSON value, pretty-printed, for the rare field the pages do not know.
pub(super) fn json(value: &serde_json::Value) -> Markup {
    html! { pre class="json" { (serde_json::to_string_pretty(value).unwrap_or_default()) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_times_and_times_to_come_read_plainly() {
        assert_eq!(ago(chrono::Duration::seconds(30)), "30 s ago");
        assert_eq!(ago(chrono::Duration::minutes(5)), "5 min ago");
        assert_eq!(ago(chrono::Duration::zero()), "just now");
        assert_eq!(ago(chrono::Duration::hours(-72)), "in 3 days");
        assert_eq!(ago(chrono::Duration::minutes(-90)), "in 1 h");
        let now = "2026-12-03T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(readable(now - chrono::Duration::days(59), now), "59 days ago");
        assert_eq!(readable(now - chrono::Duration::days(61), now), "2026-10-03");
        assert_eq!(readable(now + chrono::Duration::days(90), now), "in 90 days");
    }

    #[test]
    fn links_encode_their_values_and_skip_empty_ones() {
        assert_eq!(
            href("/ui/coverage", &[("repository", "mozilla-central"), ("path", "")]),
            "/ui/coverage?repository=mozilla-central"
        );
        assert_eq!(href("/ui/coverage", &[("path", "a b/&c")]), "/ui/coverage?path=a+b%2F%26c");
        assert_eq!(href("/ui/runs", &[]), "/ui/runs");
    }

    #[test]
    fn markup_in_data_is_escaped() {
        let shown = html! { p { ("<script>alert(1)</script>") } }.into_string();
        assert_eq!(shown, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>");
    }

    #[test]
    fn ranges_follow_the_percentage() {
        assert_eq!(coverage_range(95.0), "good");
        assert_eq!(coverage_range(60.0), "warn");
        assert_eq!(coverage_range(0.5), "bad");
        assert_eq!(coverage_range(0.0), "none");
    }
}
