//! People's credentials: a local user's sign-in (password and TOTP code) for a person token, and
//! who a person credential names.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shipit_shared::api_types::Problem;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::persons::{Person, local};
use crate::state::AppState;

/// A local user's sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// The 6-digit code of the user's authenticator app.
    pub totp: String,
}

/// A person token: `Authorization: Bearer shipitp_…` until it expires.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// The person a credential names.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub email: String,
    pub groups: Vec<String>,
    /// Signed in with a second factor.
    pub second_factor: bool,
    /// `local` (a person token) or `oidc` (an ID token).
    pub credential: String,
}

/// Sign a local user in with their password and TOTP code, for a person token.
#[utoipa::path(
    post, path = "/auth/sessions", tag = "auth", request_body = SignIn,
    responses(
        (status = 201, description = "A person token", body = PersonSession),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The email, password or code is wrong (one answer for all)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed sign-ins in a row: wait `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_session(
    State(state): State<AppState>,
    JsonBody(sign_in): JsonBody<SignIn>,
) -> ApiResult<(StatusCode, Json<PersonSession>)> {
    let session = local::sign_in(&state, &sign_in.email, &sign_in.password, &sign_in.totp).await?;
    Ok((StatusCode::CREATED, Json(PersonSession { token: session.token, expires_at: session.expires_at })))
}

/// The person a person token or an OIDC ID token names; bot tokens are refused.
#[utoipa::path(
    get, path = "/auth/whoami", tag = "auth",
    security(("person" = [])),
    responses(
        (status = 200, description = "The person", body = WhoAmI),
        (status = 401, description = "No valid person credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A bot's API token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn whoami(person: Person) -> Json<WhoAmI> {
    Json(WhoAmI {
        email: person.email,
        groups: person.groups,
        second_factor: person.second_factor,
        credential: person.credential.to_owned(),
    })
}
