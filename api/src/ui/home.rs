//! The home page: each bot's latest run, the sign-offs waiting (first those the signed-in person
//! may sign), the pipelines in progress, the newest coverage report and the failing grafts.

use axum::extract::State;
use axum::response::Html;
use maud::html;
use shipit_shared::api_types::coverage::PathQuery;
use shipit_shared::api_types::pipelines::{PipelineQuery, PipelineState, StepKind, StepServiceState};

use super::layout::{self, Shell, badge, href, percent_bar, short, when};
use super::{UiResult, Viewer};
use crate::auth::Reader;
use crate::db;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::pipelines::services::{self, signoff::Signer};
use crate::pipelines::transitions::pipeline_step_of;
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
    let client = state.pool.get().await.map_err(db::DbError::from)?;
    let waiting_rows =
        db::steps::list_steps(&client, StepKind::Signoff, Some(StepServiceState::InProgress), None, 50).await?;
    drop(client);
    let person = viewer.session.as_ref().and_then(|session| session.person.as_ref());
    // Those the person may sign first, then the others.
    let mut waiting = Vec::new();
    for row in waiting_rows {
        let step = services::view(&state, row).await.map_err(ApiError::from)?;
        let yours = match (person, &step.signoff) {
            (Some(person), Some(progress)) => {
                let signed =
                    progress.signatures.iter().any(|signature| signature.email.eq_ignore_ascii_case(&person.email));
                !signed && !Signer::of(person).may_sign_for(progress).is_empty()
            }
            _ => false,
        };
        waiting.push((yours, step));
    }
    waiting.sort_by_key(|(yours, _)| !*yours);
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
        section aria-labelledby="signoffs" {
            h2 id="signoffs" { "Sign-offs waiting" }
            @if waiting.is_empty() {
                p class="muted" { "No sign-off waits." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Step" } th scope="col" { "What" } th scope="col" { "Still needed" } th scope="col" { "Expires" } th scope="col" { "You" } } }
                    tbody {
                        @for (yours, step) in &waiting {
                            tr {
                                td {
                                    @match pipeline_step_of(&step.uid) {
                                        Some((pipeline, _)) => a href=(format!("/ui/pipelines/{pipeline}")) { (step.uid) },
                                        None => code { (step.uid) },
                                    }
                                }
                                td { (step.parameters.get("description").and_then(|value| value.as_str()).unwrap_or("")) }
                                td { @if let Some(progress) = &step.signoff { (progress.may_sign.join(", ")) } }
                                td { @if let Some(expires_at) = step.signoff.as_ref().and_then(|progress| progress.expires_at) { (when(expires_at)) } }
                                td { @if *yours { span class="badge warn" { "may sign" } } }
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
