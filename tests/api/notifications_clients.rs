//! The `/notifications` namespace and the HTTP push API with real clients
//! against an in-process server started with a JWT secret and an API key:
//!
//! - the interop check programs `tests/interop/js/notifications.check.mjs`
//!   (socket.io-client, tokens from npm's `jsonwebtoken`) over websocket,
//!   polling and upgrade, and `tests/interop/python/notifications_check.py`
//!   (python-socketio, tokens from PyPI's `PyJWT`) over websocket and polling;
//!   each prints `interop: <program> <transport>: N checks ok, F failed` last,
//!   asserted and recorded like the echo clients' ([`record_summary`]);
//! - resuming a listener: `clients/python/push.py` pushes through the HTTP API,
//!   `clients/js/notify.mjs` / `clients/python/notify.py` print what they
//!   receive and keep the last id in a state file; a second run after pushes
//!   made while the listener was down prints exactly those, in order.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use switchboard::{ServeConfig, notifications::sign_token, protocol::UserId};

use crate::helpers::*;

over_transports!(
    js_notifications = notifications(Js): [websocket, polling, upgrade],
    python_notifications = notifications(Python): [websocket, polling],
);

const CLIENT_SECRET: &str = "interop-secret-0123456789";
const CLIENT_API_KEY: &str = "interop-key-0123456789";

/// Default settings plus the secret and key the clients are given.
fn clients_config() -> ServeConfig {
    let mut config = test_config();
    config.jwt_secret = Some(CLIENT_SECRET.into());
    config.api_keys = vec![CLIENT_API_KEY.into()];
    config
}

/// The notification check program of `program` over `transport`.
async fn notifications(program: CheckProgram, transport: &str) {
    let app = spawn_app(clients_config()).await;
    run_notification_checks(
        program,
        &app.http_url(""),
        (CLIENT_SECRET, CLIENT_API_KEY),
        transport,
        &format!("{}-notifications-{transport}", program.name()),
    )
    .await;
    app.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// Resuming a listener with push.py and notify.mjs / notify.py

/// What a push sent, as a listener must print it.
struct Pushed {
    id: String,
    kind: String,
    data: Value,
}

/// `push.py` pushes one notification to `user`; returns it.
async fn push(python: &Path, url: &str, user: &str, n: usize) -> Pushed {
    let kind = format!("resume.{n}");
    let data = json!({ "n": n, "text": format!("notification {n} ✓") });
    let data_arg = data.to_string();
    // The key from the environment (every other run), or from the command line.
    let mut args: Vec<&str> = vec![
        "clients/python/push.py",
        "--url",
        url,
        "--user",
        user,
        "--kind",
        &kind,
        "--data",
        &data_arg,
    ];
    let mut envs = vec![];
    if n.is_multiple_of(2) {
        envs.push(("SWITCHBOARD_API_KEY", CLIENT_API_KEY.to_owned()));
    } else {
        args.extend(["--api-key", CLIENT_API_KEY]);
    }
    let stdout = run_client(&python.to_path_buf(), &args, &envs).await;
    let body: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("push.py printed no JSON ({e}): {stdout}"));
    let entries = body["notifications"].as_array().expect("notifications");
    assert_eq!(entries.len(), 1, "one notification pushed: {body}");
    assert_eq!(entries[0]["user"], json!(user), "{body}");
    Pushed {
        id: entries[0]["id"].as_str().expect("an id").to_owned(),
        kind,
        data,
    }
}

/// The listener's stdout is exactly `want`, one notification per line, in
/// order; returns how many assertions that took.
fn assert_printed(stdout: &str, user: &str, want: &[Pushed], label: &str) -> u32 {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        want.len(),
        "{label}: {} lines expected, got:\n{stdout}",
        want.len()
    );
    let mut checks = 1;
    for (line, want) in lines.iter().zip(want) {
        let got: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{label}: not a JSON line ({e}): {line}"));
        let ts = got["ts"]
            .as_i64()
            .unwrap_or_else(|| panic!("{label}: no ts: {line}"));
        assert_eq!(
            got,
            json!({
                "id": want.id,
                "user": user,
                "kind": want.kind,
                "data": want.data,
                "ts": ts,
                "read": false,
            }),
            "{label}: the printed notification"
        );
        checks += 1;
    }
    checks
}

fn assert_state(state: &Path, last: &str, label: &str) {
    let text = std::fs::read_to_string(state)
        .unwrap_or_else(|e| panic!("{label}: no state file {}: {e}", state.display()));
    let got: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{label}: the state file is not JSON ({e}): {text}"));
    assert_eq!(got, json!({ "last_id": last }), "{label}: the state file");
}

/// Two pushes, a first run printing them, three pushes while the listener is
/// down, a second run printing exactly those three.
async fn listener_resumes(listener: &str) {
    if listener == "js" && !node_client_ready() {
        return;
    }
    let Some(python) = python() else { return };
    let (program, script, transport, label): (PathBuf, &str, &str, &str) = match listener {
        "js" => (
            "node".into(),
            "clients/js/notify.mjs",
            "websocket",
            "notify.mjs",
        ),
        _ => (
            python.clone(),
            "clients/python/notify.py",
            "polling",
            "notify.py",
        ),
    };
    let app = spawn_app(clients_config()).await;
    let url = app.http_url("");
    let user = format!("resume-{listener} é");
    let token = sign_token(
        CLIENT_SECRET,
        &UserId::parse(&user).unwrap(),
        std::time::Duration::from_secs(3600),
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("notify-state.json");
    let state_arg = state.to_str().expect("UTF-8 temporary path");
    let mut checks = 0;

    let first = vec![
        push(&python, &url, &user, 1).await,
        push(&python, &url, &user, 2).await,
    ];
    // No state file yet: the listener starts from the user's first notification.
    let stdout = run_client(
        &program,
        &[
            script,
            "--url",
            &url,
            "--token",
            &token,
            "--state",
            state_arg,
            "--exit-after",
            "2",
            "--transport",
            transport,
        ],
        &[],
    )
    .await;
    checks += assert_printed(&stdout, &user, &first, &format!("{label}, first run"));
    assert_state(&state, &first[1].id, &format!("{label}, first run"));
    checks += 1;

    let mut missed = Vec::new();
    for n in 3..=5 {
        missed.push(push(&python, &url, &user, n).await);
    }
    // The token from the environment this time.
    let stdout = run_client(
        &program,
        &[
            script,
            "--url",
            &url,
            "--state",
            state_arg,
            "--exit-after",
            "3",
            "--transport",
            transport,
        ],
        &[("SWITCHBOARD_TOKEN", token.clone())],
    )
    .await;
    checks += assert_printed(&stdout, &user, &missed, &format!("{label}, second run"));
    assert_state(&state, &missed[2].id, &format!("{label}, second run"));
    checks += 1;

    let summary = format!("interop: {label} resume: {checks} checks ok, 0 failed");
    record_summary(&summary, &format!("{listener}-notify-resume"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn js_listener_resumes_from_its_state_file() {
    listener_resumes("js").await;
}

#[tokio::test]
async fn python_listener_resumes_from_its_state_file() {
    listener_resumes("python").await;
}
