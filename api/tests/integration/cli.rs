//! The `shipit-api` binary as a new user runs it: no DATABASE_URL, so it creates, starts and
//! finally stops its own PostgreSQL cluster in the working directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use shipit_api::embedded_pg::EmbeddedPg;

fn shipit_api(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipit-api"));
    command.current_dir(dir).env_remove("DATABASE_URL").env_remove("SHIPIT_CONFIG").env("SHIPIT_LOG_FORMAT", "json");
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Starts `serve` on a free port and returns the child and the API's base URL, read from the
/// lines it prints.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = shipit_api(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base_url = served_url(&mut child);
    (child, base_url)
}

/// The URL a `shipit-api serve` started with a piped stdout prints (`API  http://…`), without its
/// trailing slash; its output is read on until it ends, so that it never writes to a closed pipe.
pub(crate) fn served_url(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let base_url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.trim().strip_prefix("API").map(|url| url.trim().trim_end_matches('/').to_owned()))
        .expect("serve printed no API URL");
    std::thread::spawn(move || lines.for_each(drop));
    base_url
}

#[tokio::test]
async fn a_new_user_gets_a_private_database_tokens_and_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();

    // A one-shot command creates the cluster, migrates, prints only the token, and stops the
    // cluster it started.
    let output = run(shipit_api(dir.path()).args([
        "token",
        "create",
        "--name",
        "ci",
        "--scope",
        "project:shipit:runs/*",
        "--expires",
        "30d",
    ]));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("shipit_") && !token.contains('\n'), "{token:?}");
    let cluster = EmbeddedPg::new(&dir.path().join(".shipit/pg")).unwrap();
    assert!(cluster.data_dir().join("PG_VERSION").exists());
    assert!(!cluster.is_running(), "a one-shot command left the cluster running");

    let (mut server, base_url) = serve(dir.path());
    let client = reqwest::Client::new();
    let heartbeat = client.get(format!("{base_url}/__heartbeat__")).send().await.unwrap();
    assert_eq!(heartbeat.status(), 200);
    let created = client
        .post(format!("{base_url}/runs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"bot": "coverage", "trigger": "manual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // While the server runs, other commands share its cluster and leave it running.
    let listing = String::from_utf8(run(shipit_api(dir.path()).args(["token", "list"])).stdout).unwrap();
    assert!(listing.contains("ci") && listing.contains("active") && !listing.contains(&token), "{listing}");
    run(shipit_api(dir.path()).args(["token", "revoke", "1"]));
    assert!(cluster.is_running());
    let refused = client.get(format!("{base_url}/runs")).send().await.unwrap();
    assert_eq!(refused.status(), 200, "reads stay public");
    let refused = client
        .post(format!("{base_url}/runs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"bot": "coverage", "trigger": "manual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // SIGTERM stops the server, and the server stops the cluster it owns.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_with_timeout(&mut server, Duration::from_secs(30));
    assert!(status.success(), "serve exited with {status}");
    assert!(!cluster.is_running(), "the server left its cluster running");

    // The data survives a restart.
    let (mut server, base_url) = serve(dir.path());
    let page: serde_json::Value = client.get(format!("{base_url}/runs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["runs"].as_array().unwrap().len(), 1);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    wait_with_timeout(&mut server, Duration::from_secs(30));
}

#[test]
fn a_bad_database_url_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = shipit_api(dir.path()).args(["migrate", "--database-url", "not a url"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL is not a valid PostgreSQL URL"));
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the server did not stop within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
