//! Bugzilla's REST API: the bugs with a pending uplift request to a channel, everything the
//! analysis reads about one bug, and the comment the bot may post back.
//!
//! Bugzilla reports failures as `{"error": true, "code": …, "message": …}`, sometimes with HTTP
//! 200; such a body becomes [`Error::Bugzilla`] whatever the status.
//!
//! Real bugs carry odd fields (a flag without a setter, an attachment without a creator, a
//! comment without a time, users Bugzilla no longer knows): those are read as absent, and an
//! attachment, comment or history entry that cannot be read at all is left out and listed in
//! [`BugData::unreadable`]. Only a bug whose own fields cannot be read fails.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::USER_AGENT;
use secrecy::{ExposeSecret, SecretString};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shipit_shared::http::{HttpError, UpstreamClient};
use url::Url;

use crate::error::Error;

/// How the bot reaches Bugzilla.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BugzillaSettings {
    /// The Bugzilla root, without `/rest` (`https://bugzilla.mozilla.org`).
    pub url: Url,
    /// Sent as `X-BUGZILLA-API-KEY`; needed for security bugs and to post comments.
    pub api_key: Option<SecretString>,
    /// Seconds before a Bugzilla request times out (it is then retried); the bot's
    /// `upstream.timeout_secs` when unset.
    pub timeout_seconds: Option<u64>,
    /// Where the nicknames already looked up are kept between runs (by default
    /// `shipit-uplift-nicknames.json` in the repository's git directory; see
    /// [`crate::nickname`]).
    pub nickname_directory: Option<std::path::PathBuf>,
    /// Comment on the bugs whose grafts newly fail, as `uplift-bot run --comment` does
    /// (`SHIPIT_BUGZILLA__WRITE_BACK=true`); off by default.
    pub write_back: bool,
}

impl Default for BugzillaSettings {
    fn default() -> Self {
        Self {
            url: Url::parse("https://bugzilla.mozilla.org").expect("a valid URL"),
            api_key: None,
            timeout_seconds: None,
            nickname_directory: None,
            write_back: false,
        }
    }
}

impl BugzillaSettings {
    /// The request timeout, when Bugzilla has its own.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_seconds.map(Duration::from_secs)
    }
}

/// Identifies the bot to Bugzilla's operators (release-services#1286).
const BOT_USER_AGENT: &str = concat!("uplift-bot/", env!("CARGO_PKG_VERSION"));

/// The bug fields the analysis reads; `_custom` brings the `cf_status_*`/`cf_tracking_*` flags,
/// `cc_detail` the users most reviewer nicknames are found among.
const BUG_FIELDS: &str = "id,summary,status,resolution,product,component,keywords,flags,blocks,depends_on,\
                          creator,creator_detail,assigned_to,assigned_to_detail,cc_detail,_custom";

/// The most users one search returns: a nickname is carried by one user, so more would not
/// tell whom it names anyway.
const MATCHED_USERS: usize = 20;

/// A Bugzilla REST client.
#[derive(Clone, Debug)]
pub struct Bugzilla {
    url: Url,
    api_key: Option<SecretString>,
    timeout: Option<Duration>,
    http: UpstreamClient,
}

/// A flag on a bug or an attachment (`review`, `approval-mozilla-beta`, `in-testsuite`…).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Flag {
    /// The flag's id (kept when its status changes).
    #[serde(default)]
    pub id: Option<i64>,
    pub name: String,
    /// `?` (requested), `+` (granted) or `-` (denied).
    pub status: String,
    /// Who set the flag in its current status: the requester of a `?`, the decider of a `+`/`-`.
    /// Some old flags have none (absent or `null`).
    #[serde(default)]
    pub setter: Option<String>,
    #[serde(default)]
    pub requestee: Option<String>,
    /// When the flag was created, that is first requested.
    pub creation_date: DateTime<Utc>,
    /// When its status last changed.
    pub modification_date: DateTime<Utc>,
}

/// A user as `*_detail` fields and `/rest/user` give it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct User {
    pub id: i64,
    /// The login, an email address.
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub real_name: String,
    /// Only shown to logged-in callers; `name` holds the same address.
    #[serde(default)]
    pub email: Option<String>,
    /// The nickname bugzilla.mozilla.org derives from the real name (`jdoe` for `Jane Doe
    /// [:jdoe]`), when it sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
}

impl User {
    /// The user's email address.
    pub fn email(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.name)
    }
}

