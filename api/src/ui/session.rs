//! Dashboard sessions: someone signs in with an API token and acts with its scopes, or as a person
//! (a local user's password and TOTP code, or the OIDC provider's sign-in, `oidc.rs`) who may sign
//! sign-offs; the session cookie is HttpOnly, SameSite=Strict and Secure (except on a loopback
//! host), and every form of a session carries its CSRF secret. The sign-in forms themselves are
//! protected by a double-submit cookie.

use std::marker::PhantomData;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::layout::{self, Shell};
use super::{Session, UiError, UiResult, Viewer, bad_request};
use crate::auth::{self, Caller, scopes};
use crate::db;
use crate::db::persons::PersonCredential;
use crate::db::sessions::SessionCredential;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::persons::{self, Person};
use crate::state::AppState;

const SESSION_COOKIE: &str = "shipit_session";
const SIGN_IN_COOKIE: &str = "shipit_sign_in";

impl FromRequestParts<AppState> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = session_of(&parts.headers, state).await?;
        if !state.config.public_reads && !session.as_ref().is_some_and(|session| session.may(scopes::READ)) {
            return Err(UiError::SignIn { next: local_target(parts.uri.path_and_query().map(|p| p.as_str())) });
        }
        Ok(Self { session })
    }
}

/// A signed-in person holding every scope `S` requires, checked from the headers before the body
/// is read; a form posted with it must also carry the session's CSRF secret ([`check_form`]).
#[derive(Debug)]
pub(super) struct SignedIn<S>(pub Session, pub PhantomData<S>);

impl<S: scopes::Required> FromRequestParts<AppState> for SignedIn<S> {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        check_same_origin(&parts.headers)?;
        let Some(session) = session_of(&parts.headers, state).await? else {
            return Err(UiError::Api(ApiError::unauthorized("sign in first")));
        };
        for scope in S::SCOPES {
            session.caller.require(scope)?;
        }
        Ok(Self(session, PhantomData))
    }
}

/// Any signed-in person.
#[derive(Debug)]
pub(super) struct AnyScope;

impl scopes::Required for AnyScope {
    const SCOPES: &'static [&'static str] = &[];
}

/// 403 unless the form carries the session's secret.
pub(super) fn check_form(session: &Session, csrf: &str) -> UiResult<()> {
    if same_secret(&session.csrf, csrf) {
        Ok(())
    } else {
        Err(UiError::Api(ApiError::forbidden("the form is stale or was not sent from this dashboard: reload the page")))
    }
}

/// Browsers say where a form comes from: one from another site is refused whatever it carries.
fn check_same_origin(headers: &HeaderMap) -> UiResult<()> {
    let site = headers.get("sec-fetch-site").and_then(|value| value.to_str().ok());
    if site.is_some_and(|site| site != "same-origin" && site != "none") {
        return Err(UiError::Api(ApiError::forbidden("forms are accepted from this dashboard only")));
    }
    let origin = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok());
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
    if let (Some(origin), Some(host)) = (origin, host) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin_host != host {
            return Err(UiError::Api(ApiError::forbidden("forms are accepted from this dashboard only")));
        }
    }
    Ok(())
}

pub(super) async fn session_of(headers: &HeaderMap, state: &AppState) -> UiResult<Option<Session>> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(record) = db::sessions::find(&state.pool, &auth::digest(&id)).await? else {
        return Ok(None);
    };
    match (record.token, record.person) {
        (Some(token), _) if auth::check_usable(&token, Utc::now()).is_ok() => {
            let caller = Caller { name: token.name, scopes: token.scopes };
            Ok(Some(Session { caller, person: None, csrf: record.csrf }))
        }
        (None, Some(user)) => {
            let caller = Caller { name: user.email.clone(), scopes: Vec::new() };
            let credential = match user.credential {
                PersonCredential::Local => persons::LOCAL,
                PersonCredential::Oidc => persons::OIDC,
            };
            let person =
                Person { email: user.email, groups: user.groups, second_factor: user.second_factor, credential };
            Ok(Some(Session { caller, person: Some(person), csrf: record.csrf }))
        }
        _ => Ok(None),
    }
}

/// A cookie's value from the `Cookie` headers.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn same_secret(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected.bytes().zip(given.bytes()).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
}

/// Which cross-site requests carry a cookie.
#[derive(Clone, Copy, Debug)]
pub(super) enum SameSite {
    /// None: the session and the sign-in forms.
    Strict,
    /// Top-level navigations too, such as the identity provider sending the browser back.
    Lax,
}

/// A SameSite=Strict `Set-Cookie` value for the dashboard's paths (see [`set_cookie_with`]).
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    set_cookie_with(headers, name, value, max_age_secs, SameSite::Strict)
}

