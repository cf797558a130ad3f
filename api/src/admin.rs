//! The administrative commands behind `shipit-api token …`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio::io::AsyncWriteExt;

use crate::auth;
use crate::db::{self, DbError, tokens::TokenRecord};

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
