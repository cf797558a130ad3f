//! Uplift: the release channels, the bot's analysis of each bug with a pending uplift request,
//! the grafts of its patches onto each channel's branch, and what release managers note about
//! the people involved.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use shipit_shared::api_types::Problem;
use shipit_shared::api_types::uplift::{
    Bug, BugSummary, BugUpsert, BugUpsertResult, Channel, ChannelUpdate, Contributor, ContributorUpdate, Graft,
    GraftStatus, NewGraft, is_valid_channel,
};

use crate::auth::{Authorized, Caller, Reader, scopes};
use crate::db::{self, uplift::GraftOutcome};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Path};
use crate::state::AppState;

/// Longest contributor comment, in characters.
const MAX_COMMENT_CHARS: usize = 10_000;
/// Karma stays within ± this.
const MAX_KARMA: i32 = 1000;
/// Longest short text field (summary, product, branch, email…), in bytes.
const MAX_TEXT_BYTES: usize = 1000;

const OBJECT_ID_RULE: &str = "a commit or tree id is 40 or 64 lowercase hexadecimal digits";
const CHANNEL_RULE: &str = "a channel name is a lowercase letter then up to 39 lowercase letters, digits, `_` and `-`";

/// Declare a release channel, or change its branch and version.
#[utoipa::path(
    put, path = "/uplift/channels/{channel}", tag = "uplift", request_body = ChannelUpdate,
    params(("channel" = String, Path, description = "Channel name: `beta`, `release`, `esr140`")),
    security(("bearer" = ["project:shipit:uplift/manage"])),
    responses(
        (status = 200, description = "The channel as stored", body = Channel),
        (status = "4XX", description = "Bad name or body; bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_channel(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::UpliftManage>,
    Path(name): Path<String>,
    JsonBody(update): JsonBody<ChannelUpdate>,
) -> ApiResult<Json<Channel>> {
    if !is_valid_channel(&name) {
        return Err(ApiError::invalid_field("channel", CHANNEL_RULE));
    }
    if update.version.is_some_and(|version| version <= 0) {
        return Err(ApiError::invalid_field("version", "a version is a positive integer"));
    }
    check_text("branch", &update.branch)?;
    let channel = db::uplift::put_channel(&state.pool, &name, &update).await?;
    tracing::info!(channel.name = %name, channel.branch = %update.branch, caller = %caller.name, "uplift channel declared");
    Ok(Json(channel))
}

/// The release channels, by name, with the number of bugs pending for each.
#[utoipa::path(
    get, path = "/uplift/channels", tag = "uplift",
    responses((status = 200, description = "Every channel, by name", body = [Channel]))
)]
pub async fn list_channels(State(state): State<AppState>, _reader: Reader) -> ApiResult<Json<Vec<Channel>>> {
    Ok(Json(db::uplift::channels(&state.pool).await?))
}

