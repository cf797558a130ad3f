//! The analysis of one bug with uplift requests: the JSON the bot records in the ShipIt API
//! (`BugUpsert.analysis`). Every field is documented here; this module is its schema.
//!
//! The analysis holds no time-dependent value ("now", ages) and only ordered collections, so
//! that an unchanged bug serialises to the same bytes and [`Analysis::hash`] is stable.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shipit_shared::api_types::uplift::BugUser;

use crate::bugzilla::{BugData, Flag, User};
use crate::form::{self, UpliftForm};
use crate::history::{History, HistorySettings, Landing, PatchMetrics};

/// One bug's analysis.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Analysis {
    /// The Bugzilla bug id.
    pub id: i64,
    /// The bug's page.
    pub url: String,
    pub summary: String,
    /// `NEW`, `RESOLVED`, `VERIFIED`…
    pub status: String,
    /// `FIXED`…, empty while open.
    pub resolution: String,
    pub product: String,
    pub component: String,
    pub keywords: Vec<String>,
    /// The `cf_status_firefox*` fields without their `cf_status_` prefix
    /// (`{"firefox38": "affected", "firefox_esr38": "---"}`).
    pub flags_status: BTreeMap<String, String>,
    /// The `cf_tracking_firefox*` fields without their `cf_tracking_` prefix.
    pub flags_tracking: BTreeMap<String, String>,
    /// How many bugs this one blocks.
    pub blocks: usize,
    /// How many bugs this one depends on.
    pub depends_on: usize,
    /// How many comments the bug has, the description included.
    pub comments: usize,
    /// The status of the bug's `in-testsuite` flag (`+`, `?`, `-`), empty without one.
    #[serde(rename = "in-testsuite")]
    pub in_testsuite: String,
    /// How many backout commits of the main branch name the bug.
    pub backout_num: usize,
    /// How many patches got a `review-`.
    #[serde(rename = "r-ed_patches")]
    pub r_ed_patches: usize,
    /// The uplift requests, per channel (`beta`, `release`, `esr140`).
    pub requests: BTreeMap<String, ChannelRequest>,
    /// The uplift forms the requests point to, by comment id.
    pub forms: BTreeMap<i64, UpliftForm>,
    /// The users with a role on the bug, by Bugzilla id.
    pub users: Vec<BugUser>,
    /// The landings cited in the comments, per channel (`nightly`, `beta`…; `unknown` for GitHub
    /// links, which do not say), oldest first.
    pub landings: BTreeMap<String, Vec<Landing>>,
    /// The bug's patches on the main branch, by commit id.
    pub patches: BTreeMap<String, PatchAnalysis>,
    /// The same commits, oldest first: the order to graft them in.
    pub commits: Vec<String>,
}

/// Where a channel's uplift request stands.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Some `approval-mozilla-<channel>?` flag awaits a decision.
    Pending,
    /// None is pending, and one at least was granted (`+`).
    Granted,
    /// Every flag was denied (`-`).
    Denied,
}

/// The uplift request to one channel, from the `approval-mozilla-<channel>` flags of the
/// non-obsolete attachments and of the bug.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct ChannelRequest {
    pub status: RequestStatus,
    /// The attachments whose flag has that status, ascending (empty for a flag on the bug).
    pub attachments: Vec<i64>,
    /// Who asked: the setter of the latest pending flag, or for a decided one who set it to `?`
    /// according to the history.
    pub requester: Option<String>,
    /// When the request was made: the latest pending flag's creation, or the decided flag's.
    pub requested_at: Option<DateTime<Utc>>,
    /// True if any flag was granted (libmozdata's `uplift_accepted`, here per channel).
    pub accepted: bool,
    /// Who decided the latest decided flag (libmozdata's `uplift_reviewer`, per channel).
    pub reviewer: Option<String>,
    /// When they did.
    pub decided_at: Option<DateTime<Utc>>,
    /// The comment id of the uplift form of this request, a key of `forms`.
    pub form: Option<i64>,
    /// Seconds from the first nightly landing to the request.
    pub landing_delta: Option<i64>,
    /// Seconds from the request to the decision.
    pub response_delta: Option<i64>,
}

/// One patch: a commit of the main branch naming the bug.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct PatchAnalysis {
    /// Always `git`.
    pub source: String,
    /// The commit's page, when a commit URL is configured.
    pub url: Option<String>,
    /// The first line of the commit message.
    pub summary: String,
    pub author: String,
    /// The `r=` reviewers of the message, lower case.
    pub reviewers: Vec<String>,
    /// The commit time.
    pub time: DateTime<Utc>,
    /// The paths it touches.
    pub files: Vec<String>,
    /// Size, languages, modules, churn, familiarity.
    #[serde(flatten)]
    pub metrics: PatchMetrics,
}

