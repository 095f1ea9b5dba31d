//! `Idempotency-Key` retries of `POST /api/v1/notifications` answer exactly
//! the first response (status and body bytes, `online` included), however
//! soon and however many at once, and send nothing again; on both engines and
//! across the nodes of a cluster.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::helpers::*;

on_both_engines!(
    a_user_push_retry_replays_the_first_response_bytes,
    a_topic_push_retry_replays_the_first_response_bytes,
);

/// Retries fired together with the first request.
const CONCURRENT_RETRIES: usize = 20;

/// `POST /api/v1/notifications` with an `Idempotency-Key`; the raw answer.
async fn post(http: &reqwest::Client, node: SocketAddr, body: &Value, key: &str) -> (u16, Vec<u8>) {
    let response = send_in_time(
        http.post(format!("http://{node}/api/v1/notifications"))
            .bearer_auth(API_KEY)
            .header("Idempotency-Key", key)
            .json(body),
    )
    .await;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("a whole body").to_vec();
    (status, bytes)
}

/// The first request alone, then an immediate retry; then, with `fresh_key`,
/// the first request and [`CONCURRENT_RETRIES`] retries at once; request `i`
/// goes to `nodes[i % len]`. Asserts every answer of a key is the same status
/// and bytes; returns the two bodies.
async fn first_and_retries(
    nodes: &[SocketAddr],
    body: &Value,
    key: &str,
    fresh_key: &str,
) -> (Value, Value) {
    let http = reqwest::Client::new();
    let node = |i: usize| nodes[i % nodes.len()];
    let first = post(&http, node(0), body, key).await;
    let again = post(&http, node(1), body, key).await;
    assert_eq!(first.0, 201, "{}", String::from_utf8_lossy(&first.1));
    assert_eq!(
        again,
        first,
        "an immediate retry answers the same bytes: {} then {}",
        String::from_utf8_lossy(&first.1),
        String::from_utf8_lossy(&again.1)
    );

    let all = futures_util::future::join_all(
        (0..=CONCURRENT_RETRIES).map(|i| post(&http, node(i), body, fresh_key)),
    )
    .await;
    let (status, bytes) = &all[0];
    assert_eq!(*status, 201, "{}", String::from_utf8_lossy(bytes));
    for (i, answer) in all.iter().enumerate() {
        assert_eq!(
            answer,
            &all[0],
            "concurrent request {i} answers the same bytes: {} vs {}",
            String::from_utf8_lossy(&answer.1),
            String::from_utf8_lossy(bytes)
        );
    }
    (
        serde_json::from_slice(&first.1).unwrap(),
        serde_json::from_slice(bytes).unwrap(),
    )
}

async fn a_user_push_retry_replays_the_first_response_bytes(engine: Engine) {
    let Some(app) = engine.spawn_with(add_credentials).await else {
        return;
    };
    let user = unique_user("ida");
    let mut socket = listening_socket(app.addr, &user, None).await;
    let body = json!({"users": [user], "kind": "invoice", "data": {"n": 1}});

    let (sequential, concurrent) = first_and_retries(&[app.addr], &body, "inv-a", "inv-b").await;
    for answer in [&sequential, &concurrent] {
        assert_eq!(answer["online"], 1, "the connected socket: {answer}");
        assert_eq!(answer["notifications"].as_array().unwrap().len(), 1);
        assert_eq!(answer["notifications"][0]["user"], user.as_str());
    }
    assert_ne!(
        sequential["notifications"][0]["id"],
        concurrent["notifications"][0]["id"]
    );

    // Each key sent once: two notifications, then nothing.
    for answer in [&sequential, &concurrent] {
        let n = receive(&mut socket).await;
        assert_eq!(n["id"], answer["notifications"][0]["id"]);
    }
    socket.request("list", json!({})).await;
    assert_eq!(socket.pending("notification"), 0, "retries sent nothing");
    let listed: Value = json_body(
        reqwest::Client::new()
            .get(app.http_url(&format!("/api/v1/users/{user}/notifications")))
            .bearer_auth(API_KEY),
    )
    .await;
    assert_eq!(
        listed["notifications"].as_array().unwrap().len(),
        2,
        "one stored per key: {listed}"
    );
    app.stop().await.unwrap();
}

async fn a_topic_push_retry_replays_the_first_response_bytes(engine: Engine) {
    let Some(app) = engine.spawn_with(add_credentials).await else {
        return;
    };
    let user = unique_user("tom");
    let mut fan = notifications_socket(app.addr, &user, None).await;
    fan.request_ok("subscribe", json!({ "topics": ["idem-scores"] }))
        .await;
    let body = json!({"topic": "idem-scores", "kind": "goal", "data": {"score": "1-0"}});

    let (sequential, concurrent) = first_and_retries(&[app.addr], &body, "goal-a", "goal-b").await;
    for answer in [&sequential, &concurrent] {
        assert_eq!(answer, &json!({"notifications": [], "online": 1}));
    }

    // Each key sent once: two live notifications, then nothing.
    for _ in 0..2 {
        let n = receive(&mut fan).await;
        assert_eq!(
            (&n["topic"], &n["kind"]),
            (&json!("idem-scores"), &json!("goal"))
        );
    }
    fan.request("list", json!({})).await;
    assert_eq!(fan.pending("notification"), 0, "retries sent nothing");
    app.stop().await.unwrap();
}

/// Two nodes on one PostgreSQL: the sockets are on node 2, the requests go
/// to both nodes at once; `online` counts node 2's sockets and every answer,
/// whichever node gave it, is the first one.
#[tokio::test]
async fn retries_through_every_node_of_a_cluster_replay_the_first_response_bytes() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let nodes = [cluster.addr(0), cluster.addr(1)];
    let user = unique_user("cy");
    let mut socket = notifications_socket(cluster.addr(1), &user, None).await;
    let ack = socket
        .request("subscribe", json!({ "topics": ["idem-ops"] }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");

    let body = json!({"users": [user], "kind": "invoice"});
    let (sequential, concurrent) = first_and_retries(&nodes, &body, "c-inv-a", "c-inv-b").await;
    for answer in [&sequential, &concurrent] {
        assert_eq!(
            answer["online"], 1,
            "the socket on the other node: {answer}"
        );
        let n = receive(&mut socket).await;
        assert_eq!(n["id"], answer["notifications"][0]["id"]);
    }

    let body = json!({"topic": "idem-ops", "kind": "deploy"});
    let (sequential, concurrent) = first_and_retries(&nodes, &body, "c-ops-a", "c-ops-b").await;
    for answer in [&sequential, &concurrent] {
        assert_eq!(answer, &json!({"notifications": [], "online": 1}));
        assert_eq!(receive(&mut socket).await["topic"], "idem-ops");
    }
    socket.request("list", json!({})).await;
    assert_eq!(socket.pending("notification"), 0, "retries sent nothing");
}
