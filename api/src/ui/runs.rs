//! The runs pages: every bot's runs with filters, one run with its progress, counts, parameters
//! and error summary, and the rerun button for a person whose token may start runs.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use shipit_shared::api_types::{RunQuery, RunStatus, TriggerRun};

use super::layout::{self, Shell, badge, href, when};
use super::session::{CsrfForm, SignedIn, check_form};
use super::{UiResult, Viewer, bad_request, non_empty};
use crate::auth::{Authorized, Reader, scopes};
use crate::extract::{JsonBody, Path, QueryParams};
use crate::routes::runs;
use crate::state::AppState;

/// The filters of the runs page, as the form sends them (an empty field is no filter).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RunFilters {
    #[serde(default)]
    bot: String,
    #[serde(default)]
    status: String,
    before: Option<i64>,
}

const STATUSES: [RunStatus; 4] = [RunStatus::Running, RunStatus::Succeeded, RunStatus::Partial, RunStatus::Failed];

/// `GET /ui/runs?bot=&status=&before=`.
pub(super) async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryParams(filters): QueryParams<RunFilters>,
) -> UiResult<Html<String>> {
    let status = match filters.status.as_str() {
        "" => None,
        name => Some(
            STATUSES
                .into_iter()
                .find(|status| status.as_str() == name)
                .ok_or_else(|| bad_request(format!("no run status is called {name:?}")))?,
        ),
    };
    let bot = non_empty(&filters.bot);
    let query = RunQuery { bot, status, limit: Some(50), before: filters.before };
    let page = runs::list_runs(State(state.clone()), Reader, QueryParams(query)).await?.0;
    let bots: Vec<&str> = state.bots.iter().map(|bot| bot.name.as_str()).collect();
    let body = html! {
        h1 { "Runs" }
        form method="get" action="/ui/runs" class="filters" {
            label for="bot" { "Bot" }
            select id="bot" name="bot" {
                option value="" { "every bot" }
                @for name in &bots {
                    option value=(name) selected[*name == filters.bot] { (name) }
                }
            }
            label for="status" { "State" }
            select id="status" name="status" {
                option value="" { "any state" }
                @for status in STATUSES {
                    option value=(status.as_str()) selected[status.as_str() == filters.status] { (status.as_str()) }
                }
            }
            button type="submit" { "Filter" }
        }
        @if page.runs.is_empty() {
            p class="muted" { "No run matches." }
        } @else {
            table {
                thead { tr { th scope="col" { "Run" } th scope="col" { "Bot" } th scope="col" { "Trigger" } th scope="col" { "State" } th scope="col" { "Progress" } th scope="col" { "Started" } th scope="col" { "Error" } } }
                tbody {
                    @for run in &page.runs {
                        tr {
                            td { a href=(format!("/ui/runs/{}", run.id)) { "#" (run.id) } }
                            td { (run.bot) }
                            td { (run.trigger.as_str()) }
                            td { (badge(run.status.as_str())) }
                            td { (progress(run.done, run.total)) }
                            td { (when(run.created_at)) }
                            td class="clip" { (run.error_summary.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        @if let Some(before) = page.next_before {
            p { a href=(href("/ui/runs", &[("bot", &filters.bot), ("status", &filters.status), ("before", &before.to_string())])) { "Older runs" } }
        }
    };
    Ok(layout::page(&Shell { title: "Runs", section: "runs", viewer: &viewer }, body))
}

fn progress(done: Option<i64>, total: Option<i64>) -> Markup {
    match (done, total) {
        (Some(done), Some(total)) if total > 0 => html! {
            progress value=(done.clamp(0, total)) max=(total) aria-label="progress" { (done) " of " (total) }
            " " (done) "/" (total)
        },
        (Some(done), _) => html! { (done) " done" },
        _ => html! {},
    }
}

/// `GET /ui/runs/{id}`.
pub(super) async fn one(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> UiResult<Html<String>> {
    let run = runs::get_run(State(state.clone()), Reader, Path(id)).await?.0;
    let startable = state.bots.iter().any(|bot| bot.name == run.bot);
    let title = format!("Run {} · {}", run.id, run.bot);
    let body = html! {
        h1 { "Run #" (run.id) " · " (run.bot) }
        dl class="facts" data-run=(run.id) data-status=(run.status.as_str()) {
            dt { "State" } dd data-field="status" { (badge(run.status.as_str())) }
            dt { "Trigger" } dd { (run.trigger.as_str()) }
            dt { "Started" } dd { (when(run.created_at)) }
            dt { "Last report" } dd { (when(run.updated_at)) }
            @if let Some(finished) = run.finished_at { dt { "Finished" } dd { (when(finished)) } }
            dt { "Progress" } dd data-field="progress" { (progress(run.done, run.total)) }
            @if let Some(message) = &run.message { dt { "Says" } dd data-field="message" { (message) } }
        }
        @if let Some(summary) = &run.error_summary {
            h2 { "Error summary" }
            pre class="error" { (summary) }
        }
        h2 { "Counts" }
        @if run.counts.is_empty() {
            p class="muted" { "No counts." }
        } @else {
            table class="narrow" {
                thead { tr { th scope="col" { "Count" } th scope="col" class="number" { "Value" } } }
                tbody {
                    @for (name, value) in &run.counts {
                        tr { td { (name) } td class="number" { (value_text(value)) } }
                    }
                }
            }
        }
        h2 { "Parameters" }
        @if run.parameters.is_empty() {
            p class="muted" { "None." }
        } @else {
            table class="narrow" {
                thead { tr { th scope="col" { "Parameter" } th scope="col" { "Value" } } }
                tbody {
                    @for (name, value) in &run.parameters {
                        tr { td { code { (name) } } td { (value_text(value)) } }
                    }
                }
            }
        }
        h2 { "Rerun" }
        @if !startable {
            p class="muted" { "This API cannot start " (run.bot) "." }
        } @else if let Some(session) = viewer.session.as_ref().filter(|session| session.may(scopes::RUNS_TRIGGER)) {
            form method="post" action=(format!("/ui/runs/{}/rerun", run.id)) {
                input type="hidden" name="csrf" value=(session.csrf);
                button type="submit" { "Rerun " (run.bot) " with these parameters" }
            }
        } @else if viewer.session.is_some() {
            p class="muted" { "Your token lacks " code { (scopes::RUNS_TRIGGER) } ", which reruns need." }
        } @else {
            p { a href=(href("/ui/sign-in", &[("next", &format!("/ui/runs/{}", run.id))])) { "Sign in" } " to rerun." }
        }
    };
    Ok(layout::page(&Shell { title: &title, section: "runs", viewer: &viewer }, body))
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `POST /ui/runs/{id}/rerun`: starts the run's bot again with its parameters, as
/// `POST /runs/trigger` does, then shows the new run.
pub(super) async fn rerun(
    State(state): State<AppState>,
    SignedIn(session, _): SignedIn<scopes::RunsTrigger>,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> UiResult<Response> {
    check_form(&session, &form.csrf)?;
    let run = runs::get_run(State(state.clone()), Reader, Path(id)).await?.0;
    let trigger = TriggerRun { bot: run.bot, parameters: run.parameters };
    let authorized = Authorized(session.caller, std::marker::PhantomData);
    let (_, started) = runs::trigger_run(State(state), authorized, JsonBody(trigger)).await?;
    Ok((StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, format!("/ui/runs/{}", started.id))]).into_response())
}
