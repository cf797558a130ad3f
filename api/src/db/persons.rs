//! Queries on the `local_users` and `person_sessions` tables. Only SHA-256 digests of person
//! tokens are stored. A person session is a local user's, or that of a person the OIDC provider
//! signed in on the dashboard (their email, groups and second factor kept in the session).

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::Row;

use super::DbError;

/// A local user, with what a sign-in checks.
#[derive(Clone, Debug)]
pub struct LocalUser {
    pub id: i64,
    pub email: String,
    pub groups: Vec<String>,
    /// An argon2 PHC string.
    pub password_hash: String,
    /// The TOTP secret, base32.
    pub totp_secret: String,
    /// The time step of the last code accepted.
    pub last_totp_step: Option<i64>,
    pub failed_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A local user as listed: never a secret.
#[derive(Clone, Debug)]
pub struct UserSummary {
    pub email: String,
    pub groups: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// The person a live person session belongs to.
#[derive(Clone, Debug)]
pub struct SessionUser {
    pub email: String,
    pub groups: Vec<String>,
    /// Signed in with a second factor (always, for a local user).
    pub second_factor: bool,
    pub credential: PersonCredential,
    pub expires_at: DateTime<Utc>,
}

/// Who vouched for a person session's person.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PersonCredential {
    /// A local user's password and TOTP code.
    Local,
    /// The OIDC provider's ID token.
    Oidc,
}

/// How failed sign-ins in a row lock a user: from `threshold` failures on, the user waits
/// `first_lock_secs`, doubled at each further failure, at most `max_lock_secs`.
#[derive(Clone, Copy, Debug)]
pub struct LockPolicy {
    pub threshold: i32,
    pub first_lock_secs: f64,
    pub max_lock_secs: f64,
}

macro_rules! columns {
    () => {
        "id, email, groups, password_hash, totp_secret, last_totp_step, failed_attempts, locked_until, created_at"
    };
}

const INSERT_USER: &str = concat!(
    "INSERT INTO local_users (email, groups, password_hash, totp_secret) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (email) DO NOTHING RETURNING ",
    columns!()
);

const SELECT_USER: &str = concat!("SELECT ", columns!(), " FROM local_users WHERE email = $1");

const SELECT_USERS: &str = "SELECT email, groups, created_at FROM local_users ORDER BY email";

const DELETE_USER: &str = "DELETE FROM local_users WHERE email = $1";

const RECORD_FAILURE: &str = "UPDATE local_users SET failed_attempts = failed_attempts + 1, \
     locked_until = CASE WHEN failed_attempts + 1 >= $2 \
         THEN now() + make_interval(secs => least($3 * power(2, failed_attempts + 1 - $2), $4)) \
         ELSE locked_until END \
     WHERE id = $1 RETURNING locked_until";

const RECORD_SUCCESS: &str = "UPDATE local_users SET last_totp_step = $2, failed_attempts = 0, locked_until = NULL \
     WHERE id = $1 AND (last_totp_step IS NULL OR last_totp_step < $2)";

const INSERT_SESSION: &str =
    "INSERT INTO person_sessions (token_sha256, user_id, expires_at) VALUES ($1, $2, $3) RETURNING id";

const DELETE_EXPIRED_SESSIONS: &str = "DELETE FROM person_sessions WHERE user_id = $1 AND expires_at <= now()";

const INSERT_OIDC_SESSION: &str = "INSERT INTO person_sessions (email, groups, second_factor, expires_at) \
     VALUES ($1, $2, $3, $4) RETURNING id";

const DELETE_EXPIRED_OIDC_SESSIONS: &str =
    "DELETE FROM person_sessions WHERE user_id IS NULL AND email = $1 AND expires_at <= now()";

const SELECT_SESSION: &str = "SELECT u.email, u.groups, s.expires_at FROM person_sessions s \
     JOIN local_users u ON u.id = s.user_id WHERE s.token_sha256 = $1 AND s.expires_at > now()";

/// Stores a new user; `None` when a user has this email already.
pub async fn insert_user(
    pool: &Pool,
    email: &str,
    groups: &[String],
    password_hash: &str,
    totp_secret: &str,
) -> Result<Option<LocalUser>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(INSERT_USER).await?;
    let row = client.query_opt(&statement, &[&email, &groups, &password_hash, &totp_secret]).await?;
    Ok(row.as_ref().map(to_user))
}

