//! The coverage pages: a directory with the percentage of each child, a file's lines (covered,
//! uncovered, not instrumented), the history of a path (each point opens that revision), the
//! filters by revision, suite and platform, and the zero-coverage report with its filters.

use axum::extract::State;
use axum::response::Html;
use chrono::NaiveDate;
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

/// Each segment of `path` with the path up to it: `a/b` gives `(a, a)` and `(b, a/b)`; empty
/// segments are skipped.
fn crumbs(path: &str) -> Vec<(&str, String)> {
    let mut prefix = String::new();
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(segment);
            (segment, prefix.clone())
        })
        .collect()
}

fn breadcrumb(query: &Browse, node: &PathCoverage) -> Markup {
    let parts = crumbs(&node.path);
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

/// The zero-coverage report's filters, as coverage.moz.tools had them, and the directory shown.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ZeroFilters {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    changeset: String,
    /// The directory whose entries are listed; the repository's root when empty.
    #[serde(default)]
    path: String,
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
    /// How long before the report's push a file was last pushed: `one_year` (under a year),
    /// `two_years` (one to two), `older` (over two), or empty for any time.
    #[serde(default)]
    last_push: String,
}

impl ZeroFilters {
    /// This page for `path`, with the same filters.
    fn link(&self, path: &str) -> String {
        href(
            "/ui/coverage/zero",
            &[
                ("repository", &self.repository),
                ("changeset", &self.changeset),
                ("path", path),
                ("third_party", &self.third_party),
                ("headers", &self.headers),
                ("completely", &self.completely),
                ("language", &self.language),
                ("last_push", &self.last_push),
            ],
        )
    }
}

const LANGUAGES: [&str; 5] = ["c/c++", "javascript", "rust", "python", "java"];
const PUSH_AGES: [(&str, &str); 4] =
    [("", "any time"), ("one_year", "under 1 year"), ("two_years", "1 to 2 years"), ("older", "over 2 years")];

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

/// Whether a file last pushed on `last_push` is of the age the filter asks for, counted back from
/// the report's push; a file the pushlog does not name has no age, and only "any time" keeps it.
fn of_push_age(filter: &str, last_push: Option<NaiveDate>, report_day: NaiveDate) -> bool {
    let days = |last: NaiveDate| (report_day - last).num_days();
    match (filter, last_push) {
        ("one_year", Some(last)) => days(last) < 365,
        ("two_years", Some(last)) => (365..730).contains(&days(last)),
        ("older", Some(last)) => days(last) >= 730,
        ("one_year" | "two_years" | "older", None) => false,
        _ => true,
    }
}

fn keep(filters: &ZeroFilters, file: &ZeroCoverageFile, report_day: NaiveDate) -> bool {
    (filters.third_party == "include" || !is_third_party(&file.name))
        && (filters.headers == "include" || !is_header(&file.name))
        && (filters.completely != "on" || file.uncovered_funcs == file.funcs)
        && (filters.language.is_empty() || language(&file.name) == filters.language)
        && of_push_age(&filters.last_push, file.last_push_date, report_day)
}

/// A row of the report: a file of the directory shown, or a directory under it with the sums of
/// its files (how many, their functions, sizes and commits; the first and last of their pushes).
#[derive(Debug, PartialEq)]
struct ZeroEntry<'a> {
    name: &'a str,
    /// The files under a directory; 0 for a file.
    files: u64,
    funcs: u64,
    uncovered_funcs: u64,
    size: u64,
    commits: u64,
    first_push: Option<NaiveDate>,
    last_push: Option<NaiveDate>,
}

/// The entries of `directory` ("" for the root) for `files`, directories with the most files
/// first, then by uncovered functions, then by name (coverage.moz.tools' order).
fn zero_entries<'a>(files: &[&'a ZeroCoverageFile], directory: &str) -> Vec<ZeroEntry<'a>> {
    let prefix = if directory.is_empty() { String::new() } else { format!("{directory}/") };
    let mut entries: std::collections::BTreeMap<&str, ZeroEntry<'a>> = std::collections::BTreeMap::new();
    for file in files {
        let Some(rest) = file.name.strip_prefix(prefix.as_str()) else { continue };
        let (name, in_directory) = match rest.split_once('/') {
            Some((name, _)) => (name, true),
            None => (rest, false),
        };
        let entry = entries.entry(name).or_insert(ZeroEntry {
            name,
            files: 0,
            funcs: 0,
            uncovered_funcs: 0,
            size: 0,
            commits: 0,
            first_push: None,
            last_push: None,
        });
        entry.files += u64::from(in_directory);
        entry.funcs += file.funcs;
        entry.uncovered_funcs += file.uncovered_funcs;
        entry.size += file.size;
        entry.commits += file.commits;
        entry.first_push = [entry.first_push, file.first_push_date].into_iter().flatten().min();
        entry.last_push = [entry.last_push, file.last_push_date].into_iter().flatten().max();
    }
    let mut entries: Vec<ZeroEntry<'a>> = entries.into_values().collect();
    entries.sort_by(|a, b| {
        b.files.cmp(&a.files).then(b.uncovered_funcs.cmp(&a.uncovered_funcs)).then_with(|| a.name.cmp(b.name))
    });
    entries
}