/// The bugs with a pending uplift request to a channel, by id.
#[utoipa::path(
    get, path = "/uplift/channels/{channel}/bugs", tag = "uplift",
    params(("channel" = String, Path, description = "Channel name")),
    responses(
        (status = 200, description = "The channel's pending bugs, by id", body = [BugSummary]),
        (status = 404, description = "No such channel", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn channel_bugs(
    State(state): State<AppState>,
    _reader: Reader,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<BugSummary>>> {
    let bugs = db::uplift::channel_bugs(&state.pool, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no channel `{name}` is declared")))?;
    Ok(Json(bugs))
}

/// Every stored bug, by id, without its analysis: the bot learns from it which analyses it
/// stored and which bugs to remove.
#[utoipa::path(
    get, path = "/uplift/bugs", tag = "uplift",
    responses((status = 200, description = "Every stored bug, by id", body = [BugSummary]))
)]
pub async fn list_bugs(State(state): State<AppState>, _reader: Reader) -> ApiResult<Json<Vec<BugSummary>>> {
    Ok(Json(db::uplift::bugs(&state.pool).await?))
}

/// Store the analysis of a bug, its contributors and their roles on it. Idempotent: when the
/// stored bug has the same `analysis_hash` and fields, nothing is written. The bug's grafts are
/// kept. A channel named in `channels` and not declared yet is declared with a branch of the
/// same name.
#[utoipa::path(
    post, path = "/uplift/bugs", tag = "uplift", request_body = BugUpsert,
    security(("bearer" = ["project:shipit:uplift/manage"])),
    responses(
        (status = 200, description = "The analysis is stored", body = BugUpsertResult),
        (status = "4XX", description = "Bad body; bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upsert_bug(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::UpliftManage>,
    JsonBody(mut bug): JsonBody<BugUpsert>,
) -> ApiResult<Json<BugUpsertResult>> {
    validate_bug(&bug)?;
    bug.channels.sort();
    bug.channels.dedup();
    let changed = db::uplift::upsert_bug(&state.pool, &bug).await?;
    tracing::info!(bug.id = bug.bugzilla_id, bug.changed = changed, caller = %caller.name, "uplift bug stored");
    Ok(Json(BugUpsertResult { bugzilla_id: bug.bugzilla_id, changed }))
}

fn validate_bug(bug: &BugUpsert) -> ApiResult<()> {
    if bug.bugzilla_id <= 0 {
        return Err(ApiError::invalid_field("bugzilla_id", "a bug id is a positive integer"));
    }
    for (field, value) in
        [("summary", &bug.summary), ("product", &bug.product), ("component", &bug.component), ("status", &bug.status)]
    {
        check_text(field, value)?;
    }
    if let Some(index) = bug.channels.iter().position(|channel| !is_valid_channel(channel)) {
        return Err(ApiError::invalid_field(format!("channels[{index}]"), CHANNEL_RULE));
    }
    if !bug.analysis.is_object() {
        return Err(ApiError::invalid_field("analysis", "the analysis is a JSON object"));
    }
    if bug.analysis_hash.len() != 64 || !bug.analysis_hash.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ApiError::invalid_field("analysis_hash", "the hash is 64 lowercase hexadecimal digits (SHA-256)"));
    }
    let mut seen = HashSet::new();
    for (index, user) in bug.users.iter().enumerate() {
        let field = |name: &str| format!("users[{index}].{name}");
        if user.bugzilla_id <= 0 || !seen.insert(user.bugzilla_id) {
            return Err(ApiError::invalid_field(field("bugzilla_id"), "user ids are positive and listed once"));
        }
        check_text(&field("email"), &user.email)?;
        check_text(&field("name"), &user.name)?;
        if user.roles.iter().any(|role| role.is_empty() || role.len() > 100) {
            return Err(ApiError::invalid_field(field("roles"), "a role is 1 to 100 bytes"));
        }
    }
    Ok(())
}

/// One bug: its analysis, its contributors with their roles on it, and the latest graft per
/// channel. Private comments on contributors are shown to `project:shipit:admin` callers only.
#[utoipa::path(
    get, path = "/uplift/bugs/{id}", tag = "uplift",
    params(("id" = i64, Path, description = "Bugzilla bug id")),
    responses(
        (status = 200, description = "The bug", body = Bug),
        (status = 404, description = "No such bug", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_bug(
    State(state): State<AppState>,
    _reader: Reader,
    caller: Result<Caller, ApiError>,
    Path(bugzilla_id): Path<i64>,
) -> ApiResult<Json<Bug>> {
    let mut bug = db::uplift::bug(&state.pool, bugzilla_id).await?.ok_or_else(|| no_bug(bugzilla_id))?;
    if !is_admin(&caller) {
        bug.contributors.iter_mut().for_each(|contributor| contributor.comment_private = None);
    }
    Ok(Json(bug))
}

/// Remove a bug that has no pending request any more, with its roles and grafts. Its
/// contributors stay: their karma and comments are about the person.
#[utoipa::path(
    delete, path = "/uplift/bugs/{id}", tag = "uplift",
    params(("id" = i64, Path, description = "Bugzilla bug id")),
    security(("bearer" = ["project:shipit:uplift/manage"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such bug", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_bug(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::UpliftManage>,
    Path(bugzilla_id): Path<i64>,
) -> ApiResult<StatusCode> {
    if !db::uplift::delete_bug(&state.pool, bugzilla_id).await? {
        return Err(no_bug(bugzilla_id));
    }
    tracing::info!(bug.id = bugzilla_id, caller = %caller.name, "uplift bug removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Every graft of a bug, newest first.
#[utoipa::path(
    get, path = "/uplift/bugs/{id}/grafts", tag = "uplift",
    params(("id" = i64, Path, description = "Bugzilla bug id")),
    responses(
        (status = 200, description = "The bug's grafts, newest first", body = [Graft]),
        (status = 404, description = "No such bug", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_grafts(
    State(state): State<AppState>,
    _reader: Reader,
    Path(bugzilla_id): Path<i64>,
) -> ApiResult<Json<Vec<Graft>>> {
    let grafts = db::uplift::grafts(&state.pool, bugzilla_id).await?.ok_or_else(|| no_bug(bugzilla_id))?;
    Ok(Json(grafts))
}

/// Record a graft of a bug's patches onto a channel's branch. Every attempt is kept; the bug
/// shows the latest per channel. It succeeded when every commit is `merged` or
/// `already_applied`.
#[utoipa::path(
    post, path = "/uplift/bugs/{id}/grafts", tag = "uplift", request_body = NewGraft,
    params(("id" = i64, Path, description = "Bugzilla bug id")),
    security(("bearer" = ["project:shipit:uplift/manage"])),
    responses(
        (status = 201, description = "The graft is recorded", body = Graft),
        (status = 404, description = "No such bug", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad body; bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_graft(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::UpliftManage>,
    Path(bugzilla_id): Path<i64>,
    JsonBody(graft): JsonBody<NewGraft>,
) -> ApiResult<(StatusCode, Json<Graft>)> {
    validate_graft(&graft)?;
    let success = graft.commits.iter().all(|commit| commit.status.is_success());
    match db::uplift::insert_graft(&state.pool, bugzilla_id, &graft, success).await? {
        GraftOutcome::Stored(stored) => {
            tracing::info!(
                bug.id = bugzilla_id,
                graft.id = stored.id,
                graft.channel = %stored.channel,
                graft.success = success,
                caller = %caller.name,
                "uplift graft recorded"
            );
            Ok((StatusCode::CREATED, Json(stored)))
        }
        GraftOutcome::NoSuchBug => Err(no_bug(bugzilla_id)),
        GraftOutcome::NoSuchChannel => {
            Err(ApiError::invalid_field("channel", format!("no channel `{}` is declared", graft.channel)))
        }
    }
}

fn validate_graft(graft: &NewGraft) -> ApiResult<()> {
    if !is_valid_channel(&graft.channel) {
        return Err(ApiError::invalid_field("channel", CHANNEL_RULE));
    }
    check_text("branch", &graft.branch)?;
    if !is_object_id(&graft.branch_tip) {
        return Err(ApiError::invalid_field("branch_tip", OBJECT_ID_RULE));
    }
    if graft.commits.is_empty() {
        return Err(ApiError::invalid_field("commits", "a graft has at least one commit"));
    }
    let mut failed_before = false;
    for (index, commit) in graft.commits.iter().enumerate() {
        let field = |name: &str| format!("commits[{index}].{name}");
        if !is_object_id(&commit.commit) {
            return Err(ApiError::invalid_field(field("commit"), OBJECT_ID_RULE));
        }
        let has_tree = commit.tree.as_deref().is_some_and(is_object_id);
        let consistent = match commit.status {
            GraftStatus::Merged | GraftStatus::AlreadyApplied => has_tree && commit.conflicts.is_empty(),
            GraftStatus::Failed => commit.tree.is_none() && !commit.conflicts.is_empty(),
            GraftStatus::Skipped => commit.tree.is_none() && commit.conflicts.is_empty() && failed_before,
        };
        if !consistent {
            return Err(ApiError::invalid_field(
                field("status"),
                "`merged` and `already_applied` have a tree and no conflicts, `failed` has conflicts and no tree, \
                 `skipped` has neither and follows a failed commit",
            ));
        }
        failed_before |= commit.status == GraftStatus::Failed;
    }
    Ok(())
}

/// Whether `id` is a full git object id (SHA-1 or SHA-256).
fn is_object_id(id: &str) -> bool {
    matches!(id.len(), 40 | 64) && id.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// A contributor. The private comment is shown to `project:shipit:admin` callers only.
#[utoipa::path(
    get, path = "/uplift/contributors/{id}", tag = "uplift",
    params(("id" = i64, Path, description = "Bugzilla user id")),
    responses(
        (status = 200, description = "The contributor", body = Contributor),
        (status = 404, description = "No such contributor", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_contributor(
    State(state): State<AppState>,
    _reader: Reader,
    caller: Result<Caller, ApiError>,
    Path(bugzilla_id): Path<i64>,
) -> ApiResult<Json<Contributor>> {
    let mut contributor =
        db::uplift::contributor(&state.pool, bugzilla_id).await?.ok_or_else(|| no_contributor(bugzilla_id))?;
    if !is_admin(&caller) {
        contributor.comment_private = None;
    }
    Ok(Json(contributor))
}

/// Change a contributor's karma or comments; fields left out are kept.
#[utoipa::path(
    put, path = "/uplift/contributors/{id}", tag = "uplift", request_body = ContributorUpdate,
    params(("id" = i64, Path, description = "Bugzilla user id")),
    security(("bearer" = ["project:shipit:admin"])),
    responses(
        (status = 200, description = "The contributor as stored", body = Contributor),
        (status = 404, description = "No such contributor", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad body; bad token or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_contributor(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<scopes::Admin>,
    Path(bugzilla_id): Path<i64>,
    JsonBody(update): JsonBody<ContributorUpdate>,
) -> ApiResult<Json<Contributor>> {
    if update.karma.is_some_and(|karma| karma.abs() > MAX_KARMA) {
        return Err(ApiError::invalid_field("karma", format!("karma is between -{MAX_KARMA} and {MAX_KARMA}")));
    }
    for (field, comment) in [("comment_public", &update.comment_public), ("comment_private", &update.comment_private)] {
        if comment.as_ref().is_some_and(|comment| comment.chars().count() > MAX_COMMENT_CHARS) {
            return Err(ApiError::invalid_field(field, format!("a comment is at most {MAX_COMMENT_CHARS} characters")));
        }
    }
    let contributor = db::uplift::update_contributor(&state.pool, bugzilla_id, &update)
        .await?
        .ok_or_else(|| no_contributor(bugzilla_id))?;
    tracing::info!(contributor.id = bugzilla_id, caller = %caller.name, "uplift contributor updated");
    Ok(Json(contributor))
}

/// Whether the caller presented a valid token with the admin scope; reads work without one.
fn is_admin(caller: &Result<Caller, ApiError>) -> bool {
    caller.as_ref().is_ok_and(|caller| caller.require(scopes::ADMIN).is_ok())
}

/// 400 unless `value` is 1 to `MAX_TEXT_BYTES` long and free of control characters.
fn check_text(field: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() || value.len() > MAX_TEXT_BYTES || value.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(field, format!("1 to {MAX_TEXT_BYTES} bytes, without control characters")));
    }
    Ok(())
}

fn no_bug(bugzilla_id: i64) -> ApiError {
    ApiError::not_found(format!("no uplift bug {bugzilla_id} is stored"))
}

fn no_contributor(bugzilla_id: i64) -> ApiError {
    ApiError::not_found(format!("no contributor {bugzilla_id} is known"))
}
