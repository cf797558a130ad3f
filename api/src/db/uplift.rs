//! Queries on the uplift tables: channels, bugs with their analysis, contributors and their
//! roles on each bug, and the grafts of each bug onto the channels' branches.

use std::collections::HashMap;

use deadpool_postgres::Pool;
use shipit_shared::api_types::uplift::{
    Bug, BugSummary, BugUpsert, Channel, ChannelUpdate, Contributor, ContributorUpdate, Graft, GraftCommit,
    GraftSummary, NewGraft,
};
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::DbError;

const UPSERT_CHANNEL: &str = "INSERT INTO uplift_channels (name, version, branch) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, branch = EXCLUDED.branch \
     RETURNING name, version, branch, \
         (SELECT count(*) FROM uplift_bugs WHERE channels @> ARRAY[uplift_channels.name]) AS bug_count";

const SELECT_CHANNELS: &str = "SELECT c.name, c.version, c.branch, \
         (SELECT count(*) FROM uplift_bugs b WHERE b.channels @> ARRAY[c.name]) AS bug_count \
     FROM uplift_channels c ORDER BY c.name";

const SELECT_CHANNEL_EXISTS: &str = "SELECT 1 FROM uplift_channels WHERE name = $1";

/// Channels a bug names before the bot declared them: their branch is named after them.
const INSERT_MISSING_CHANNELS: &str = "INSERT INTO uplift_channels (name, branch) \
     SELECT name, name FROM UNNEST($1::text[]) AS name ON CONFLICT (name) DO NOTHING";

const SELECT_BUGS: &str = "SELECT bugzilla_id, summary, product, component, status, channels, analysis_hash, \
         updated_at \
     FROM uplift_bugs ORDER BY bugzilla_id";

const SELECT_CHANNEL_BUGS: &str = "SELECT bugzilla_id, summary, product, component, status, channels, \
         analysis_hash, updated_at \
     FROM uplift_bugs WHERE channels @> ARRAY[$1::text] ORDER BY bugzilla_id";

const SELECT_LATEST_GRAFT_SUMMARIES: &str = "SELECT DISTINCT ON (bug_id, channel) bug_id, channel, branch_tip, \
         success, tested_at \
     FROM uplift_grafts WHERE bug_id = ANY($1) ORDER BY bug_id, channel, id DESC";

/// What an upsert compares to tell whether anything changed; locks the row until commit.
const SELECT_BUG_STATE: &str = "SELECT summary, product, component, status, channels, analysis_hash \
     FROM uplift_bugs WHERE bugzilla_id = $1 FOR UPDATE";

const UPSERT_BUG: &str = "INSERT INTO uplift_bugs \
         (bugzilla_id, summary, product, component, status, channels, analysis, analysis_hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (bugzilla_id) DO UPDATE SET summary = EXCLUDED.summary, product = EXCLUDED.product, \
         component = EXCLUDED.component, status = EXCLUDED.status, channels = EXCLUDED.channels, \
         analysis = EXCLUDED.analysis, analysis_hash = EXCLUDED.analysis_hash, updated_at = now()";

/// Email and name are refreshed every time; karma and comments are never touched.
const UPSERT_CONTRIBUTORS: &str = "INSERT INTO uplift_contributors (bugzilla_id, email, name, avatar_url) \
     SELECT id, email, name, 'https://www.gravatar.com/avatar/' || md5(lower(btrim(email))) \
     FROM UNNEST($1::bigint[], $2::text[], $3::text[]) AS u (id, email, name) \
     ON CONFLICT (bugzilla_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, \
         avatar_url = EXCLUDED.avatar_url";

const DELETE_ROLES: &str = "DELETE FROM uplift_bug_roles WHERE bug_id = $1";

const INSERT_ROLES: &str = "INSERT INTO uplift_bug_roles (bug_id, contributor_id, role) \
     SELECT $1, * FROM UNNEST($2::bigint[], $3::text[]) ON CONFLICT DO NOTHING";

const SELECT_BUG: &str = "SELECT bugzilla_id, summary, product, component, status, channels, analysis, \
         analysis_hash, updated_at \
     FROM uplift_bugs WHERE bugzilla_id = $1";

const SELECT_BUG_EXISTS: &str = "SELECT 1 FROM uplift_bugs WHERE bugzilla_id = $1";

