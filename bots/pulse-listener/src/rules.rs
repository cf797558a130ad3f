//! The rules: which messages start which bot, with which parameters. Parsing is pure (the
//! message shapes of the three exchanges); deciding may ask upstreams (the Taskcluster Queue for
//! a task group's tasks, the pushlog for a push's files).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value};
use shipit_shared::api_types::events::{is_valid_key, key_fragment};
use shipit_shared::http::UpstreamClient;
use url::Url;

use crate::config::{RuleConfig, RuleKind};
use crate::error::ListenerError;

/// The hg push type that carries new changesets; `newrepo.1`, `obsolete.1` and future types
/// are ignored.
const CHANGEGROUP: &str = "changegroup.1";

/// Page size of task-group listings, as Taskcluster's own clients use.
const TASK_GROUP_PAGE: u32 = 200;

/// A message a rule wants to act on, before any upstream was asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The event's natural key, for deduplication: the task group id, `<repository>:<push id>`,
    /// `<task id>:<run id>`.
    pub key: String,
    subject: Subject,
}

#[derive(Clone, Debug, PartialEq)]
enum Subject {
    TaskGroup { id: String },
    Push { repository: String, heads: Vec<String>, pushlogs: Vec<String> },
    Ready { parameters: Map<String, Value> },
}

impl Candidate {
    /// Whether deciding about it asks upstreams (the Taskcluster Queue, the pushlog).
    pub fn asks_upstreams(&self) -> bool {
        !matches!(self.subject, Subject::Ready { .. })
    }
}

/// What a rule decided about a candidate.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Start the bot with these parameters.
    Trigger(Map<String, Value>),
    /// Nothing to do, and why.
    Skip(String),
}

/// Where rules look things up.
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub http: UpstreamClient,
    /// The Taskcluster root URL (`https://firefox-ci-tc.services.mozilla.com/`).
    pub taskcluster: Url,
}

/// A configured rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub config: RuleConfig,
}

impl Rule {
    /// Checks the rule's configuration.
    pub fn new(config: RuleConfig) -> Result<Self, ListenerError> {
        if !shipit_shared::api_types::events::is_valid_source(&config.name) {
            return Err(ListenerError::Config(format!(
                "rule name `{}` must be 1 to 63 lowercase letters, digits and dashes",
                config.name
            )));
        }
        if config.routing_keys.is_empty() {
            return Err(ListenerError::Config(format!("rule `{}` has no routing key", config.name)));
        }
        Ok(Self { config })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether the rule's queue receives a message published on `exchange` with `routing_key`.
    pub fn binds(&self, exchange: &str, routing_key: &str) -> bool {
        exchange == self.config.exchange
            && self.config.routing_keys.iter().any(|pattern| topic_matches(pattern, routing_key))
    }

    /// Reads a message. `Ok(None)` is a well-formed message this rule does not act on (another
    /// push type, another repository); an error is a message that cannot be read at all.
    pub fn parse(&self, exchange: &str, routing_key: &str, body: &[u8]) -> Result<Option<Candidate>, ListenerError> {
        if exchange != self.config.exchange {
            return Err(ListenerError::Unroutable {
                exchange: exchange.to_owned(),
                routing_key: routing_key.to_owned(),
            });
        }
        match &self.config.kind {
            RuleKind::CodeCoverage { .. } => parse_task_group_resolved(body).map(Some),
            RuleKind::Risk { repositories, .. } => parse_push(body, repositories),
            RuleKind::StaticAnalysis { route, diff_tag } => parse_task_completed(body, routing_key, route, diff_tag),
        }
    }

    /// Decides whether the candidate starts the bot, asking upstreams when needed.
    pub async fn decide(&self, candidate: &Candidate, upstreams: &Upstreams) -> Result<Decision, ListenerError> {
        match (&candidate.subject, &self.config.kind) {
            (Subject::TaskGroup { id }, RuleKind::CodeCoverage { repositories, build_prefixes }) => {
                find_coverage_build(upstreams, id, repositories, build_prefixes).await
            }
            (Subject::Push { repository, heads, pushlogs }, RuleKind::Risk { extensions, .. }) => {
                push_touches(upstreams, repository, heads, pushlogs, extensions).await
            }
            (Subject::Ready { parameters }, _) => Ok(Decision::Trigger(parameters.clone())),
            _ => Err(ListenerError::Config(format!("rule `{}` got a candidate of another kind", self.name()))),
        }
    }
}

/// AMQP topic matching: words between dots, `*` for exactly one word, `#` for zero or more.
fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn matches(pattern: &[&str], key: &[&str]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&"#", rest)) => (0..=key.len()).any(|skipped| matches(rest, &key[skipped..])),
            Some((&word, rest)) => key
                .split_first()
                .is_some_and(|(first, others)| (word == "*" || word == *first) && matches(rest, others)),
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    matches(&pattern, &key)
}

