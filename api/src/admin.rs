//! The administrative commands behind `shipit-api token …` and `shipit-api user …`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio::io::AsyncWriteExt;

use crate::auth;
use crate::db::{self, DbError, persons::UserSummary, tokens::TokenRecord};
use crate::persons::{local, totp};

/// Why a token command was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("at least one --scope is required")]
    NoScope,
    #[error("invalid scope {0:?}: scopes are printable ASCII")]
    InvalidScope(String),
    #[error("invalid token name {0:?}: 1 to {MAX_NAME_CHARS} characters, no control characters")]
    InvalidName(String),
    #[error("cannot keep the runner's token in {path}: {source}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("an active token is named {0:?} already: revoke it or choose another name")]
    NameTaken(String),
    #[error("no active token has the id {0}")]
    NoSuchToken(i64),
    #[error("invalid expiry {0:?}: give a duration (90d, 12h) or a date (2027-01-31T00:00:00Z)")]
    InvalidExpiry(String),
    #[error("invalid email {0:?}: one @, at most {max} bytes, no whitespace or control characters", max = local::MAX_EMAIL_BYTES)]
    InvalidEmail(String),
    #[error("invalid group {0:?}: 1 to {max} letters, digits, `_`, `-` or `.`", max = local::MAX_GROUP_BYTES)]
    InvalidGroup(String),
    #[error("the password must be 1 to {max} bytes", max = local::MAX_PASSWORD_BYTES)]
    InvalidPassword,
    #[error("a user with the email {0:?} exists already: remove it first to create it again")]
    UserExists(String),
    #[error("no user has the email {0:?}")]
    NoSuchUser(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Parses `--expires`: a duration from now (`90d`, `12h`, `30min`) or an RFC 3339 date.
pub fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, AdminError> {
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Ok(date.with_timezone(&Utc));
    }
    let duration = humantime::parse_duration(text).map_err(|_| AdminError::InvalidExpiry(text.to_owned()))?;
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| now.checked_add_signed(duration))
        .ok_or_else(|| AdminError::InvalidExpiry(text.to_owned()))
}

/// Creates a token and returns it; this is the only time it exists outside its holder.
pub async fn create_token(
    pool: &Pool,
    name: &str,
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
) -> Result<String, AdminError> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AdminError::InvalidName(name.to_owned()));
    }
    if scopes.is_empty() {
        return Err(AdminError::NoScope);
    }
    if let Some(scope) = scopes.iter().find(|scope| !auth::is_valid_scope(scope)) {
        return Err(AdminError::InvalidScope(scope.clone()));
    }
    let token = auth::generate_token();
    db::tokens::insert(pool, name, &auth::digest(&token), scopes, expires_at)
        .await?
        .ok_or_else(|| AdminError::NameTaken(name.to_owned()))?;
    tracing::info!(token.name = name, scopes = ?scopes, "token created");
    Ok(token)
}

/// Replaces the active token named `name`, if any, by a new one; for tokens the API hands to
/// the bots it starts itself.
pub async fn rotate_token(pool: &Pool, name: &str, scopes: &[String]) -> Result<String, AdminError> {
    if let Some(active) =
        db::tokens::list(pool).await?.into_iter().find(|token| token.name == name && token.revoked_at.is_none())
    {
        db::tokens::revoke(pool, active.id).await?;
    }
    create_token(pool, name, scopes, None).await
}

/// The name of the token the local runner hands to the bots it starts.
pub const LOCAL_RUNNER: &str = "local-runner";

/// The local runner's token, kept in `file` (mode 0600) across restarts of the API, so that bots
/// still running from before a restart keep a valid token. A new one replaces it when the file
/// is missing or its token is no longer valid.
pub async fn local_runner_token(pool: &Pool, file: &Path) -> Result<String, AdminError> {
    let file_error = |source| AdminError::TokenFile { path: file.to_owned(), source };
    if let Ok(kept) = tokio::fs::read_to_string(file).await {
        let kept = kept.trim();
        let record = db::tokens::find_by_digest(pool, &auth::digest(kept)).await?;
        if record.is_some_and(|record| record.name == LOCAL_RUNNER && auth::check_usable(&record, Utc::now()).is_ok()) {
            return Ok(kept.to_owned());
        }
    }
    let token = rotate_token(pool, LOCAL_RUNNER, &["project:shipit:*".to_owned()]).await?;
    if let Some(dir) = file.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(file_error)?;
    }
    let written = tokio::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(file).await;
    let mut written = written.map_err(file_error)?;
    // The mode applies only to a new file: make an old one private too.
    tokio::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).await.map_err(file_error)?;
    written.write_all(token.as_bytes()).await.map_err(file_error)?;
    written.flush().await.map_err(file_error)?;
    Ok(token)
}

