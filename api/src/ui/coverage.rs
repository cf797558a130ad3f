//! The coverage pages: a directory with the percentage of each child, a file's lines (covered,
//! uncovered, not instrumented), the history of a path (each point opens that revision), the
//! filters by revision, suite and platform, and the zero-coverage report with its filters.

use axum::extract::State;
use axum::response::Html;
use maud::{Markup, html};
use serde::Deserialize;
use shipit_shared::api_types::coverage::{HistoryQuery, PathCoverage, PathQuery, RepositoryQuery, ZeroCoverageFile};

use super::chart::{self, Point};
use super::layout::{self, Shell, href, percent_bar, short};
use super::{UiResult, Viewer, non_empty};
use crate::auth::Reader;
use crate::db;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::routes::coverage;
use crate::state::AppState;

/// The page's query, as links and the filter form send it.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Browse {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    changeset: String,
    #[serde(default)]
    suite: String,
    #[serde(default)]
    platform: String,
}

impl Browse {
    fn link(&self, path: &str, changeset: &str) -> String {
        href(
            "/ui/coverage",
            &[
                ("repository", &self.repository),
                ("path", path),
                ("changeset", changeset),
                ("suite", &self.suite),
                ("platform", &self.platform),
            ],
        )
    }
}

/// `GET /ui/coverage?repository=&path=&changeset=&suite=&platform=`.
pub(super) async fn browse(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryParams(query): QueryParams<Browse>,
) -> UiResult<Html<String>> {
    if query.repository.is_empty() {
        return repositories(&state, &viewer).await;
    }
    let path_query = PathQuery {
        repository: query.repository.clone(),
        changeset: non_empty(&query.changeset),
        path: non_empty(&query.path),
        suite: non_empty(&query.suite),
        platform: non_empty(&query.platform),
    };
    let node = coverage::path_coverage(&state, &path_query).await?;
    let filters = coverage::filters(
        State(state.clone()),
        Reader,
        QueryParams(RepositoryQuery { repository: query.repository.clone(), changeset: None }),
    )
    .await?
    .0;
    let history_query = HistoryQuery {
        repository: query.repository.clone(),
        path: non_empty(&query.path),
        start: None,
        end: None,
        suite: non_empty(&query.suite),
        platform: non_empty(&query.platform),
    };
    let history = coverage::history(State(state.clone()), Reader, QueryParams(history_query)).await?.0;
    let points: Vec<Point> = history
        .iter()
        .map(|point| Point {
            at: point.date,
            value: point.coverage,
            href: query.link(&query.path, &point.changeset),
            label: format!("{} on {}: {:.2} %", short(&point.changeset), point.date.format("%Y-%m-%d"), point.coverage),
        })
        .collect();
    let source = match node.kind.as_str() {
        "file" => Some(coverage::file_source(&state, &query.repository, &node.changeset, &node.path).await),
        _ => None,
    };
    let title =
        if node.path.is_empty() { query.repository.clone() } else { format!("{} · {}", node.path, query.repository) };
    let body = html! {
        h1 { "Coverage of " (if node.path.is_empty() { "the repository" } else { &node.path }) }
        (breadcrumb(&query, &node))
        form method="get" action="/ui/coverage" class="filters" {
            input type="hidden" name="repository" value=(query.repository);
            input type="hidden" name="path" value=(query.path);
            label for="changeset" { "Revision" }
            input id="changeset" name="changeset" value=(query.changeset) placeholder=(short(&node.changeset)) size="14" spellcheck="false";
            label for="suite" { "Suite" }
            select id="suite" name="suite" {
                option value="" { "all suites" }
                @for suite in &filters.suites { option value=(suite) selected[*suite == query.suite] { (suite) } }
            }
            label for="platform" { "Platform" }
            select id="platform" name="platform" {
                option value="" { "all platforms" }
                @for platform in &filters.platforms { option value=(platform) selected[*platform == query.platform] { (platform) } }
            }
            button type="submit" { "Show" }
        }
        p {
            "Revision " code { (short(&node.changeset)) } ": " (node.lines_covered) " of " (node.lines_total) " lines covered "
            (percent_bar(node.coverage_percent))
            " · " a href=(href("/ui/coverage/zero", &[("repository", &query.repository), ("changeset", &query.changeset)])) { "Zero-coverage report" }
        }
        (chart::line_chart(&format!("Coverage of {} over time", if node.path.is_empty() { "the repository" } else { &node.path }), &points))
        @if node.kind == "directory" { (children(&query, &node)) } @else { (lines(&node, source.as_ref())) }
    };
    Ok(layout::page(&Shell { title: &title, section: "coverage", viewer: &viewer }, body))
}