fn malformed(what: &str, error: impl std::fmt::Display) -> ListenerError {
    ListenerError::Malformed(format!("{what}: {error}"))
}

fn checked_key(key: String) -> Result<String, ListenerError> {
    if is_valid_key(&key) { Ok(key) } else { Err(ListenerError::Malformed(format!("unusable event key `{key}`"))) }
}

// ---- exchange/taskcluster-queue/v1/task-group-resolved ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskGroupResolved {
    task_group_id: String,
}

fn parse_task_group_resolved(body: &[u8]) -> Result<Candidate, ListenerError> {
    let message: TaskGroupResolved =
        serde_json::from_slice(body).map_err(|error| malformed("task-group-resolved", error))?;
    let key = checked_key(message.task_group_id.clone())?;
    Ok(Candidate { key, subject: Subject::TaskGroup { id: message.task_group_id } })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskGroupPage {
    tasks: Vec<TaskEntry>,
    #[serde(default)]
    continuation_token: Option<String>,
}

#[derive(Deserialize)]
struct TaskEntry {
    task: TaskDefinition,
}

#[derive(Deserialize)]
struct TaskDefinition {
    metadata: TaskMetadata,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
struct TaskMetadata {
    name: String,
}

/// What a page of a task-group listing says about coverage builds.
#[derive(Debug, PartialEq)]
enum PageVerdict {
    /// A coverage build of a configured repository: repository and revision.
    Found { repository: String, revision: String },
    /// No such build here.
    NotHere,
}

fn scan_page(page: &TaskGroupPage, repositories: &[String], build_prefixes: &[String]) -> PageVerdict {
    for entry in &page.tasks {
        let name = &entry.task.metadata.name;
        if !build_prefixes.iter().any(|prefix| name.starts_with(prefix.as_str())) {
            continue;
        }
        let env = &entry.task.payload["env"];
        let (Some(repository), Some(revision)) =
            (env["GECKO_HEAD_REPOSITORY"].as_str(), env["GECKO_HEAD_REV"].as_str())
        else {
            tracing::warn!(task.name = %name, "coverage build without GECKO_HEAD_REPOSITORY/GECKO_HEAD_REV");
            continue;
        };
        if repositories.iter().any(|wanted| same_repository(wanted, repository)) {
            return PageVerdict::Found { repository: repository.to_owned(), revision: revision.to_owned() };
        }
    }
    PageVerdict::NotHere
}

/// The repository as the bots name it: its path on hg.mozilla.org (`integration/autoland` for
/// `https://hg.mozilla.org/integration/autoland/`).
fn repository_path(url: &str) -> String {
    match Url::parse(url) {
        Ok(url) => url.path().trim_matches('/').to_owned(),
        Err(_) => url.trim_matches('/').to_owned(),
    }
}

fn same_repository(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

async fn find_coverage_build(
    upstreams: &Upstreams,
    group: &str,
    repositories: &[String],
    build_prefixes: &[String],
) -> Result<Decision, ListenerError> {
    let url = upstreams
        .taskcluster
        .join(&format!("api/queue/v1/task-group/{group}/list"))
        .map_err(|error| ListenerError::Config(format!("bad Taskcluster root URL: {error}")))?;
    let mut token: Option<String> = None;
    let mut pages = 0u32;
    loop {
        let mut request = upstreams.http.client().get(url.clone()).query(&[("limit", TASK_GROUP_PAGE.to_string())]);
        if let Some(token) = &token {
            request = request.query(&[("continuationToken", token)]);
        }
        let page: TaskGroupPage = upstreams.http.send_json(request).await?;
        pages += 1;
        if let PageVerdict::Found { repository, revision } = scan_page(&page, repositories, build_prefixes) {
            tracing::debug!(task_group = group, pages, %repository, %revision, "coverage build found");
            let mut parameters = Map::new();
            parameters.insert("REPOSITORY".to_owned(), Value::String(repository_path(&repository)));
            parameters.insert("REVISION".to_owned(), Value::String(revision));
            return Ok(Decision::Trigger(parameters));
        }
        match page.continuation_token {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => return Ok(Decision::Skip(format!("no coverage build of a configured repository in {pages} page(s)"))),
        }
    }
}

// ---- exchange/hgpushes/v2 ----

#[derive(Deserialize)]
struct PushMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct ChangeGroup {
    repo_url: String,
    heads: Vec<String>,
    pushlog_pushes: Vec<PushlogPush>,
}

#[derive(Deserialize)]
struct PushlogPush {
    pushid: u64,
    push_full_json_url: String,
}

fn parse_push(body: &[u8], repositories: &[String]) -> Result<Option<Candidate>, ListenerError> {
    let mut value: Value = serde_json::from_slice(body).map_err(|error| malformed("hg push", error))?;
    // Pulse wraps what hg.mozilla.org publishes in `{"payload": …, "_meta": …}`.
    if let Some(payload) = value.get_mut("payload") {
        value = payload.take();
    }
    let message: PushMessage = serde_json::from_value(value).map_err(|error| malformed("hg push", error))?;
    if message.kind != CHANGEGROUP {
        return Ok(None);
    }
    let data: ChangeGroup =
        serde_json::from_value(message.data).map_err(|error| malformed("changegroup.1 data", error))?;
    if data.heads.is_empty() || data.pushlog_pushes.is_empty() {
        return Err(ListenerError::Malformed("changegroup.1 without heads or pushes".to_owned()));
    }
    if let Some(bad) = data.heads.iter().find(|head| head.len() != 40 || !head.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(ListenerError::Malformed(format!("changegroup.1 head `{bad}` is not a revision")));
    }
    if !repositories.iter().any(|wanted| same_repository(wanted, &data.repo_url)) {
        return Ok(None);
    }
    let name = Url::parse(&data.repo_url)
        .map(|url| url.path().trim_matches('/').to_owned())
        .unwrap_or_else(|_| data.repo_url.clone());
    let pushids: Vec<String> = data.pushlog_pushes.iter().map(|push| push.pushid.to_string()).collect();
    let key = checked_key(format!("{}:{}", key_fragment(&name), pushids.join("-")))?;
    Ok(Some(Candidate {
        key,
        subject: Subject::Push {
            repository: data.repo_url,
            heads: data.heads,
            pushlogs: data.pushlog_pushes.into_iter().map(|push| push.push_full_json_url).collect(),
        },
    }))
}

#[derive(Deserialize)]
struct FullPushlog {
    pushes: Map<String, Value>,
}

/// The files a pushlog answer (`json-pushes?version=2&full=1`) says were changed.
fn pushlog_files(pushlog: &FullPushlog) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for push in pushlog.pushes.values() {
        for changeset in push["changesets"].as_array().into_iter().flatten() {
            for file in changeset["files"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                files.insert(file.to_owned());
            }
        }
    }
    files
}

fn has_extension(path: &str, extensions: &[String]) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').is_some_and(|(stem, extension)| !stem.is_empty() && extensions.iter().any(|e| e == extension))
}

async fn push_touches(
    upstreams: &Upstreams,
    repository: &str,
    heads: &[String],
    pushlogs: &[String],
    extensions: &[String],
) -> Result<Decision, ListenerError> {
    let mut changed = 0usize;
    for pushlog in pushlogs {
        let url = Url::parse(pushlog).map_err(|error| malformed("push_full_json_url", error))?;
        let answer: FullPushlog = upstreams.http.send_json(upstreams.http.client().get(url)).await?;
        let files = pushlog_files(&answer);
        changed += files.len();
        if files.iter().any(|file| has_extension(file, extensions)) {
            let mut parameters = Map::new();
            parameters.insert("REPOSITORY".to_owned(), Value::String(repository_path(repository)));
            parameters.insert("REVISIONS".to_owned(), Value::String(heads.join(" ")));
            return Ok(Decision::Trigger(parameters));
        }
    }
    Ok(Decision::Skip(format!("none of the {changed} changed file(s) has a configured extension")))
}

// ---- exchange/taskcluster-queue/v1/task-completed ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskCompleted {
    status: TaskStatus,
    run_id: u32,
    #[serde(default)]
    task: Option<TaskTags>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskStatus {
    task_id: String,
}

#[derive(Deserialize)]
struct TaskTags {
    #[serde(default)]
    tags: Map<String, Value>,
}

fn parse_task_completed(
    body: &[u8],
    routing_key: &str,
    route: &str,
    diff_tag: &str,
) -> Result<Option<Candidate>, ListenerError> {
    let message: TaskCompleted = serde_json::from_slice(body).map_err(|error| malformed("task-completed", error))?;
    // Taskcluster publishes a copy of the message for each of the task's routes, with the
    // routing key `route.<route>`: only that copy is ours.
    if routing_key.strip_prefix("route.") != Some(route) {
        return Ok(None);
    }
    let key = checked_key(format!("{}:{}", message.status.task_id, message.run_id))?;
    let tags = message.task.map(|task| task.tags).unwrap_or_default();
    let Some(diff) = tags.get(diff_tag).and_then(Value::as_str) else {
        tracing::info!(task = %message.status.task_id, diff_tag, "a try push without a diff: nothing to analyze");
        return Ok(None);
    };
    if !is_diff_reference(diff) {
        return Err(ListenerError::Malformed(format!("tag `{diff_tag}` is `{diff}`, not a diff id or PHID")));
    }
    let mut parameters = Map::new();
    parameters.insert("PHABRICATOR_DIFF".to_owned(), Value::String(diff.to_owned()));
    Ok(Some(Candidate { key, subject: Subject::Ready { parameters } }))
}

/// A Phabricator diff as the static-analysis bot takes it: an id (`42`) or a PHID
/// (`PHID-DIFF-…`).
fn is_diff_reference(text: &str) -> bool {
    let digits =
        |text: &str, longest: usize| (1..=longest).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    match text.strip_prefix("PHID-DIFF-") {
        Some(name) => (1..=64).contains(&name.len()) && name.bytes().all(|byte| byte.is_ascii_alphanumeric()),
        None => digits(text, 18) && text.bytes().any(|byte| byte != b'0'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routing_keys_match_topic_patterns_as_the_broker_does() {
        for (pattern, key, expected) in [
            ("#", "primary.A.0.gecko-level-3", true),
            ("#", "", true),
            ("mozilla-central", "mozilla-central", true),
            ("mozilla-central", "integration.autoland", false),
            ("*.*.gecko-level-3", "primary.A.gecko-level-3", true),
            ("*.*.gecko-level-3", "primary.gecko-level-3", false),
            ("route.project.#", "route.project.relman.codereview.v1.try_ending", true),
            ("route.project.#", "route.project", true),
            ("route.#.try_ending", "route.project.relman.try_ending", true),
            ("route.#.try_ending", "route.project.relman.try_started", false),
            ("*", "two.words", false),
        ] {
            assert_eq!(topic_matches(pattern, key), expected, "{pattern} against {key}");
        }
    }

    fn fixture(name: &str) -> TaskGroupPage {
        let path = format!("{}/../../fixtures/pulse-listener/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn central() -> Vec<String> {
        vec!["https://hg.mozilla.org/mozilla-central".to_owned()]
    }

    fn prefixes() -> Vec<String> {
        vec!["build-linux64-ccov".to_owned(), "build-win64-ccov".to_owned()]
    }

    #[test]
    fn recorded_task_groups_give_the_original_verdicts() {
        assert_eq!(
            scan_page(&fixture("RS0UwZahQ_qAcdZzEb_Y9g"), &central(), &prefixes()),
            PageVerdict::Found {
                repository: "https://hg.mozilla.org/mozilla-central".to_owned(),
                revision: "ec3dd3ee2ae4b3a63529a912816a110e925eb2d0".to_owned()
            }
        );
        assert_eq!(
            scan_page(&fixture("MibGDsa4Q7uFNzDf7EV6nw"), &central(), &prefixes()),
            PageVerdict::Found {
                repository: "https://hg.mozilla.org/mozilla-central".to_owned(),
                revision: "63519bfd42ee379f597c0357af2e712ec3cd9f50".to_owned()
            }
        );
        assert_eq!(scan_page(&fixture("bNq-VIT-Q12o6nXcaUmYNQ"), &central(), &prefixes()), PageVerdict::NotHere);
    }

    #[test]
    fn hg_pushes_are_read_with_or_without_the_pulse_envelope() {
        let data = json!({
            "repo_url": "https://hg.mozilla.org/mozilla-central",
            "heads": ["a".repeat(40)],
            "pushlog_pushes": [{"pushid": 7, "time": 1, "user": "u", "push_json_url": "x",
                                "push_full_json_url": "https://hg.mozilla.org/mozilla-central/json-pushes?version=2&full=1&startID=6&endID=7"}],
            "source": "serve",
        });
        let wrapped = json!({"payload": {"type": "changegroup.1", "data": data}, "_meta": {}});
        let candidate = parse_push(wrapped.to_string().as_bytes(), &central()).unwrap().unwrap();
        assert_eq!(candidate.key, "mozilla-central:7");
        let bare = json!({"type": "changegroup.1", "data": data});
        assert_eq!(parse_push(bare.to_string().as_bytes(), &central()).unwrap(), Some(candidate));

        let other_type = json!({"payload": {"type": "obsolete.1", "data": {}}});
        assert_eq!(parse_push(other_type.to_string().as_bytes(), &central()).unwrap(), None);
        let other_repo = json!({"type": "changegroup.1", "data": {"repo_url": "https://hg.mozilla.org/try", "heads": ["b".repeat(40)], "pushlog_pushes": [{"pushid": 1, "push_full_json_url": "x"}]}});
        assert_eq!(parse_push(other_repo.to_string().as_bytes(), &central()).unwrap(), None);
        assert!(matches!(parse_push(b"{\"type\": \"changegroup.1\"}", &central()), Err(ListenerError::Malformed(_))));
        assert!(matches!(parse_push(b"not json", &central()), Err(ListenerError::Malformed(_))));
    }

    #[test]
    fn extensions_match_the_last_dot_of_the_file_name() {
        let extensions = vec!["cpp".to_owned(), "h".to_owned()];
        assert!(has_extension("dom/base/Element.cpp", &extensions));
        assert!(has_extension("a.b/c.h", &extensions));
        assert!(!has_extension("dom/base/Element.js", &extensions));
        assert!(!has_extension("dir.cpp/README", &extensions));
        assert!(!has_extension(".h", &extensions));
        let pushlog: FullPushlog = serde_json::from_value(json!({"lastpushid": 2, "pushes": {"2": {"changesets": [
            {"node": "x", "files": ["a.js", "b/c.cpp"]}, {"node": "y", "files": ["a.js"]}]}}}))
        .unwrap();
        assert_eq!(pushlog_files(&pushlog).into_iter().collect::<Vec<_>>(), ["a.js", "b/c.cpp"]);
    }

    #[test]
    fn only_the_routed_copy_of_task_completed_counts() {
        let completed = |diff: &str| {
            json!({
                "version": 1, "runId": 0, "workerGroup": "g", "workerId": "w",
                "status": {"taskId": "Tk9tY29tcGxldGVkMDAwMA", "taskGroupId": "R3JvdXAwMDAwMDAwMDAwMA", "state": "completed"},
                "task": {"tags": {"phabricator-diff": diff, "revision": "c".repeat(40)}},
            })
            .to_string()
        };
        let body = completed("PHID-DIFF-abc");
        let route = "project.relman.codereview.v1.try_ending";
        let routed = format!("route.{route}");
        let candidate = parse_task_completed(body.as_bytes(), &routed, route, "phabricator-diff").unwrap().unwrap();
        assert_eq!(candidate.key, "Tk9tY29tcGxldGVkMDAwMA:0");
        let Subject::Ready { parameters } = candidate.subject else { panic!("not ready") };
        assert_eq!(Value::Object(parameters), json!({"PHABRICATOR_DIFF": "PHID-DIFF-abc"}));
        let primary = "primary.Tk9tY29tcGxldGVkMDAwMA.0.g.w.p.t.s.R3JvdXAwMDAwMDAwMDAwMA._";
        assert_eq!(parse_task_completed(body.as_bytes(), primary, route, "phabricator-diff").unwrap(), None);
        assert_eq!(parse_task_completed(body.as_bytes(), &routed, route, "other-tag").unwrap(), None, "no diff");
        assert!(parse_task_completed(b"{}", &routed, route, "phabricator-diff").is_err());
        for bad in ["D42", "PHID-DREV-abc", "0", "PHID-DIFF-a/b"] {
            let body = completed(bad);
            assert!(parse_task_completed(body.as_bytes(), &routed, route, "phabricator-diff").is_err(), "{bad}");
        }
        let by_id = completed("42");
        assert!(parse_task_completed(by_id.as_bytes(), &routed, route, "phabricator-diff").unwrap().is_some());
    }
}