/// The user with this email.
pub async fn find_user(pool: &Pool, email: &str) -> Result<Option<LocalUser>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_USER).await?;
    Ok(client.query_opt(&statement, &[&email]).await?.as_ref().map(to_user))
}

/// Every user, by email.
pub async fn list_users(pool: &Pool) -> Result<Vec<UserSummary>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_USERS).await?;
    let rows = client.query(&statement, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| UserSummary {
            email: row.get("email"),
            groups: row.get("groups"),
            created_at: row.get("created_at"),
        })
        .collect())
}

/// Removes a user and their sessions; `false` when no user has this email.
pub async fn delete_user(pool: &Pool, email: &str) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(DELETE_USER).await?;
    Ok(client.execute(&statement, &[&email]).await? == 1)
}

/// Counts a failed sign-in, locking the user as `policy` says: when the user is locked until.
pub async fn record_failure(pool: &Pool, id: i64, policy: LockPolicy) -> Result<Option<DateTime<Utc>>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(RECORD_FAILURE).await?;
    let row =
        client.query_opt(&statement, &[&id, &policy.threshold, &policy.first_lock_secs, &policy.max_lock_secs]).await?;
    Ok(row.and_then(|row| row.get("locked_until")))
}

/// Records a successful sign-in with the code of time step `step`, clearing the failures;
/// `false` when a code of this step or a later one was accepted already (a replay).
pub async fn record_success(pool: &Pool, id: i64, step: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(RECORD_SUCCESS).await?;
    Ok(client.execute(&statement, &[&id, &step]).await? == 1)
}

/// Stores a person token of the user, and forgets their expired ones; the session's id.
pub async fn insert_session(
    pool: &Pool,
    user_id: i64,
    digest: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<i64, DbError> {
    let client = pool.get().await?;
    let delete = client.prepare_cached(DELETE_EXPIRED_SESSIONS).await?;
    client.execute(&delete, &[&user_id]).await?;
    let insert = client.prepare_cached(INSERT_SESSION).await?;
    Ok(client.query_one(&insert, &[&digest, &user_id, &expires_at]).await?.get(0))
}

/// Stores the person session of a person the OIDC provider signed in, and forgets their expired
/// ones; the session's id.
pub async fn insert_oidc_session(
    pool: &Pool,
    email: &str,
    groups: &[String],
    second_factor: bool,
    expires_at: DateTime<Utc>,
) -> Result<i64, DbError> {
    let client = pool.get().await?;
    let delete = client.prepare_cached(DELETE_EXPIRED_OIDC_SESSIONS).await?;
    client.execute(&delete, &[&email]).await?;
    let insert = client.prepare_cached(INSERT_OIDC_SESSION).await?;
    Ok(client.query_one(&insert, &[&email, &groups, &second_factor, &expires_at]).await?.get(0))
}

/// The user of the live (unexpired) person token with this digest.
pub async fn find_session(pool: &Pool, digest: &[u8]) -> Result<Option<SessionUser>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(SELECT_SESSION).await?;
    let row = client.query_opt(&statement, &[&digest]).await?;
    Ok(row.map(|row| SessionUser {
        email: row.get("email"),
        groups: row.get("groups"),
        second_factor: true,
        credential: PersonCredential::Local,
        expires_at: row.get("expires_at"),
    }))
}

fn to_user(row: &Row) -> LocalUser {
    LocalUser {
        id: row.get("id"),
        email: row.get("email"),
        groups: row.get("groups"),
        password_hash: row.get("password_hash"),
        totp_secret: row.get("totp_secret"),
        last_totp_step: row.get("last_totp_step"),
        failed_attempts: row.get("failed_attempts"),
        locked_until: row.get("locked_until"),
        created_at: row.get("created_at"),
    }
}

const GROUP_MEMBERS: &str = "SELECT email FROM local_users WHERE groups && $1::text[] ORDER BY email";

/// The emails of the local users in any of `groups`.
pub async fn group_members(client: &impl GenericClient, groups: &[String]) -> Result<Vec<String>, DbError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let statement = client.prepare_cached(GROUP_MEMBERS).await?;
    Ok(client.query(&statement, &[&groups]).await?.iter().map(|row| row.get(0)).collect())
}
