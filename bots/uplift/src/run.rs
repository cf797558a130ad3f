//! One pass of the bot, as the hook starts it every 30 minutes:
//!
//! 1. declare the configured channels (branch, version) to the API;
//! 2. list the bugs with a pending `approval-mozilla-<channel>?` request, per channel;
//! 3. fetch and analyse each of them (a bounded pool; the `r=` nicknames of their patches mapped
//!    to Bugzilla users, see [`crate::nickname`]), and upload the analyses whose hash changed; a
//!    bug that fails is reported and the others go on;
//! 4. graft each bug's patches onto each requested channel's branch, in memory and in parallel,
//!    when the branch tip or the patch list changed since the stored graft;
//! 5. remove from the API the bugs no longer pending;
//! 6. report the new graft failures, and comment on Bugzilla only when asked.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use futures::StreamExt;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::RunOutcome;
use shipit_shared::api_types::uplift::{BugSummary, BugUpsert, ChannelUpdate, NewGraft};
use shipit_shared::http::UpstreamClient;

use crate::analysis::{self, Analysis};
use crate::bugzilla::{BugData, Bugzilla, User};
use crate::config::{ChannelSettings, Settings};
use crate::error::Error;
use crate::graft::{self, GraftJob};
use crate::history::{BranchIndex, History};
use crate::landing::{self, Landings, Mapper, Repositories};
use crate::nickname::{self, NicknameDirectory, Reviewers};
use crate::release::ReleaseCalendar;
use crate::report::{self, GraftFailure};

/// What the operator asked of this run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Only these bugs; every pending bug when empty.
    pub only: BTreeSet<i64>,
    /// Comment on Bugzilla about each new graft failure.
    pub comment: bool,
    /// With `comment`: list the comments instead of posting them.
    pub dry_run: bool,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Bugs with a pending request (after `--bug`).
    pub pending: usize,
    /// Analyses uploaded because they changed.
    pub uploaded: usize,
    /// Analyses equal to the stored ones, not sent again.
    pub unchanged: usize,
    /// Grafts tried.
    pub grafted: usize,
    /// Grafts not tried again: same branch tip, same patches.
    pub grafts_reused: usize,
    /// Bugs removed from the API: no request pending any more.
    pub removed: usize,
    /// Bugs that could not be handled, with why.
    pub failed: Vec<(i64, String)>,
    /// Grafts that fail now and did not before.
    pub new_failures: Vec<GraftFailure>,
    /// Comments posted on Bugzilla (or, in a dry run, that would be).
    pub comments: Vec<(i64, String)>,
}

impl RunSummary {
    /// `partial` when some bug could not be handled.
    pub fn outcome(&self) -> RunOutcome {
        if self.failed.is_empty() { RunOutcome::Succeeded } else { RunOutcome::Partial }
    }

    /// The counts recorded with the run.
    pub fn counts(&self) -> Map<String, Value> {
        let counts = json!({
            "pending": self.pending,
            "uploaded": self.uploaded,
            "unchanged": self.unchanged,
            "grafted": self.grafted,
            "grafts_reused": self.grafts_reused,
            "removed": self.removed,
            "failed": self.failed.len(),
            "new_graft_failures": self.new_failures.len(),
            "comments": self.comments.len(),
        });
        match counts {
            Value::Object(counts) => counts,
            _ => Map::new(),
        }
    }

    /// The bugs that could not be handled, one line each.
    pub fn failures(&self) -> Vec<String> {
        self.failed.iter().map(|(bug, error)| format!("bug {bug}: {error}")).collect()
    }
}

/// What the run talks to.
pub struct RunContext<'a> {
    pub settings: &'a Settings,
    pub bugzilla: &'a Bugzilla,
    pub api: &'a ApiClient,
    /// For the mapping service.
    pub http: &'a UpstreamClient,
}

