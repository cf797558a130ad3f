//! The analysis of one bug with uplift requests: the JSON the bot records in the ShipIt API
//! (`BugUpsert.analysis`). Every field is documented here; this module is its schema, with the
//! types it holds: [`UpliftForm`] and [`form::Section`] (the forms), [`Landing`] and
//! [`IgnoredLink`] (the commit links), [`PatchMetrics`].
//!
//! The analysis holds no time-dependent value ("now", ages) and only ordered collections, so
//! that an unchanged bug serialises to the same bytes and [`Analysis::hash`] is stable. Fields
//! that are usually empty (`absent`, `ignored_links`, `landing_counts`, `converted_from`…) are
//! left out of the JSON when empty, so that adding them changed the hash of no bug they do not
//! concern.
//!
//! The analysis is bounded whatever the bug: at most [`MAX_LANDINGS`] landings per channel and
//! ignored links, at most [`MAX_ABSENT_EXAMPLES`] examples per absent field, each with its count.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shipit_shared::api_types::uplift::BugUser;

use crate::bugzilla::{BugData, Change, Flag, HistoryEntry, User};
use crate::form::{self, UpliftForm};
use crate::history::{History, HistorySettings, PatchMetrics};
use crate::landing::{IgnoredLink, Landing, Landings};
use crate::nickname::{self, Reviewers};
use crate::release::ReleaseCalendar;

/// The landings kept per channel, and the ignored links kept: the newest ones, those an uplift
/// acts on. A bug with thousands of comments (a meta bug, a long-lived intermittent) would
/// otherwise store thousands of nightly landings. A constant, not a setting: `config.rs` is not
/// this module's.
pub const MAX_LANDINGS: usize = 50;

/// The examples kept per absent field (see [`Analysis::absent`]).
pub const MAX_ABSENT_EXAMPLES: usize = 10;

/// How far apart the history entry that changed a flag and the flag's own dates may be: the
/// same change, written at the same second, but by two parts of Bugzilla.
const FLAG_WINDOW: Duration = Duration::minutes(5);

/// The version flags: `cf_status_firefox140`, `cf_tracking_firefox_esr140`; not
/// `cf_tracking_firefox_relnote`, `cf_status_thunderbird_esr45`, `cf_status_b2g_2_2`.
static VERSION_FLAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^cf_(status|tracking)_(firefox(?:_esr)?\d+)$").expect("a valid regex"));

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
    /// The version status fields, `cf_status_firefox<N>` and `cf_status_firefox_esr<N>`, without
    /// their `cf_status_` prefix (`{"firefox38": "affected", "firefox_esr38": "---"}`).
    pub flags_status: BTreeMap<String, String>,
    /// The version tracking fields, `cf_tracking_firefox<N>` and `cf_tracking_firefox_esr<N>`,
    /// without their `cf_tracking_` prefix; other `cf_tracking_*` fields
    /// (`cf_tracking_firefox_relnote`) are not versions and are left out.
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
    /// links, which do not say), oldest first: links to the bot's repository and its known
    /// mirrors only (see [`crate::landing::Repositories`]). At most [`MAX_LANDINGS`] per channel,
    /// the newest.
    pub landings: BTreeMap<String, Vec<Landing>>,
    /// How many landings the comments cite, for the channels that have more than `landings`
    /// keeps; omitted when none was cut.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub landing_counts: BTreeMap<String, usize>,
    /// The landings whose git commit is unknown, `<repository>@<revision>`, oldest first, at most
    /// [`MAX_LANDINGS`] (the newest): no mapper is configured (`history.mapper`) or it did not know
    /// the mercurial revision, and no commit of the main branch starts with it. Their patches and
    /// backouts cannot be matched; omitted when every landing is mapped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped_landings: Vec<String>,
    /// The `r=` nicknames of the patches that map to no Bugzilla user (see [`crate::nickname`]):
    /// no user or several carry it, or Bugzilla's user search could not be used (it needs an
    /// API key). Their reviewers are missing from `users`; groups (`r=#build`) are not listed.
    /// Sorted; omitted when every nickname is mapped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped_reviewers: Vec<String>,
    /// Commit links of the comments that are not landings: links to other repositories (another
    /// project on GitHub, `try`, `comm-central`), oldest first, at most [`MAX_LANDINGS`] (the
    /// newest); omitted when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_links: Vec<IgnoredLink>,
    /// How many ignored links the comments hold, when `ignored_links` was cut; omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored_link_count: Option<usize>,
    /// What Bugzilla left out of this bug, read as absent, by field: `flag.setter` (a flag
    /// without a setter), `attachment.creator`, `comment.time`, `user` (a login with a role that
    /// Bugzilla does not know), `unreadable` (an attachment, comment or history entry that could
    /// not be read at all, left out). Omitted when nothing is absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub absent: BTreeMap<String, AbsentField>,
    /// The bug's patches on the main branch, by commit id.
    pub patches: BTreeMap<String, PatchAnalysis>,
    /// The same commits, oldest first: the order to graft them in.
    pub commits: Vec<String>,
}