async fn repositories(state: &AppState, viewer: &Viewer) -> UiResult<Html<String>> {
    let repositories = db::coverage::repositories(&state.pool, 100).await?;
    let body = html! {
        h1 { "Coverage" }
        @if repositories.is_empty() {
            p class="muted" { "No coverage report yet." }
        } @else {
            ul {
                @for repository in &repositories {
                    li { a href=(href("/ui/coverage", &[("repository", repository)])) { (repository) } }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: "Coverage", section: "coverage", viewer }, body))
}

fn breadcrumb(query: &Browse, node: &PathCoverage) -> Markup {
    let mut parts = Vec::new();
    let mut prefix = String::new();
    for segment in node.path.split('/').filter(|segment| !segment.is_empty()) {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(segment);
        parts.push((segment.to_owned(), prefix.clone()));
    }
    html! {
        nav aria-label="Path" class="crumbs" {
            a href=(query.link("", &query.changeset)) { (query.repository) }
            @for (segment, path) in &parts {
                " / "
                @if *path == node.path { span aria-current="page" { (segment) } } @else { a href=(query.link(path, &query.changeset)) { (segment) } }
            }
        }
    }
}

fn children(query: &Browse, node: &PathCoverage) -> Markup {
    let mut children: Vec<_> = node.children.iter().flatten().map(|(_, child)| child).collect();
    children.sort_by(|a, b| (a.kind != "directory", &a.name).cmp(&(b.kind != "directory", &b.name)));
    html! {
        table {
            thead { tr { th scope="col" { "Name" } th scope="col" class="number" { "Lines" } th scope="col" class="number" { "Covered" } th scope="col" { "Coverage" } } }
            tbody {
                @for child in children {
                    tr {
                        td {
                            a href=(query.link(&child.path, &query.changeset)) { (child.name) @if child.kind == "directory" { "/" } }
                        }
                        td class="number" { (child.lines_total) }
                        td class="number" { (child.lines_covered) }
                        td { (percent_bar(child.coverage_percent)) }
                    }
                }
            }
        }
    }
}

/// A file's lines: the hits of each (`-1`: not instrumented).
/// A file's lines with their hits, and its source when hg.mozilla.org gave it (else why not).
fn lines(node: &PathCoverage, source: Option<&Result<std::sync::Arc<str>, ApiError>>) -> Markup {
    let hits = node.coverage.as_deref().unwrap_or_default();
    let text: Vec<&str> = match source {
        Some(Ok(text)) => text.lines().collect(),
        _ => Vec::new(),
    };
    let count = hits.len().max(text.len());
    html! {
        h2 { "Lines" }
        p class="legend" { span class="line covered" { "covered" } " " span class="line uncovered" { "not covered" } " " span class="line none" { "not instrumented" } }
        @if let Some(Err(error)) = source { p class="muted" { "Source not shown: " (error.problem().detail) } }
        table class="lines" {
            thead { tr { th scope="col" class="number" { "Line" } th scope="col" class="number" { "Hits" } @if !text.is_empty() { th scope="col" { "Source" } } } }
            tbody {
                @for index in 0..count {
                    @let hit = hits.get(index).copied().unwrap_or(-1);
                    @let class = match hit { c if c < 0 => "none", 0 => "uncovered", _ => "covered" };
                    tr class={ "line " (class) } {
                        td class="number" { (index + 1) }
                        td class="number" { @if hit >= 0 { (hit) } @else { "–" } }
                        @if !text.is_empty() { td class="source" { code { (text.get(index).copied().unwrap_or_default()) } } }
                    }
                }
            }
        }
    }
}

/// The zero-coverage report's filters, as coverage.moz.tools had them.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ZeroFilters {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    changeset: String,
    /// `include` shows third-party code too (hidden by default).
    #[serde(default)]
    third_party: String,
    /// `include` shows headers too (hidden by default).
    #[serde(default)]
    headers: String,
    /// `on`: only files none of whose functions ran.
    #[serde(default)]
    completely: String,
    /// `c/c++`, `javascript`, `rust`, `python`, `java` or empty for any.
    #[serde(default)]
    language: String,
}

const LANGUAGES: [&str; 5] = ["c/c++", "javascript", "rust", "python", "java"];

/// The language of a path, by its extension.
fn language(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, extension)| extension) {
        "c" | "cc" | "cpp" | "cxx" | "h" | "hh" | "hpp" | "hxx" | "mm" | "m" | "inc" => "c/c++",
        "js" | "jsm" | "mjs" | "jsx" | "ts" | "tsx" | "xul" | "html" | "xhtml" => "javascript",
        "rs" => "rust",
        "py" => "python",
        "java" | "kt" => "java",
        _ => "",
    }
}