/// A `Set-Cookie` value for the dashboard's paths, HttpOnly. Plain HTTP is only expected on a
/// loopback host (a developer's machine): everywhere else the cookie is sent over HTTPS only.
pub(super) fn set_cookie_with(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age_secs: i64,
    same_site: SameSite,
) -> HeaderValue {
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let hostname = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let secure = if matches!(hostname, "localhost" | "127.0.0.1" | "[::1]") { "" } else { "; Secure" };
    let same_site = match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/ui; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .expect("cookie names and hex values are valid header text")
}

/// Where to go after signing in: a dashboard path of this site, nothing else.
pub(super) fn local_target(next: Option<&str>) -> String {
    next.filter(|next| next.starts_with("/ui/") && !next.starts_with("//") && !next.contains('\\'))
        .filter(|next| next.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("/ui/")
        .to_owned()
}

#[derive(Debug, Deserialize)]
pub(super) struct NextQuery {
    pub(super) next: Option<String>,
}

/// The sign-in form, with a link to the OIDC provider's sign-in when one is configured.
pub(super) async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<NextQuery>,
) -> Response {
    let secret = auth::random_secret();
    let next = local_target(query.next.as_deref());
    let provider = state.oidc.as_ref().map(|verifier| {
        let issuer = &verifier.settings().issuer;
        (issuer.host_str().unwrap_or(issuer.as_str()).to_owned(), layout::href("/ui/sign-in/oidc", &[("next", &next)]))
    });
    let viewer = Viewer { session: None };
    let body = html! {
        h1 { "Sign in" }
        p { "Paste an API token (" code { "shipit-api token create" } "). The dashboard acts with its scopes until you sign out, for at most the session's length." }
        form method="post" action="/ui/sign-in" class="stack" {
            input type="hidden" name="csrf" value=(secret);
            input type="hidden" name="next" value=(next);
            label for="token" { "API token" }
            input id="token" name="token" type="password" autocomplete="off" required spellcheck="false" size="72";
            button type="submit" { "Sign in" }
        }
        h2 { "Sign in to sign off" }
        @if let Some((host, href)) = &provider {
            p { a class="button" href=(href) { "Sign in with " (host) } }
            p { "Or sign in with a ShipIt account (" code { "shipit-api user create" } "): email, password and the code of an authenticator app." }
        } @else {
            p { "Release managers sign with their ShipIt account (" code { "shipit-api user create" } "): email, password and the code of their authenticator app." }
        }
        form method="post" action="/ui/sign-in/person" class="stack" {
            input type="hidden" name="csrf" value=(secret);
            input type="hidden" name="next" value=(next);
            label for="email" { "Email" }
            input id="email" name="email" type="email" autocomplete="username" required;
            label for="password" { "Password" }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            label for="totp" { "Code" }
            input id="totp" name="totp" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required;
            button type="submit" { "Sign in to sign off" }
        }
    };
    let page = layout::page(&Shell { title: "Sign in", section: "", viewer: &viewer }, body);
    let mut response = page.into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&headers, SIGN_IN_COOKIE, &secret, 3600));
    response
}

#[derive(Debug, Deserialize)]
pub(super) struct SignInForm {
    token: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

/// Starts a session for a valid token.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> UiResult<Response> {
    check_sign_in_form(&headers, &form.csrf)?;
    let token = form.token.trim();
    if token.len() > 200 || token.contains('\0') {
        return Err(bad_request("that is not a ShipIt API token"));
    }
    let record = db::tokens::find_by_digest(&state.pool, &auth::digest(token))
        .await?
        .ok_or_else(|| UiError::Api(ApiError::unauthorized("unknown token")))?;
    auth::check_usable(&record, Utc::now()).map_err(|detail| UiError::Api(ApiError::unauthorized(detail)))?;
    let hours = i64::from(state.config.ui_session_hours.max(1));
    let mut expires_at = Utc::now() + chrono::Duration::hours(hours);
    if let Some(token_expiry) = record.expires_at {
        expires_at = expires_at.min(token_expiry);
    }
    tracing::info!(token = %record.name, "dashboard sign-in");
    let started = start_session(&state, &headers, SessionCredential::Token(record.id), expires_at, &form.next).await?;
    Ok(started.redirect())
}

/// A session just stored: the cookies that start it (and end the sign-in form's), and the
/// dashboard path the browser goes to next.
pub(super) struct StartedSession {
    cookies: [HeaderValue; 2],
    pub(super) next: String,
}