/// The items of a bug that lack one field.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct AbsentField {
    /// How many items lack it.
    pub count: usize,
    /// The first [`MAX_ABSENT_EXAMPLES`] of them (`flag 6000001 (approval-mozilla-beta+) on
    /// attachment 9400001`, `comment 3`, a login, `attachment 9400001: missing field `id``).
    pub of: Vec<String>,
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
    /// Who asked: the setter of the latest pending flag, or for a decided one (and a pending one
    /// without a setter) who set it to `?` according to the history.
    pub requester: Option<String>,
    /// When the request was made: the latest pending flag's creation, or the decided flag's; for
    /// a converted request, when the original request was made.
    pub requested_at: Option<DateTime<Utc>>,
    /// The channel the request was made to, when a release manager answered it for this one
    /// instead (`aurora` for an `approval-mozilla-aurora?` answered `approval-mozilla-beta+`, in
    /// the same change of the same attachment); omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_from: Option<String>,
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
    /// Seconds from the first nightly landing to the day the channel's version ships (shipped),
    /// from product-details' calendar (`history.product_details`); omitted without one, or when
    /// the calendar does not know the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_delta: Option<i64>,
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
    /// The Bugzilla login of each reviewer whose nickname maps to a user; omitted when none does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reviewer_users: BTreeMap<String, String>,
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