/// Every token, newest first.
pub async fn list_tokens(pool: &Pool) -> Result<Vec<TokenRecord>, AdminError> {
    Ok(db::tokens::list(pool).await?)
}

/// Revokes the token with this id.
pub async fn revoke_token(pool: &Pool, id: i64) -> Result<(), AdminError> {
    if !db::tokens::revoke(pool, id).await? {
        return Err(AdminError::NoSuchToken(id));
    }
    tracing::info!(token.id = id, "token revoked");
    Ok(())
}

/// The state of a token, for `token list`.
pub fn token_state(record: &TokenRecord, now: DateTime<Utc>) -> &'static str {
    match auth::check_usable(record, now) {
        Ok(()) => "active",
        Err(_) if record.revoked_at.is_some() => "revoked",
        Err(_) => "expired",
    }
}

/// Creates a local user with this password and a new TOTP secret, and returns the `otpauth://`
/// URI of the secret for an authenticator app; this is the only time the secret leaves the
/// database.
pub async fn create_user(pool: &Pool, email: &str, groups: &[String], password: &str) -> Result<String, AdminError> {
    if !local::is_valid_email(email) {
        return Err(AdminError::InvalidEmail(email.to_owned()));
    }
    if let Some(group) = groups.iter().find(|group| !local::is_valid_group(group)) {
        return Err(AdminError::InvalidGroup(group.clone()));
    }
    if !local::is_valid_password(password) {
        return Err(AdminError::InvalidPassword);
    }
    let secret = totp::generate_secret();
    let password_hash = local::hash_password(password);
    db::persons::insert_user(pool, email, groups, &password_hash, &secret)
        .await?
        .ok_or_else(|| AdminError::UserExists(email.to_owned()))?;
    tracing::info!(user.email = email, groups = ?groups, "user created");
    Ok(totp::otpauth_uri(email, &secret))
}

/// The password of `user create`: the first line of `input`, without its line ending.
pub fn read_password(mut input: impl std::io::BufRead) -> Result<String, AdminError> {
    let mut line = String::new();
    // Read at most one byte past the limit and a line ending, so a huge input is not all read.
    let limit = u64::try_from(local::MAX_PASSWORD_BYTES + 3).unwrap_or(u64::MAX);
    std::io::BufRead::read_line(&mut std::io::Read::take(&mut input, limit), &mut line)
        .map_err(|_| AdminError::InvalidPassword)?;
    let password = line.strip_suffix('\n').map_or(line.as_str(), |line| line.strip_suffix('\r').unwrap_or(line));
    if !local::is_valid_password(password) {
        return Err(AdminError::InvalidPassword);
    }
    Ok(password.to_owned())
}

/// Every local user, by email (never a secret).
pub async fn list_users(pool: &Pool) -> Result<Vec<UserSummary>, AdminError> {
    Ok(db::persons::list_users(pool).await?)
}

/// Removes a local user, which ends their sessions.
pub async fn remove_user(pool: &Pool, email: &str) -> Result<(), AdminError> {
    if !db::persons::delete_user(pool, email).await? {
        return Err(AdminError::NoSuchUser(email.to_owned()));
    }
    tracing::info!(user.email = email, "user removed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_first_line_without_its_ending() {
        assert_eq!(read_password(&b"secret\n"[..]).unwrap(), "secret");
        assert_eq!(read_password(&b"secret\r\nmore\n"[..]).unwrap(), "secret");
        assert_eq!(read_password(&b" spaced  "[..]).unwrap(), " spaced  ");
        assert!(read_password(&b"\n"[..]).is_err());
        assert!(read_password(&b""[..]).is_err());
        let longest = "p".repeat(local::MAX_PASSWORD_BYTES);
        assert_eq!(read_password(format!("{longest}\n").as_bytes()).unwrap(), longest);
        assert!(read_password(format!("{longest}p\n").as_bytes()).is_err());
    }
}
