//! People, as opposed to bots: the [`Person`] extractor, which accepts a local user's person
//! token (`shipitp_…`, from a sign-in with a password and a TOTP code) or an OIDC ID token, and
//! never a bot's API token.

pub mod local;
pub mod oidc;
pub mod totp;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::auth;
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// [`Person::credential`] of a local user.
pub const LOCAL: &str = "local";
/// [`Person::credential`] of an OIDC ID token.
pub const OIDC: &str = "oidc";

/// A person, authenticated by a person token (local user, password + TOTP) or an OIDC ID token.
/// Extracting it reads the headers only: no `Authorization` or an invalid credential is 401, a
/// bot's API token 403.
#[derive(Clone, Debug)]
pub struct Person {
    pub email: String,
    pub groups: Vec<String>,
    /// Signed in with a second factor (always true for local users: password and TOTP).
    pub second_factor: bool,
    /// "local" or "oidc".
    pub credential: &'static str,
}

impl FromRequestParts<AppState> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("a person's bearer token is required"))?;
        let token = value.to_str().ok().and_then(auth::bearer).ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <person token or ID token>`")
        })?;
        if token.starts_with(local::PERSON_TOKEN_PREFIX) {
            let user = db::persons::find_session(&state.pool, &auth::digest(token))
                .await?
                .ok_or_else(|| ApiError::unauthorized("unknown or expired person token: sign in again"))?;
            return Ok(Self { email: user.email, groups: user.groups, second_factor: true, credential: LOCAL });
        }
        if token.starts_with(auth::TOKEN_PREFIX) {
            return Err(ApiError::forbidden("API tokens belong to bots and cannot act for a person"));
        }
        let verifier = state.oidc.as_ref().ok_or_else(|| {
            ApiError::unauthorized("no identity provider is configured: sign in with POST /auth/sessions")
        })?;
        verifier.verify(token).await.map_err(|error| ApiError::unauthorized(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_and_person_prefixes_never_overlap() {
        assert!(!local::PERSON_TOKEN_PREFIX.starts_with(auth::TOKEN_PREFIX));
        assert!(!auth::TOKEN_PREFIX.starts_with(local::PERSON_TOKEN_PREFIX));
    }
}
