//! Local users, for deployments without an identity provider: their emails, groups and
//! passwords (argon2), and the sign-in with a password and a TOTP code that hands out a person
//! token (`shipitp_…`), throttled after failures in a row.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rand::RngCore;

use super::totp;
use crate::auth;
use crate::db::{self, persons::LockPolicy};
use crate::error::ApiError;
use crate::state::AppState;

/// The start of every person token, which bot tokens (`shipit_`) never have.
pub const PERSON_TOKEN_PREFIX: &str = "shipitp_";
/// The longest password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest email, in bytes.
pub const MAX_EMAIL_BYTES: usize = 254;
/// The longest group name, in bytes.
pub const MAX_GROUP_BYTES: usize = 64;

/// Failed sign-ins in a row lock the user: from the 5th on, for a minute, doubled at each
/// further failure, at most an hour.
pub const LOCK_POLICY: LockPolicy = LockPolicy { threshold: 5, first_lock_secs: 60.0, max_lock_secs: 3600.0 };

/// The one answer to a failed sign-in, whatever failed.
const SIGN_IN_FAILED: &str = "the email, password or code is wrong";

/// A new person token.
pub fn generate_person_token() -> String {
    format!("{PERSON_TOKEN_PREFIX}{}", auth::random_secret())
}

/// Whether an email is acceptable: one `@` with text on both sides, at most
/// [`MAX_EMAIL_BYTES`], no whitespace or control characters.
pub fn is_valid_email(email: &str) -> bool {
    let parts = email.split('@').collect::<Vec<_>>();
    email.len() <= MAX_EMAIL_BYTES
        && parts.len() == 2
        && parts.iter().all(|part| !part.is_empty())
        && !email.chars().any(|character| character.is_whitespace() || character.is_control())
}

/// Whether a group name is acceptable: 1 to [`MAX_GROUP_BYTES`] letters, digits, `_`, `-`, `.`.
pub fn is_valid_group(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= MAX_GROUP_BYTES
        && group.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_-.".contains(&byte))
}

/// Whether a password is acceptable: not empty, at most [`MAX_PASSWORD_BYTES`].
pub fn is_valid_password(password: &str) -> bool {
    !password.is_empty() && password.len() <= MAX_PASSWORD_BYTES
}

/// The argon2id hash of a password, as a PHC string (default parameters, random salt).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with its default parameters hashes any password")
        .to_string()
}

/// Whether `password` is the one `hash` (a PHC string) was made from.
fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A hash no password is known to match, checked for unknown emails so that an answer takes as
/// long whether the email exists or not.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password(&auth::random_secret()));

/// A person token, handed out by a sign-in.
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The person session's row, which a dashboard session refers to.
    pub id: i64,
}

/// Signs a local user in with their password and a TOTP code. Any failure is the same 401; a
/// user locked by failures in a row gets 429 with `Retry-After` until the lock ends.
pub async fn sign_in(state: &AppState, email: &str, password: &str, code: &str) -> Result<NewSession, ApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid_field("password", format!("a password is at most {MAX_PASSWORD_BYTES} bytes")));
    }
    let user = db::persons::find_user(&state.pool, email).await?;
    let now = Utc::now();
    if let Some(locked_until) = user.as_ref().and_then(|user| user.locked_until).filter(|until| *until > now) {
        return Err(locked(locked_until, now));
    }
    let hash = user.as_ref().map_or_else(|| DUMMY_HASH.clone(), |user| user.password_hash.clone());
    let password = password.to_owned();
    let password_matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?;
    let Some(user) = user else {
        return Err(ApiError::unauthorized(SIGN_IN_FAILED));
    };
    let now_step = totp::step_of(u64::try_from(now.timestamp()).unwrap_or_default());
    let step = totp::accepted_step(&user.totp_secret, code, now_step, user.last_totp_step)
        .and_then(|step| i64::try_from(step).ok())
        .filter(|_| password_matches);
    // A concurrent sign-in with the same code loses here: the step is recorded once.
    let recorded = match step {
        Some(step) => db::persons::record_success(&state.pool, user.id, step).await?,
        None => false,
    };
    if !recorded {
        let locked_until = db::persons::record_failure(&state.pool, user.id, LOCK_POLICY).await?;
        tracing::info!(user.email = %user.email, locked = locked_until.is_some(), "failed sign-in");
        return Err(ApiError::unauthorized(SIGN_IN_FAILED));
    }
    let token = generate_person_token();
    let minutes = i64::from(state.config.signoff.session_minutes.max(1));
    let expires_at = now + chrono::Duration::minutes(minutes);
    let id = db::persons::insert_session(&state.pool, user.id, &auth::digest(&token), expires_at).await?;
    tracing::info!(user.email = %user.email, "signed in");
    Ok(NewSession { token, expires_at, id })
}

/// 429 until `until`.
fn locked(until: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let seconds = (until - now).num_milliseconds().div_euclid(1000) + 1;
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed sign-ins: try again later")
        .with_retry_after(u64::try_from(seconds).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_have_one_at_sign_and_no_blank() {
        assert!(is_valid_email("relman@mozilla.com"));
        assert!(is_valid_email("a+b.c@example.org"));
        for email in ["", "relman", "@mozilla.com", "relman@", "a@b@c", "rel man@mozilla.com", "a\u{7}@b", "a@b\n"] {
            assert!(!is_valid_email(email), "{email:?}");
        }
        assert!(is_valid_email(&format!("{}@b.c", "a".repeat(MAX_EMAIL_BYTES - 4))));
        assert!(!is_valid_email(&format!("{}@b.c", "a".repeat(MAX_EMAIL_BYTES - 3))));
    }

    #[test]
    fn groups_are_short_names() {
        assert!(is_valid_group("releng-admins_2.x"));
        for group in ["", "a b", "é", "a/b", "a:b"] {
            assert!(!is_valid_group(group), "{group:?}");
        }
        assert!(is_valid_group(&"g".repeat(MAX_GROUP_BYTES)));
        assert!(!is_valid_group(&"g".repeat(MAX_GROUP_BYTES + 1)));
    }

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse ", &hash));
        assert!(!verify_password("correct horse", "not a PHC string"));
        assert_ne!(hash, hash_password("correct horse"), "salts are random");
    }

    #[test]
    fn person_tokens_never_look_like_bot_tokens() {
        let token = generate_person_token();
        assert!(token.starts_with(PERSON_TOKEN_PREFIX) && token.len() == PERSON_TOKEN_PREFIX.len() + 64);
        assert!(!token.starts_with("shipit_"));
    }
}