/// Runs one pass; see the module documentation.
pub async fn run(context: &RunContext<'_>, options: &RunOptions) -> Result<RunSummary, Error> {
    let settings = context.settings;
    settings.validate()?;
    if let Some(url) = settings.repository.url.clone() {
        let directory = settings.repository.path.clone();
        blocking("the fetch", move || shipit_shared::repository_cache::update(&url, &directory)).await??;
    }
    // A channel whose branch does not exist is a configuration error: stop before any upload.
    let tips = branch_tips(settings)?;
    for channel in &settings.channels {
        let update = ChannelUpdate { version: channel.version, branch: channel.branch.clone() };
        context.api.put_uplift_channel(&channel.name, &update).await?;
    }
    let searched = searched_bugs(context, options).await?;
    let stored: BTreeMap<i64, BugSummary> =
        context.api.uplift_bugs().await?.into_iter().map(|bug| (bug.bugzilla_id, bug)).collect();
    let mut summary = RunSummary::default();

    // The branch's index needs no bug: it is brought up to date while the bugs are fetched.
    let index = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || {
            let repository = &settings.repository;
            BranchIndex::update(&repository.path, &repository.main_branch, &settings.history)
        })
    };
    let fetched = fetch_bugs(context, &searched, &mut summary).await;
    let calendar = release_calendar(context).await;
    let index = index.await.map_err(|error| Error::Panicked(format!("the history index: {error}")))??;
    let analysed = analyse_bugs(context, index, fetched, calendar).await?;
    // Flags on attachments decide: a bug found by the search whose pending flags are all on
    // obsolete attachments, or on channels not configured, is not pending.
    let pending: Vec<Pending> = analysed.into_iter().filter(|bug| !bug.channels.is_empty()).collect();
    summary.pending = pending.len();
    let mut uploaded = Vec::with_capacity(pending.len());
    for bug in pending {
        let previous = stored.get(&bug.bug_id);
        match upload(context, bug, previous).await {
            Ok(bug) => {
                if bug.changed {
                    summary.uploaded += 1;
                } else {
                    summary.unchanged += 1;
                }
                uploaded.push(bug);
            }
            Err((bug_id, error)) => summary.failed.push((bug_id, error.to_string())),
        }
    }
    graft_bugs(context, &uploaded, &stored, &tips, &mut summary).await?;

    // Bugs that failed stay: whether they are still pending is unknown.
    let kept: BTreeSet<i64> =
        uploaded.iter().map(|bug| bug.bug_id).chain(summary.failed.iter().map(|(id, _)| *id)).collect();
    let removable: Vec<i64> = stored
        .keys()
        .copied()
        .filter(|id| !kept.contains(id) && (options.only.is_empty() || options.only.contains(id)))
        .collect();
    for bug_id in removable {
        match context.api.delete_uplift_bug(bug_id).await {
            Ok(_) => {
                summary.removed += 1;
                tracing::info!(bug.id = bug_id, "bug no longer pending, removed");
            }
            Err(error) => summary.failed.push((bug_id, format!("cannot remove it: {error}"))),
        }
    }

    if options.comment {
        for failure in &summary.new_failures {
            let body = report::bugzilla_comment(failure);
            if !options.dry_run {
                if let Err(error) = context.bugzilla.post_comment(failure.bug_id, &body).await {
                    summary.failed.push((failure.bug_id, format!("cannot comment: {error}")));
                    continue;
                }
                tracing::info!(bug.id = failure.bug_id, channel = %failure.channel, "graft failure commented");
            }
            summary.comments.push((failure.bug_id, body));
        }
    }
    Ok(summary)
}

/// Runs `work` on the blocking pool; a panic becomes an error naming `what`.
async fn blocking<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(work).await.map_err(|error| Error::Panicked(format!("{what}: {error}")))
}

/// The bugs Bugzilla's search finds with a pending request to a configured channel, limited to
/// `only`.
async fn searched_bugs(context: &RunContext<'_>, options: &RunOptions) -> Result<BTreeSet<i64>, Error> {
    let mut found = BTreeSet::new();
    for channel in &context.settings.channels {
        let ids = context.bugzilla.pending_bugs(&channel.name).await?;
        tracing::info!(channel = %channel.name, bugs = ids.len(), "pending uplift requests");
        found.extend(ids.into_iter().filter(|id| options.only.is_empty() || options.only.contains(id)));
    }
    Ok(found)
}

/// A bug read from Bugzilla, with the landings its comments cite.
struct Fetched {
    data: BugData,
    landings: Landings,
}

