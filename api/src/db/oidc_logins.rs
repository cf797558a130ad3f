//! Queries on the `oidc_logins` table: the dashboard's sign-ins with the OIDC provider between
//! the redirect to the provider and its redirect back, each taken once. Only SHA-256 digests of
//! the state and of the browser's binding cookie are stored.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::DbError;

/// A sign-in that starts.
#[derive(Clone, Copy, Debug)]
pub struct NewLogin<'a> {
    pub state_sha256: &'a [u8],
    pub browser_sha256: &'a [u8],
    pub nonce: &'a str,
    pub code_verifier: &'a str,
    /// The dashboard path to go to once signed in.
    pub next: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// A sign-in taken back when the provider sends the browser back.
#[derive(Clone, Debug)]
pub struct PendingLogin {
    pub browser_sha256: Vec<u8>,
    pub nonce: String,
    pub code_verifier: String,
    pub next: String,
    /// Whether it had not expired yet, by the database's clock.
    pub live: bool,
}

/// Expired sign-ins are removed whenever a new one starts.
const DELETE_EXPIRED: &str = "DELETE FROM oidc_logins WHERE expires_at <= now()";

/// Stored only while fewer than `$7` sign-ins are in progress.
const INSERT: &str = "INSERT INTO oidc_logins (state_sha256, browser_sha256, nonce, code_verifier, next, expires_at) \
     SELECT $1, $2, $3, $4, $5, $6 WHERE (SELECT count(*) FROM oidc_logins) < $7";

/// Read and deleted in one statement: two callbacks with one state never both get it.
const TAKE: &str = "DELETE FROM oidc_logins WHERE state_sha256 = $1 \
     RETURNING browser_sha256, nonce, code_verifier, next, expires_at > now() AS live";

/// Stores a sign-in that starts, removing the expired ones; `false` when `max_pending` sign-ins
/// are in progress already.
pub async fn insert(pool: &Pool, login: &NewLogin<'_>, max_pending: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    client.execute(&client.prepare_cached(DELETE_EXPIRED).await?, &[]).await?;
    let insert = client.prepare_cached(INSERT).await?;
    let inserted = client
        .execute(
            &insert,
            &[
                &login.state_sha256,
                &login.browser_sha256,
                &login.nonce,
                &login.code_verifier,
                &login.next,
                &login.expires_at,
                &max_pending,
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// Takes (reads and deletes) the sign-in whose state has this digest, expired or not.
pub async fn take(pool: &Pool, state_sha256: &[u8]) -> Result<Option<PendingLogin>, DbError> {
    let client = pool.get().await?;
    let row = client.query_opt(&client.prepare_cached(TAKE).await?, &[&state_sha256]).await?;
    Ok(row.map(|row| PendingLogin {
        browser_sha256: row.get("browser_sha256"),
        nonce: row.get("nonce"),
        code_verifier: row.get("code_verifier"),
        next: row.get("next"),
        live: row.get("live"),
    }))
}
