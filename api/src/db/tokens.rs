//! Queries on the `api_tokens` table. Only SHA-256 digests of tokens are stored.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_postgres::Row;

use super::DbError;

/// A stored token, without the secret.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

macro_rules! columns {
    () => {
        "id, name, scopes, created_at, expires_at, revoked_at, last_used_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO api_tokens (name, token_sha256, scopes, expires_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING RETURNING ",
    columns!()
);

const SELECT_BY_DIGEST: &str = concat!("SELECT ", columns!(), " FROM api_tokens WHERE token_sha256 = $1");

const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM api_tokens ORDER BY id DESC");

const TOUCH: &str = "UPDATE api_tokens SET last_used_at = now() WHERE id = $1";

const REVOKE: &str = "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL";

/// Stores a new token; `None` when an active token has this name already.
pub async fn insert(
    pool: &Pool,
    name: &str,
    digest: &[u8],
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
) -> Result<Option<TokenRecord>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(INSERT).await?;
    let row = client.query_opt(&statement, &[&name, &digest, &scopes, &expires_at]).await?;
    Ok(row.as_ref().map(to_record))
}

/// The token with this digest, revoked and expired ones included.
pub async fn find_by_digest(pool: &Pool, digest: &[u8]) -> Result<Option<TokenRecord>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_BY_DIGEST).await?;
    Ok(client.query_opt(&statement, &[&digest]).await?.as_ref().map(to_record))
}

/// Notes that the token was used now.
pub async fn touch(pool: &Pool, id: i64) -> Result<(), DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(TOUCH).await?;
    client.execute(&statement, &[&id]).await?;
    Ok(())
}

/// Every token, newest first.
pub async fn list(pool: &Pool) -> Result<Vec<TokenRecord>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_ALL).await?;
    Ok(client.query(&statement, &[]).await?.iter().map(to_record).collect())
}

/// Revokes a token; `false` when no active token has this id.
pub async fn revoke(pool: &Pool, id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(REVOKE).await?;
    Ok(client.execute(&statement, &[&id]).await? == 1)
}

pub(super) fn to_record(row: &Row) -> TokenRecord {
    TokenRecord {
        id: row.get("id"),
        name: row.get("name"),
        scopes: row.get("scopes"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
        last_used_at: row.get("last_used_at"),
    }
}