/// The repositories whose links are landings: the configured repository (its clone URL and its
/// commit links) and its known mirrors.
fn repositories(settings: &Settings) -> Repositories {
    Repositories::new(settings.repository.url.as_deref().into_iter().chain(settings.history.commit_url.as_deref()))
}

/// Fetches every bug from Bugzilla, a bounded number at once, with their landings mapped to git
/// when a mapper is configured. A bug that fails is recorded in `summary` and left out.
async fn fetch_bugs(context: &RunContext<'_>, ids: &BTreeSet<i64>, summary: &mut RunSummary) -> Vec<Fetched> {
    let mapper = context.settings.history.mapper.clone().map(|url| Mapper::new(url, context.http.clone()));
    let repositories = repositories(context.settings);
    let total = ids.len() as u64;
    // indicatif draws nothing when stderr is not a terminal: log lines stand in for the bar.
    let progress = indicatif::ProgressBar::new(total).with_message("bugs fetched");
    let results: Vec<(i64, Result<Fetched, Error>)> = futures::stream::iter(ids.iter().copied())
        .map(|bug_id| {
            let (mapper, repositories) = (mapper.as_ref(), &repositories);
            async move {
                let fetched = async {
                    let data = context.bugzilla.bug_data(bug_id).await?;
                    let mut landings = landing::find(&data.comments, repositories);
                    if let Some(mapper) = mapper {
                        mapper.resolve(&mut landings.landings).await?;
                    }
                    Ok(Fetched { data, landings })
                };
                (bug_id, fetched.await)
            }
        })
        .buffer_unordered(context.settings.bug_concurrency)
        .inspect(|_| {
            progress.inc(1);
            let done = progress.position();
            if progress.is_hidden() && (done == total || done.is_multiple_of(50)) {
                tracing::info!(done, total, "bugs fetched");
            }
        })
        .collect()
        .await;
    progress.finish_and_clear();
    let mut fetched = Vec::with_capacity(results.len());
    for (bug_id, result) in results {
        match result {
            Ok(data) => fetched.push(data),
            Err(error) => {
                tracing::warn!(bug.id = bug_id, %error, "bug skipped");
                summary.failed.push((bug_id, error.to_string()));
            }
        }
    }
    fetched.sort_by_key(|fetched| fetched.data.bug.id);
    fetched
}

/// A bug after its analysis, with the configured channels it has a pending request for.
struct Pending {
    bug_id: i64,
    channels: Vec<String>,
    analysis: Analysis,
    /// False when the API holds the same analysis (set by [`upload`]).
    changed: bool,
    data: BugData,
}

/// The release calendar from product-details when it is configured; empty (no `release_delta`)
/// without it, or when product-details keeps failing: the analyses go on without it.
async fn release_calendar(context: &RunContext<'_>) -> ReleaseCalendar {
    let Some(url) = &context.settings.history.product_details else {
        return ReleaseCalendar::default();
    };
    ReleaseCalendar::fetch(context.http, url).await.unwrap_or_else(|error| {
        tracing::warn!(%error, "no release calendar: the analyses have no release_delta");
        ReleaseCalendar::default()
    })
}

/// Finds the bugs' patches in the branch's index, maps the nicknames of their patches' reviewers, then
/// analyses each bug, on the blocking pool.
async fn analyse_bugs(
    context: &RunContext<'_>,
    index: BranchIndex,
    fetched: Vec<Fetched>,
    calendar: ReleaseCalendar,
) -> Result<Vec<Pending>, Error> {
    let settings = context.settings.clone();
    let (history, fetched) = blocking("the history", move || {
        let wanted: BTreeMap<i64, Vec<String>> = fetched
            .iter()
            .map(|Fetched { data, landings }| {
                (data.bug.id, landings.landings.iter().filter_map(|landing| landing.commit.clone()).collect())
            })
            .collect();
        let history = History::from_index(index, &settings.repository.path, &settings.history, &wanted)?;
        Ok::<_, Error>((history, fetched))
    })
    .await??;
    let reviewers = map_reviewers(context, &history, &fetched).await;
    let settings = context.settings.clone();
    blocking("the analysis", move || {
        let configured: BTreeSet<&str> = settings.channels.iter().map(|channel| channel.name.as_str()).collect();
        fetched
            .into_par_iter()
            .map(|Fetched { data, landings }| {
                let analysis = analysis::analyze(&data, &landings, &history, &settings.history, &calendar, &reviewers);
                let channels = analysis
                    .pending_channels()
                    .into_iter()
                    .filter(|channel| configured.contains(channel.as_str()))
                    .collect();
                Pending { bug_id: data.bug.id, channels, analysis, changed: true, data }
            })
            .collect()
    })
    .await
}