fn is_header(path: &str) -> bool {
    matches!(path.rsplit_once('.').map_or("", |(_, extension)| extension), "h" | "hh" | "hpp" | "hxx" | "inc")
}

/// Third-party code in mozilla-central: vendored trees.
fn is_third_party(path: &str) -> bool {
    const TREES: [&str; 6] =
        ["third_party/", "other-licenses/", "gfx/skia/skia/", "media/libvpx/", "security/nss/", "nsprpub/"];
    TREES.iter().any(|tree| path.starts_with(tree)) || path.contains("/third_party/")
}

fn keep(filters: &ZeroFilters, file: &ZeroCoverageFile) -> bool {
    (filters.third_party == "include" || !is_third_party(&file.name))
        && (filters.headers == "include" || !is_header(&file.name))
        && (filters.completely != "on" || file.uncovered_funcs == file.funcs)
        && (filters.language.is_empty() || language(&file.name) == filters.language)
}

/// `GET /ui/coverage/zero?repository=&changeset=&third_party=&headers=&completely=&language=`.
pub(super) async fn zero(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryParams(filters): QueryParams<ZeroFilters>,
) -> UiResult<Html<String>> {
    let query = RepositoryQuery { repository: filters.repository.clone(), changeset: non_empty(&filters.changeset) };
    let report = coverage::zero(State(state), Reader, QueryParams(query)).await?.0;
    let mut files: Vec<&ZeroCoverageFile> = report.files.iter().filter(|file| keep(&filters, file)).collect();
    files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    let shown = files.len();
    let body = html! {
        h1 { "Zero coverage · " (filters.repository) }
        p { "Files with no covered line at revision " code { (short(&report.changeset)) } " (push " (report.push) "), largest first." }
        form method="get" action="/ui/coverage/zero" class="filters" {
            input type="hidden" name="repository" value=(filters.repository);
            input type="hidden" name="changeset" value=(filters.changeset);
            label { input type="checkbox" name="third_party" value="include" checked[filters.third_party == "include"]; " third-party code" }
            label { input type="checkbox" name="headers" value="include" checked[filters.headers == "include"]; " headers" }
            label { input type="checkbox" name="completely" value="on" checked[filters.completely == "on"]; " completely uncovered only" }
            label for="language" { "Language" }
            select id="language" name="language" {
                option value="" { "any" }
                @for name in LANGUAGES { option value=(name) selected[name == filters.language] { (name) } }
            }
            button type="submit" { "Filter" }
        }
        p { (shown) " of " (report.files.len()) " files." }
        table {
            thead { tr { th scope="col" { "File" } th scope="col" class="number" { "Functions" } th scope="col" class="number" { "Uncovered functions" } th scope="col" class="number" { "Instrumented lines" } } }
            tbody {
                @for file in files.iter().take(1000) {
                    tr {
                        td { a href=(href("/ui/coverage", &[("repository", &filters.repository), ("path", &file.name), ("changeset", &filters.changeset)])) { (file.name) } }
                        td class="number" { (file.funcs) }
                        td class="number" { (file.uncovered_funcs) }
                        td class="number" { (file.size) }
                    }
                }
            }
        }
        @if shown > 1000 { p class="muted" { "The first 1,000 are shown; narrow the filters for the rest." } }
    };
    Ok(layout::page(&Shell { title: "Zero coverage", section: "coverage", viewer: &viewer }, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, funcs: u64, uncovered_funcs: u64) -> ZeroCoverageFile {
        ZeroCoverageFile { name: name.into(), funcs, uncovered_funcs, size: 10 }
    }

    #[test]
    fn third_party_code_and_headers_are_hidden_unless_asked_for() {
        let default = ZeroFilters::default();
        assert!(keep(&default, &file("dom/base/a.cpp", 2, 2)));
        assert!(!keep(&default, &file("third_party/rust/x/lib.rs", 2, 2)));
        assert!(!keep(&default, &file("media/webrtc/third_party/a.c", 2, 2)));
        assert!(!keep(&default, &file("dom/base/a.h", 2, 2)));
        let everything =
            ZeroFilters { third_party: "include".into(), headers: "include".into(), ..ZeroFilters::default() };
        assert!(keep(&everything, &file("third_party/a.h", 2, 2)));
    }

    #[test]
    fn completely_uncovered_and_language_filters() {
        let completely = ZeroFilters { completely: "on".into(), ..ZeroFilters::default() };
        assert!(keep(&completely, &file("a.cpp", 3, 3)));
        assert!(!keep(&completely, &file("a.cpp", 3, 1)));
        let rust = ZeroFilters { language: "rust".into(), ..ZeroFilters::default() };
        assert!(keep(&rust, &file("gfx/wr/lib.rs", 1, 1)));
        assert!(!keep(&rust, &file("dom/a.js", 1, 1)));
    }
}