impl Analysis {
    /// The SHA-256 of the analysis's JSON, hex: equal for an unchanged bug.
    pub fn hash(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("an analysis is always serialisable");
        hex::encode(Sha256::digest(bytes))
    }

    /// The channels with a pending request.
    pub fn pending_channels(&self) -> Vec<String> {
        let pending = self.requests.iter().filter(|(_, request)| request.status == RequestStatus::Pending);
        pending.map(|(channel, _)| channel.clone()).collect()
    }
}

/// Analyses the bug from its Bugzilla data (its landings mapped to commits where possible, see
/// [`crate::history::Mapper`]) and the run's history.
pub fn analyze(data: &BugData, history: &History, settings: &HistorySettings) -> Analysis {
    let bug = &data.bug;
    let custom = |prefix: &str| -> BTreeMap<String, String> {
        let fields = bug.other.iter().filter(|(name, _)| name.starts_with(prefix) && name.contains("firefox"));
        fields.filter_map(|(name, value)| Some((name[prefix.len()..].to_owned(), value.as_str()?.to_owned()))).collect()
    };
    let landings = by_channel(&data.landings, history);
    let first_nightly = landings.get("nightly").and_then(|landings| landings.first()).map(|landing| landing.time);

    let mut requests = requests(data);
    let mut forms = BTreeMap::new();
    for (channel, request) in &mut requests {
        if let Some(comment) = form::find(&data.comments, channel, request.requested_at) {
            request.form = Some(comment.id);
            forms.entry(comment.id).or_insert_with(|| form::parse(comment, &data.bugzilla_url));
        }
        request.landing_delta =
            request.requested_at.zip(first_nightly).map(|(asked, landed)| (asked - landed).num_seconds());
    }

    let patches = history.patches(bug.id);
    Analysis {
        id: bug.id,
        url: data.url.clone(),
        summary: bug.summary.clone(),
        status: bug.status.clone(),
        resolution: bug.resolution.clone(),
        product: bug.product.clone(),
        component: bug.component.clone(),
        keywords: bug.keywords.clone(),
        flags_status: custom("cf_status_"),
        flags_tracking: custom("cf_tracking_"),
        blocks: bug.blocks.len(),
        depends_on: bug.depends_on.len(),
        comments: data.comments.len(),
        in_testsuite: bug
            .flags
            .iter()
            .find(|flag| flag.name == "in-testsuite")
            .map(|flag| flag.status.clone())
            .unwrap_or_default(),
        backout_num: history.backouts(bug.id),
        r_ed_patches: data
            .attachments
            .iter()
            .filter(|attachment| attachment.flags.iter().any(|flag| flag.name == "review" && flag.status == "-"))
            .count(),
        users: users(data, &requests, history),
        requests,
        forms,
        landings,
        patches: patches
            .iter()
            .map(|patch| {
                let analysis = PatchAnalysis {
                    source: "git".to_owned(),
                    url: settings.commit_url(&patch.commit),
                    summary: patch.summary.clone(),
                    author: patch.author_email.clone(),
                    reviewers: patch.reviewers.clone(),
                    time: patch.time,
                    files: patch.files.clone(),
                    metrics: patch.metrics.clone(),
                };
                (patch.commit.clone(), analysis)
            })
            .collect(),
        commits: patches.iter().map(|patch| patch.commit.clone()).collect(),
    }
}

/// The landings per channel, with the commits the mapper did not give resolved as revisions of
/// the main branch.
fn by_channel(landings: &[Landing], history: &History) -> BTreeMap<String, Vec<Landing>> {
    let mut by_channel: BTreeMap<String, Vec<Landing>> = BTreeMap::new();
    for landing in landings {
        let mut landing = landing.clone();
        if landing.commit.is_none() {
            landing.commit = history.resolve(&landing.revision);
        }
        let channel = landing.channel.clone().unwrap_or_else(|| "unknown".to_owned());
        by_channel.entry(channel).or_default().push(landing);
    }
    for landings in by_channel.values_mut() {
        landings.sort();
    }
    by_channel
}

/// The requests per channel, from the approval flags of non-obsolete attachments and of the bug.
fn requests(data: &BugData) -> BTreeMap<String, ChannelRequest> {
    let mut flags: BTreeMap<String, Vec<(Option<i64>, &Flag)>> = BTreeMap::new();
    let attachment_flags = data
        .attachments
        .iter()
        .filter(|attachment| !attachment.is_obsolete)
        .flat_map(|attachment| attachment.flags.iter().map(|flag| (Some(attachment.id), flag)));
    for (attachment, flag) in attachment_flags.chain(data.bug.flags.iter().map(|flag| (None, flag))) {
        if let Some(channel) = flag.name.strip_prefix("approval-mozilla-") {
            flags.entry(channel.to_owned()).or_default().push((attachment, flag));
        }
    }
    flags
        .into_iter()
        .map(|(channel, flags)| {
            let request = channel_request(data, &channel, &flags);
            (channel, request)
        })
        .collect()
}