/// The users of the `r=` nicknames of the bugs' patches (see [`crate::nickname`]). The directory
/// of nicknames is saved for the next run; a directory that cannot be saved costs only requests.
async fn map_reviewers(context: &RunContext<'_>, history: &History, fetched: &[Fetched]) -> Reviewers {
    let patches = fetched.iter().flat_map(|fetched| history.patches(fetched.data.bug.id));
    let nicknames: BTreeSet<String> = patches.flat_map(|patch| patch.reviewers.iter().cloned()).collect();
    let bugs = fetched.iter().map(|fetched| &fetched.data);
    let known: Vec<User> = bugs
        .flat_map(|data| {
            let bug = &data.bug;
            data.users.iter().chain(&bug.creator_detail).chain(&bug.assigned_to_detail).chain(&bug.cc_detail)
        })
        .cloned()
        .collect();
    let path = context.settings.bugzilla.nickname_directory.clone().or_else(|| {
        let repository = git2::Repository::open(&context.settings.repository.path).ok()?;
        Some(repository.commondir().join(nickname::DIRECTORY_FILE))
    });
    let Some(path) = path else {
        return Reviewers::new();
    };
    let mut directory = NicknameDirectory::load(&path);
    let now = Utc::now();
    let reviewers = directory.resolve(context.bugzilla, &nicknames, &known, now).await;
    if let Err(error) = directory.save(now) {
        tracing::warn!(%error, "the nickname directory was not saved");
    }
    tracing::info!(nicknames = nicknames.len(), mapped = reviewers.len(), "reviewer nicknames mapped");
    reviewers
}

/// Sends the bug's analysis unless the API holds the same one.
async fn upload(
    context: &RunContext<'_>,
    mut bug: Pending,
    stored: Option<&BugSummary>,
) -> Result<Pending, (i64, Error)> {
    let bug_id = bug.bug_id;
    let hash = bug.analysis.hash();
    let data = &bug.data;
    bug.changed = !stored.is_some_and(|stored| {
        stored.analysis_hash == hash
            && stored.channels == bug.channels
            && stored.summary == data.bug.summary
            && stored.product == data.bug.product
            && stored.component == data.bug.component
            && stored.status == data.bug.status
    });
    if !bug.changed {
        return Ok(bug);
    }
    let analysis = serde_json::to_value(&bug.analysis).expect("an analysis is always serialisable");
    let upsert = BugUpsert {
        bugzilla_id: bug_id,
        summary: data.bug.summary.clone(),
        product: data.bug.product.clone(),
        component: data.bug.component.clone(),
        status: data.bug.status.clone(),
        channels: bug.channels.clone(),
        analysis,
        analysis_hash: hash,
        users: bug.analysis.users.clone(),
    };
    context.api.upsert_uplift_bug(&upsert).await.map_err(|error| (bug_id, error.into()))?;
    tracing::info!(bug.id = bug_id, patches = bug.analysis.commits.len(), "analysis uploaded");
    Ok(bug)
}

/// One graft to try: a bug's patches onto a channel's branch tip.
struct Planned<'a> {
    bug: &'a Pending,
    channel: &'a ChannelSettings,
    tip: git2::Oid,
    commits: Vec<git2::Oid>,
    /// The stored graft failed already: a failure now is not new.
    failed_before: bool,
}

