//! Real Socket.IO clients from npm (socket.io-client) and PyPI
//! (python-socketio, websockets) against an in-process server, over every
//! transport, driven by the interop checks in `tests/interop/` (`js/`,
//! `python/`). The README's test command installs their packages
//! (`tests/interop/node_modules`, `tests/interop/python/.venv`) and those of
//! the clients in `clients/` (`clients/js/node_modules`); when `CI` is set a
//! missing one fails the test instead of skipping it.
//!
//! Each check program prints `interop: <program> <transport>: N checks ok, F
//! failed` last; the test asserts it and records it under
//! `target/tmp/interop/` for the test command's summary.

use std::{path::PathBuf, process::Stdio, time::Duration};

use crate::helpers::*;

pub(crate) fn project_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `true` when `what` is installed; otherwise a failure in CI, a loud skip elsewhere.
pub(crate) fn available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing; the README's test command installs it");
    }
    eprintln!("SKIPPED: {what} is missing; run ./scripts/test.sh to install it");
    false
}

/// The npm packages of the clients (`clients/js`: chat.mjs, notify.mjs).
pub(crate) fn node_client_ready() -> bool {
    available(
        "clients/js/node_modules (cd clients/js && npm ci)",
        project_path("clients/js/node_modules/socket.io-client").exists(),
    )
}

/// The npm packages of the interop checks (`tests/interop`: `js/`, `browser/`).
pub(crate) fn node_checks_ready() -> bool {
    available(
        "tests/interop/node_modules (cd tests/interop && npm ci)",
        project_path("tests/interop/node_modules/socket.io-client").exists(),
    )
}

/// The venv's interpreter: `tests/interop/python/requirements.txt` holds the
/// checks' packages and includes `clients/python/requirements.txt`.
pub(crate) const PYTHON: &str = "tests/interop/python/.venv/bin/python";

/// The Python venv of the interop checks, which runs the Python clients too.
pub(crate) fn python() -> Option<PathBuf> {
    let python = project_path(PYTHON);
    available(
        "tests/interop/python/.venv (pip install -r tests/interop/python/requirements.txt)",
        python.exists(),
    )
    .then_some(python)
}

/// Runs a client program to completion and returns its stdout; panics with
/// its whole output when it fails.
pub(crate) async fn run_client(
    program: &PathBuf,
    args: &[&str],
    envs: &[(&str, String)],
) -> String {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v)))
        .current_dir(project_path(""))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{program:?} {args:?} did not finish in 120 s"))
        .expect("client starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program:?} {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// Checks a client's closing summary line and records it for the test command.
pub(crate) fn record_summary(stdout: &str, label: &str) -> u32 {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("interop: "))
        .unwrap_or_else(|| panic!("no summary line from {label}:\n{stdout}"));
    let counts = line.rsplit(": ").next().unwrap();
    let (ok, failed) = counts
        .strip_suffix(" failed")
        .and_then(|c| c.split_once(" checks ok, "))
        .unwrap_or_else(|| panic!("bad summary line {line}"));
    let ok: u32 = ok.parse().unwrap();
    assert_eq!(failed, "0", "{label}: {line}");
    assert!(ok > 0, "{label} ran no check: {line}");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{label}.txt")), format!("{line}\n")).unwrap();
    ok
}

async fn js_echo(transport: &str) {
    if !node_checks_ready() {
        return;
    }
    let app = spawn_app(test_config()).await;
    let url = app.http_url("");
    let stdout = run_client(
        &"node".into(),
        &[
            "tests/interop/js/echo.check.mjs",
            &url,
            "--transport",
            transport,
        ],
        &[],
    )
    .await;
    record_summary(&stdout, &format!("js-echo-{transport}"));
    app.stop().await.unwrap();
}

async fn python_echo(transport: &str) {
    let Some(python) = python() else { return };
    let app = spawn_app(test_config()).await;
    let url = app.http_url("");
    let stdout = run_client(
        &python,
        &[
            "tests/interop/python/echo_check.py",
            &url,
            "--transport",
            transport,
        ],
        &[],
    )
    .await;
    record_summary(&stdout, &format!("python-echo-{transport}"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn js_echo_over_websocket() {
    js_echo("websocket").await;
}

#[tokio::test]
async fn js_echo_over_polling() {
    js_echo("polling").await;
}

#[tokio::test]
async fn js_echo_over_polling_upgraded_to_websocket() {
    js_echo("upgrade").await;
}

#[tokio::test]
async fn python_echo_over_websocket() {
    python_echo("websocket").await;
}

#[tokio::test]
async fn python_echo_over_polling() {
    python_echo("polling").await;
}

#[tokio::test]
async fn python_echo_over_polling_upgraded_to_websocket() {
    python_echo("upgrade").await;
}

#[tokio::test]
async fn python_websockets_library_against_plain_ws() {
    let Some(python) = python() else { return };
    let app = spawn_app(test_config()).await;
    let url = app.ws_url("/ws");
    let stdout = run_client(
        &python,
        &[
            "tests/interop/python/ws_echo_check.py",
            &url,
            "--max-payload",
            "1000000",
        ],
        &[],
    )
    .await;
    record_summary(&stdout, "python-ws-echo");
    app.stop().await.unwrap();
}

/// Our raw-packet conformance suite (node:test) against the conformance
/// profile: the same settings as the official Socket.IO protocol test server.
#[tokio::test]
async fn conformance_suite_against_the_conformance_profile() {
    if !node_checks_ready() {
        return;
    }
    let app = spawn_app(conformance_config()).await;
    let stdout = run_client(
        &"node".into(),
        &[
            "--test",
            "--test-reporter=tap",
            "tests/interop/js/conformance.test.mjs",
        ],
        &[("SWITCHBOARD_URL", app.http_url(""))],
    )
    .await;
    let count = |key: &str| -> u32 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {key} "))?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `# {key}` line:\n{stdout}"))
    };
    let (passed, failed) = (count("pass"), count("fail"));
    assert_eq!(failed, 0, "{stdout}");
    let summary = format!("interop: conformance.test.mjs raw: {passed} checks ok, {failed} failed");
    record_summary(&summary, "js-conformance");
    app.stop().await.unwrap();
}