/// Analyses the bug from its Bugzilla data, the landings its comments cite (mapped to commits
/// where possible, see [`crate::landing::Mapper`]) and the run's history.
///
/// `calendar` gives the release dates of `release_delta` (an empty one gives none), `reviewers`
/// the users of the `r=` nicknames that map to one.
pub fn analyze(
    data: &BugData,
    landings: &Landings,
    history: &History,
    settings: &HistorySettings,
    calendar: &ReleaseCalendar,
    reviewers: &Reviewers,
) -> Analysis {
    let bug = &data.bug;
    let version_flags = |kind: &str| -> BTreeMap<String, String> {
        let fields = bug.other.iter().filter_map(|(name, value)| {
            let captures = VERSION_FLAG.captures(name).filter(|captures| &captures[1] == kind)?;
            Some((captures[2].to_owned(), value.as_str()?.to_owned()))
        });
        fields.collect()
    };
    let mut landings_by_channel = by_channel(&landings.landings, history);
    let mut unmapped: Vec<&Landing> =
        landings_by_channel.values().flatten().filter(|landing| landing.commit.is_none()).collect();
    unmapped.sort();
    let unmapped_landings: Vec<String> =
        newest(&unmapped).iter().map(|landing| format!("{}@{}", landing.repository, landing.revision)).collect();
    let nightly = landings_by_channel.get("nightly").into_iter().flatten();
    let first_nightly = nightly.filter_map(|landing| landing.time).next();
    let landing_counts = cap_landings(&mut landings_by_channel);
    let ignored_links = newest(&landings.ignored);
    let ignored_link_count = (ignored_links.len() < landings.ignored.len()).then_some(landings.ignored.len());

    let mut requests = requests(data);
    let mut forms = BTreeMap::new();
    for (channel, request) in &mut requests {
        if let Some(comment) = form::find(&data.comments, channel, request.requested_at) {
            request.form = Some(comment.id);
            forms.entry(comment.id).or_insert_with(|| form::parse(comment, &data.bugzilla_url));
        }
        request.landing_delta =
            request.requested_at.zip(first_nightly).map(|(asked, landed)| (asked - landed).num_seconds());
        request.release_delta =
            calendar.release_date(channel).zip(first_nightly).map(|(ships, landed)| (ships - landed).num_seconds());
    }

    let patches = history.patches(bug.id);
    let nicknames = patches.iter().flat_map(|patch| &patch.reviewers);
    let unmapped_reviewers: BTreeSet<String> = nicknames
        .filter(|nickname| nickname::is_nickname(nickname) && !reviewers.contains_key(*nickname))
        .cloned()
        .collect();
    Analysis {
        id: bug.id,
        url: data.url.clone(),
        summary: bug.summary.clone(),
        status: bug.status.clone(),
        resolution: bug.resolution.clone(),
        product: bug.product.clone(),
        component: bug.component.clone(),
        keywords: bug.keywords.clone(),
        flags_status: version_flags("status"),
        flags_tracking: version_flags("tracking"),
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
        users: users(data, &requests, history, reviewers),
        requests,
        forms,
        landings: landings_by_channel,
        landing_counts,
        unmapped_landings,
        unmapped_reviewers: unmapped_reviewers.into_iter().collect(),
        ignored_links,
        ignored_link_count,
        absent: absent(data),
        patches: patches
            .iter()
            .map(|patch| {
                let analysis = PatchAnalysis {
                    source: "git".to_owned(),
                    url: settings.commit_url(&patch.commit),
                    summary: patch.summary.clone(),
                    author: patch.author_email.clone(),
                    reviewers: patch.reviewers.clone(),
                    reviewer_users: patch
                        .reviewers
                        .iter()
                        .filter_map(|nickname| Some((nickname.clone(), reviewers.get(nickname)?.name.clone())))
                        .collect(),
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

/// Keeps the newest [`MAX_LANDINGS`] of each channel; returns the counts of the channels cut.
fn cap_landings(by_channel: &mut BTreeMap<String, Vec<Landing>>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (channel, landings) in by_channel.iter_mut() {
        if landings.len() > MAX_LANDINGS {
            counts.insert(channel.clone(), landings.len());
            *landings = newest(landings);
        }
    }
    counts
}

/// The last [`MAX_LANDINGS`] items of a list sorted oldest first.
fn newest<T: Clone>(items: &[T]) -> Vec<T> {
    items[items.len().saturating_sub(MAX_LANDINGS)..].to_vec()
}

/// What Bugzilla left out, by field (see [`Analysis::absent`]).
fn absent(data: &BugData) -> BTreeMap<String, AbsentField> {
    let mut absent: BTreeMap<String, AbsentField> = BTreeMap::new();
    let mut add = |field: &str, item: String| {
        let entry = absent.entry(field.to_owned()).or_default();
        entry.count += 1;
        if entry.of.len() < MAX_ABSENT_EXAMPLES {
            entry.of.push(item);
        }
    };
    let flag_name = |flag: &Flag, on: &str| match flag.id {
        Some(id) => format!("flag {id} ({}{}) on {on}", flag.name, flag.status),
        None => format!("flag {}{} on {on}", flag.name, flag.status),
    };
    for flag in data.bug.flags.iter().filter(|flag| flag.setter.is_none()) {
        add("flag.setter", flag_name(flag, "the bug"));
    }
    for attachment in &data.attachments {
        let on = format!("attachment {}", attachment.id);
        for flag in attachment.flags.iter().filter(|flag| flag.setter.is_none()) {
            add("flag.setter", flag_name(flag, &on));
        }
        if attachment.creator().is_none() {
            add("attachment.creator", on);
        }
    }
    for comment in data.comments.iter().filter(|comment| comment.time.is_none()) {
        add("comment.time", format!("comment {}", comment.count));
    }
    data.unknown_users.iter().for_each(|login| add("user", login.clone()));
    data.unreadable.iter().for_each(|item| add("unreadable", item.clone()));
    absent
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
    let origin = match status {
        RequestStatus::Pending => {
            let latest = with("?").max_by_key(|(_, flag)| flag.creation_date);
            latest.map(|&(attachment, flag)| Origin {
                requester: flag.setter.clone().or_else(|| {
                    request(&data.history, attachment, channel, flag.creation_date).map(|entry| entry.who.clone())
                }),
                requested_at: Some(flag.creation_date),
                converted_from: None,
            })
        }
        _ => decided.map(|&(attachment, flag)| origin(&data.history, attachment, channel, flag)),
    };
    let Origin { requester, requested_at, converted_from } = origin.unwrap_or_default();
    let (reviewer, decided_at) = match status {
        RequestStatus::Pending => (None, None),
        _ => (decided.and_then(|(_, flag)| flag.setter.clone()), decided.map(|(_, flag)| flag.modification_date)),
    };
    ChannelRequest {
        status,
        attachments: attachments.into_iter().collect(),
        requester,
        requested_at,
        converted_from,
        accepted: with("+").next().is_some(),
        reviewer,
        decided_at,
        form: None,
        landing_delta: None,
        response_delta: requested_at.zip(decided_at).map(|(asked, decided)| (decided - asked).num_seconds()),
        release_delta: None,
    }
}

/// Who made a request, when, and to which channel when it was answered for another one.
#[derive(Default)]
struct Origin {
    requester: Option<String>,
    requested_at: Option<DateTime<Utc>>,
    converted_from: Option<String>,
}

/// Where the decided `flag` of `channel` on `attachment` (`None`: on the bug) comes from: the
/// request of that channel in the history, or else the request of another channel that the
/// decision converted (the same change removed `approval-mozilla-<other>?` and added this flag,
/// within [`FLAG_WINDOW`] of the flag's creation); else the flag's creation, by an unknown
/// requester.
fn origin(history: &[HistoryEntry], attachment: Option<i64>, channel: &str, flag: &Flag) -> Origin {
    if let Some(entry) = request(history, attachment, channel, flag.creation_date) {
        return Origin {
            requester: Some(entry.who.clone()),
            requested_at: Some(flag.creation_date),
            ..Origin::default()
        };
    }
    let decided = format!("approval-mozilla-{channel}{}", flag.status);
    let converted =
        history.iter().filter(|entry| (entry.when - flag.creation_date).abs() <= FLAG_WINDOW).find_map(|entry| {
            let change = flag_changes(entry, attachment)
                .find(|change| change.added.split(", ").any(|added| added == decided))?;
            let other = change.removed.split(", ").find_map(|removed| {
                removed.strip_prefix("approval-mozilla-")?.strip_suffix('?').filter(|other| *other != channel)
            })?;
            Some((entry, other.to_owned()))
        });
    let Some((conversion, other)) = converted else {
        return Origin { requested_at: Some(flag.creation_date), ..Origin::default() };
    };
    match request(history, attachment, &other, conversion.when) {
        Some(entry) => {
            Origin { requester: Some(entry.who.clone()), requested_at: Some(entry.when), converted_from: Some(other) }
        }
        None => Origin { requested_at: Some(flag.creation_date), converted_from: Some(other), ..Origin::default() },
    }
}

/// The latest history entry that set `approval-mozilla-<channel>?` on `attachment` (`None`: on
/// the bug), no later than [`FLAG_WINDOW`] after `time`.
fn request<'a>(
    history: &'a [HistoryEntry],
    attachment: Option<i64>,
    channel: &str,
    time: DateTime<Utc>,
) -> Option<&'a HistoryEntry> {
    let requested = format!("approval-mozilla-{channel}?");
    history.iter().filter(|entry| entry.when <= time + FLAG_WINDOW).rfind(|entry| {
        flag_changes(entry, attachment).any(|change| change.added.split(", ").any(|flag| flag == requested))
    })
}

/// The flag changes of a history entry on `attachment` (`None`: on the bug).
fn flag_changes<'a>(entry: &'a HistoryEntry, attachment: Option<i64>) -> impl Iterator<Item = &'a Change> + 'a {
    entry
        .changes
        .iter()
        .filter(move |change| change.field_name == "flagtypes.name" && change.attachment_id == attachment)
}

/// The users with their roles: `creator`, `assignee`, `author` (creators of reviewed attachments
/// and authors of the patches), `reviewer` (setters of review flags on others' attachments),
/// `uplift_author` (requesters), `uplift_reviewer` (deciders), and `reviewer` again for the users
/// of the patches' `r=` nicknames. A user Bugzilla did not return (a commit author's address
/// unknown to it) is left out.
fn users(
    data: &BugData,
    requests: &BTreeMap<String, ChannelRequest>,
    history: &History,
    reviewers: &Reviewers,
) -> Vec<BugUser> {
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
            attachment.creator().iter().for_each(|creator| add(creator, "author"));
            // Authors carrying a review forward set the flag on their own patch.
            if let Some(setter) = flag.setter.as_deref().filter(|setter| Some(*setter) != attachment.creator()) {
                add(setter, "reviewer");
            }
        }
    }
    let patches = history.patches(bug.id);
    patches.iter().for_each(|patch| add(&patch.author_email, "author"));
    let patch_reviewers: Vec<&User> =
        patches.iter().flat_map(|patch| &patch.reviewers).filter_map(|nickname| reviewers.get(nickname)).collect();
    patch_reviewers.iter().for_each(|user| add(&user.name, "reviewer"));
    for request in requests.values() {
        request.requester.iter().for_each(|login| add(login, "uplift_author"));
        request.reviewer.iter().for_each(|login| add(login, "uplift_reviewer"));
    }

    let known: Vec<&User> =
        data.users.iter().chain(&bug.creator_detail).chain(&bug.assigned_to_detail).chain(patch_reviewers).collect();
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
