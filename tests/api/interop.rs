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

over_transports!(
    js_echo = echo(Js): [websocket, polling, upgrade],
    python_echo = echo(Python): [websocket, polling, upgrade],
);

/// The echo check program of `program` over `transport`.
async fn echo(program: CheckProgram, transport: &str) {
    let app = spawn_app(test_config()).await;
    let script = match program {
        CheckProgram::Js => "tests/interop/js/echo.check.mjs",
        CheckProgram::Python => "tests/interop/python/echo_check.py",
    };
    let label = format!("{}-echo-{transport}", program.name());
    run_check(
        program,
        script,
        &[&app.http_url(""), "--transport", transport],
        &label,
    )
    .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn python_websockets_library_against_plain_ws() {
    let app = spawn_app(test_config()).await;
    run_check(
        CheckProgram::Python,
        "tests/interop/python/ws_echo_check.py",
        &[&app.ws_url("/ws"), "--max-payload", "1000000"],
        "python-ws-echo",
    )
    .await;
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