const SELECT_BUG_CONTRIBUTORS: &str = "SELECT c.bugzilla_id, c.email, c.name, c.avatar_url, c.karma, \
         c.comment_public, c.comment_private, array_agg(r.role ORDER BY r.role) AS roles \
     FROM uplift_bug_roles r JOIN uplift_contributors c ON c.bugzilla_id = r.contributor_id \
     WHERE r.bug_id = $1 GROUP BY c.bugzilla_id ORDER BY c.bugzilla_id";

const SELECT_LATEST_GRAFTS: &str = "SELECT DISTINCT ON (channel) id, channel, branch, branch_tip, success, \
         commits, tested_at \
     FROM uplift_grafts WHERE bug_id = $1 ORDER BY channel, id DESC";

const SELECT_GRAFTS: &str = "SELECT id, channel, branch, branch_tip, success, commits, tested_at \
     FROM uplift_grafts WHERE bug_id = $1 ORDER BY id DESC";

const INSERT_GRAFT: &str = "INSERT INTO uplift_grafts (bug_id, channel, branch, branch_tip, success, commits) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     RETURNING id, channel, branch, branch_tip, success, commits, tested_at";

/// Roles and grafts go with the bug (`ON DELETE CASCADE`); contributors stay.
const DELETE_BUG: &str = "DELETE FROM uplift_bugs WHERE bugzilla_id = $1";

const SELECT_CONTRIBUTOR: &str = "SELECT bugzilla_id, email, name, avatar_url, karma, comment_public, \
         comment_private \
     FROM uplift_contributors WHERE bugzilla_id = $1";

const UPDATE_CONTRIBUTOR: &str = "UPDATE uplift_contributors SET karma = COALESCE($2, karma), \
         comment_public = COALESCE($3, comment_public), comment_private = COALESCE($4, comment_private) \
     WHERE bugzilla_id = $1 \
     RETURNING bugzilla_id, email, name, avatar_url, karma, comment_public, comment_private";

/// What became of a graft.
#[derive(Debug)]
pub enum GraftOutcome {
    Stored(Graft),
    NoSuchBug,
    NoSuchChannel,
}

/// Declares a channel or changes its branch and version.
pub async fn put_channel(pool: &Pool, name: &str, update: &ChannelUpdate) -> Result<Channel, DbError> {
    let client = pool.get().await?;
    let upsert = client.prepare_cached(UPSERT_CHANNEL).await?;
    to_channel(&client.query_one(&upsert, &[&name, &update.version, &update.branch]).await?)
}

/// Every channel, by name, with its pending bug count.
pub async fn channels(pool: &Pool) -> Result<Vec<Channel>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_CHANNELS).await?;
    client.query(&select, &[]).await?.iter().map(to_channel).collect()
}

/// The bugs pending for a channel, by id; `None` when the channel is not declared.
pub async fn channel_bugs(pool: &Pool, channel: &str) -> Result<Option<Vec<BugSummary>>, DbError> {
    let client = pool.get().await?;
    let exists = client.prepare_cached(SELECT_CHANNEL_EXISTS).await?;
    if client.query_opt(&exists, &[&channel]).await?.is_none() {
        return Ok(None);
    }
    let select = client.prepare_cached(SELECT_CHANNEL_BUGS).await?;
    let rows = client.query(&select, &[&channel]).await?;
    summaries(&client, &rows).await.map(Some)
}

/// Every stored bug, by id.
pub async fn bugs(pool: &Pool) -> Result<Vec<BugSummary>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_BUGS).await?;
    let rows = client.query(&select, &[]).await?;
    summaries(&client, &rows).await
}

/// Bug summaries from `rows`, with their latest graft per channel.
async fn summaries(client: &deadpool_postgres::Client, rows: &[Row]) -> Result<Vec<BugSummary>, DbError> {
    let ids: Vec<i64> = rows.iter().map(|row| row.try_get("bugzilla_id")).collect::<Result<_, _>>()?;
    let select = client.prepare_cached(SELECT_LATEST_GRAFT_SUMMARIES).await?;
    let mut grafts: HashMap<i64, Vec<GraftSummary>> = HashMap::new();
    for row in client.query(&select, &[&ids]).await? {
        grafts.entry(row.try_get("bug_id")?).or_default().push(GraftSummary {
            channel: row.try_get("channel")?,
            branch_tip: row.try_get("branch_tip")?,
            success: row.try_get("success")?,
            tested_at: row.try_get("tested_at")?,
        });
    }
    rows.iter()
        .map(|row| {
            let bugzilla_id = row.try_get("bugzilla_id")?;
            Ok(BugSummary {
                bugzilla_id,
                summary: row.try_get("summary")?,
                product: row.try_get("product")?,
                component: row.try_get("component")?,
                status: row.try_get("status")?,
                channels: row.try_get("channels")?,
                analysis_hash: row.try_get("analysis_hash")?,
                updated_at: row.try_get("updated_at")?,
                grafts: grafts.remove(&bugzilla_id).unwrap_or_default(),
            })
        })
        .collect()
}