fn channel_request(data: &BugData, channel: &str, flags: &[(Option<i64>, &Flag)]) -> ChannelRequest {
    let with = |status: &'static str| flags.iter().filter(move |(_, flag)| flag.status == status);
    let status = if with("?").next().is_some() {
        RequestStatus::Pending
    } else if with("+").next().is_some() {
        RequestStatus::Granted
    } else {
        RequestStatus::Denied
    };
    let symbol = match status {
        RequestStatus::Pending => "?",
        RequestStatus::Granted => "+",
        RequestStatus::Denied => "-",
    };
    let attachments: BTreeSet<i64> = with(symbol).filter_map(|(attachment, _)| *attachment).collect();
    let decided = flags.iter().filter(|(_, flag)| flag.status != "?").max_by_key(|(_, flag)| flag.modification_date);
    let (requester, requested_at) = match status {
        RequestStatus::Pending => {
            let latest = with("?").max_by_key(|(_, flag)| flag.creation_date).map(|(_, flag)| flag);
            (latest.map(|flag| flag.setter.clone()), latest.map(|flag| flag.creation_date))
        }
        _ => {
            let created = decided.map(|(_, flag)| flag.creation_date);
            (created.and_then(|time| requester_at(data, channel, time)), created)
        }
    };
    let (reviewer, decided_at) = match status {
        RequestStatus::Pending => (None, None),
        _ => (decided.map(|(_, flag)| flag.setter.clone()), decided.map(|(_, flag)| flag.modification_date)),
    };
    ChannelRequest {
        status,
        attachments: attachments.into_iter().collect(),
        requester,
        requested_at,
        accepted: with("+").next().is_some(),
        reviewer,
        decided_at,
        form: None,
        landing_delta: None,
        response_delta: requested_at.zip(decided_at).map(|(asked, decided)| (decided - asked).num_seconds()),
    }
}

/// Who set `approval-mozilla-<channel>?` last, no later than `time`, according to the history.
fn requester_at(data: &BugData, channel: &str, time: DateTime<Utc>) -> Option<String> {
    let requested = format!("approval-mozilla-{channel}?");
    data.history
        .iter()
        .filter(|entry| entry.when <= time)
        .rfind(|entry| {
            entry.changes.iter().any(|change| {
                change.field_name == "flagtypes.name" && change.added.split(", ").any(|flag| flag == requested)
            })
        })
        .map(|entry| entry.who.clone())
}

/// The users with their roles: `creator`, `assignee`, `author` (creators of reviewed attachments
/// and authors of the patches), `reviewer` (setters of review flags on others' attachments),
/// `uplift_author` (requesters), `uplift_reviewer` (deciders). A user Bugzilla did not return
/// (a commit author's address unknown to it) is left out.
fn users(data: &BugData, requests: &BTreeMap<String, ChannelRequest>, history: &History) -> Vec<BugUser> {
    let mut roles: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut add = |login: &str, role: &'static str| {
        roles.entry(login.to_lowercase()).or_default().insert(role);
    };
    let bug = &data.bug;
    bug.creator_detail.iter().for_each(|user| add(&user.name, "creator"));
    bug.assigned_to_detail
        .iter()
        .filter(|user| user.name != "nobody@mozilla.org")
        .for_each(|user| add(&user.name, "assignee"));
    for attachment in &data.attachments {
        for flag in attachment.flags.iter().filter(|flag| flag.name == "review" && flag.status != "?") {
            add(&attachment.creator, "author");
            // Authors carrying a review forward set the flag on their own patch.
            if flag.setter != attachment.creator {
                add(&flag.setter, "reviewer");
            }
        }
    }
    history.patches(bug.id).iter().for_each(|patch| add(&patch.author_email, "author"));
    for request in requests.values() {
        request.requester.iter().for_each(|login| add(login, "uplift_author"));
        request.reviewer.iter().for_each(|login| add(login, "uplift_reviewer"));
    }

    let known: Vec<&User> = data.users.iter().chain(&bug.creator_detail).chain(&bug.assigned_to_detail).collect();
    let mut users: BTreeMap<i64, BugUser> = BTreeMap::new();
    for (login, roles) in roles {
        let found = known.iter().find(|user| user.name.to_lowercase() == login || user.email().to_lowercase() == login);
        let Some(user) = found else { continue };
        let name = if user.real_name.is_empty() { user.name.clone() } else { user.real_name.clone() };
        let entry = users.entry(user.id).or_insert_with(|| BugUser {
            bugzilla_id: user.id,
            email: user.email().to_owned(),
            name,
            roles: Vec::new(),
        });
        entry.roles.extend(roles.into_iter().map(str::to_owned));
        entry.roles.sort();
        entry.roles.dedup();
    }
    users.into_values().collect()
}
