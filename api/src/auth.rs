//! Bearer tokens with Taskcluster-style scopes.
//!
//! A token is `shipit_` followed by 64 hex digits of randomness; the database keeps only its
//! SHA-256. A token carries scopes such as `project:shipit:runs/manage`; a scope ending in `*`
//! grants every scope that starts with what precedes the star, as in Taskcluster.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{self, tokens::TokenRecord};
use crate::error::ApiError;
use crate::state::AppState;

/// Scopes the API checks.
pub mod scopes {
    /// Open, update and close bot runs.
    pub const RUNS_MANAGE: &str = "project:shipit:runs/manage";
    /// Start bot runs on demand.
    pub const RUNS_TRIGGER: &str = "project:shipit:runs/trigger";
    /// Upload coverage reports.
    pub const COVERAGE_MANAGE: &str = "project:shipit:coverage/manage";
    /// Claim and confirm events.
    pub const EVENTS_MANAGE: &str = "project:shipit:events/manage";
    /// Store static-analysis issues.
    pub const STATIC_ANALYSIS_MANAGE: &str = "project:shipit:static-analysis/manage";
    /// Store uplift channels, bug analyses and grafts.
    pub const UPLIFT_MANAGE: &str = "project:shipit:uplift/manage";
    /// Store risk assessments.
    pub const RISK_MANAGE: &str = "project:shipit:risk/manage";
    /// Create, cancel and retry release pipelines.
    pub const PIPELINES_MANAGE: &str = "project:shipit:pipelines/manage";
    /// Release managers: edit contributors and read their private comments.
    pub const ADMIN: &str = "project:shipit:admin";
    /// Read anything, when reads are not public.
    pub const READ: &str = "project:shipit:read";

    /// The scopes a route requires, as a type: [`super::Authorized`] checks them.
    pub trait Required: Send + Sync {
        /// Every one of them is needed.
        const SCOPES: &'static [&'static str];
    }

    macro_rules! required {
        ($($(#[$doc:meta])* $name:ident => [$($scope:expr),+];)+) => {$(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;
            impl Required for $name {
                const SCOPES: &'static [&'static str] = &[$($scope),+];
            }
        )+};
    }

    required! {
        /// [`RUNS_MANAGE`].
        RunsManage => [RUNS_MANAGE];
        /// [`RUNS_TRIGGER`].
        RunsTrigger => [RUNS_TRIGGER];
        /// [`COVERAGE_MANAGE`].
        CoverageManage => [COVERAGE_MANAGE];
        /// [`EVENTS_MANAGE`].
        EventsManage => [EVENTS_MANAGE];
        /// [`EVENTS_MANAGE`] and [`RUNS_MANAGE`]: claiming an event opens a run.
        EventsAndRunsManage => [EVENTS_MANAGE, RUNS_MANAGE];
        /// [`STATIC_ANALYSIS_MANAGE`].
        StaticAnalysisManage => [STATIC_ANALYSIS_MANAGE];
        /// [`UPLIFT_MANAGE`].
        UpliftManage => [UPLIFT_MANAGE];
        /// [`RISK_MANAGE`].
        RiskManage => [RISK_MANAGE];
        /// [`PIPELINES_MANAGE`].
        PipelinesManage => [PIPELINES_MANAGE];
        /// [`ADMIN`].
        Admin => [ADMIN];
    }
}

/// The start of every API (bot) token.
pub const TOKEN_PREFIX: &str = "shipit_";

/// Whether holding `held` grants `required`.
pub fn scope_grants(held: &str, required: &str) -> bool {
    match held.strip_suffix('*') {
        Some(prefix) => required.starts_with(prefix),
        None => held == required,
    }
}

/// Whether a scope is well formed: printable ASCII, as Taskcluster requires, and not empty.
pub fn is_valid_scope(scope: &str) -> bool {
    !scope.is_empty() && scope.bytes().all(|byte| (0x20..=0x7e).contains(&byte))
}

/// A new random token.
pub fn generate_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// 32 random bytes as 64 hex digits: a token's secret, a dashboard session or form secret.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The digest stored for a token.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether a stored token may be used at `now`, and why not otherwise.
pub fn check_usable(record: &TokenRecord, now: DateTime<Utc>) -> Result<(), &'static str> {
    if record.revoked_at.is_some() {
        return Err("the token was revoked");
    }
    if record.expires_at.is_some_and(|expires_at| expires_at <= now) {
        return Err("the token has expired");
    }
    Ok(())
}

/// The caller, authenticated by a valid bearer token. Extracting it answers 401 when the
/// request has no token or a token that is unknown, revoked or expired.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's name, or a person's email.
    pub name: String,
    pub scopes: Vec<String>,
}

