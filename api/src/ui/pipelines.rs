//! The pipelines pages: every pipeline by state, and one pipeline's DAG with each step's state
//! (updated live by the page's script), its steps, the retry button for a failed step, each
//! sign-off's policy and signatures with the form to sign it, and the audit trail.

use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use shipit_shared::api_types::pipelines::{PipelineQuery, PipelineState, StepKind, StepServiceState, StepState};

use super::chart::{self, Node};
use super::layout::{self, Shell, badge, href, when};
use super::session::{AnyScope, CsrfForm, SignedIn, check_form};
use super::{UiError, UiResult, Viewer, bad_request};
use crate::auth::{Authorized, Reader, scopes};
use crate::error::ApiError;
use crate::extract::{Path, QueryParams};
use crate::pipelines::services::{self, signoff, signoff::Signer};
use crate::pipelines::transitions;
use crate::routes::pipelines;
use crate::state::AppState;

const STATES: [PipelineState; 5] = [
    PipelineState::Pending,
    PipelineState::Running,
    PipelineState::Completed,
    PipelineState::Failed,
    PipelineState::Cancelled,
];

#[derive(Debug, Default, Deserialize)]
pub(super) struct PipelineFilters {
    #[serde(default)]
    state: String,
    before: Option<i64>,
}

/// `GET /ui/pipelines?state=&before=`.
pub(super) async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryParams(filters): QueryParams<PipelineFilters>,
) -> UiResult<Html<String>> {
    let wanted = match filters.state.as_str() {
        "" => None,
        name => Some(
            STATES
                .into_iter()
                .find(|state| state.as_str() == name)
                .ok_or_else(|| bad_request(format!("no pipeline state is called {name:?}")))?,
        ),
    };
    let query = PipelineQuery { state: wanted, before: filters.before, limit: Some(50) };
    let page = pipelines::list_pipelines(State(state), Reader, QueryParams(query)).await?.0;
    let body = html! {
        h1 { "Pipelines" }
        form method="get" action="/ui/pipelines" class="filters" {
            label for="state" { "State" }
            select id="state" name="state" {
                option value="" { "any state" }
                @for state in STATES { option value=(state.as_str()) selected[state.as_str() == filters.state] { (state.as_str()) } }
            }
            button type="submit" { "Filter" }
        }
        @if page.pipelines.is_empty() {
            p class="muted" { "No pipeline matches." }
        } @else {
            table {
                thead { tr { th scope="col" { "Pipeline" } th scope="col" { "State" } th scope="col" { "Created by" } th scope="col" { "Created" } th scope="col" { "Finished" } } }
                tbody {
                    @for pipeline in &page.pipelines {
                        tr {
                            td { a href=(format!("/ui/pipelines/{}", pipeline.uid)) { (pipeline.uid) } }
                            td { (badge(pipeline.state.as_str())) }
                            td { (pipeline.created_by) }
                            td { (when(pipeline.created_at)) }
                            td { @if let Some(finished) = pipeline.finished_at { (when(finished)) } }
                        }
                    }
                }
            }
        }
        @if let Some(before) = page.next_before {
            p { a href=(href("/ui/pipelines", &[("state", &filters.state), ("before", &before.to_string())])) { "Older pipelines" } }
        }
    };
    Ok(layout::page(&Shell { title: "Pipelines", section: "pipelines", viewer: &viewer }, body))
}

