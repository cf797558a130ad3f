//! Queries on the `ui_sessions` table: the dashboard's sign-in sessions. Only SHA-256 digests
//! of the session cookies are stored.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::DbError;
use super::tokens::TokenRecord;

/// Expired sessions are removed whenever a new one starts.
const DELETE_EXPIRED: &str = "DELETE FROM ui_sessions WHERE expires_at < now()";

const INSERT: &str = "INSERT INTO ui_sessions (id_sha256, token_id, csrf, expires_at) VALUES ($1, $2, $3, $4)";

/// The session's token, however it stands (revoked, expired): the caller checks it.
const SELECT: &str = "SELECT s.csrf, t.id, t.name, t.scopes, t.created_at, t.expires_at, t.revoked_at, \
         t.last_used_at \
     FROM ui_sessions s JOIN api_tokens t ON t.id = s.token_id \
     WHERE s.id_sha256 = $1 AND s.expires_at > now()";

const DELETE: &str = "DELETE FROM ui_sessions WHERE id_sha256 = $1";

/// A live session: its form secret and the token it acts with.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub csrf: String,
    pub token: TokenRecord,
}

/// Starts a session for `token_id`, removing the expired ones.
pub async fn insert(
    pool: &Pool,
    digest: &[u8],
    token_id: i64,
    csrf: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let client = pool.get().await?;
    client.execute(&client.prepare_cached(DELETE_EXPIRED).await?, &[]).await?;
    client.execute(&client.prepare_cached(INSERT).await?, &[&digest, &token_id, &csrf, &expires_at]).await?;
    Ok(())
}

/// The unexpired session with this digest.
pub async fn find(pool: &Pool, digest: &[u8]) -> Result<Option<SessionRecord>, DbError> {
    let client = pool.get().await?;
    let row = client.query_opt(&client.prepare_cached(SELECT).await?, &[&digest]).await?;
    Ok(row.map(|row| SessionRecord { csrf: row.get("csrf"), token: super::tokens::to_record(&row) }))
}

/// Ends a session.
pub async fn delete(pool: &Pool, digest: &[u8]) -> Result<(), DbError> {
    let client = pool.get().await?;
    client.execute(&client.prepare_cached(DELETE).await?, &[&digest]).await?;
    Ok(())
}
