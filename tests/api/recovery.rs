//! Connection state recovery with the stock socket.io-client (JS), driven by
//! `tests/interop/js/recovery.check.mjs`: a dropped transport while another
//! member sends to the room, then a recovered reconnect (same id, rooms, the
//! missed events once and in order); the window passing; a session past its
//! bound; an unknown pid; over WebSocket and over polling; on a two-node
//! cluster, coming back on the other node, also after the first node was
//! killed with SIGKILL. Without
//! `--recovery-namespaces` (every other test) nothing changes on the wire.

use std::time::Duration;

use switchboard::ServeConfig;

use crate::helpers::*;

over_transports!(
    js_recovery = recover(Js): [websocket, polling],
    js_recovery_window_expiry = expiry(Js): [websocket, polling],
    js_recovery_session_bound = bound(Js): [websocket, polling],
    js_recovery_of_notifications = notifications(Js): [websocket, polling],
    js_recovery_on_the_other_node = other_node(Js): [websocket, polling],
    js_recovery_after_the_node_is_killed = killed_node(Js): [websocket, polling],
    js_recovery_window_expiry_on_a_cluster = cluster_expiry(Js): [websocket, polling],
    js_recovery_window_expiry_after_the_node_is_killed = killed_node_expiry(Js): [websocket, polling],
);

/// Recovery on `/chat`, `/game`, `/notifications` and `/echo`.
fn recovering(config: ServeConfig) -> ServeConfig {
    ServeConfig {
        recovery_namespaces: vec![
            "/chat".into(),
            "/game".into(),
            "/notifications".into(),
            "/echo".into(),
        ],
        ..config
    }
}

async fn scenario(config: ServeConfig, program: CheckProgram, transport: &str, scenario: &str) {
    let app = spawn_app(notifications_config(config)).await;
    run_check(
        program,
        "tests/interop/js/recovery.check.mjs",
        &[
            &app.http_url(""),
            "--transport",
            transport,
            "--scenario",
            scenario,
            "--secret",
            SECRET,
            "--api-key",
            API_KEY,
        ],
        &format!("js-recovery-{scenario}-{transport}"),
    )
    .await;
    app.stop().await.unwrap();
}

async fn recover(program: CheckProgram, transport: &str) {
    scenario(recovering(test_config()), program, transport, "recover").await;
}

async fn expiry(program: CheckProgram, transport: &str) {
    let config = ServeConfig {
        recovery_window: Duration::from_secs(2),
        ..recovering(test_config())
    };
    scenario(config, program, transport, "expiry").await;
}

async fn notifications(program: CheckProgram, transport: &str) {
    scenario(
        recovering(test_config()),
        program,
        transport,
        "notifications",
    )
    .await;
}

async fn bound(program: CheckProgram, transport: &str) {
    let config = ServeConfig {
        recovery_session_packets: 3,
        ..recovering(test_config())
    };
    scenario(config, program, transport, "bound").await;
}

/// The recovery flags of a cluster's nodes.
const CLUSTER_RECOVERY: [&str; 2] = ["--recovery-namespaces", "/chat,/echo"];

/// The same with a window short enough to see it pass.
const CLUSTER_SHORT_WINDOW: [&str; 4] = [
    "--recovery-namespaces",
    "/chat,/echo",
    "--recovery-window",
    "2s",
];

async fn cluster_scenario(program: CheckProgram, transport: &str, scenario: &str) {
    let flags: &[&str] = if scenario.ends_with("expiry") {
        &CLUSTER_SHORT_WINDOW
    } else {
        &CLUSTER_RECOVERY
    };
    let Some(cluster) = Cluster::start_with(2, flags).await else {
        return;
    };
    let (first, second) = (
        format!("http://{}/", cluster.addr(0)),
        format!("http://{}/", cluster.addr(1)),
    );
    let pid = cluster.nodes[0].pid().to_string();
    let mut args = vec![
        first.as_str(),
        "--transport",
        transport,
        "--scenario",
        scenario,
        "--other",
        second.as_str(),
    ];
    if scenario.starts_with("killed") {
        args.extend(["--kill", pid.as_str()]);
    }
    run_check(
        program,
        "tests/interop/js/recovery.check.mjs",
        &args,
        &format!("js-recovery-{scenario}-{transport}"),
    )
    .await;
}

async fn other_node(program: CheckProgram, transport: &str) {
    cluster_scenario(program, transport, "other-node").await;
}

async fn killed_node(program: CheckProgram, transport: &str) {
    cluster_scenario(program, transport, "killed").await;
}

async fn cluster_expiry(program: CheckProgram, transport: &str) {
    cluster_scenario(program, transport, "cluster-expiry").await;
}

async fn killed_node_expiry(program: CheckProgram, transport: &str) {
    cluster_scenario(program, transport, "killed-expiry").await;
}
