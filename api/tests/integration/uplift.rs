//! Uplift routes: channels, bug analyses stored idempotently by hash, grafts kept across
//! analyses, contributors refreshed by each analysis and edited by release managers.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_client::ApiClient;
use shipit_shared::api_types::uplift::{
    BugSummary, BugUpsert, BugUser, ChannelUpdate, ContributorUpdate, GraftCommit, GraftStatus, NewGraft,
};
use shipit_shared::http::{RetryPolicy, UpstreamClient};

use crate::problem;

const MANAGE: &str = "project:shipit:uplift/manage";
const ADMIN: &str = "project:shipit:admin";

fn client(app: &TestApp, token: Option<String>) -> ApiClient {
    let http = UpstreamClient::new(Duration::from_secs(5), RetryPolicy::default()).unwrap();
    ApiClient::new(format!("{}/", app.base_url).parse().unwrap(), token.map(SecretString::from), http)
}

fn hash(digit: char) -> String {
    digit.to_string().repeat(64)
}

fn user(bugzilla_id: i64, email: &str, name: &str, roles: &[&str]) -> BugUser {
    BugUser {
        bugzilla_id,
        email: email.into(),
        name: name.into(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
    }
}

fn bug(bugzilla_id: i64, channels: &[&str]) -> BugUpsert {
    BugUpsert {
        bugzilla_id,
        summary: format!("Crash in bug {bugzilla_id}"),
        product: "Core".into(),
        component: "DOM".into(),
        status: "RESOLVED".into(),
        channels: channels.iter().map(|channel| (*channel).to_owned()).collect(),
        analysis: json!({"uplift_comment": {"id": 1, "text": "Please uplift"}, "patches": {}}),
        analysis_hash: hash('a'),
        users: vec![
            user(10, "Dev@Example.com ", "Dev", &["assignee", "author"]),
            user(11, "rev@example.com", "Rev", &["reviewer"]),
        ],
    }
}

fn commit(digit: char, status: GraftStatus) -> GraftCommit {
    let success = status.is_success();
    GraftCommit {
        commit: digit.to_string().repeat(40),
        status,
        tree: success.then(|| "e".repeat(40)),
        conflicts: if status == GraftStatus::Failed { vec!["dom/base/a.cpp".into()] } else { vec![] },
    }
}

fn graft(channel: &str, commits: Vec<GraftCommit>) -> NewGraft {
    NewGraft { channel: channel.into(), branch: channel.into(), branch_tip: "f".repeat(40), commits }
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn an_analysis_is_stored_once_per_hash_and_read_back() {
    let app = TestApp::spawn().await;
    let bot = client(&app, Some(app.token(&[MANAGE]).await));
    let reader = client(&app, None);

    let stored = bot.upsert_uplift_bug(&bug(1001, &["release", "beta", "beta"])).await.unwrap();
    assert!(stored.changed);
    let first = reader.uplift_bug(1001).await.unwrap();
    assert_eq!(first.channels, ["beta", "release"], "sorted, without repeats");
    assert_eq!(first.analysis["uplift_comment"]["text"], "Please uplift");
    assert_eq!(first.analysis_hash, hash('a'));
    let people: Vec<(i64, Vec<String>)> =
        first.contributors.iter().map(|contributor| (contributor.bugzilla_id, contributor.roles.clone())).collect();
    assert_eq!(people, [(10, vec!["assignee".into(), "author".into()]), (11, vec!["reviewer".into()])]);
    let dev = &first.contributors[0];
    // md5("dev@example.com"): the email is trimmed and lower-cased first.
    assert_eq!(dev.avatar_url, "https://www.gravatar.com/avatar/be9d18f611892a738e54f2a3a171e2f9");
    assert_eq!((dev.karma, dev.comment_public.as_str(), dev.comment_private.as_deref()), (0, "", None));

    let again = bot.upsert_uplift_bug(&bug(1001, &["beta", "release"])).await.unwrap();
    assert!(!again.changed, "the same hash and fields write nothing");
    assert_eq!(reader.uplift_bug(1001).await.unwrap().updated_at, first.updated_at);

    let mut reanalysed = bug(1001, &["beta", "release"]);
    reanalysed.analysis = json!({"uplift_comment": {"id": 2, "text": "Risk is low"}});
    reanalysed.analysis_hash = hash('b');
    assert!(bot.upsert_uplift_bug(&reanalysed).await.unwrap().changed);
    let second = reader.uplift_bug(1001).await.unwrap();
    assert_eq!(second.analysis, reanalysed.analysis);
    assert_eq!(second.analysis_hash, hash('b'));
    assert!(second.updated_at > first.updated_at);

    let mut resolved = reanalysed.clone();
    resolved.status = "VERIFIED".into();
    assert!(bot.upsert_uplift_bug(&resolved).await.unwrap().changed, "a changed field with the same hash is stored");
    assert_eq!(reader.uplift_bug(1001).await.unwrap().status, "VERIFIED");

    let all = reader.uplift_bugs().await.unwrap();
    assert_eq!(
        all.iter().map(|bug| (bug.bugzilla_id, bug.analysis_hash.as_str())).collect::<Vec<_>>(),
        [(1001, hash('b').as_str())]
    );
}

#[tokio::test]
async fn grafts_are_kept_across_analyses_and_the_latest_per_channel_is_shown() {
    let app = TestApp::spawn().await;
    let bot = client(&app, Some(app.token(&[MANAGE]).await));
    bot.upsert_uplift_bug(&bug(2002, &["beta", "release"])).await.unwrap();

    let failed = bot
        .post_uplift_graft(
            2002,
            &graft("beta", vec![commit('1', GraftStatus::Failed), commit('2', GraftStatus::Skipped)]),
        )
        .await
        .unwrap();
    assert!(!failed.success);
    let merged = bot
        .post_uplift_graft(
            2002,
            &graft("beta", vec![commit('1', GraftStatus::Merged), commit('2', GraftStatus::AlreadyApplied)]),
        )
        .await
        .unwrap();
    assert!(merged.success);
    let release = bot.post_uplift_graft(2002, &graft("release", vec![commit('1', GraftStatus::Merged)])).await.unwrap();

    let mut reanalysed = bug(2002, &["beta", "release"]);
    reanalysed.analysis_hash = hash('c');
    assert!(bot.upsert_uplift_bug(&reanalysed).await.unwrap().changed);

    let history = bot.uplift_grafts(2002).await.unwrap();
    assert_eq!(history.iter().map(|graft| graft.id).collect::<Vec<_>>(), [release.id, merged.id, failed.id]);
    assert_eq!(history[2].commits, failed.commits, "the commits are stored as sent");
    let detail = bot.uplift_bug(2002).await.unwrap();
    assert_eq!(detail.grafts, [merged.clone(), release.clone()], "the latest per channel, by channel");
    let summary = &bot.uplift_bugs().await.unwrap()[0];
    let latest: Vec<(&str, bool)> =
        summary.grafts.iter().map(|graft| (graft.channel.as_str(), graft.success)).collect();
    assert_eq!(latest, [("beta", true), ("release", true)]);
}

#[tokio::test]
async fn removing_a_bug_removes_its_grafts_and_keeps_its_contributors() {
    let app = TestApp::spawn().await;
    let token = app.token(&[MANAGE]).await;
    let bot = client(&app, Some(token.clone()));
    bot.upsert_uplift_bug(&bug(3003, &["beta"])).await.unwrap();
    bot.post_uplift_graft(3003, &graft("beta", vec![commit('1', GraftStatus::Merged)])).await.unwrap();

    let response = send(&app, reqwest::Method::DELETE, "/uplift/bugs/3003", Some(&token), &json!(null)).await;
    assert_eq!(response.status(), 204);
    problem(app.client.get(app.url("/uplift/bugs/3003")).send().await.unwrap(), 404).await;
    problem(app.client.get(app.url("/uplift/bugs/3003/grafts")).send().await.unwrap(), 404).await;
    problem(send(&app, reqwest::Method::DELETE, "/uplift/bugs/3003", Some(&token), &json!(null)).await, 404).await;
    assert!(!bot.delete_uplift_bug(3003).await.unwrap());
    let grafts: i64 =
        app.state.pool.get().await.unwrap().query_one("SELECT count(*) FROM uplift_grafts", &[]).await.unwrap().get(0);
    assert_eq!(grafts, 0);
    assert_eq!(bot.uplift_contributor(10).await.unwrap().name, "Dev");

    // Stored again, the bug starts with no graft.
    bot.upsert_uplift_bug(&bug(3003, &["beta"])).await.unwrap();
    assert!(bot.uplift_bug(3003).await.unwrap().grafts.is_empty());
}

#[tokio::test]
async fn channels_count_their_pending_bugs() {
    let app = TestApp::spawn().await;
    let bot = client(&app, Some(app.token(&[MANAGE]).await));
    let beta =
        bot.put_uplift_channel("beta", &ChannelUpdate { version: Some(147), branch: "beta".into() }).await.unwrap();
    assert_eq!((beta.version, beta.bug_count), (Some(147), 0));
    bot.upsert_uplift_bug(&bug(5, &["beta", "esr140"])).await.unwrap();
    bot.upsert_uplift_bug(&bug(4, &["beta"])).await.unwrap();
    let updated =
        bot.put_uplift_channel("beta", &ChannelUpdate { version: Some(148), branch: "beta".into() }).await.unwrap();
    assert_eq!((updated.version, updated.bug_count), (Some(148), 2));

    let channels = bot.uplift_channels().await.unwrap();
    let listed: Vec<(&str, Option<i32>, &str, i64)> = channels
        .iter()
        .map(|channel| (channel.name.as_str(), channel.version, channel.branch.as_str(), channel.bug_count))
        .collect();
    assert_eq!(
        listed,
        [("beta", Some(148), "beta", 2), ("esr140", None, "esr140", 1)],
        "esr140 was declared by the bug"
    );

    for (channel, expected) in [("beta", vec![4, 5]), ("esr140", vec![5])] {
        let bugs: Vec<BugSummary> = app.get_json(&format!("/uplift/channels/{channel}/bugs")).await;
        assert_eq!(bugs.iter().map(|bug| bug.bugzilla_id).collect::<Vec<_>>(), expected, "{channel}");
    }
    problem(app.client.get(app.url("/uplift/channels/nightly/bugs")).send().await.unwrap(), 404).await;
}

#[tokio::test]
async fn each_analysis_replaces_roles_and_refreshes_contributors() {
    let app = TestApp::spawn().await;
    let bot = client(&app, Some(app.token(&[MANAGE]).await));
    let admin = client(&app, Some(app.token(&[ADMIN]).await));
    bot.upsert_uplift_bug(&bug(6006, &["beta"])).await.unwrap();
    let update = ContributorUpdate { karma: Some(3), comment_public: Some("Careful".into()), comment_private: None };
    admin.put_uplift_contributor(10, &update).await.unwrap();

    let mut reanalysed = bug(6006, &["beta"]);
    reanalysed.analysis_hash = hash('d');
    reanalysed.users = vec![user(10, "new@example.com", "Dev Renamed", &["assignee"])];
    bot.upsert_uplift_bug(&reanalysed).await.unwrap();

    let detail = bot.uplift_bug(6006).await.unwrap();
    assert_eq!(detail.contributors.len(), 1, "the reviewer lost their role");
    let dev = &detail.contributors[0];
    assert_eq!((dev.email.as_str(), dev.name.as_str()), ("new@example.com", "Dev Renamed"));
    assert_eq!(dev.roles, ["assignee"], "the stale `author` role is gone");
    assert_eq!(dev.avatar_url, "https://www.gravatar.com/avatar/b681d72feaf8bf6a93d9a8ab86679ec3");
    assert_eq!((dev.karma, dev.comment_public.as_str()), (3, "Careful"), "an analysis never touches karma or comments");
    assert_eq!(bot.uplift_contributor(11).await.unwrap().name, "Rev", "a contributor outlives their roles");
}

#[tokio::test]
async fn private_comments_are_for_admins_only() {
    let app = TestApp::spawn().await;
    let bot = client(&app, Some(app.token(&[MANAGE]).await));
    let admin = client(&app, Some(app.token(&[ADMIN]).await));
    bot.upsert_uplift_bug(&bug(7007, &["beta"])).await.unwrap();

    let update =
        ContributorUpdate { comment_private: Some("Ask before trusting".into()), ..ContributorUpdate::default() };
    let updated = admin.put_uplift_contributor(11, &update).await.unwrap();
    assert_eq!(updated.comment_private.as_deref(), Some("Ask before trusting"));
    let partial = ContributorUpdate { karma: Some(-2), ..ContributorUpdate::default() };
    let updated = admin.put_uplift_contributor(11, &partial).await.unwrap();
    assert_eq!((updated.karma, updated.comment_private.as_deref()), (-2, Some("Ask before trusting")));

    assert_eq!(admin.uplift_contributor(11).await.unwrap().comment_private.as_deref(), Some("Ask before trusting"));
    let in_bug = admin.uplift_bug(7007).await.unwrap();
    assert_eq!(in_bug.contributors[1].comment_private.as_deref(), Some("Ask before trusting"));
    for reader in [client(&app, None), bot] {
        assert_eq!(reader.uplift_contributor(11).await.unwrap().comment_private, None);
        assert!(reader.uplift_bug(7007).await.unwrap().contributors.iter().all(|c| c.comment_private.is_none()));
    }
    let raw: Value = app.get_json("/uplift/contributors/11").await;
    assert!(raw.get("comment_private").is_none(), "{raw}");
}

#[tokio::test]
async fn writes_need_their_scope() {
    let app = TestApp::spawn().await;
    let manage = app.token(&[MANAGE]).await;
    let other = app.token(&["project:shipit:static-analysis/manage", ADMIN]).await;
    client(&app, Some(manage.clone())).upsert_uplift_bug(&bug(8008, &["beta"])).await.unwrap();
    let writes = [
        (reqwest::Method::PUT, "/uplift/channels/beta", json!({"branch": "beta"})),
        (reqwest::Method::POST, "/uplift/bugs", serde_json::to_value(bug(8009, &["beta"])).unwrap()),
        (reqwest::Method::DELETE, "/uplift/bugs/8008", json!(null)),
        (
            reqwest::Method::POST,
            "/uplift/bugs/8008/grafts",
            serde_json::to_value(graft("beta", vec![commit('1', GraftStatus::Merged)])).unwrap(),
        ),
    ];
    for (method, path, body) in &writes {
        problem(send(&app, method.clone(), path, None, body).await, 401).await;
        let refused = problem(send(&app, method.clone(), path, Some(&other), body).await, 403).await;
        assert!(refused.detail.contains(MANAGE), "{method} {path}: {}", refused.detail);
    }

    let karma = json!({"karma": 1});
    problem(send(&app, reqwest::Method::PUT, "/uplift/contributors/10", None, &karma).await, 401).await;
    let refused =
        problem(send(&app, reqwest::Method::PUT, "/uplift/contributors/10", Some(&manage), &karma).await, 403).await;
    assert!(refused.detail.contains(ADMIN), "{}", refused.detail);
    assert_eq!(send(&app, reqwest::Method::PUT, "/uplift/contributors/10", Some(&other), &karma).await.status(), 200);

    let private = TestApp::builder().configure(|config| config.public_reads = false).spawn().await;
    problem(private.client.get(private.url("/uplift/bugs")).send().await.unwrap(), 401).await;
    let reader = private.token(&["project:shipit:read"]).await;
    let response = private.client.get(private.url("/uplift/channels")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token(&[MANAGE, ADMIN]).await;
    let post_bug = async |change: fn(&mut Value)| {
        let mut body = serde_json::to_value(bug(9009, &["beta"])).unwrap();
        change(&mut body);
        let response = send(&app, reqwest::Method::POST, "/uplift/bugs", Some(&token), &body).await;
        problem(response, 400).await.field
    };
    assert_eq!(post_bug(|body| body["analysis_hash"] = json!("abc")).await.as_deref(), Some("analysis_hash"));
    assert_eq!(post_bug(|body| body["analysis_hash"] = json!("A".repeat(64))).await.as_deref(), Some("analysis_hash"));
    assert_eq!(post_bug(|body| body["channels"] = json!(["beta", "Beta 2"])).await.as_deref(), Some("channels[1]"));
    assert_eq!(post_bug(|body| body["bugzilla_id"] = json!(0)).await.as_deref(), Some("bugzilla_id"));
    assert_eq!(post_bug(|body| body["analysis"] = json!([1])).await.as_deref(), Some("analysis"));
    assert_eq!(
        post_bug(|body| body["users"][1]["bugzilla_id"] = json!(10)).await.as_deref(),
        Some("users[1].bugzilla_id")
    );
    assert_eq!(post_bug(|body| body["product"] = json!("")).await.as_deref(), Some("product"));
    assert_eq!(post_bug(|body| body["summary"] = json!(42)).await.as_deref(), Some("summary"));
    let channel =
        send(&app, reqwest::Method::PUT, "/uplift/channels/Beta", Some(&token), &json!({"branch": "beta"})).await;
    assert_eq!(problem(channel, 400).await.field.as_deref(), Some("channel"));
    let unsupported = app.client.post(app.url("/uplift/bugs")).bearer_auth(&token).body("{}").send().await.unwrap();
    problem(unsupported, 415).await;

    client(&app, Some(token.clone())).upsert_uplift_bug(&bug(9009, &["beta"])).await.unwrap();
    let post_graft = async |body: Value| {
        let response = send(&app, reqwest::Method::POST, "/uplift/bugs/9009/grafts", Some(&token), &body).await;
        problem(response, 400).await.field
    };
    let valid = serde_json::to_value(graft("beta", vec![commit('1', GraftStatus::Merged)])).unwrap();
    let with = |change: fn(&mut Value)| {
        let mut body = valid.clone();
        change(&mut body);
        body
    };
    assert_eq!(post_graft(with(|body| body["commits"] = json!([]))).await.as_deref(), Some("commits"));
    let no_tree = with(|body| body["commits"][0]["tree"] = Value::Null);
    assert_eq!(post_graft(no_tree).await.as_deref(), Some("commits[0].status"));
    let skipped_first = with(|body| body["commits"] = json!([{"commit": "1".repeat(40), "status": "skipped"}]));
    assert_eq!(post_graft(skipped_first).await.as_deref(), Some("commits[0].status"));
    let failed_without_conflicts =
        with(|body| body["commits"] = json!([{"commit": "1".repeat(40), "status": "failed"}]));
    assert_eq!(post_graft(failed_without_conflicts).await.as_deref(), Some("commits[0].status"));
    assert_eq!(post_graft(with(|body| body["branch_tip"] = json!("tip"))).await.as_deref(), Some("branch_tip"));
    assert_eq!(post_graft(with(|body| body["channel"] = json!("nightly"))).await.as_deref(), Some("channel"));
    let response = send(&app, reqwest::Method::POST, "/uplift/bugs/9009/grafts", Some(&token), &valid).await;
    assert_eq!(response.status(), 201);

    let put_contributor = async |body: Value| {
        let response = send(&app, reqwest::Method::PUT, "/uplift/contributors/10", Some(&token), &body).await;
        problem(response, 400).await.field
    };
    assert_eq!(put_contributor(json!({"comment_public": "x".repeat(10_001)})).await.as_deref(), Some("comment_public"));
    assert_eq!(put_contributor(json!({"karma": 1_000_000})).await.as_deref(), Some("karma"));
    put_contributor(json!({"roles": ["admin"]})).await;
}

#[tokio::test]
async fn an_analysis_over_the_body_limit_is_413() {
    let app = TestApp::builder().configure(|config| config.body_limit_bytes = 4096).spawn().await;
    let token = app.token(&[MANAGE]).await;
    let mut big = bug(9010, &["beta"]);
    big.analysis = json!({"uplift_comment": {"text": "x".repeat(8192)}});
    let body = serde_json::to_value(big).unwrap();
    problem(send(&app, reqwest::Method::POST, "/uplift/bugs", Some(&token), &body).await, 413).await;
}

#[tokio::test]
async fn unknown_bugs_and_contributors_are_404() {
    let app = TestApp::spawn().await;
    let token = app.token(&[MANAGE, ADMIN]).await;
    client(&app, Some(token.clone()))
        .put_uplift_channel("beta", &ChannelUpdate { version: None, branch: "beta".into() })
        .await
        .unwrap();
    for path in ["/uplift/bugs/404", "/uplift/bugs/404/grafts", "/uplift/contributors/404"] {
        problem(app.client.get(app.url(path)).send().await.unwrap(), 404).await;
    }
    let graft = serde_json::to_value(graft("beta", vec![commit('1', GraftStatus::Merged)])).unwrap();
    problem(send(&app, reqwest::Method::POST, "/uplift/bugs/404/grafts", Some(&token), &graft).await, 404).await;
    problem(
        send(&app, reqwest::Method::PUT, "/uplift/contributors/404", Some(&token), &json!({"karma": 1})).await,
        404,
    )
    .await;
}