impl Caller {
    /// Answers 403 unless one of the caller's scopes grants `required`.
    pub fn require(&self, required: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|held| scope_grants(held, required)) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!("the token `{}` lacks the scope `{required}`", self.name)))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer shipit_…`"))?;
        let record = db::tokens::find_by_digest(&state.pool, &digest(token))
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
        let now = Utc::now();
        check_usable(&record, now).map_err(ApiError::unauthorized)?;
        // Recording every use would be a write per request; once a minute is enough to tell
        // live tokens from dead ones.
        if record.last_used_at.is_none_or(|last| now - last > chrono::Duration::minutes(1)) {
            db::tokens::touch(&state.pool, record.id).await?;
        }
        Ok(Self { name: record.name, scopes: record.scopes })
    }
}

/// The token of an `Authorization` value: the scheme is case-insensitive (RFC 9110).
fn bearer_token(value: &str) -> Option<&str> {
    bearer(value).filter(|token| token.starts_with(TOKEN_PREFIX))
}

/// The credential of an `Authorization: Bearer …` value, whatever its kind (the scheme is
/// case-insensitive, RFC 9110).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The caller, holding every scope `S` requires. It is checked from the headers alone, before
/// the path, the query or a byte of the body is read: a handler takes it as its first
/// extractor, so that a token without the scope gets 403 before any 400, 413 or 415.
#[derive(Debug)]
pub struct Authorized<S>(pub Caller, pub PhantomData<S>);

impl<S: scopes::Required> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        for scope in S::SCOPES {
            caller.require(scope)?;
        }
        Ok(Self(caller, PhantomData))
    }
}

/// Permission to read. Reads are public unless `public_reads` is off, in which case they need
/// a token with the `project:shipit:read` scope.
#[derive(Clone, Copy, Debug)]
pub struct Reader;

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if !state.config.public_reads {
            Caller::from_request_parts(parts, state).await?.require(scopes::READ)?;
        }
        Ok(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_credential_is_read_whatever_its_kind() {
        assert_eq!(bearer("Bearer shipitp_abc"), Some("shipitp_abc"));
        assert_eq!(bearer("bearer  eyJ.a.b "), Some("eyJ.a.b"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("shipitp_abc"), None);
        assert_eq!(bearer_token("Bearer shipitp_abc"), None);
        assert_eq!(bearer_token("Bearer shipit_abc"), Some("shipit_abc"));
    }

    #[test]
    fn exact_scopes_grant_only_themselves() {
        assert!(scope_grants("project:shipit:runs/manage", "project:shipit:runs/manage"));
        assert!(!scope_grants("project:shipit:runs/manage", "project:shipit:runs/manager"));
        assert!(!scope_grants("project:shipit:runs", "project:shipit:runs/manage"));
    }

    #[test]
    fn a_trailing_star_grants_every_suffix() {
        assert!(scope_grants("project:shipit:*", "project:shipit:runs/manage"));
        assert!(scope_grants("project:shipit:runs/*", "project:shipit:runs/manage"));
        assert!(scope_grants("*", "anything"));
        assert!(scope_grants("project:shipit:runs/manage*", "project:shipit:runs/manage"));
        assert!(!scope_grants("project:shipit:coverage/*", "project:shipit:runs/manage"));
        // A star in the middle is literal, as in Taskcluster.
        assert!(!scope_grants("project:*:runs/manage", "project:shipit:runs/manage"));
    }

    #[test]
    fn tokens_are_random_and_only_their_digest_is_kept() {
        let first = generate_token();
        let second = generate_token();
        assert_ne!(first, second);
        assert!(first.starts_with(TOKEN_PREFIX) && first.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(digest(&first), digest(&first));
        assert_ne!(digest(&first), digest(&second));
    }

    #[test]
    fn revoked_and_expired_tokens_are_refused() {
        let now = Utc::now();
        let record = TokenRecord {
            id: 1,
            name: "bot".into(),
            scopes: vec![],
            created_at: now,
            expires_at: Some(now + chrono::Duration::hours(1)),
            revoked_at: None,
            last_used_at: None,
        };
        assert!(check_usable(&record, now).is_ok());
        assert!(check_usable(&TokenRecord { expires_at: Some(now), ..record.clone() }, now).is_err());
        assert!(check_usable(&TokenRecord { revoked_at: Some(now), ..record }, now).is_err());
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let token = format!("{TOKEN_PREFIX}{}", "a".repeat(64));
        for value in [format!("Bearer {token}"), format!("bearer {token}"), format!("BEARER  {token} ")] {
            assert_eq!(bearer_token(&value), Some(token.as_str()), "{value}");
        }
        assert_eq!(bearer_token(&format!("Basic {token}")), None);
        assert_eq!(bearer_token("Bearer not-a-shipit-token"), None);
        assert_eq!(bearer_token(&token), None);
    }

    #[test]
    fn scopes_must_be_printable_ascii() {
        assert!(is_valid_scope("project:shipit:runs/*"));
        assert!(!is_valid_scope(""));
        assert!(!is_valid_scope("project:shipit:\n"));
        assert!(!is_valid_scope("projet:é"));
    }
}