/// Stores a bug's analysis, its contributors and their roles, in one transaction; answers
/// whether anything changed. Nothing is written when the stored bug has the same hash and
/// fields. The bug's grafts are never touched. `bug.channels` must be sorted without repeats and
/// `bug.users` must not repeat an id.
pub async fn upsert_bug(pool: &Pool, bug: &BugUpsert) -> Result<bool, DbError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let state = transaction.prepare_cached(SELECT_BUG_STATE).await?;
    if let Some(row) = transaction.query_opt(&state, &[&bug.bugzilla_id]).await? {
        let unchanged = row.try_get::<_, &str>("analysis_hash")? == bug.analysis_hash
            && row.try_get::<_, &str>("summary")? == bug.summary
            && row.try_get::<_, &str>("product")? == bug.product
            && row.try_get::<_, &str>("component")? == bug.component
            && row.try_get::<_, &str>("status")? == bug.status
            && row.try_get::<_, Vec<String>>("channels")? == bug.channels;
        if unchanged {
            return Ok(false);
        }
    }
    let channels = transaction.prepare_cached(INSERT_MISSING_CHANNELS).await?;
    transaction.execute(&channels, &[&bug.channels]).await?;
    let upsert = transaction.prepare_cached(UPSERT_BUG).await?;
    transaction
        .execute(
            &upsert,
            &[
                &bug.bugzilla_id,
                &bug.summary,
                &bug.product,
                &bug.component,
                &bug.status,
                &bug.channels,
                &bug.analysis,
                &bug.analysis_hash,
            ],
        )
        .await?;
    // Contributors are locked in id order, so that two upserts sharing people cannot deadlock.
    let mut users: Vec<_> = bug.users.iter().collect();
    users.sort_by_key(|user| user.bugzilla_id);
    let ids: Vec<i64> = users.iter().map(|user| user.bugzilla_id).collect();
    let emails: Vec<&str> = users.iter().map(|user| user.email.as_str()).collect();
    let names: Vec<&str> = users.iter().map(|user| user.name.as_str()).collect();
    let contributors = transaction.prepare_cached(UPSERT_CONTRIBUTORS).await?;
    transaction.execute(&contributors, &[&ids, &emails, &names]).await?;
    let delete_roles = transaction.prepare_cached(DELETE_ROLES).await?;
    transaction.execute(&delete_roles, &[&bug.bugzilla_id]).await?;
    let (role_users, roles): (Vec<i64>, Vec<&str>) =
        users.iter().flat_map(|user| user.roles.iter().map(|role| (user.bugzilla_id, role.as_str()))).unzip();
    let insert_roles = transaction.prepare_cached(INSERT_ROLES).await?;
    transaction.execute(&insert_roles, &[&bug.bugzilla_id, &role_users, &roles]).await?;
    transaction.commit().await?;
    Ok(true)
}

/// A bug with its contributors (private comments included) and its latest graft per channel.
pub async fn bug(pool: &Pool, bugzilla_id: i64) -> Result<Option<Bug>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_BUG).await?;
    let Some(row) = client.query_opt(&select, &[&bugzilla_id]).await? else { return Ok(None) };
    let select_contributors = client.prepare_cached(SELECT_BUG_CONTRIBUTORS).await?;
    let contributors = client
        .query(&select_contributors, &[&bugzilla_id])
        .await?
        .iter()
        .map(|row| Ok(Contributor { roles: row.try_get("roles")?, ..to_contributor(row)? }))
        .collect::<Result<_, DbError>>()?;
    let select_grafts = client.prepare_cached(SELECT_LATEST_GRAFTS).await?;
    let grafts = client.query(&select_grafts, &[&bugzilla_id]).await?.iter().map(to_graft).collect::<Result<_, _>>()?;
    Ok(Some(Bug {
        bugzilla_id: row.try_get("bugzilla_id")?,
        summary: row.try_get("summary")?,
        product: row.try_get("product")?,
        component: row.try_get("component")?,
        status: row.try_get("status")?,
        channels: row.try_get("channels")?,
        analysis: row.try_get("analysis")?,
        analysis_hash: row.try_get("analysis_hash")?,
        updated_at: row.try_get("updated_at")?,
        contributors,
        grafts,
    }))
}

