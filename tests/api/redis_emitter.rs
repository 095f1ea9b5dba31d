//! Pushes from a Node backend through the stock @socket.io/redis-emitter 5.x
//! (docs/backend-push.md): a two-node cluster (its own redis-server and a
//! fresh PostgreSQL database), socket.io-client sockets on both nodes, and
//! `tests/interop/js/redis_emitter.check.mjs` publishing with the real npm
//! emitter on the cluster's Redis: rooms, except, socket ids, binary, Dates,
//! volatile, socketsJoin / socketsLeave / disconnectSockets, and bad
//! publishes that deliver nothing. Each socket gets each event once.

use crate::helpers::{CheckProgram, Cluster, available, project_path, run_check};

/// Runs the check against a fresh two-node cluster started with `flags`, and
/// checks that both nodes logged the bad publishes it makes.
async fn emitter_scenario(program: CheckProgram, transport: &str, flags: &[&str], label: &str) {
    if !available(
        "tests/interop/node_modules/@socket.io/redis-emitter (cd tests/interop && npm ci)",
        project_path("tests/interop/node_modules/@socket.io/redis-emitter").exists(),
    ) {
        return;
    }
    let Some(cluster) = Cluster::start_with(2, flags).await else {
        return;
    };
    let (first, second, redis) = (
        format!("http://{}/", cluster.addr(0)),
        format!("http://{}/", cluster.addr(1)),
        cluster.redis.url(),
    );
    let args: Vec<String> = [
        first.as_str(),
        "--other",
        second.as_str(),
        "--redis",
        redis.as_str(),
        "--transport",
        transport,
    ]
    .map(str::to_owned)
    .into();
    let label = label.to_owned();
    let check = tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_check(
            program,
            "tests/interop/js/redis_emitter.check.mjs",
            &args,
            &label,
        )
        .await;
    });
    if let Err(failed) = check.await {
        // What the nodes logged meanwhile, to tell why.
        for (i, node) in cluster.nodes.iter().enumerate() {
            eprintln!("node {i} logged:\n{}", node.lines_so_far().join("\n"));
        }
        std::panic::resume_unwind(failed.into_panic());
    }
    for (i, node) in cluster.nodes.iter().enumerate() {
        let lines = node.lines_so_far();
        let dropped: Vec<serde_json::Value> = lines
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .filter(|line: &serde_json::Value| {
                line["message"] == "Redis emitter message dropped; nothing of it was delivered"
            })
            .collect();
        assert!(
            !dropped.is_empty(),
            "node {i} logged no dropped emitter message:\n{}",
            lines.join("\n")
        );
        assert!(
            dropped.iter().all(|line| line["level"] == "WARN"
                && line["reason"].as_str().is_some_and(|r| !r.is_empty())),
            "node {i}: {dropped:?}"
        );
        assert!(
            !lines.iter().any(|line| line.contains("panicked")),
            "node {i} panicked:\n{}",
            lines.join("\n")
        );
    }
}

async fn cluster(program: CheckProgram, transport: &str) {
    emitter_scenario(
        program,
        transport,
        &[],
        &format!("js-redis-emitter-{transport}"),
    )
    .await;
}

over_transports!(js_redis_emitter = cluster(Js): [websocket, polling]);

/// In namespaces with connection state recovery the emitter's events are
/// delivered live, exactly as elsewhere: not recorded, so without an offset
/// (docs/backend-push.md says so).
#[tokio::test]
async fn js_redis_emitter_recovering_namespaces() {
    emitter_scenario(
        CheckProgram::Js,
        "websocket",
        &["--recovery-namespaces", "/chat,/echo"],
        "js-redis-emitter-recovering-websocket",
    )
    .await;
}
