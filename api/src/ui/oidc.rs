//! Sign-in on the dashboard with the OIDC provider: the authorization-code flow with PKCE (S256).
//! `GET /ui/sign-in/oidc` stores the sign-in (the state's digest, the nonce, the PKCE verifier,
//! where to go next and the digest of a cookie binding it to this browser) and sends the browser
//! to the provider; `GET /ui/sign-in/oidc/callback` takes the sign-in back once, redeems the code
//! at the token endpoint, verifies the ID token and its nonce, and starts the person's session as
//! a local user's sign-in does. Nothing the provider sends is used before it is verified.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use chrono::Utc;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shipit_shared::http::read_limited;

use super::session::{self, NextQuery, SameSite, StartedSession};
use super::{UiError, UiResult, bad_request};
use crate::auth;
use crate::db;
use crate::db::oidc_logins::NewLogin;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::persons::oidc::{MAX_DOCUMENT_BYTES, OidcVerifier};
use crate::state::AppState;

/// The cookie binding a sign-in to the browser that started it: SameSite=Lax, since the provider
/// sends the browser back from another site.
const BINDING_COOKIE: &str = "shipit_oidc";
/// How long a sign-in may take, from the redirect to the provider to its redirect back.
const LOGIN_SECS: i64 = 600;
/// Sign-ins in progress at most; more wait (503) until some end or expire.
const MAX_PENDING_LOGINS: i64 = 10_000;
/// Where the provider sends the browser back, under `public_url`.
const CALLBACK_PATH: &str = "/ui/sign-in/oidc/callback";
/// The longest text of the provider's own shown on an error page.
const MAX_PROVIDER_TEXT_CHARS: usize = 300;

/// `GET /ui/sign-in/oidc?next=`: sends the browser to the provider's authorization endpoint.
pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<NextQuery>,
) -> UiResult<Response> {
    let provider = provider(&state)?;
    let endpoints = provider.sign_in_endpoints().await.map_err(|error| bad_gateway(error.to_string()))?;
    let login_state = auth::random_secret();
    let nonce = auth::random_secret();
    // 64 hex digits: within PKCE's 43 to 128 unreserved characters, 256 random bits.
    let code_verifier = auth::random_secret();
    let browser = auth::random_secret();
    let next = session::local_target(query.next.as_deref());
    let login = NewLogin {
        state_sha256: &auth::digest(&login_state),
        browser_sha256: &auth::digest(&browser),
        nonce: &nonce,
        code_verifier: &code_verifier,
        next: &next,
        expires_at: Utc::now() + chrono::Duration::seconds(LOGIN_SECS),
    };
    if !db::oidc_logins::insert(&state.pool, &login, MAX_PENDING_LOGINS).await? {
        tracing::warn!(pending = MAX_PENDING_LOGINS, "too many sign-ins with the identity provider in progress");
        return Err(UiError::Api(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sign-ins are in progress: try again in a few minutes",
        )));
    }
    let settings = provider.settings();
    let mut target = endpoints.authorization;
    target
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.audience)
        .append_pair("redirect_uri", &redirect_uri(&state))
        .append_pair("scope", &settings.scope())
        .append_pair("state", &login_state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &pkce_challenge(&code_verifier))
        .append_pair("code_challenge_method", "S256");
    let mut response = Redirect::to(target.as_str()).into_response();
    let cookie = session::set_cookie_with(&headers, BINDING_COOKIE, &browser, LOGIN_SECS, SameSite::Lax);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// What the provider sends the browser back with: a code and the state, or an error.
#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// The provider's name (RFC 9207), when it says it.
    iss: Option<String>,
}