/// The fields of a bug the analysis reads.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Bug {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub summary: String,
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub resolution: String,
    #[serde(default, deserialize_with = "nullable")]
    pub product: String,
    #[serde(default, deserialize_with = "nullable")]
    pub component: String,
    #[serde(default, deserialize_with = "nullable")]
    pub keywords: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub flags: Vec<Flag>,
    #[serde(default, deserialize_with = "nullable")]
    pub blocks: Vec<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub depends_on: Vec<i64>,
    #[serde(default)]
    pub creator_detail: Option<User>,
    #[serde(default)]
    pub assigned_to_detail: Option<User>,
    /// The users following the bug; reviewers usually are (see [`crate::nickname`]). An entry
    /// that is not a user is left out: the list only helps.
    #[serde(default, deserialize_with = "readable_users")]
    pub cc_detail: Vec<User>,
    /// Every other field, among them the custom `cf_*` fields.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// An attachment, without its data.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Attachment {
    pub id: i64,
    #[serde(default, deserialize_with = "int_bool")]
    pub is_obsolete: bool,
    #[serde(default, deserialize_with = "int_bool")]
    pub is_patch: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub content_type: String,
    /// The login of who attached it; see [`Attachment::creator`].
    #[serde(default)]
    pub creator: Option<String>,
    /// The name of `creator` before Bugzilla 5.0.
    #[serde(default)]
    pub attacher: Option<String>,
    pub creation_time: DateTime<Utc>,
    #[serde(default, deserialize_with = "nullable")]
    pub summary: String,
    #[serde(default, deserialize_with = "nullable")]
    pub flags: Vec<Flag>,
}

/// A comment.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Comment {
    pub id: i64,
    /// Its number on the bug (0 is the description).
    pub count: i64,
    pub author: String,
    /// `None` when Bugzilla sent no time.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable")]
    pub text: String,
}

impl Attachment {
    /// The login of who attached it (`creator`, or `attacher` in older answers).
    pub fn creator(&self) -> Option<&str> {
        self.creator.as_deref().or(self.attacher.as_deref())
    }
}

/// One change of a bug's history: who changed which fields when.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub when: DateTime<Utc>,
    pub who: String,
    pub changes: Vec<Change>,
}

/// One field changed; flags show up as `flagtypes.name` with values such as
/// `approval-mozilla-beta?, review+`.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Change {
    pub field_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub removed: String,
    #[serde(default, deserialize_with = "nullable")]
    pub added: String,
    #[serde(default)]
    pub attachment_id: Option<i64>,
}

/// Everything the analysis reads about one bug.
#[derive(Clone, Debug, PartialEq)]
pub struct BugData {
    /// The bug's page (`<bugzilla>/show_bug.cgi?id=<id>`).
    pub url: String,
    /// The Bugzilla root, for links in the uplift form's HTML.
    pub bugzilla_url: String,
    pub bug: Bug,
    pub attachments: Vec<Attachment>,
    /// Oldest first.
    pub comments: Vec<Comment>,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
    /// The users with a role on the bug (see [`involved_users`]).
    pub users: Vec<User>,
    /// The logins with a role that Bugzilla does not know (error 51), sorted.
    pub unknown_users: Vec<String>,
    /// The attachments, comments and history entries that could not be read, with why.
    pub unreadable: Vec<String>,
}

