//! Several Switchboard nodes as separate processes on one PostgreSQL and one
//! Redis (each test starts its own redis-server on a free loopback port):
//! chat, presence, notifications, read state and `/api/v1/emit` across nodes;
//! a Redis outage and its end; a node killed with SIGKILL.

use std::{net::SocketAddr, process::Command, time::Duration};

use serde_json::{Value, json};

use crate::helpers::{
    API_KEY, Cluster, RedisServer, ServerProcess, SioClient, field_of_each, listening_socket,
    receive,
};

async fn api(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1{path}"))
        .bearer_auth(API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Pushes to `user` through the node at `addr`; the status and the id stored.
async fn push(addr: SocketAddr, user: &str, kind: &str) -> (u16, String) {
    let (status, body) = api(
        addr,
        "/notifications",
        json!({"users": [user], "kind": kind}),
    )
    .await;
    let id = body["notifications"][0]["id"].as_str().unwrap().to_owned();
    (status, id)
}

async fn readiness(addr: SocketAddr) -> (u16, Value) {
    let response = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn join(client: &mut SioClient, room: &str, name: &str) -> Value {
    client
        .request_ok("join", json!({ "room": room, "name": name }))
        .await
}

#[tokio::test]
async fn chat_messages_typing_and_presence_cross_nodes() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let mut ada = SioClient::connect(cluster.addr(0), "/chat").await;
    let mut bob = SioClient::connect(cluster.addr(1), "/chat").await;
    join(&mut ada, "lobby", "Ada").await;
    let joined = join(&mut bob, "lobby", "Bob").await;
    let names = field_of_each(&joined["members"], "name");
    assert_eq!(names, ["Ada", "Bob"], "members on both nodes: {joined}");
    let presence = ada.next_event("presence").await;
    assert_eq!(presence["event"], "join");
    assert_eq!(presence["member"]["name"], "Bob");
    assert_eq!(presence["count"], 2, "counted on both nodes");

    let ack = ada
        .request(
            "message",
            json!({"room": "lobby", "text": "hello from node 1"}),
        )
        .await;
    let message = bob.next_event("message").await;
    assert_eq!(message, ack["message"]);
    bob.request("typing", json!({"room": "lobby", "typing": true}))
        .await;
    assert_eq!(ada.next_event("typing").await["member"]["name"], "Bob");

    // History comes from the shared store, whichever node answers.
    let mut cy = SioClient::connect(cluster.addr(1), "/chat").await;
    let joined = join(&mut cy, "lobby", "Cy").await;
    assert_eq!(joined["history"][0]["text"], "hello from node 1");
    assert_eq!(joined["members"].as_array().unwrap().len(), 3);

    bob.close().await;
    let left = ada.next_event("presence").await;
    assert_eq!(
        (left["event"].clone(), left["member"]["name"].clone()),
        (json!("join"), json!("Cy"))
    );
    let left = ada.next_event("presence").await;
    assert_eq!(
        (left["event"].clone(), left["member"]["name"].clone()),
        (json!("leave"), json!("Bob"))
    );
    assert_eq!(left["count"], 2);
    let listed = ada.request("members", json!({"room": "lobby"})).await;
    let names = field_of_each(&listed["members"], "name");
    assert_eq!(names, ["Ada", "Cy"], "members on both nodes: {listed}");
}

#[tokio::test]
async fn notifications_reach_every_node_and_read_state_follows() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let mut phone = listening_socket(cluster.addr(1), "nora", None).await;
    let mut laptop = listening_socket(cluster.addr(0), "nora", None).await;

    // Pushed through node 1: both sockets get it, in order, one per node.
    let mut ids = Vec::new();
    for kind in ["a", "b", "c"] {
        let (status, body) = api(
            cluster.addr(0),
            "/notifications",
            json!({"users": ["nora"], "kind": kind}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["notifications"][0]["id"].as_str().unwrap().to_owned());
    }
    for socket in [&mut phone, &mut laptop] {
        for id in &ids {
            assert_eq!(receive(socket).await["id"], id.as_str());
        }
    }

    // Read on node 1: node 2's socket hears the new count.
    let ack = laptop.request("read", json!({"ids": [ids[0]]})).await;
    assert_eq!(ack["unread"], 2);
    assert_eq!(phone.next_event("unread").await, json!({"count": 2}));

    // A topic push through node 2 reaches a subscriber on node 1, and counts it.
    laptop
        .request("subscribe", json!({"topics": ["ops"]}))
        .await;
    let (_, body) = api(
        cluster.addr(1),
        "/notifications",
        json!({"topic": "ops", "kind": "deploy"}),
    )
    .await;
    assert_eq!(body["online"], 1, "{body}");
    assert_eq!(receive(&mut laptop).await["topic"], "ops");

    // /api/v1/emit through node 2 reaches a chat room member on node 1.
    let mut member = SioClient::connect(cluster.addr(0), "/chat").await;
    join(&mut member, "news", "Reader").await;
    let (status, _) = api(
        cluster.addr(1),
        "/emit",
        json!({"namespace": "/chat", "room": "news", "event": "flash", "data": 1}),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(member.next_event("flash").await, json!(1));

    // Replay with `since` on the other node.
    phone.close().await;
    let (_, missed) = push(cluster.addr(1), "nora", "d").await;
    let mut phone = listening_socket(cluster.addr(0), "nora", Some(&ids[2])).await;
    assert_eq!(receive(&mut phone).await["id"], missed.as_str());
}

/// Pushes through both nodes at once to one user while a socket on a third
/// listens: every id, once, in order (batches of different nodes interleave
/// on the wire; the delivery reads the store in id order).
#[tokio::test]
async fn pushes_from_several_nodes_arrive_in_order_without_gaps() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let mut listener = listening_socket(cluster.addr(2), "olga", None).await;
    let push_many = |addr: SocketAddr| async move {
        let mut ids = Vec::new();
        for i in 0..40 {
            let (status, body) = api(
                addr,
                "/notifications",
                json!({"users": ["olga"], "kind": "k", "data": i}),
            )
            .await;
            assert_eq!(status, 201);
            ids.push(body["notifications"][0]["id"].as_str().unwrap().to_owned());
        }
        ids
    };
    let (a, b) = tokio::join!(push_many(cluster.addr(0)), push_many(cluster.addr(1)));
    let mut expected: Vec<String> = a.into_iter().chain(b).collect();
    expected.sort();
    let mut received = Vec::new();
    while received.len() < expected.len() {
        received.push(
            receive(&mut listener).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(received, expected);
}

#[tokio::test]
async fn a_redis_outage_keeps_local_service_and_heals() {
    let Some(mut cluster) = Cluster::start(2).await else {
        return;
    };
    let (status, body) = readiness(cluster.addr(0)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["redis"]["ok"], true);

    cluster.redis.stop();
    let (status, body) = readiness(cluster.addr(0)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failing"], json!(["redis"]));

    // Sockets on one node still talk to each other.
    let mut ada = SioClient::connect(cluster.addr(0), "/chat").await;
    let mut bob = SioClient::connect(cluster.addr(0), "/chat").await;
    join(&mut ada, "local", "Ada").await;
    join(&mut bob, "local", "Bob").await;
    ada.request("message", json!({"room": "local", "text": "still here"}))
        .await;
    assert_eq!(bob.next_event("message").await["text"], "still here");
    // And pushes are still stored and delivered locally.
    let mut inbox = listening_socket(cluster.addr(0), "pia", None).await;
    let (status, _) = api(
        cluster.addr(0),
        "/notifications",
        json!({"users": ["pia"], "kind": "during-outage"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(receive(&mut inbox).await["kind"], "during-outage");

    cluster.redis.resume();
    // Readiness comes back once the node reconnected (bounded).
    let mut ready = false;
    for _ in 0..100 {
        if readiness(cluster.addr(0)).await.0 == 200 && readiness(cluster.addr(1)).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "both nodes ready again after Redis came back");

    // Cross-node delivery works again (the subscriptions were renewed).
    let mut far = SioClient::connect(cluster.addr(1), "/chat").await;
    let joined = join(&mut far, "local", "Far").await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 3, "{joined}");
    assert_eq!(ada.next_event("presence").await["member"]["name"], "Bob");
    assert_eq!(ada.next_event("presence").await["member"]["name"], "Far");
    far.request("message", json!({"room": "local", "text": "back"}))
        .await;
    assert_eq!(ada.next_event("message").await["text"], "back");
}

#[tokio::test]
async fn a_killed_node_loses_no_stored_notification() {
    let Some(mut cluster) = Cluster::start(2).await else {
        return;
    };
    let mut socket = listening_socket(cluster.addr(0), "quin", None).await;
    let (_, first) = push(cluster.addr(0), "quin", "before").await;
    assert_eq!(receive(&mut socket).await["id"], first.as_str());

    cluster.nodes[0].signal("KILL");
    cluster.nodes[0].wait_exit();
    socket.until_disconnected().await;

    // While the client is away, the surviving node takes pushes.
    let mut missed = Vec::new();
    for kind in ["x", "y"] {
        let (status, id) = push(cluster.addr(1), "quin", kind).await;
        assert_eq!(status, 201);
        missed.push(id);
    }
    // The client reconnects to the other node with its last id.
    let mut socket = listening_socket(cluster.addr(1), "quin", Some(&first)).await;
    for id in &missed {
        assert_eq!(receive(&mut socket).await["id"], id.as_str());
    }
}

#[tokio::test]
async fn redis_with_sqlite_is_refused_unless_allowed() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db,
            "--redis-url",
            &redis.url(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--redis-url is set but the store is SQLite"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-sqlite-with-redis"), "{stderr}");

    let server = ServerProcess::start_on(
        &db,
        &["--redis-url", &redis.url(), "--allow-sqlite-with-redis"],
        &[],
    );
    let (status, body) = readiness(server.addr).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["redis"]["ok"], true);
}