/// Removes a bug with its roles and grafts; answers whether it was stored.
pub async fn delete_bug(pool: &Pool, bugzilla_id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let delete = client.prepare_cached(DELETE_BUG).await?;
    Ok(client.execute(&delete, &[&bugzilla_id]).await? > 0)
}

/// A bug's grafts, newest first; `None` when the bug is not stored.
pub async fn grafts(pool: &Pool, bugzilla_id: i64) -> Result<Option<Vec<Graft>>, DbError> {
    let client = pool.get().await?;
    let exists = client.prepare_cached(SELECT_BUG_EXISTS).await?;
    if client.query_opt(&exists, &[&bugzilla_id]).await?.is_none() {
        return Ok(None);
    }
    let select = client.prepare_cached(SELECT_GRAFTS).await?;
    client.query(&select, &[&bugzilla_id]).await?.iter().map(to_graft).collect::<Result<_, _>>().map(Some)
}

/// Records a graft of a bug onto a channel's branch.
pub async fn insert_graft(
    pool: &Pool,
    bugzilla_id: i64,
    graft: &NewGraft,
    success: bool,
) -> Result<GraftOutcome, DbError> {
    let client = pool.get().await?;
    let insert = client.prepare_cached(INSERT_GRAFT).await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
        [&bugzilla_id, &graft.channel, &graft.branch, &graft.branch_tip, &success, &Json(&graft.commits)];
    match client.query_one(&insert, &params).await {
        Ok(row) => Ok(GraftOutcome::Stored(to_graft(&row)?)),
        Err(error) => match error.as_db_error().and_then(|db_error| db_error.constraint()) {
            Some("uplift_grafts_bug_id_fkey") => Ok(GraftOutcome::NoSuchBug),
            Some("uplift_grafts_channel_fkey") => Ok(GraftOutcome::NoSuchChannel),
            _ => Err(error.into()),
        },
    }
}

/// A contributor, private comment included.
pub async fn contributor(pool: &Pool, bugzilla_id: i64) -> Result<Option<Contributor>, DbError> {
    let client = pool.get().await?;
    let select = client.prepare_cached(SELECT_CONTRIBUTOR).await?;
    client.query_opt(&select, &[&bugzilla_id]).await?.as_ref().map(to_contributor).transpose()
}

/// Changes the fields of `update` that are set; `None` when the contributor is unknown.
pub async fn update_contributor(
    pool: &Pool,
    bugzilla_id: i64,
    update: &ContributorUpdate,
) -> Result<Option<Contributor>, DbError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(UPDATE_CONTRIBUTOR).await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&bugzilla_id, &update.karma, &update.comment_public, &update.comment_private];
    client.query_opt(&statement, &params).await?.as_ref().map(to_contributor).transpose()
}

fn to_channel(row: &Row) -> Result<Channel, DbError> {
    Ok(Channel {
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        branch: row.try_get("branch")?,
        bug_count: row.try_get("bug_count")?,
    })
}

fn to_contributor(row: &Row) -> Result<Contributor, DbError> {
    Ok(Contributor {
        bugzilla_id: row.try_get("bugzilla_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        avatar_url: row.try_get("avatar_url")?,
        karma: row.try_get("karma")?,
        comment_public: row.try_get("comment_public")?,
        comment_private: Some(row.try_get("comment_private")?),
        roles: Vec::new(),
    })
}

fn to_graft(row: &Row) -> Result<Graft, DbError> {
    let Json(commits) = row.try_get::<_, Json<Vec<GraftCommit>>>("commits")?;
    Ok(Graft {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        branch: row.try_get("branch")?,
        branch_tip: row.try_get("branch_tip")?,
        success: row.try_get("success")?,
        commits,
        tested_at: row.try_get("tested_at")?,
    })
}