fn day(date: Option<NaiveDate>) -> Markup {
    html! { @if let Some(date) = date { time datetime=(date) { (date) } } @else { span class="muted" { "–" } } }
}

/// `GET /ui/coverage/zero?repository=&changeset=&path=&third_party=&headers=&completely=&language=&last_push=`.
pub(super) async fn zero(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryParams(filters): QueryParams<ZeroFilters>,
) -> UiResult<Html<String>> {
    let query = RepositoryQuery { repository: filters.repository.clone(), changeset: non_empty(&filters.changeset) };
    let report = coverage::zero(State(state), Reader, QueryParams(query)).await?.0;
    let report_day = report.push_date.date_naive();
    let files: Vec<&ZeroCoverageFile> = report.files.iter().filter(|file| keep(&filters, file, report_day)).collect();
    let directory = filters.path.trim_matches('/');
    let entries = zero_entries(&files, directory);
    let shown: u64 = entries.iter().map(|entry| entry.files.max(1)).sum();
    let body = html! {
        h1 { "Zero coverage · " (filters.repository) }
        p {
            "Files with no covered line at revision " code { (short(&report.changeset)) }
            " (push " (report.push) ", " time datetime=(report_day) { (report_day) } "). Push ages count back from that push."
        }
        nav aria-label="Path" class="crumbs" {
            a href=(filters.link("")) { (filters.repository) }
            @for (segment, path) in crumbs(directory) {
                " / "
                @if path == directory { span aria-current="page" { (segment) } } @else { a href=(filters.link(&path)) { (segment) } }
            }
        }
        form method="get" action="/ui/coverage/zero" class="filters" {
            input type="hidden" name="repository" value=(filters.repository);
            input type="hidden" name="changeset" value=(filters.changeset);
            input type="hidden" name="path" value=(directory);
            label { input type="checkbox" name="third_party" value="include" checked[filters.third_party == "include"]; " third-party code" }
            label { input type="checkbox" name="headers" value="include" checked[filters.headers == "include"]; " headers" }
            label { input type="checkbox" name="completely" value="on" checked[filters.completely == "on"]; " completely uncovered only" }
            label for="language" { "Language" }
            select id="language" name="language" {
                option value="" { "any" }
                @for name in LANGUAGES { option value=(name) selected[name == filters.language] { (name) } }
            }
            label for="last_push" { "Last push" }
            select id="last_push" name="last_push" {
                @for (value, label) in PUSH_AGES { option value=(value) selected[value == filters.last_push] { (label) } }
            }
            button type="submit" { "Filter" }
        }
        p { (shown) " of the report's " (report.files.len()) " files match the filters." }
        table {
            thead {
                tr {
                    th scope="col" { "Name" }
                    th scope="col" class="number" { "Files" }
                    th scope="col" class="number" { "Functions" }
                    th scope="col" class="number" { "Uncovered functions" }
                    th scope="col" { "First push" }
                    th scope="col" { "Last push" }
                    th scope="col" class="number" { "Instrumented lines" }
                    th scope="col" class="number" { "Commits" }
                }
            }
            tbody {
                @for entry in entries.iter().take(1000) {
                    @let path = if directory.is_empty() { entry.name.to_owned() } else { format!("{directory}/{}", entry.name) };
                    tr {
                        td {
                            @if entry.files > 0 {
                                a href=(filters.link(&path)) { (entry.name) "/" }
                            } @else {
                                a href=(href("/ui/coverage", &[("repository", &filters.repository), ("path", &path), ("changeset", &filters.changeset)])) { (entry.name) }
                            }
                        }
                        td class="number" { @if entry.files > 0 { (entry.files) } }
                        td class="number" { (entry.funcs) }
                        td class="number" { (entry.uncovered_funcs) }
                        td { (day(entry.first_push)) }
                        td { (day(entry.last_push)) }
                        td class="number" { (entry.size) }
                        td class="number" { (entry.commits) }
                    }
                }
            }
        }
        @if entries.len() > 1000 { p class="muted" { "The first 1,000 entries are shown; open a directory or narrow the filters for the rest." } }
    };
    Ok(layout::page(&Shell { title: "Zero coverage", section: "coverage", viewer: &viewer }, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, funcs: u64, uncovered_funcs: u64) -> ZeroCoverageFile {
        ZeroCoverageFile {
            name: name.into(),
            funcs,
            uncovered_funcs,
            size: 10,
            first_push_date: None,
            last_push_date: None,
            commits: 0,
        }
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn pushed(name: &str, first: &str, last: &str, commits: u64) -> ZeroCoverageFile {
        ZeroCoverageFile {
            first_push_date: Some(date(first)),
            last_push_date: Some(date(last)),
            commits,
            ..file(name, 2, 1)
        }
    }

    const REPORT_DAY: &str = "2018-03-02";

    #[test]
    fn third_party_code_and_headers_are_hidden_unless_asked_for() {
        let default = ZeroFilters::default();
        assert!(keep(&default, &file("dom/base/a.cpp", 2, 2), date(REPORT_DAY)));
        assert!(!keep(&default, &file("third_party/rust/x/lib.rs", 2, 2), date(REPORT_DAY)));
        assert!(!keep(&default, &file("media/webrtc/third_party/a.c", 2, 2), date(REPORT_DAY)));
        assert!(!keep(&default, &file("dom/base/a.h", 2, 2), date(REPORT_DAY)));
        let everything =
            ZeroFilters { third_party: "include".into(), headers: "include".into(), ..ZeroFilters::default() };
        assert!(keep(&everything, &file("third_party/a.h", 2, 2), date(REPORT_DAY)));
    }

    #[test]
    fn completely_uncovered_and_language_filters() {
        let completely = ZeroFilters { completely: "on".into(), ..ZeroFilters::default() };
        assert!(keep(&completely, &file("a.cpp", 3, 3), date(REPORT_DAY)));
        assert!(!keep(&completely, &file("a.cpp", 3, 1), date(REPORT_DAY)));
        let rust = ZeroFilters { language: "rust".into(), ..ZeroFilters::default() };
        assert!(keep(&rust, &file("gfx/wr/lib.rs", 1, 1), date(REPORT_DAY)));
        assert!(!keep(&rust, &file("dom/a.js", 1, 1), date(REPORT_DAY)));
    }

    #[test]
    fn crumbs_are_each_segment_with_its_path() {
        let owned = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            pairs.iter().map(|(segment, path)| (*segment, (*path).to_owned())).collect()
        };
        assert_eq!(
            crumbs("dom/base/a.cpp"),
            owned(&[("dom", "dom"), ("base", "dom/base"), ("a.cpp", "dom/base/a.cpp")])
        );
        assert_eq!(crumbs("a//b/"), owned(&[("a", "a"), ("b", "a/b")]));
        assert!(crumbs("").is_empty());
    }

    #[test]
    fn push_ages_count_back_from_the_report_push() {
        let day = date(REPORT_DAY);
        let recent = pushed("a.cpp", "2010-01-01", "2017-12-01", 4);
        let middle = pushed("b.cpp", "2010-01-01", "2016-06-01", 4);
        let old = pushed("c.cpp", "2010-01-01", "2015-01-01", 4);
        let unknown = file("d.cpp", 1, 1);
        let ages = |filter: &str| {
            let filters = ZeroFilters { last_push: filter.into(), ..ZeroFilters::default() };
            [&recent, &middle, &old, &unknown].iter().map(|file| keep(&filters, file, day)).collect::<Vec<_>>()
        };
        assert_eq!(ages(""), [true, true, true, true]);
        assert_eq!(ages("one_year"), [true, false, false, false]);
        assert_eq!(ages("two_years"), [false, true, false, false]);
        assert_eq!(ages("older"), [false, false, true, false]);
        assert_eq!(ages("bogus"), [true, true, true, true]);
    }

    #[test]
    fn directories_sum_their_files_and_come_first() {
        let files = [
            pushed("dom/a/x.cpp", "2012-01-01", "2014-01-01", 2),
            pushed("dom/a/y.cpp", "2011-05-05", "2013-01-01", 3),
            pushed("dom/b.cpp", "2016-01-01", "2016-02-01", 1),
            file("dom/c.cpp", 9, 9),
            pushed("other/z.cpp", "2010-01-01", "2010-01-01", 1),
        ];
        let files: Vec<&ZeroCoverageFile> = files.iter().collect();
        let root = zero_entries(&files, "");
        assert_eq!(root.iter().map(|entry| (entry.name, entry.files)).collect::<Vec<_>>(), [("dom", 4), ("other", 1)]);
        let dom = zero_entries(&files, "dom");
        assert_eq!(dom.iter().map(|entry| entry.name).collect::<Vec<_>>(), ["a", "c.cpp", "b.cpp"]);
        let a = &dom[0];
        assert_eq!((a.files, a.funcs, a.uncovered_funcs, a.size, a.commits), (2, 4, 2, 20, 5));
        assert_eq!((a.first_push, a.last_push), (Some(date("2011-05-05")), Some(date("2014-01-01"))));
        assert_eq!((dom[1].files, dom[1].first_push), (0, None), "a file the pushlog does not name");
        assert!(zero_entries(&files, "dom/a/x.cpp").is_empty());
        assert!(zero_entries(&files, "do").is_empty(), "a prefix of a name is no directory");
    }
}
