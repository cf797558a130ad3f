//! Queries on the `ui_sessions` table: the dashboard's sign-in sessions, with a token or as a
//! person. Only SHA-256 digests of the session cookies are stored.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::DbError;
use super::persons::{PersonCredential, SessionUser};
use super::tokens::TokenRecord;

/// Expired sessions are removed whenever a new one starts.
const DELETE_EXPIRED: &str = "DELETE FROM ui_sessions WHERE expires_at < now()";

const INSERT: &str = "INSERT INTO ui_sessions (id_sha256, token_id, person_session_id, csrf, expires_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// The session's token, however it stands (revoked, expired): the caller checks it; or its
/// person, while their person session lasts: a local user, or a person of the OIDC provider as
/// their session keeps them.
const SELECT: &str = "SELECT s.csrf, t.id, t.name, t.scopes, t.created_at, t.expires_at, t.revoked_at, \
         t.last_used_at, coalesce(u.email, p.email) AS person_email, coalesce(u.groups, p.groups) AS person_groups, \
         (p.user_id IS NOT NULL OR p.second_factor) AS person_second_factor, \
         (p.user_id IS NULL) AS person_from_oidc, p.expires_at AS person_expires_at \
     FROM ui_sessions s \
     LEFT JOIN api_tokens t ON t.id = s.token_id \
     LEFT JOIN person_sessions p ON p.id = s.person_session_id AND p.expires_at > now() \
     LEFT JOIN local_users u ON u.id = p.user_id \
     WHERE s.id_sha256 = $1 AND s.expires_at > now()";

const DELETE: &str = "DELETE FROM ui_sessions WHERE id_sha256 = $1";

/// A live session: its form secret, and the token it acts with or the person it acts as.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub csrf: String,
    pub token: Option<TokenRecord>,
    pub person: Option<SessionUser>,
}

/// What a dashboard session acts with.
#[derive(Clone, Copy, Debug)]
pub enum SessionCredential {
    /// An API token's id.
    Token(i64),
    /// A person session's id.
    Person(i64),
}

/// Starts a session for `token_id`, removing the expired ones.
pub async fn insert(
    pool: &Pool,
    digest: &[u8],
    credential: SessionCredential,
    csrf: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let (token_id, person_session_id) = match credential {
        SessionCredential::Token(id) => (Some(id), None),
        SessionCredential::Person(id) => (None, Some(id)),
    };
    let client = pool.get().await?;
    client.execute(&client.prepare_cached(DELETE_EXPIRED).await?, &[]).await?;
    let insert = client.prepare_cached(INSERT).await?;
    client.execute(&insert, &[&digest, &token_id, &person_session_id, &csrf, &expires_at]).await?;
    Ok(())
}

/// The unexpired session with this digest.
pub async fn find(pool: &Pool, digest: &[u8]) -> Result<Option<SessionRecord>, DbError> {
    let client = pool.get().await?;
    let row = client.query_opt(&client.prepare_cached(SELECT).await?, &[&digest]).await?;
    Ok(row.map(|row| SessionRecord {
        csrf: row.get("csrf"),
        token: row.get::<_, Option<i64>>("id").is_some().then(|| super::tokens::to_record(&row)),
        person: row.get::<_, Option<String>>("person_email").map(|email| SessionUser {
            email,
            groups: row.get("person_groups"),
            second_factor: row.get("person_second_factor"),
            credential: if row.get("person_from_oidc") { PersonCredential::Oidc } else { PersonCredential::Local },
            expires_at: row.get("person_expires_at"),
        }),
    }))
}

/// Ends a session.
pub async fn delete(pool: &Pool, digest: &[u8]) -> Result<(), DbError> {
    let client = pool.get().await?;
    client.execute(&client.prepare_cached(DELETE).await?, &[&digest]).await?;
    Ok(())
}