#[derive(Deserialize)]
struct Failure {
    error: bool,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct BugList<T> {
    bugs: Vec<T>,
}

#[derive(Deserialize)]
struct BugMap<T> {
    bugs: BTreeMap<String, T>,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

#[derive(Deserialize)]
struct Comments {
    comments: Vec<Value>,
}

#[derive(Deserialize)]
struct History {
    history: Vec<Value>,
}

#[derive(Deserialize)]
struct Users {
    users: Vec<User>,
}

impl Bugzilla {
    /// A client of the Bugzilla at `settings.url`.
    pub fn new(settings: &BugzillaSettings, http: UpstreamClient) -> Self {
        Self { url: settings.url.clone(), api_key: settings.api_key.clone(), timeout: settings.timeout(), http }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> Result<reqwest::RequestBuilder, Error> {
        let url = self.url.join(path).map_err(|error| Error::Config(format!("bugzilla url: {error}")))?;
        let mut request = self.http.client().request(method, url).header(USER_AGENT, BOT_USER_AGENT);
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        if let Some(key) = &self.api_key {
            request = request.header("X-BUGZILLA-API-KEY", key.expose_secret());
        }
        Ok(request)
    }

    /// Sends the request and decodes its answer, turning Bugzilla's error bodies into
    /// [`Error::Bugzilla`].
    async fn call<T: DeserializeOwned>(&self, what: &str, request: reqwest::RequestBuilder) -> Result<T, Error> {
        let response = self.http.send(request).await?;
        let status = response.status();
        let url = response.url().to_string();
        let body = response.bytes().await.map_err(|source| HttpError::Decode { url: url.clone(), source })?;
        if let Ok(Failure { error: true, code, message }) = serde_json::from_slice(&body) {
            let shown = code.map(|code| format!(" (code {code})")).unwrap_or_default();
            let detail = format!("{}{shown}", message.unwrap_or_else(|| "unknown error".to_owned()));
            return Err(Error::Bugzilla { request: what.to_owned(), code, detail });
        }
        if !status.is_success() {
            let mut body = String::from_utf8_lossy(&body).into_owned();
            body.truncate(body.floor_char_boundary(500));
            return Err(HttpError::ClientError { url, status, body }.into());
        }
        serde_json::from_slice(&body).map_err(|error| Error::Bugzilla {
            request: what.to_owned(),
            code: None,
            detail: format!("unexpected answer: {error}"),
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, Error> {
        let request = self.request(reqwest::Method::GET, path)?.query(query);
        self.call(&format!("GET {path}"), request).await
    }

    /// The ids of the bugs carrying an `approval-mozilla-<channel>?` flag, on the bug or on one of
    /// its attachments, obsolete ones included (see [`crate::analysis`] for what counts as
    /// pending). Ascending.
    pub async fn pending_bugs(&self, channel: &str) -> Result<Vec<i64>, Error> {
        let flag = format!("approval-mozilla-{channel}?");
        let query = [("include_fields", "id"), ("f1", "flagtypes.name"), ("o1", "substring"), ("v1", flag.as_str())];
        let found: BugList<Id> = self.get("rest/bug", &query).await?;
        let ids: BTreeSet<i64> = found.bugs.into_iter().map(|bug| bug.id).collect();
        Ok(ids.into_iter().collect())
    }

    /// The bug, its attachments, comments and history (fetched together), then its users
    /// (see [`Bugzilla::known_users`]).
    pub async fn bug_data(&self, id: i64) -> Result<BugData, Error> {
        let bug_path = format!("rest/bug/{id}");
        let attachment_path = format!("rest/bug/{id}/attachment");
        let comment_path = format!("rest/bug/{id}/comment");
        let history_path = format!("rest/bug/{id}/history");
        // All four are awaited even when one fails: no request is left half-sent behind.
        let (bugs, attachments, comments, history) = tokio::join!(
            self.get::<BugList<Bug>>(&bug_path, &[("include_fields", BUG_FIELDS)]),
            self.get::<BugMap<Vec<Value>>>(&attachment_path, &[("exclude_fields", "data")]),
            self.get::<BugMap<Comments>>(&comment_path, &[]),
            self.get::<BugList<History>>(&history_path, &[]),
        );
        let (bugs, attachments, comments, history) = (bugs?, attachments?, comments?, history?);
        let missing = Error::Bugzilla {
            request: format!("GET {bug_path}"),
            code: None,
            detail: format!("no bug {id} in the answer"),
        };
        let bug = bugs.bugs.into_iter().next().ok_or(missing)?;
        let mut unreadable = Vec::new();
        let attachments = attachments.bugs.into_values().next().unwrap_or_default();
        let attachments: Vec<Attachment> = read_each(attachments, "attachment", &mut unreadable);
        let comments = comments.bugs.into_values().next().map(|bug| bug.comments).unwrap_or_default();
        let comments: Vec<Comment> = read_each(comments, "comment", &mut unreadable);
        let history = history.bugs.into_iter().next().map(|bug| bug.history).unwrap_or_default();
        let history: Vec<HistoryEntry> = read_each(history, "history entry", &mut unreadable);
        let names = involved_users(&bug, &attachments, &history);
        let (users, unknown_users) = self.known_users(&names).await?;
        let bugzilla_url = self.url.as_str().trim_end_matches('/').to_owned();
        Ok(BugData {
            url: format!("{bugzilla_url}/show_bug.cgi?id={id}"),
            bugzilla_url,
            bug,
            attachments,
            comments,
            history,
            users,
            unknown_users,
            unreadable,
        })
    }

    /// The users with these logins (`GET /rest/user?names=…`).
    pub async fn users(&self, names: &BTreeSet<String>) -> Result<Vec<User>, Error> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = vec![("include_fields", "id,name,real_name,email")];
        query.extend(names.iter().map(|name| ("names", name.as_str())));
        let users: Users = self.get("rest/user", &query).await?;
        Ok(users.users)
    }

    /// The users whose login or real name holds `text` (`GET /rest/user?match=…`), at most
    /// [`MATCHED_USERS`]. bugzilla.mozilla.org answers only callers with an API key.
    pub async fn users_matching(&self, text: &str) -> Result<Vec<User>, Error> {
        let limit = MATCHED_USERS.to_string();
        let query = [("include_fields", "id,name,real_name,email,nick"), ("limit", &limit), ("match", text)];
        let users: Users = self.get("rest/user", &query).await?;
        Ok(users.users)
    }

    /// The users with these logins, and the logins Bugzilla does not know. One unknown login
    /// fails the whole `GET /rest/user` (error 51), so then each login is asked on its own.
    pub async fn known_users(&self, names: &BTreeSet<String>) -> Result<(Vec<User>, Vec<String>), Error> {
        match self.users(names).await {
            Err(error) if error.is_unknown_user() => {}
            other => return other.map(|users| (users, Vec::new())),
        }
        let (mut users, mut unknown) = (Vec::new(), Vec::new());
        for name in names {
            match self.users(&BTreeSet::from([name.clone()])).await {
                Ok(found) => users.extend(found),
                Err(error) if error.is_unknown_user() => unknown.push(name.clone()),
                Err(error) => return Err(error),
            }
        }
        Ok((users, unknown))
    }

    /// Posts a comment on the bug; returns the new comment's id. Only called when the operator
    /// asks for it.
    pub async fn post_comment(&self, bug_id: i64, body: &str) -> Result<i64, Error> {
        let path = format!("rest/bug/{bug_id}/comment");
        let request = self.request(reqwest::Method::POST, &path)?.json(&serde_json::json!({ "comment": body }));
        let created: Id = self.call(&format!("POST {path}"), request).await?;
        Ok(created.id)
    }
}

/// The logins with a role on the bug: its creator and assignee, whoever set an approval or review
/// flag (setters of `?` are requesters, of `+`/`-` deciders), whoever requested an approval
/// according to the history, and the creators of reviewed attachments (the patch authors).
pub fn involved_users(bug: &Bug, attachments: &[Attachment], history: &[HistoryEntry]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    names.extend(bug.creator_detail.iter().chain(&bug.assigned_to_detail).map(|user| user.name.clone()));
    let is_watched = |flag: &Flag| flag.name == "review" || flag.name.starts_with("approval-mozilla-");
    names.extend(bug.flags.iter().filter(|flag| is_watched(flag)).filter_map(|flag| flag.setter.clone()));
    for attachment in attachments {
        let mut reviewed = false;
        for flag in attachment.flags.iter().filter(|flag| is_watched(flag)) {
            names.extend(flag.setter.clone());
            reviewed |= flag.name == "review";
        }
        if reviewed {
            names.extend(attachment.creator().map(str::to_owned));
        }
    }
    for entry in history {
        let requested = entry.changes.iter().any(|change| {
            change.field_name == "flagtypes.name"
                && change.added.split(", ").any(|flag| flag.starts_with("approval-mozilla-") && flag.ends_with('?'))
        });
        if requested {
            names.insert(entry.who.clone());
        }
    }
    names.retain(|name| !name.is_empty() && name != "nobody@mozilla.org");
    names
}

/// Reads each item on its own: one that cannot be read is left out and described in
/// `unreadable` (`attachment 9400001: missing field `id``), the others are kept.
fn read_each<T: DeserializeOwned>(items: Vec<Value>, what: &str, unreadable: &mut Vec<String>) -> Vec<T> {
    let mut read = Vec::with_capacity(items.len());
    for (position, item) in items.into_iter().enumerate() {
        let name = match item.get("id").and_then(Value::as_i64) {
            Some(id) => format!("{what} {id}"),
            None => format!("{what} at position {position}"),
        };
        match serde_json::from_value(item) {
            Ok(item) => read.push(item),
            Err(error) => unreadable.push(format!("{name}: {error}")),
        }
    }
    read
}

/// Bugzilla sends `null` for some empty fields.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The entries of a list of users that read as users.
fn readable_users<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<User>, D::Error> {
    let values: Vec<Value> = nullable(deserializer)?;
    Ok(values.into_iter().filter_map(|value| serde_json::from_value(value).ok()).collect())
}

/// Bugzilla sends `0`/`1` for the booleans of attachments.
fn int_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrBool {
        Int(i64),
        Bool(bool),
    }
    Ok(match IntOrBool::deserialize(deserializer)? {
        IntOrBool::Int(value) => value != 0,
        IntOrBool::Bool(value) => value,
    })
}