/// `GET /ui/sign-in/oidc/callback`: the provider's answer. Whatever it is, the sign-in is over:
/// its state is taken and the browser's binding cookie removed.
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<CallbackQuery>,
) -> UiResult<Response> {
    let provider = provider(&state)?;
    let mut response = match finish_sign_in(&state, provider, &headers, query).await {
        Ok(signed_in) => continue_page(signed_in),
        Err(error) => error.into_response(),
    };
    let cookie = session::set_cookie_with(&headers, BINDING_COOKIE, "", 0, SameSite::Lax);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn finish_sign_in(
    state: &AppState,
    provider: &OidcVerifier,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> UiResult<StartedSession> {
    let login = match query.state.as_deref() {
        Some(login_state) => db::oidc_logins::take(&state.pool, &auth::digest(login_state)).await?,
        None => None,
    };
    if let Some(error) = query.error.as_deref() {
        return Err(provider_refusal(error, query.error_description.as_deref()));
    }
    let Some(code) = query.code.as_deref().filter(|code| !code.is_empty()) else {
        return Err(bad_request("the identity provider sent no code: start the sign-in again"));
    };
    let Some(login) = login else {
        return Err(bad_request(
            "this sign-in is unknown or was already used (its state is accepted once): start the sign-in again",
        ));
    };
    if !login.live {
        return Err(bad_request(format!(
            "this sign-in took more than {} minutes and has expired: start the sign-in again",
            LOGIN_SECS / 60
        )));
    }
    let browser = session::cookie(headers, BINDING_COOKIE).filter(|value| !value.is_empty());
    let Some(browser) = browser else {
        return Err(unauthorized(
            "this browser has no cookie of the sign-in: start the sign-in again from this browser (with cookies allowed)",
        ));
    };
    if auth::digest(&browser) != login.browser_sha256 {
        return Err(unauthorized("this sign-in was started by another browser: start the sign-in again"));
    }
    if query.iss.as_deref().is_some_and(|iss| !provider.is_issuer(iss)) {
        return Err(bad_request("the answer comes from another identity provider (iss): start the sign-in again"));
    }
    let id_token = redeem_code(state, provider, code, &login.code_verifier).await?;
    let person = provider.verify_sign_in(&id_token, &login.nonce).await.map_err(|error| {
        tracing::info!(%error, "refused an ID token of a dashboard sign-in");
        unauthorized(error.to_string())
    })?;
    let minutes = i64::from(state.config.signoff.session_minutes.max(1));
    let person_expires_at = Utc::now() + chrono::Duration::minutes(minutes);
    let person_session = db::persons::insert_oidc_session(
        &state.pool,
        &person.email,
        &person.groups,
        person.second_factor,
        person_expires_at,
    )
    .await?;
    tracing::info!(person = %person.email, second_factor = person.second_factor, "dashboard sign-in with the identity provider");
    session::start_person_session(state, headers, person_session, person_expires_at, &login.next).await
}

/// A page setting the session's cookies that goes on to `next` itself. The browser came from the
/// provider's site, and a redirect would carry on that cross-site navigation, on which the
/// session cookie (SameSite=Strict) is not sent: `next` would look signed out. The refresh
/// (`Refresh: 0;url=…`, and a link) is a navigation this site starts.
fn continue_page(started: StartedSession) -> Response {
    let target = started.next.clone();
    let page = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Signed in · ShipIt" }
            }
            body { main { p { "Signed in. " a href=(target) { "Continue" } } } }
        }
    };
    let mut response = Html(page.into_string()).into_response();
    // `target` is a path of the dashboard (`session::local_target`): a valid header value.
    if let Ok(refresh) = header::HeaderValue::from_str(&format!("0;url={target}")) {
        response.headers_mut().insert(header::REFRESH, refresh);
    }
    started.set_on(response)
}

