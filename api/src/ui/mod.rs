//! The dashboard: HTML pages under `/ui/`, rendered on the server from the same handlers as the
//! JSON routes (a page is a view of an API answer), with SVG charts, a small progressive script,
//! sign-in sessions (a token, a local user, or the OIDC provider's sign-in) and CSRF-checked
//! forms for the few actions people take (reruns, retries, contributor edits, sign-offs).

mod assets;
mod chart;
mod coverage;
mod home;
mod layout;
mod oidc;
mod pipelines;
mod risk;
mod runs;
mod session;
mod static_analysis;
mod uplift;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::persons::Person;
use crate::state::AppState;

/// A signed-in session: the token's caller (for a person, their email without any scope), the
/// person when signed in as one, and the session's form secret.
#[derive(Clone, Debug)]
struct Session {
    caller: Caller,
    person: Option<Person>,
    csrf: String,
}

impl Session {
    /// Whether the session's token grants `scope`.
    fn may(&self, scope: &str) -> bool {
        self.caller.require(scope).is_ok()
    }
}

/// Who is looking at a page: a session, or nobody. When reads are not public, a page needs a
/// session whose token has `project:shipit:read`.
#[derive(Clone, Debug)]
struct Viewer {
    session: Option<Session>,
}

/// The pages and their forms.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(home::page))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/ui/sign-in/person", post(session::sign_in_person))
        .route("/ui/sign-in/oidc", get(oidc::start))
        .route("/ui/sign-in/oidc/callback", get(oidc::callback))
        .route("/ui/sign-out", post(session::sign_out))
        .route("/ui/runs", get(runs::list))
        .route("/ui/runs/{id}", get(runs::one))
        .route("/ui/runs/{id}/rerun", post(runs::rerun))
        .route("/ui/coverage", get(coverage::browse))
        .route("/ui/coverage/zero", get(coverage::zero))
        .route("/ui/static-analysis", get(static_analysis::index))
        .route("/ui/static-analysis/diffs/{id}", get(static_analysis::diff))
        .route("/ui/static-analysis/revisions/{id}", get(static_analysis::revision))
        .route("/ui/static-analysis/checks", get(static_analysis::checks))
        .route("/ui/risk", get(risk::list))
        .route("/ui/uplift", get(uplift::channels))
        .route("/ui/uplift/channels/{name}", get(uplift::channel))
        .route("/ui/uplift/bugs/{id}", get(uplift::bug))
        .route("/ui/uplift/contributors/{id}", post(uplift::edit_contributor))
        .route("/ui/pipelines", get(pipelines::list))
        .route("/ui/pipelines/{uid}", get(pipelines::one))
        .route("/ui/pipelines/{uid}/steps/{step}/retry", post(pipelines::retry))
        .route("/ui/pipelines/{uid}/steps/{step}/sign", post(pipelines::sign))
        .route("/ui/pipelines/{uid}/steps/{step}/withdraw", post(pipelines::withdraw))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn_with_state(state, errors_as_pages))
}

/// Every error of the dashboard is a page, whatever produced it, with the header of the person
/// looking: the pages' own errors and the API handlers' refusals arrive as problem+json, those of
/// extractors (a query or form that cannot be read, a body over the limit, an unknown path) as
/// problem+json or plain text, and all are drawn as the same error page with their status and
/// detail. The session is looked up only for an error.
async fn errors_as_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut cookies = HeaderMap::new();
    for value in request.headers().get_all(header::COOKIE) {
        cookies.append(header::COOKIE, value.clone());
    }
    let response = next.run(request).await;
    let status = response.status();
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if status.as_u16() < 400 || is_page {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    // A session that cannot be read (the database is what failed, say) leaves the page signed out.
    let viewer = Viewer { session: session::session_of(&cookies, &state).await.ok().flatten() };
    let problem = serde_json::from_slice::<shipit_shared::api_types::Problem>(&text).ok();
    let page = match problem {
        Some(problem) => layout::error_page(&viewer, status, &problem.title, &problem.detail, problem.field.as_deref()),
        None => {
            let detail = String::from_utf8_lossy(&text).trim().to_owned();
            let title = status.canonical_reason().unwrap_or("Error");
            layout::error_page(&viewer, status, title, if detail.is_empty() { title } else { &detail }, None)
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Response::from_parts(parts, page.into_response().into_body())
}

/// Whether a request for `/` comes from a browser, which is sent to the dashboard.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|kind| kind.trim().starts_with("text/html")))
}

/// The Content-Security-Policy of every page: nothing but this origin's own stylesheet, script
/// and images; no inline script or style, no framing, forms only to this origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages show the signed-in person's actions: never shared, always revalidated.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    }
    response
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum UiError {
    /// What the API handler answered: shown with its status and detail.
    Api(ApiError),
    /// The page needs a signed-in person: sent to the sign-in page, then back to `next`.
    SignIn { next: String },
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<crate::db::DbError> for UiError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Api(error.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            // Drawn as a page by `errors_as_pages`, with the viewer's header.
            Self::Api(error) => error.into_response(),
            Self::SignIn { next } => {
                let target = format!(
                    "/ui/sign-in?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Redirect::to(&target).into_response()
            }
        }
    }
}

/// A page's result.
pub type UiResult<T> = Result<T, UiError>;

/// A form field as a filter: none when it is empty.
fn non_empty(text: &str) -> Option<String> {
    Some(text.to_owned()).filter(|text| !text.is_empty())
}

/// The start (UTC) of the day `text` names (`YYYY-MM-DD`); none when it is empty.
fn start_of_day(field: &str, text: &str) -> UiResult<Option<chrono::DateTime<chrono::Utc>>> {
    match text.trim() {
        "" => Ok(None),
        day => chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(|date| Some(date.and_time(chrono::NaiveTime::MIN).and_utc()))
            .map_err(|_| bad_request(format!("{field}: {day:?} is not a date (YYYY-MM-DD)"))),
    }
}

/// 400 for a form or query the page cannot use.
fn bad_request(detail: impl Into<String>) -> UiError {
    UiError::Api(ApiError::new(StatusCode::BAD_REQUEST, detail))
}
