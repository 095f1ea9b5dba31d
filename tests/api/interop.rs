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

use std::time::Duration;

use switchboard::ServeConfig;

use crate::helpers::*;

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
    // For the checks that need their requests in order before the first
    // ping, which a busy machine cannot promise within 300 ms.
    let slow_ping = spawn_app(ServeConfig {
        ping_interval: Duration::from_secs(25),
        ping_timeout: Duration::from_secs(20),
        ..conformance_config()
    })
    .await;
    let stdout = run_client(
        &"node".into(),
        &[
            "--test",
            "--test-reporter=tap",
            "tests/interop/js/conformance.test.mjs",
        ],
        &[
            ("SWITCHBOARD_URL", app.http_url("")),
            ("SWITCHBOARD_SLOW_PING_URL", slow_ping.http_url("")),
        ],
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
    slow_ping.stop().await.unwrap();
}