/// The ID token the token endpoint gives for `code`. A provider that cannot be reached or fails
/// is a 502; one refusing the code a 401.
async fn redeem_code(state: &AppState, provider: &OidcVerifier, code: &str, code_verifier: &str) -> UiResult<String> {
    let settings = provider.settings();
    let endpoints = provider.sign_in_endpoints().await.map_err(|error| bad_gateway(error.to_string()))?;
    let redirect_uri = redirect_uri(state);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", settings.audience.as_str()),
        ("code_verifier", code_verifier),
    ];
    if let Some(secret) = &settings.client_secret {
        form.push(("client_secret", secret.expose_secret()));
    }
    let request = state.upstream.client().post(endpoints.token).header(header::ACCEPT, "application/json").form(&form);
    let unreachable = |error: &dyn std::fmt::Display| {
        tracing::warn!(%error, "the identity provider's token endpoint failed");
        bad_gateway(format!("the identity provider's token endpoint failed: {error}"))
    };
    // A code is good for one request: it is never sent again, even after a timeout.
    let response = request.send().await.map_err(|error| unreachable(&error))?;
    let status = response.status();
    let body = read_limited(response, MAX_DOCUMENT_BYTES).await.map_err(|error| unreachable(&error))?;
    let answer = serde_json::from_slice::<Value>(&body).ok();
    if status.is_client_error() {
        let reason = answer
            .as_ref()
            .and_then(|answer| answer.get("error"))
            .and_then(Value::as_str)
            .map_or_else(|| status.to_string(), provider_text);
        tracing::info!(%reason, "the identity provider refused a code");
        return Err(unauthorized(format!(
            "the identity provider refused the sign-in's code ({reason}): start the sign-in again"
        )));
    }
    if !status.is_success() {
        return Err(unreachable(&format!("it answered {status}")));
    }
    answer
        .as_ref()
        .and_then(|answer| answer.get("id_token"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| bad_gateway("the identity provider's token endpoint answered no ID token"))
}

/// The provider, or 404 without one.
fn provider(state: &AppState) -> UiResult<&OidcVerifier> {
    state.oidc.as_deref().ok_or_else(|| {
        UiError::Api(ApiError::not_found(
            "no identity provider is configured: sign in with a token or a ShipIt account",
        ))
    })
}

/// Where the provider sends the browser back.
fn redirect_uri(state: &AppState) -> String {
    format!("{}{CALLBACK_PATH}", state.config.public_url().trim_end_matches('/'))
}

/// The S256 code challenge of a PKCE verifier (RFC 7636, 4.2).
fn pkce_challenge(code_verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

/// The page for an error the provider sent back (RFC 6749, 4.1.2.1): the person declined or may
/// not sign in (401), the provider failed (502), or it found the request wrong (400).
fn provider_refusal(error: &str, description: Option<&str>) -> UiError {
    let error = provider_text(error);
    let status = match error.as_str() {
        "access_denied"
        | "login_required"
        | "consent_required"
        | "interaction_required"
        | "account_selection_required" => StatusCode::UNAUTHORIZED,
        "server_error" | "temporarily_unavailable" => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    };
    let detail = match description.map(provider_text).filter(|description| !description.is_empty()) {
        Some(description) => format!("the identity provider did not sign you in: {error} ({description})"),
        None => format!("the identity provider did not sign you in: {error}"),
    };
    tracing::info!(%error, "the identity provider sent back an error");
    UiError::Api(ApiError::new(status, detail))
}

/// Text of the provider's shown on a page: no control characters, at most
/// [`MAX_PROVIDER_TEXT_CHARS`] (the page escapes it).
fn provider_text(text: &str) -> String {
    text.chars().filter(|character| !character.is_control()).take(MAX_PROVIDER_TEXT_CHARS).collect()
}

fn unauthorized(detail: impl Into<String>) -> UiError {
    UiError::Api(ApiError::unauthorized(detail))
}

fn bad_gateway(detail: impl Into<String>) -> UiError {
    UiError::Api(ApiError::new(StatusCode::BAD_GATEWAY, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_unpadded_base64url_sha256_of_the_verifier() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_providers_errors_are_shown_short_and_without_control_characters() {
        assert_eq!(provider_text("access_denied\r\nSet-Cookie: x"), "access_deniedSet-Cookie: x");
        assert_eq!(provider_text(&"x".repeat(1000)).len(), MAX_PROVIDER_TEXT_CHARS);
        let status = |error| match provider_refusal(error, None) {
            UiError::Api(error) => error.status(),
            UiError::SignIn { .. } => unreachable!("a refusal is an error page"),
        };
        assert_eq!(status("access_denied"), StatusCode::UNAUTHORIZED);
        assert_eq!(status("temporarily_unavailable"), StatusCode::BAD_GATEWAY);
        assert_eq!(status("invalid_scope"), StatusCode::BAD_REQUEST);
    }
}
