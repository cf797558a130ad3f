//! The static-analysis pages: diffs found by revision or diff id, the newest diffs, a diff's
//! issues with filters, and the issues of each check over time.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use shipit_shared::api_types::static_analysis::{CheckStatsQuery, DiffSummary};

use super::chart;
use super::layout::{self, Shell, badge, href, short, when};
use super::{UiResult, Viewer, bad_request, non_empty, start_of_day};
use crate::auth::Reader;
use crate::db;
use crate::extract::{Path, QueryParams};
use crate::routes::static_analysis;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct Search {
    /// A Phabricator revision (`D123` or `123`).
    #[serde(default)]
    revision: String,
    /// A diff id.
    #[serde(default)]
    diff: String,
}

fn number(field: &str, text: &str) -> UiResult<i64> {
    text.trim()
        .trim_start_matches(['D', 'd'])
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad_request(format!("{field}: {text:?} is not an id")))
}

/// `GET /ui/static-analysis?revision=&diff=`: a search sends you to the revision or diff; without
/// one, the newest diffs.
pub(super) async fn index(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryParams(search): QueryParams<Search>,
) -> UiResult<Response> {
    if !search.diff.trim().is_empty() {
        return Ok(
            Redirect::to(&format!("/ui/static-analysis/diffs/{}", number("diff", &search.diff)?)).into_response()
        );
    }
    if !search.revision.trim().is_empty() {
        return Ok(Redirect::to(&format!("/ui/static-analysis/revisions/{}", number("revision", &search.revision)?))
            .into_response());
    }
    let recent = db::static_analysis::recent_diffs(&state.pool, None, 50).await?;
    let body = html! {
        h1 { "Static analysis" }
        form method="get" action="/ui/static-analysis" class="filters" role="search" {
            label for="revision" { "Revision" }
            input id="revision" name="revision" placeholder="D123" size="10";
            label for="diff" { "Diff" }
            input id="diff" name="diff" placeholder="456" size="10";
            button type="submit" { "Find" }
        }
        p { a href="/ui/static-analysis/checks" { "Issues per check over time" } }
        h2 { "Newest diffs" }
        @if recent.is_empty() {
            p class="muted" { "No diff analysed yet." }
        } @else {
            table {
                thead { tr { th scope="col" { "Diff" } th scope="col" { "Revision" } th scope="col" { "Repository" } (summary_headings()) } }
                tbody {
                    @for row in &recent {
                        tr {
                            td { a href=(format!("/ui/static-analysis/diffs/{}", row.diff.id)) { (row.diff.id) } }
                            td { a href=(format!("/ui/static-analysis/revisions/{}", row.revision_id)) { "D" (row.revision_id) } }
                            td { (row.repository) }
                            (summary_cells(&row.diff))
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: "Static analysis", section: "static-analysis", viewer: &viewer }, body)
        .into_response())
}

fn summary_headings() -> Markup {
    html! { th scope="col" class="number" { "Issues" } th scope="col" class="number" { "Publishable" } th scope="col" class="number" { "Errors" } th scope="col" { "Analysed" } }
}

fn summary_cells(diff: &DiffSummary) -> Markup {
    html! {
        td class="number" { (diff.issues) }
        td class="number" { (diff.publishable) }
        td class="number" { (diff.errors) }
        td { (when(diff.updated_at)) }
    }
}

/// `GET /ui/static-analysis/revisions/{id}`.
pub(super) async fn revision(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> UiResult<Html<String>> {
    let revision = static_analysis::get_revision(State(state), Reader, Path(id)).await?.0;
    let title = format!("D{id}");
    let body = html! {
        h1 { "Revision D" (revision.id) " · " (revision.repository) }
        table {
            thead { tr { th scope="col" { "Diff" } th scope="col" { "Base" } th scope="col" { "Head" } (summary_headings()) } }
            tbody {
                @for diff in &revision.diffs {
                    tr {
                        td { a href=(format!("/ui/static-analysis/diffs/{}", diff.id)) { (diff.id) } }
                        td { code { (diff.base.as_deref().map(short).unwrap_or("")) } }
                        td { code { (diff.head.as_deref().map(short).unwrap_or("")) } }
                        (summary_cells(diff))
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: &title, section: "static-analysis", viewer: &viewer }, body))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct IssueFilters {
    /// `on`: issues the patch introduced only.
    #[serde(default)]
    new: String,
    /// `on`: issues that would be published only.
    #[serde(default)]
    publishable: String,
}

/// `GET /ui/static-analysis/diffs/{id}?new=&publishable=`.
pub(super) async fn diff(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    QueryParams(filters): QueryParams<IssueFilters>,
) -> UiResult<Html<String>> {
    let diff = static_analysis::get_issues(State(state), Reader, Path(id)).await?.0;
    let issues: Vec<_> = diff
        .issues
        .iter()
        .filter(|stored| filters.new != "on" || stored.issue.is_new)
        .filter(|stored| filters.publishable != "on" || stored.issue.publishable)
        .collect();
    let title = format!("Diff {id}");
    let body = html! {
        h1 { "Diff " (diff.diff_id) }
        p { "Revision " a href=(format!("/ui/static-analysis/revisions/{}", diff.revision_id)) { "D" (diff.revision_id) } " · " (diff.repository) }
        form method="get" action=(format!("/ui/static-analysis/diffs/{id}")) class="filters" {
            label { input type="checkbox" name="new" value="on" checked[filters.new == "on"]; " new only" }
            label { input type="checkbox" name="publishable" value="on" checked[filters.publishable == "on"]; " publishable only" }
            button type="submit" { "Filter" }
        }
        p { (issues.len()) " of " (diff.issues.len()) " issues." }
        table {
            thead { tr { th scope="col" { "New" } th scope="col" { "Where" } th scope="col" { "Analyzer" } th scope="col" { "Check" } th scope="col" { "Level" } th scope="col" { "Message" } th scope="col" { "Publishable" } } }
            tbody {
                @for stored in &issues {
                    @let issue = &stored.issue;
                    tr {
                        td { @if issue.is_new { span class="badge warn" { "new" } } @else { "known" } }
                        td { code { (issue.path) ":" (issue.line) } }
                        td { (issue.analyzer) }
                        td { (issue.check) }
                        td { (badge(issue.level.as_str())) }
                        td { (issue.message) }
                        td { @if issue.publishable { "yes" } @else { "no" } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: &title, section: "static-analysis", viewer: &viewer }, body))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CheckFilters {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    analyzer: String,
    /// `YYYY-MM-DD`; 30 days ago when empty.
    #[serde(default)]
    since: String,
}

/// `GET /ui/static-analysis/checks?repository=&analyzer=&since=`.
pub(super) async fn checks(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryParams(filters): QueryParams<CheckFilters>,
) -> UiResult<Html<String>> {
    let since = start_of_day("since", &filters.since)?;
    let query =
        CheckStatsQuery { repository: non_empty(&filters.repository), analyzer: non_empty(&filters.analyzer), since };
    let stats = static_analysis::get_checks(State(state), Reader, QueryParams(query)).await?.0;
    let mut per_day: BTreeMap<chrono::NaiveDate, i64> = BTreeMap::new();
    let mut per_check: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for stat in &stats.checks {
        *per_day.entry(stat.day).or_default() += stat.issues;
        let totals = per_check.entry((&stat.analyzer, &stat.check)).or_default();
        totals.0 += stat.issues;
        totals.1 += stat.publishable;
    }
    let mut ranked: Vec<_> = per_check.into_iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    let body = html! {
        h1 { "Issues per check" }
        form method="get" action="/ui/static-analysis/checks" class="filters" {
            label for="repository" { "Repository" }
            input id="repository" name="repository" value=(filters.repository) size="16";
            label for="analyzer" { "Analyzer" }
            input id="analyzer" name="analyzer" value=(filters.analyzer) size="12";
            label for="since" { "Since" }
            input id="since" name="since" type="date" value=(filters.since);
            button type="submit" { "Show" }
        }
        (chart::bar_chart("Issues found per day", &per_day))
        @if ranked.is_empty() {
            p class="muted" { "No issue in this period." }
        } @else {
            table {
                thead { tr { th scope="col" { "Analyzer" } th scope="col" { "Check" } th scope="col" class="number" { "Issues" } th scope="col" class="number" { "Publishable" } } }
                tbody {
                    @for ((analyzer, check), (issues, publishable)) in &ranked {
                        tr {
                            td { a href=(href("/ui/static-analysis/checks", &[("repository", &filters.repository), ("analyzer", analyzer), ("since", &filters.since)])) { (analyzer) } }
                            td { (check) }
                            td class="number" { (issues) }
                            td class="number" { (publishable) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: "Issues per check", section: "static-analysis", viewer: &viewer }, body))
}