/// `GET /ui/pipelines/{uid}`.
pub(super) async fn one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(uid): Path<String>,
) -> UiResult<Html<String>> {
    let pipeline = pipelines::get_pipeline(State(state.clone()), Reader, Path(uid.clone())).await?.0;
    let audit = pipelines::get_audit(State(state.clone()), Reader, Path(uid.clone())).await?.0;
    let nodes: Vec<Node> = pipeline
        .definition
        .steps
        .iter()
        .map(|step| Node {
            uid: &step.uid,
            state: pipeline
                .steps
                .iter()
                .find(|status| status.uid == step.uid)
                .map_or("pending", |status| status.state.as_str()),
            requires: &step.requires,
        })
        .collect();
    let retrier = viewer.session.as_ref().filter(|session| session.may(scopes::PIPELINES_MANAGE));
    let mut signoffs = Vec::new();
    for status in pipeline.steps.iter().filter(|status| status.attempts > 0) {
        let is_signoff = pipeline
            .definition
            .steps
            .iter()
            .any(|step| step.uid == status.uid && step.kind == Some(StepKind::Signoff) && step.api_url.is_none());
        if !is_signoff {
            continue;
        }
        let service_uid = transitions::service_uid(&pipeline.uid, &status.uid, status.attempts);
        // A step being created has no row on its service yet.
        if let Ok(row) = services::get(&state, StepKind::Signoff, &service_uid).await {
            signoffs.push((status.uid.clone(), services::view(&state, row).await.map_err(ApiError::from)?));
        }
    }
    let person = viewer.session.as_ref().and_then(|session| session.person.as_ref().map(|person| (session, person)));
    let title = format!("Pipeline {uid}");
    let body = html! {
        h1 { "Pipeline " (pipeline.uid) " " span data-field="pipeline-state" { (badge(pipeline.state.as_str())) } }
        p class="muted" { "Created by " (pipeline.created_by) " " (when(pipeline.created_at)) }
        div data-pipeline=(pipeline.uid) {
            (chart::dag(&format!("The steps of {}", pipeline.uid), &nodes))
        }
        h2 { "Steps" }
        table {
            thead { tr { th scope="col" { "Step" } th scope="col" { "Kind" } th scope="col" { "State" } th scope="col" class="number" { "Attempts" } th scope="col" { "Says" } th scope="col" { "Started" } th scope="col" { "Finished" } th scope="col" { "Action" } } }
            tbody {
                @for definition in &pipeline.definition.steps {
                    @let status = pipeline.steps.iter().find(|status| status.uid == definition.uid);
                    tr data-step-row=(definition.uid) {
                        td { code { (definition.uid) } @if let Some(description) = &definition.description { br; span class="muted" { (description) } } }
                        td { (definition.kind.map(|kind| kind.as_str()).unwrap_or("service")) }
                        td data-field="state" { (badge(status.map_or("pending", |status| status.state.as_str()))) }
                        td class="number" { (status.map_or(0, |status| status.attempts)) }
                        td data-field="message" { (status.and_then(|status| status.message.as_deref()).unwrap_or("")) }
                        td { @if let Some(started) = status.and_then(|status| status.started_at) { (when(started)) } }
                        td { @if let Some(finished) = status.and_then(|status| status.finished_at) { (when(finished)) } }
                        td {
                            @if let (Some(session), Some(status)) = (retrier, status) {
                                @if matches!(status.state, StepState::Failure | StepState::Cancelled) {
                                    form method="post" action=(format!("/ui/pipelines/{}/steps/{}/retry", pipeline.uid, definition.uid)) {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        button type="submit" { "Retry " (definition.uid) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @for (step, signoff) in &signoffs {
            @if let Some(progress) = &signoff.signoff {
                section aria-labelledby=(format!("signoff-{step}")) class="signoff" {
                    h2 id=(format!("signoff-{step}")) { "Sign-off " code { (step) } " " (badge(signoff.state.as_str())) }
                    @if let Some(description) = signoff.parameters.get("description").and_then(|value| value.as_str()) { p { (description) } }
                    p { "Signed off once any one of these is met:" }
                    ul {
                        @for alternative in &progress.policy {
                            li { @for (index, (who, count)) in alternative.iter().enumerate() { @if index > 0 { " and " } (count) " × " code { (who) } } }
                        }
                    }
                    @if let Some(expires_at) = progress.expires_at { p class="muted" { "Expires " (when(expires_at)) } }
                    @if !progress.separate_from.is_empty() { p class="muted" { "May not sign: " (progress.separate_from.join(", ")) } }
                    @if progress.signatures.is_empty() {
                        p class="muted" { "No signature yet." }
                    } @else {
                        table {
                            thead { tr { th scope="col" { "Signed by" } th scope="col" { "For" } th scope="col" { "When" } th scope="col" { "Signed in with" } } }
                            tbody {
                                @for signature in &progress.signatures {
                                    tr { td { (signature.email) } td { code { (signature.group) } } td { (when(signature.signed_at)) } td { (signature.credential) } }
                                }
                            }
                        }
                    }
                    @if signoff.state == StepServiceState::InProgress {
                        @if let Some((session, person)) = person {
                            @let signer = Signer::of(person);
                            @let action = format!("/ui/pipelines/{}/steps/{}", pipeline.uid, step);
                            @if progress.signatures.iter().any(|signature| signature.email.eq_ignore_ascii_case(&person.email)) {
                                form method="post" action=(format!("{action}/withdraw")) {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button type="submit" { "Withdraw my signature" }
                                }
                            } @else if signer.may_sign_for(progress).is_empty() {
                                p { "Still needed: " (progress.may_sign.join(", ")) ". You are in none of these groups." }
                            } @else {
                                form method="post" action=(format!("{action}/sign")) class="stack" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    label for=(format!("group-{step}")) { "Sign for" }
                                    select id=(format!("group-{step}")) name="group" {
                                        @for group in signer.may_sign_for(progress) { option value=(group) { (group) } }
                                    }
                                    button type="submit" { "Sign off " (step) }
                                }
                            }
                        } @else {
                            p { a href=(href("/ui/sign-in", &[("next", &format!("/ui/pipelines/{}", pipeline.uid))])) { "Sign in as a person to sign off" } }
                        }
                    }
                }
            }
        }
        h2 { "Audit trail" }
        table {
            thead { tr { th scope="col" { "When" } th scope="col" { "Step" } th scope="col" { "Event" } th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Cause" } th scope="col" { "By" } } }
            tbody {
                @for entry in &audit.entries {
                    tr {
                        td { (when(entry.at)) }
                        td { (entry.step.as_deref().unwrap_or("")) }
                        td { (entry.event) }
                        td { (entry.from_state.as_deref().unwrap_or("")) }
                        td { (entry.to_state.as_deref().unwrap_or("")) }
                        td { (entry.cause) }
                        td { (entry.actor.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: &title, section: "pipelines", viewer: &viewer }, body))
}

#[derive(Debug, Deserialize)]
pub(super) struct SignForm {
    csrf: String,
    group: String,
}

/// The sign-off step of the pipeline's current attempt, on its service.
async fn signoff_uid(state: &AppState, uid: &str, step: &str) -> UiResult<String> {
    let pipeline = pipelines::get_pipeline(State(state.clone()), Reader, Path(uid.to_owned())).await?.0;
    let status = pipeline.steps.iter().find(|status| status.uid == step && status.attempts > 0).ok_or_else(|| {
        UiError::Api(ApiError::not_found(format!("the pipeline `{uid}` has no started step `{step}`")))
    })?;
    Ok(transitions::service_uid(uid, step, status.attempts))
}

fn signing_person(session: &super::Session) -> UiResult<&crate::persons::Person> {
    session.person.as_ref().ok_or_else(|| {
        UiError::Api(ApiError::forbidden("only a person signs: sign in as a person (\"Sign in to sign off\")"))
    })
}

/// `POST /ui/pipelines/{uid}/steps/{step}/sign`, as `PUT /steps/signoff/{uid}.{step}/sign`.
pub(super) async fn sign(
    State(state): State<AppState>,
    SignedIn(session, _): SignedIn<AnyScope>,
    Path((uid, step)): Path<(String, String)>,
    Form(form): Form<SignForm>,
) -> UiResult<Response> {
    check_form(&session, &form.csrf)?;
    let person = signing_person(&session)?;
    let service_uid = signoff_uid(&state, &uid, &step).await?;
    signoff::sign(&state, &service_uid, &Signer::of(person), &form.group).await.map_err(ApiError::from)?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, format!("/ui/pipelines/{uid}"))]).into_response())
}

/// `POST /ui/pipelines/{uid}/steps/{step}/withdraw`, as `DELETE /steps/signoff/{uid}.{step}/sign`.
pub(super) async fn withdraw(
    State(state): State<AppState>,
    SignedIn(session, _): SignedIn<AnyScope>,
    Path((uid, step)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> UiResult<Response> {
    check_form(&session, &form.csrf)?;
    let person = signing_person(&session)?;
    let service_uid = signoff_uid(&state, &uid, &step).await?;
    signoff::withdraw(&state, &service_uid, &Signer::of(person)).await.map_err(ApiError::from)?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, format!("/ui/pipelines/{uid}"))]).into_response())
}

/// `POST /ui/pipelines/{uid}/steps/{step}/retry`, as `POST /pipelines/{uid}/steps/{step}/retry`.
pub(super) async fn retry(
    State(state): State<AppState>,
    SignedIn(session, _): SignedIn<scopes::PipelinesManage>,
    Path((uid, step)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> UiResult<Response> {
    check_form(&session, &form.csrf)?;
    let authorized = Authorized(session.caller, std::marker::PhantomData);
    let _retried = pipelines::retry_step(State(state), authorized, Path((uid.clone(), step))).await?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, format!("/ui/pipelines/{uid}"))]).into_response())
}
