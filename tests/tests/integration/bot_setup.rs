//! What the tests that start the real bot binaries share: a rerun's parameters for each bot
//! with a hook, the settings pointing each bot's upstreams at a mock, and a bot installed with them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use shipit_api::testing::TestApp;
use shipit_shared::api_types::Run;
use shipit_system_tests::binary;

/// The parameters of a rerun of each bot that has a hook.
pub(crate) fn reruns() -> Vec<(&'static str, Value)> {
    vec![
        ("coverage", json!({"REPOSITORY": "mozilla-central", "REVISION": "b2a9a4bb5c94de179ae7a3f52fde58c0e2897498"})),
        ("uplift", json!({"BUG_ID": "1139560"})),
        ("static-analysis", json!({"PHABRICATOR_DIFF": "42"})),
        (
            "risk",
            json!({"REPOSITORY": "https://hg.mozilla.org/mozilla-central", "REVISIONS": "b2a9a4bb5c94de179ae7a3f52fde58c0e2897498"}),
        ),
    ]
}

/// The bot's own settings, in the configuration file's shape, with every upstream at
/// `upstream` (what the configuration file or the Taskcluster secret gives in production).
pub(crate) fn upstream_settings(bot: &str, upstream: &str) -> Value {
    match bot {
        "coverage" => json!({"hgmo_url": format!("{upstream}/"), "taskcluster": {"root_url": format!("{upstream}/")}}),
        "uplift" => json!({"channels": [{"name": "beta", "branch": "beta"}], "bugzilla": {"url": upstream}}),
        "static-analysis" => json!({"phabricator": {"url": format!("{upstream}/api/"), "api_token": "api-secret"}}),
        // The repository is cloned from the upstream (which answers 404) into a cache of its own.
        "risk" => json!({
            "cache_dir": std::env::temp_dir().join(format!("shipit-risk-test-cache-{}", std::process::id())),
            "repositories": [{"name": "https://hg.mozilla.org/mozilla-central", "url": format!("{upstream}/firefox.git")}],
        }),
        other => panic!("no settings for {other}"),
    }
}

/// The path of the upstream request each bot makes first, to show it got that far.
pub(crate) fn first_upstream_path(bot: &str) -> &'static str {
    match bot {
        "coverage" => "/mozilla-central/json-pushes",
        "uplift" => "/rest/bug",
        "static-analysis" => "/api/differential.diff.search",
        "risk" => "/firefox.git",
        other => panic!("no upstream for {other}"),
    }
}

/// Whether a run's error summary says the bot could not read its configuration.
pub(crate) fn is_configuration_error(summary: &str) -> bool {
    ["configuration", "is not set", "unknown field", "is required", "missing field"]
        .iter()
        .any(|words| summary.contains(words))
}

/// The run once its bot closed it.
pub(crate) async fn closed_run(app: &TestApp, id: i64) -> Run {
    for _ in 0..300 {
        let run: Run = app.client.get(app.url(&format!("/runs/{id}"))).send().await.unwrap().json().await.unwrap();
        if run.status.as_str() != "running" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {id} was never closed");
}

/// `<bot>-bot` in `bin_dir`: the real binary, with a configuration file pointing every upstream
/// at `upstream`.
pub(crate) fn install_bot(bin_dir: &Path, bot: &str, upstream: &str) {
    let mut settings = upstream_settings(bot, upstream);
    settings["upstream"] = json!({"timeout_secs": 5});
    if bot == "uplift" {
        settings["repository"] = json!({"path": bin_dir.join("repository")});
    }
    let config = bin_dir.join(format!("{bot}.json"));
    std::fs::write(&config, settings.to_string()).unwrap();
    let wrapper = bin_dir.join(format!("{bot}-bot"));
    let real = binary(&format!("{bot}-bot"));
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexport SHIPIT_CONFIG='{}'\nexec '{}' \"$@\"\n", config.display(), real.display()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
}