/// Grafts the bugs' patches where the branch tip or the patches changed, and records the
/// results.
async fn graft_bugs(
    context: &RunContext<'_>,
    analysed: &[Pending],
    stored: &BTreeMap<i64, BugSummary>,
    tips: &BTreeMap<String, git2::Oid>,
    summary: &mut RunSummary,
) -> Result<(), Error> {
    let settings = context.settings;
    let mut planned = Vec::new();
    for bug in analysed {
        let commits: Vec<git2::Oid> =
            bug.analysis.commits.iter().filter_map(|commit| git2::Oid::from_str(commit).ok()).collect();
        if commits.is_empty() {
            continue;
        }
        for channel in settings.channels.iter().filter(|channel| bug.channels.contains(&channel.name)) {
            let tip = tips[&channel.name];
            let previous = stored
                .get(&bug.bug_id)
                .and_then(|stored| stored.grafts.iter().find(|graft| graft.channel == channel.name));
            if let Some(previous) = previous
                && previous.branch_tip == tip.to_string()
            {
                match same_patches(context, bug, &channel.name, &commits).await {
                    Ok(true) => {
                        summary.grafts_reused += 1;
                        continue;
                    }
                    Ok(false) => {}
                    Err(error) => {
                        summary.failed.push((bug.bug_id, format!("cannot read its grafts: {error}")));
                        continue;
                    }
                }
            }
            let failed_before = previous.is_some_and(|previous| !previous.success);
            planned.push(Planned { bug, channel, tip, commits: commits.clone(), failed_before });
        }
    }
    if planned.is_empty() {
        return Ok(());
    }

    let jobs: Vec<GraftJob> =
        planned.iter().map(|plan| GraftJob { onto: plan.tip, commits: plan.commits.clone() }).collect();
    let path = settings.repository.path.clone();
    let started = std::time::Instant::now();
    let results = blocking("the grafts", move || graft::graft_many(&path, &jobs)).await??;
    tracing::info!(grafts = planned.len(), duration_ms = started.elapsed().as_millis() as u64, "grafts done");

    for (plan, result) in planned.iter().zip(results) {
        let bug_id = plan.bug.bug_id;
        let commits = match result {
            Ok(commits) => commits,
            Err(error) => {
                summary.failed.push((bug_id, format!("graft onto {}: {error}", plan.channel.branch)));
                continue;
            }
        };
        summary.grafted += 1;
        let graft = NewGraft {
            channel: plan.channel.name.clone(),
            branch: plan.channel.branch.clone(),
            branch_tip: plan.tip.to_string(),
            commits,
        };
        let stored = match context.api.post_uplift_graft(bug_id, &graft).await {
            Ok(stored) => stored,
            Err(error) => {
                summary.failed.push((bug_id, format!("cannot record the graft onto {}: {error}", graft.branch)));
                continue;
            }
        };
        tracing::info!(bug.id = bug_id, channel = %graft.channel, success = stored.success, "graft recorded");
        if !stored.success && !plan.failed_before {
            summary.new_failures.push(GraftFailure {
                bug_id,
                summary: plan.bug.data.bug.summary.clone(),
                channel: graft.channel,
                branch: graft.branch,
                branch_tip: graft.branch_tip,
                commits: stored.commits,
            });
        }
    }
    Ok(())
}

/// Whether the latest stored graft of the bug onto `channel` tried the same commits. Only asked
/// when the analysis changed: an unchanged analysis has the same patches.
async fn same_patches(
    context: &RunContext<'_>,
    bug: &Pending,
    channel: &str,
    commits: &[git2::Oid],
) -> Result<bool, Error> {
    if !bug.changed {
        return Ok(true);
    }
    let grafts = context.api.uplift_grafts(bug.bug_id).await?;
    Ok(grafts.iter().find(|graft| graft.channel == channel).is_some_and(|graft| {
        graft.commits.len() == commits.len()
            && graft.commits.iter().zip(commits).all(|(stored, commit)| stored.commit == commit.to_string())
    }))
}

/// The tip of each channel's branch.
fn branch_tips(settings: &Settings) -> Result<BTreeMap<String, git2::Oid>, Error> {
    let path = &settings.repository.path;
    let repository = git2::Repository::open(path).map_err(Error::git(format!("cannot open {}", path.display())))?;
    settings
        .channels
        .iter()
        .map(|channel| {
            let tip = repository
                .revparse_single(&channel.branch)
                .and_then(|object| object.peel_to_commit())
                .map_err(Error::git(format!("branch `{}` of channel {}", channel.branch, channel.name)))?;
            Ok((channel.name.clone(), tip.id()))
        })
        .collect()
}
