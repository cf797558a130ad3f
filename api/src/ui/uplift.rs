//! The uplift pages: the release channels, each channel's pending bugs with the state of their
//! grafts, and one bug with its requests, parsed request forms, patches, grafts per branch and
//! contributors (release managers edit the contributors' karma and comments).

use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use shipit_shared::api_types::uplift::{Bug, Contributor, ContributorUpdate, Graft};

use super::layout::{self, Shell, badge, href, short, when};
use super::session::{SignedIn, check_form};
use super::{UiResult, Viewer, bad_request};
use crate::auth::{Authorized, Caller, Reader, scopes};
use crate::error::ApiError;
use crate::extract::{JsonBody, Path};
use crate::routes::uplift;
use crate::state::AppState;

/// `GET /ui/uplift`.
pub(super) async fn channels(State(state): State<AppState>, viewer: Viewer) -> UiResult<Html<String>> {
    let channels = uplift::list_channels(State(state), Reader).await?.0;
    let body = html! {
        h1 { "Uplift" }
        @if channels.is_empty() {
            p class="muted" { "No release channel is known yet: the uplift bot records them on its first run." }
        } @else {
            table class="narrow" {
                thead { tr { th scope="col" { "Channel" } th scope="col" { "Version" } th scope="col" { "Branch" } th scope="col" class="number" { "Pending bugs" } } }
                tbody {
                    @for channel in &channels {
                        tr {
                            td { a href=(format!("/ui/uplift/channels/{}", channel.name)) { (channel.name) } }
                            td { (channel.version.map(|version| version.to_string()).unwrap_or_default()) }
                            td { code { (channel.branch) } }
                            td class="number" { (channel.bug_count) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: "Uplift", section: "uplift", viewer: &viewer }, body))
}

/// `GET /ui/uplift/channels/{name}`.
pub(super) async fn channel(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> UiResult<Html<String>> {
    let bugs = uplift::channel_bugs(State(state), Reader, Path(name.clone())).await?.0;
    let title = format!("Uplift to {name}");
    let body = html! {
        h1 { "Uplift requests for " (name) }
        @if bugs.is_empty() {
            p class="muted" { "No pending request." }
        } @else {
            table {
                thead { tr { th scope="col" { "Bug" } th scope="col" { "Summary" } th scope="col" { "Component" } th scope="col" { "Status" } th scope="col" { "Graft here" } th scope="col" { "Analysed" } } }
                tbody {
                    @for bug in &bugs {
                        @let graft = bug.grafts.iter().find(|graft| graft.channel == name);
                        tr {
                            td { a href=(format!("/ui/uplift/bugs/{}", bug.bugzilla_id)) { (bug.bugzilla_id) } }
                            td { (bug.summary) }
                            td { (bug.product) " :: " (bug.component) }
                            td { (bug.status) }
                            td {
                                @match graft {
                                    Some(graft) if graft.success => span class="badge good" { "grafts" },
                                    Some(_) => span class="badge bad" { "fails" },
                                    None => span class="badge neutral" { "not tested" },
                                }
                            }
                            td { (when(bug.updated_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&Shell { title: &title, section: "uplift", viewer: &viewer }, body))
}

/// `GET /ui/uplift/bugs/{id}`.
pub(super) async fn bug(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> UiResult<Html<String>> {
    let caller: Result<Caller, ApiError> = match &viewer.session {
        Some(session) => Ok(session.caller.clone()),
        None => Err(ApiError::unauthorized("not signed in")),
    };
    let bug = uplift::get_bug(State(state), Reader, caller, Path(id)).await?.0;
    let title = format!("Bug {id}");
    let body = html! {
        h1 { "Bug " (bug.bugzilla_id) ": " (bug.summary) }
        p {
            (bug.product) " :: " (bug.component) " · " (bug.status)
            @if let Some(url) = bug.analysis.get("url").and_then(Value::as_str).filter(|url| url.starts_with("https://")) {
                " · " a href=(url) rel="noreferrer" { "on Bugzilla" }
            }
            " · analysed " (when(bug.updated_at))
        }
        (requests(&bug))
        (forms(&bug.analysis))
        (patches(&bug.analysis))
        h2 { "Grafts" }
        @if bug.grafts.is_empty() { p class="muted" { "Not tested on any branch yet." } }
        @for graft in latest_per_channel(&bug.grafts) { (graft_table(graft)) }
        h2 { "Contributors" }
        (contributors(&bug, &viewer))
    };
    Ok(layout::page(&Shell { title: &title, section: "uplift", viewer: &viewer }, body))
}

fn requests(bug: &Bug) -> Markup {
    let Some(requests) = bug.analysis.get("requests").and_then(Value::as_object) else { return html! {} };
    let text = |request: &Value, key: &str| {
        request
            .get(key)
            .map(|value| match value {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    html! {
        h2 { "Requests" }
        table {
            thead { tr { th scope="col" { "Channel" } th scope="col" { "State" } th scope="col" { "Asked by" } th scope="col" { "Asked" } th scope="col" { "Decided by" } th scope="col" class="number" { "Landing to request" } th scope="col" class="number" { "Request to decision" } th scope="col" class="number" { "Landing to release" } } }
            tbody {
                @for (channel, request) in requests {
                    tr {
                        td { (channel) }
                        td { (badge(&text(request, "status"))) }
                        td { (text(request, "requester")) }
                        td { @if let Ok(at) = text(request, "requested_at").parse::<chrono::DateTime<chrono::Utc>>() { (when(at)) } }
                        td { (text(request, "reviewer")) }
                        td class="number" { (duration(request.get("landing_delta"))) }
                        td class="number" { (duration(request.get("response_delta"))) }
                        td class="number" { (duration(request.get("release_delta"))) }
                    }
                }
            }
        }
    }
}

/// A number of seconds as days or hours.
fn duration(seconds: Option<&Value>) -> String {
    match seconds.and_then(Value::as_i64) {
        Some(seconds) if seconds.abs() >= 86_400 => format!("{:.1} days", seconds as f64 / 86_400.0),
        Some(seconds) => format!("{:.1} h", seconds as f64 / 3600.0),
        None => String::new(),
    }
}

/// The request forms, split into their questions by the bot; an answer calling for attention (a
/// medium or high risk, string changes, no tests) is marked.
fn forms(analysis: &Value) -> Markup {
    let Some(forms) = analysis.get("forms").and_then(Value::as_object).filter(|forms| !forms.is_empty()) else {
        return html! {};
    };
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    html! {
        h2 { "Request forms" }
        @for (comment, form) in forms {
            section class="card" {
                h3 { (text(form, "title")) " · comment " (comment) " by " (text(form, "author")) }
                dl class="facts" {
                    @for section in form.get("sections").and_then(Value::as_array).into_iter().flatten() {
                        @let risky = section.get("risky").and_then(Value::as_bool).unwrap_or(false);
                        dt { (section.get("title").and_then(Value::as_str).unwrap_or("(before the questions)")) }
                        dd class=[risky.then_some("risky")] {
                            @if risky { span class="badge bad" { "attention" } " " }
                            (text(section, "text"))
                        }
                    }
                }
            }
        }
    }
}

fn patches(analysis: &Value) -> Markup {
    let Some(patches) = analysis.get("patches").and_then(Value::as_object).filter(|patches| !patches.is_empty()) else {
        return html! {};
    };
    let count = |patch: &Value, key: &str| patch.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    html! {
        h2 { "Patches" }
        table {
            thead { tr { th scope="col" { "Patch" } th scope="col" { "Source" } th scope="col" { "Author" } th scope="col" { "Reviewers" } th scope="col" class="number" { "Files" } th scope="col" { "Metrics" } } }
            tbody {
                @for (name, patch) in patches {
                    tr {
                        td { code { (short(name)) } " " (patch.get("summary").and_then(Value::as_str).unwrap_or("")) }
                        td { (patch.get("source").and_then(Value::as_str).unwrap_or("")) }
                        td { (patch.get("author").and_then(Value::as_str).unwrap_or("")) }
                        td { (reviewers(patch)) }
                        td class="number" { (count(patch, "files")) }
                        td { (metrics(patch)) }
                    }
                }
            }
        }
        @let unmapped_reviewers = strings(analysis, "unmapped_reviewers");
        @if !unmapped_reviewers.is_empty() {
            p class="muted" { "Reviewers no Bugzilla user was found for: " (unmapped_reviewers.join(", ")) }
        }
        @let unmapped_landings = strings(analysis, "unmapped_landings");
        @if !unmapped_landings.is_empty() {
            p class="muted" { "Landings no commit was found for (their patches are missing): " (unmapped_landings.join(", ")) }
        }
    }
}

/// The strings of an array field, none when it is absent.
fn strings<'a>(value: &'a Value, key: &str) -> Vec<&'a str> {
    value.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

/// A patch's `r=` reviewers, each linked to its Bugzilla login when the bot mapped the nickname.
fn reviewers(patch: &Value) -> Markup {
    let mapped = patch.get("reviewer_users").and_then(Value::as_object);
    let login = |name: &str| mapped.and_then(|mapped| mapped.get(name)).and_then(Value::as_str);
    html! {
        @for (index, name) in strings(patch, "reviewers").into_iter().enumerate() {
            @if index > 0 { ", " }
            @if let Some(login) = login(name) { a href={ "mailto:" (login) } title=(login) { (name) } } @else { (name) }
        }
    }
}

/// A patch's numeric metrics (lines changed, languages…), whatever the bot recorded.
fn metrics(patch: &Value) -> Markup {
    let Some(fields) = patch.as_object() else { return html! {} };
    let numbers: Vec<(&String, &Value)> = fields.iter().filter(|(_, value)| value.is_number()).collect();
    html! { @for (index, (name, value)) in numbers.iter().enumerate() { @if index > 0 { ", " } (name) " " (value) } }
}

fn latest_per_channel(grafts: &[Graft]) -> Vec<&Graft> {
    let mut seen = std::collections::HashSet::new();
    grafts.iter().filter(|graft| seen.insert(graft.channel.as_str())).collect()
}

fn graft_table(graft: &Graft) -> Markup {
    html! {
        section class="card" {
            h3 { (graft.channel) " · " code { (graft.branch) } " at " code { (short(&graft.branch_tip)) } " " (badge(if graft.success { "merged" } else { "conflict" })) " " (when(graft.tested_at)) }
            table {
                thead { tr { th scope="col" { "Commit" } th scope="col" { "Result" } th scope="col" { "Conflicting paths" } } }
                tbody {
                    @for commit in &graft.commits {
                        tr {
                            td { code { (short(&commit.commit)) } }
                            td { (badge(commit.status.as_str())) }
                            td { @for (index, path) in commit.conflicts.iter().enumerate() { @if index > 0 { ", " } code { (path) } } }
                        }
                    }
                }
            }
        }
    }
}

fn contributors(bug: &Bug, viewer: &Viewer) -> Markup {
    let admin = viewer.session.as_ref().filter(|session| session.may(scopes::ADMIN));
    html! {
        @if bug.contributors.is_empty() { p class="muted" { "None recorded." } }
        ul class="cards" {
            @for contributor in &bug.contributors {
                li {
                    article class="card" {
                        h3 { (contributor.name) " " span class="muted" { (contributor.email) } }
                        p { "Roles: " (contributor.roles.join(", ")) " · karma " strong { (contributor.karma) } }
                        @if !contributor.comment_public.is_empty() { p { (contributor.comment_public) } }
                        @if let Some(private) = &contributor.comment_private { p class="private" { "Private: " (private) } }
                        @if let Some(session) = admin { (edit_form(contributor, &session.csrf, bug.bugzilla_id)) }
                    }
                }
            }
        }
    }
}

fn edit_form(contributor: &Contributor, csrf: &str, bug: i64) -> Markup {
    let id = contributor.bugzilla_id;
    html! {
        form method="post" action=(format!("/ui/uplift/contributors/{id}")) class="stack" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="bug" value=(bug);
            label for=(format!("karma-{id}")) { "Karma" }
            input id=(format!("karma-{id}")) name="karma" type="number" value=(contributor.karma) min="-100" max="100";
            label for=(format!("public-{id}")) { "Public comment" }
            textarea id=(format!("public-{id}")) name="comment_public" rows="2" { (contributor.comment_public) }
            label for=(format!("private-{id}")) { "Private comment (release managers only)" }
            textarea id=(format!("private-{id}")) name="comment_private" rows="2" { (contributor.comment_private.as_deref().unwrap_or("")) }
            button type="submit" { "Save " (contributor.name) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ContributorForm {
    csrf: String,
    bug: i64,
    karma: String,
    comment_public: String,
    comment_private: String,
}

/// `POST /ui/uplift/contributors/{id}`: an admin's edit, stored as `PUT /uplift/contributors/{id}`
/// stores it, then back to the bug.
pub(super) async fn edit_contributor(
    State(state): State<AppState>,
    SignedIn(session, _): SignedIn<scopes::Admin>,
    Path(id): Path<i64>,
    Form(form): Form<ContributorForm>,
) -> UiResult<Response> {
    check_form(&session, &form.csrf)?;
    let karma = form.karma.trim().parse::<i32>().map_err(|_| bad_request("karma: a whole number, please"))?;
    let update = ContributorUpdate {
        karma: Some(karma),
        comment_public: Some(form.comment_public),
        comment_private: Some(form.comment_private),
    };
    let authorized = Authorized(session.caller, std::marker::PhantomData);
    let _stored = uplift::put_contributor(State(state), authorized, Path(id), JsonBody(update)).await?;
    let back = href(&format!("/ui/uplift/bugs/{}", form.bug), &[]);
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response())
}