impl StartedSession {
    /// `response`, setting the session's cookies.
    pub(super) fn set_on(self, mut response: Response) -> Response {
        for cookie in self.cookies {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// A redirect to `next` setting the session's cookies.
    pub(super) fn redirect(self) -> Response {
        let redirect = Redirect::to(&self.next).into_response();
        self.set_on(redirect)
    }
}

/// Stores a session; where the browser goes next is `next` if it is a dashboard path.
async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    credential: SessionCredential,
    expires_at: chrono::DateTime<Utc>,
    next: &str,
) -> UiResult<StartedSession> {
    let id = auth::random_secret();
    db::sessions::insert(&state.pool, &auth::digest(&id), credential, &auth::random_secret(), expires_at).await?;
    let max_age = (expires_at - Utc::now()).num_seconds().max(1);
    let cookies = [set_cookie(headers, SESSION_COOKIE, &id, max_age), set_cookie(headers, SIGN_IN_COOKIE, "", 0)];
    Ok(StartedSession { cookies, next: local_target(Some(next)) })
}

/// 403 unless the sign-in form carries the secret of its double-submit cookie.
fn check_sign_in_form(headers: &HeaderMap, csrf: &str) -> UiResult<()> {
    check_same_origin(headers)?;
    let expected = cookie(headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&expected, csrf) {
        return Err(UiError::Api(ApiError::forbidden("the sign-in form is stale: reload it and try again")));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub(super) struct PersonSignInForm {
    email: String,
    password: String,
    totp: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

/// Starts a person's session: a local user's password and TOTP code, checked as
/// `POST /auth/sessions` checks them (the same throttle), for at most their person session.
pub(super) async fn sign_in_person(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PersonSignInForm>,
) -> UiResult<Response> {
    check_sign_in_form(&headers, &form.csrf)?;
    let person = persons::local::sign_in(&state, form.email.trim(), &form.password, form.totp.trim()).await?;
    tracing::info!(person = %form.email.trim(), "dashboard sign-in as a person");
    Ok(start_person_session(&state, &headers, person.id, person.expires_at, &form.next).await?.redirect())
}

/// Starts the dashboard session of a person session (a local user's or the OIDC provider's
/// person), lasting `ui_session_hours` at most and never past the person session.
pub(super) async fn start_person_session(
    state: &AppState,
    headers: &HeaderMap,
    person_session_id: i64,
    person_expires_at: chrono::DateTime<Utc>,
    next: &str,
) -> UiResult<StartedSession> {
    let hours = i64::from(state.config.ui_session_hours.max(1));
    let expires_at = (Utc::now() + chrono::Duration::hours(hours)).min(person_expires_at);
    start_session(state, headers, SessionCredential::Person(person_session_id), expires_at, next).await
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: String,
}

/// Ends the session.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    SignedIn(session, _): SignedIn<AnyScope>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> UiResult<Response> {
    check_form(&session, &form.csrf)?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        db::sessions::delete(&state.pool, &auth::digest(&id)).await?;
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&headers, SESSION_COOKIE, "", 0));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(local_target(Some("/ui/runs/3")), "/ui/runs/3");
        assert_eq!(local_target(Some("https://evil.example/ui/")), "/ui/");
        assert_eq!(local_target(Some("//evil.example/ui/")), "/ui/");
        assert_eq!(local_target(Some("/ui/\\evil")), "/ui/");
        assert_eq!(local_target(Some("/runs")), "/ui/");
        assert_eq!(local_target(Some("/ui/a\nSet-Cookie: x")), "/ui/");
        assert_eq!(local_target(None), "/ui/");
    }

    #[test]
    fn cookies_are_secure_except_on_a_loopback_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8000"));
        let local = set_cookie(&headers, "a", "b", 5);
        assert_eq!(local.to_str().unwrap(), "a=b; Path=/ui; Max-Age=5; HttpOnly; SameSite=Strict");
        headers.insert(header::HOST, HeaderValue::from_static("shipit.example.org"));
        assert!(set_cookie(&headers, "a", "b", 5).to_str().unwrap().ends_with("; Secure"));
        headers.insert(header::HOST, HeaderValue::from_static("localhost.evil.example"));
        assert!(set_cookie(&headers, "a", "b", 5).to_str().unwrap().ends_with("; Secure"));
        let lax = set_cookie_with(&headers, "a", "b", 5, SameSite::Lax);
        assert!(lax.to_str().unwrap().ends_with("; HttpOnly; SameSite=Lax; Secure"), "{lax:?}");
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("x=1; shipit_session=abc"));
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "shipit"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abcd", "abcd"));
        assert!(!same_secret("abcd", "abce"));
        assert!(!same_secret("abcd", "abc"));
        assert!(!same_secret("", "a"));
    }
}
