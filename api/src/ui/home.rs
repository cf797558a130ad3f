//! The home page: each bot's latest run, the pipelines in progress, the newest coverage report
//! and the failing grafts.

use axum::extract::State;
use axum::response::Html;
use maud::html;
use shipit_shared::api_types::coverage::PathQuery;
use shipit_shared::api_types::pipelines::{PipelineQuery, PipelineState};

use super::layout::{self, Shell, badge, href, percent_bar, short, when};
use super::{UiResult, Viewer};
use crate::auth::Reader;
use crate::db;
use crate::extract::QueryParams;
use crate::routes::{coverage, pipelines};
use crate::state::AppState;

/// `GET /ui/`.
pub(super) async fn page(State(state): State<AppState>, viewer: Viewer) -> UiResult<Html<String>> {
    let runs = db::runs::latest_per_bot(&state.pool).await?;
    let in_progress = pipelines::list_pipelines(
        State(state.clone()),
        Reader,
        QueryParams(PipelineQuery { state: Some(PipelineState::Running), before: None, limit: Some(20) }),
    )
    .await?
    .0
    .pipelines;
    let newest_coverage = match db::coverage::repositories(&state.pool, 1).await?.into_iter().next() {
        Some(repository) => {
            let query =
                PathQuery { repository: repository.clone(), changeset: None, path: None, suite: None, platform: None };
            Some((repository, coverage::path_coverage(&state, &query).await?))
        }
        None => None,
    };
    let failing: Vec<_> = db::uplift::bugs(&state.pool)
        .await?
        .into_iter()
        .filter(|bug| bug.grafts.iter().any(|graft| !graft.success))
        .collect();

    let body = html! {
        h1 { "ShipIt" }
        section aria-labelledby="bots" {
            h2 id="bots" { "Bots" }
            @if runs.is_empty() {
                p class="muted" { "No bot has run yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Bot" } th scope="col" { "Latest run" } th scope="col" { "State" } th scope="col" { "Started" } th scope="col" { "Says" } } }
                    tbody {
                        @for run in &runs {
                            tr {
                                td { a href=(href("/ui/runs", &[("bot", &run.bot)])) { (run.bot) } }
                                td { a href=(format!("/ui/runs/{}", run.id)) { "#" (run.id) } }
                                td { (badge(run.status.as_str())) }
                                td { (when(run.created_at)) }
                                td { (run.error_summary.as_deref().or(run.message.as_deref()).unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="pipelines" {
            h2 id="pipelines" { "Pipelines in progress" }
            @if in_progress.is_empty() {
                p class="muted" { "No pipeline is running." }
            } @else {
                ul {
                    @for pipeline in &in_progress {
                        li { a href=(format!("/ui/pipelines/{}", pipeline.uid)) { (pipeline.uid) } " · started by " (pipeline.created_by) " " (when(pipeline.created_at)) }
                    }
                }
            }
        }
        section aria-labelledby="coverage" {
            h2 id="coverage" { "Newest coverage report" }
            @if let Some((repository, root)) = &newest_coverage {
                p {
                    a href=(href("/ui/coverage", &[("repository", repository), ("changeset", &root.changeset)])) { (repository) " at " code { (short(&root.changeset)) } }
                    ": " (root.lines_covered) " of " (root.lines_total) " lines covered "
                    (percent_bar(root.coverage_percent))
                }
            } @else {
                p class="muted" { "No coverage report yet." }
            }
        }
        section aria-labelledby="grafts" {
            h2 id="grafts" { "Failing grafts" }
            @if failing.is_empty() {
                p class="muted" { "Every tested uplift grafts cleanly." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Bug" } th scope="col" { "Summary" } th scope="col" { "Fails on" } } }
                    tbody {
                        @for bug in &failing {
                            tr {
                                td { a href=(format!("/ui/uplift/bugs/{}", bug.bugzilla_id)) { (bug.bugzilla_id) } }
                                td { (bug.summary) }
                                td {
                                    @for graft in bug.grafts.iter().filter(|graft| !graft.success) {
                                        span class="badge bad" { (graft.channel) } " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: "Home", section: "home", viewer: &viewer }, body))
}
