//! Fan-out and stored-size bounds, shaped like the attacks that found them:
//! - a crowd joining one room one by one, which with the full member list in
//!   every `presence` delivered O(N³) bytes (400 members: 1 GB); now each
//!   `presence` carries one member and the count, so the total is O(N²);
//! - joins past `--room-limit` (on one node and across nodes);
//! - one `POST /api/v1/notifications` whose payload times its users is far
//!   more than its body (961 KB to 1,000 users stored 1.9 GB); now bounded by
//!   `--api-max-stored-bytes`.

use std::net::SocketAddr;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;

on_both_engines!(
    presence_bytes_grow_linearly_with_the_room,
    a_join_past_the_room_limit_is_forbidden_and_changes_nothing,
    concurrent_joins_never_overfill_a_room,
    a_push_storing_more_than_the_limit_is_refused_whole,
    the_red_team_push_is_refused_with_the_defaults,
);

const PRESENCE_PREFIX: &str = "42/chat,[\"presence\",";

/// One `/chat` member over a raw WebSocket, to count the bytes of every frame.
struct RawMember {
    raw: RawSocket,
    id: String,
}

impl RawMember {
    async fn connect(addr: SocketAddr) -> Self {
        let mut raw = RawSocket::connect_at(addr).await;
        raw.send_text("40/chat,").await;
        let connected = raw.next_text().await;
        let body = connected
            .strip_prefix("40/chat,")
            .unwrap_or_else(|| panic!("expected the /chat connect packet, got {connected}"));
        let id = serde_json::from_str::<Value>(body).unwrap()["sid"]
            .as_str()
            .unwrap()
            .to_owned();
        Self { raw, id }
    }

    /// Joins `room` as `name`; returns the ack and its frame's length. The
    /// joiner hears no `presence` of its own join, so the next frame is the ack.
    async fn join(&mut self, room: &str, name: &str) -> (Value, usize) {
        let packet = json!(["join", { "room": room, "name": name }]);
        self.raw.send_text(&format!("42/chat,0{packet}")).await;
        let frame = self.raw.next_text().await;
        let body = frame
            .strip_prefix("43/chat,0")
            .unwrap_or_else(|| panic!("expected the join ack, got {frame}"));
        let ack = serde_json::from_str::<Value>(body).unwrap()[0].clone();
        assert_eq!(ack["ok"], true, "join {room} as {name}: {ack}");
        (ack, frame.len())
    }

    /// The next frame, which must be a `presence`; returns it and its length.
    async fn presence(&mut self) -> (Value, usize) {
        let frame = self.raw.next_text().await;
        assert!(
            frame.starts_with(PRESENCE_PREFIX),
            "expected a presence, got {frame}"
        );
        let event: Value = serde_json::from_str(&frame["42/chat,".len()..]).unwrap();
        (event[1].clone(), frame.len())
    }
}

/// What a crowd of `n` joining one room one by one received.
struct Crowd {
    /// Bytes of every `presence` frame every member received.
    presence_bytes: usize,
    /// The largest single `presence` frame.
    largest_presence: usize,
    /// What the same events would have weighed with the full member list in
    /// each (the v1 shape `{room, event, member, members}`).
    v1_presence_bytes: usize,
    /// Bytes of the join acks (one full member list per join).
    ack_bytes: usize,
}

/// `n` members join one room one after another; after each join every
/// earlier member must receive exactly one `presence` naming the newcomer
/// with the new count.
async fn fill_room(addr: SocketAddr, n: usize) -> Crowd {
    let room = "crowd";
    let mut members: Vec<RawMember> = Vec::with_capacity(n);
    let mut crowd = Crowd {
        presence_bytes: 0,
        largest_presence: 0,
        v1_presence_bytes: 0,
        ack_bytes: 0,
    };
    for k in 1..=n {
        let name = format!("member-{k:04}");
        let mut newcomer = RawMember::connect(addr).await;
        let (ack, ack_len) = newcomer.join(room, &name).await;
        crowd.ack_bytes += ack_len;
        let list = ack["members"].as_array().unwrap();
        assert_eq!(list.len(), k, "the join ack lists everyone");
        let expected = json!({
            "room": room,
            "event": "join",
            "member": { "id": newcomer.id, "name": name },
            "count": k,
        });
        let v1 = json!([
            "presence",
            { "room": room, "event": "join", "member": expected["member"], "members": list },
        ]);
        let v1_len = format!("42/chat,{v1}").len();
        for member in &mut members {
            let (presence, len) = member.presence().await;
            assert_eq!(presence, expected, "one member and the count, no list");
            crowd.presence_bytes += len;
            crowd.largest_presence = crowd.largest_presence.max(len);
            crowd.v1_presence_bytes += v1_len;
        }
        members.push(newcomer);
    }
    crowd
}

async fn presence_bytes_grow_linearly_with_the_room(engine: Engine) {
    let Some(app) = engine.spawn().await else {
        return;
    };
    const N: usize = 100;
    let crowd = fill_room(app.addr, N).await;
    println!(
        "{N} joins: presence {} bytes in all (largest frame {}), v1 shape {} bytes; join acks {} bytes",
        crowd.presence_bytes, crowd.largest_presence, crowd.v1_presence_bytes, crowd.ack_bytes
    );
    // Each presence is a constant size, whatever the room's: one member, one count.
    assert!(
        crowd.largest_presence < 200,
        "a presence frame of {} bytes",
        crowd.largest_presence
    );
    // N joins, each told to fewer than N members: below c·N² bytes in all.
    let bound = 100 * N * N;
    assert!(
        crowd.presence_bytes < bound,
        "{} presence bytes for {N} joins, bound {bound}",
        crowd.presence_bytes
    );
    // The full list in every presence (O(N³)) would be far past that bound.
    assert!(
        crowd.v1_presence_bytes > 10 * bound,
        "v1 would have sent {} bytes",
        crowd.v1_presence_bytes
    );
    // The joiner still gets the whole list once: O(N) per join.
    assert!(
        crowd.ack_bytes < bound,
        "{} join ack bytes",
        crowd.ack_bytes
    );
    app.stop().await.unwrap();
}

/// The value of one series in `/metrics` (0 when absent).
async fn metric(addr: SocketAddr, series: &str) -> u64 {
    let text = metrics_text(addr).await;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

const ROOM_FULL: &str = "switchboard_limit_hits_total{limit=\"room_full\"}";
const STORED_BYTES: &str = "switchboard_limit_hits_total{limit=\"api_stored_bytes\"}";

async fn join(client: &mut SioClient, room: &str, name: &str) -> Value {
    client
        .request("join", json!({ "room": room, "name": name }))
        .await
}

fn refusal(ack: &Value) -> (&str, &str) {
    assert_eq!(ack["ok"], false, "expected a refusal, got {ack}");
    (
        ack["error"]["code"].as_str().unwrap(),
        ack["error"]["message"].as_str().unwrap(),
    )
}

fn ids(members: &Value) -> Vec<String> {
    let mut ids = ids_in(members);
    ids.sort();
    ids
}

async fn a_join_past_the_room_limit_is_forbidden_and_changes_nothing(engine: Engine) {
    let Some(app) = engine.spawn_with(|config| config.room_limit = 5).await else {
        return;
    };
    let mut members = Vec::new();
    for i in 0..5 {
        let mut client = SioClient::connect(app.addr, "/chat").await;
        assert_eq!(
            join(&mut client, "small", &format!("m{i}")).await["ok"],
            true
        );
        members.push(client);
    }
    // Member i heard the joins after its own.
    for (i, member) in members.iter_mut().enumerate() {
        for k in i + 2..=5 {
            assert_eq!(member.next_event("presence").await["count"], k);
        }
    }
    assert_eq!(metric(app.addr, ROOM_FULL).await, 0);

    let mut late = SioClient::connect(app.addr, "/chat").await;
    let ack = join(&mut late, "small", "late").await;
    assert_eq!(
        refusal(&ack),
        ("forbidden", "room `small` is full (5 members)")
    );
    // Nothing changed: the late one is no member, nobody heard of it.
    let ack = late
        .request("message", json!({ "room": "small", "text": "hi" }))
        .await;
    assert_eq!(refusal(&ack).0, "forbidden");
    let sync = members[0]
        .request("message", json!({ "room": "small", "text": "sync" }))
        .await;
    assert_eq!(sync["ok"], true);
    for member in &mut members[1..] {
        assert_eq!(member.next_event("message").await["text"], "sync");
    }
    members[1]
        .request("message", json!({ "room": "small", "text": "sync 2" }))
        .await;
    assert_eq!(members[0].next_event("message").await["text"], "sync 2");
    for member in &members {
        assert_eq!(
            member.pending("presence"),
            0,
            "no presence of a refused join"
        );
    }
    let listed = members[0]
        .request("members", json!({ "room": "small" }))
        .await;
    assert_eq!(listed["count"], 5);
    assert!(!ids(&listed["members"]).contains(&late.id));
    assert_eq!(
        metric(app.addr, ROOM_FULL).await,
        1,
        "the hit is in /metrics"
    );

    // A member renaming itself in a full room is no newcomer.
    assert_eq!(join(&mut members[0], "small", "renamed").await["ok"], true);
    // Once someone leaves there is room again.
    let mut leaver = members.pop().unwrap();
    assert_eq!(
        leaver.request("leave", json!({ "room": "small" })).await["ok"],
        true
    );
    let ack = join(&mut late, "small", "late").await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["members"].as_array().unwrap().len(), 5);
    assert_eq!(metric(app.addr, ROOM_FULL).await, 1);
    app.stop().await.unwrap();
}

/// Ten sockets join a room of five at the same moment: however their joins
/// interleave, the room never holds more than five, and the refused ones
/// (told `forbidden`) can take the places left, one at a time, up to five.
async fn concurrent_joins_never_overfill_a_room(engine: Engine) {
    let Some(app) = engine.spawn_with(|config| config.room_limit = 5).await else {
        return;
    };
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(SioClient::connect(app.addr, "/chat").await);
    }
    let acks = join_all(
        clients
            .iter_mut()
            .enumerate()
            .map(|(i, c)| async move { join(c, "race", &format!("r{i}")).await }),
    )
    .await;
    let mut inside: Vec<usize> = Vec::new();
    for (i, ack) in acks.iter().enumerate() {
        if ack["ok"] == true {
            inside.push(i);
        } else {
            assert_eq!(refusal(ack).0, "forbidden", "{ack}");
        }
    }
    assert!(inside.len() <= 5, "{} joined a room of 5", inside.len());
    for (i, client) in clients.iter_mut().enumerate() {
        if inside.len() < 5 && !inside.contains(&i) {
            let ack = join(client, "race", &format!("r{i}")).await;
            assert_eq!(ack["ok"], true, "a free place: {ack}");
            inside.push(i);
        }
    }
    let first = inside[0];
    let listed = clients[first]
        .request("members", json!({ "room": "race" }))
        .await;
    assert_eq!(listed["count"], 5, "{listed}");
    let mut want: Vec<String> = inside.iter().map(|&i| clients[i].id.clone()).collect();
    want.sort();
    assert_eq!(ids(&listed["members"]), want);
    app.stop().await.unwrap();
}

/// The users' stored notifications.
async fn stored(api: &Api, user: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/users/{user}/notifications")).await;
    assert_eq!(status, 200, "{body}");
    body["notifications"].as_array().unwrap().clone()
}

async fn push(api: &Api, users: &[String], data: &Value) -> (u16, Value) {
    api.call(
        reqwest::Method::POST,
        "/notifications",
        Some(&json!({ "users": users, "kind": "k", "data": data })),
        &[],
    )
    .await
}

async fn a_push_storing_more_than_the_limit_is_refused_whole(engine: Engine) {
    let Some(app) = engine
        .spawn_with(|config| {
            add_credentials(config);
            config.api_max_stored_bytes = 10_000;
        })
        .await
    else {
        return;
    };
    let api = Api::new(&app);
    let users: Vec<String> = (0..10).map(|i| format!("fanout-{i}")).collect();
    // Stored per user: `kind` (1 byte) and `data` as JSON (the text and its
    // two quotes); 10 users of 1,001 bytes each is just over 10,000.
    let over = json!("x".repeat(998));
    let (status, body) = push(&api, &users, &over).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("10000 bytes") && message.contains("--api-max-stored-bytes"),
        "the refusal gives the limit: {message}"
    );
    for user in &users {
        assert_eq!(stored(&api, user).await, Vec::<Value>::new(), "{user}");
    }
    assert_eq!(metric(app.addr, STORED_BYTES).await, 1);

    // Exactly at the limit is accepted; naming a user twice stores one copy.
    let at = json!("x".repeat(997));
    let twice: Vec<String> = users.iter().chain(&users).cloned().collect();
    let (status, body) = push(&api, &twice, &at).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["notifications"].as_array().unwrap().len(), 10);
    for user in &users {
        let got = stored(&api, user).await;
        assert_eq!(got.len(), 1, "{user}");
        assert_eq!(got[0]["data"], at);
    }
    // Topic pushes are live only: nothing stored, no such bound.
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/notifications",
            Some(&json!({ "topic": "news", "kind": "k", "data": over })),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(metric(app.addr, STORED_BYTES).await, 1);
    app.stop().await.unwrap();
}

/// The red team's request: one 900 KB payload to 1,000 users (within the
/// body limit) would store 900 MB; the default limit refuses it whole.
async fn the_red_team_push_is_refused_with_the_defaults(engine: Engine) {
    let Some(app) = engine.spawn_with(add_credentials).await else {
        return;
    };
    let api = Api::new(&app);
    let users: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
    let data = json!({ "blob": "x".repeat(900_000) });
    let (status, body) = push(&api, &users, &data).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16777216 bytes"),
        "{body}"
    );
    for user in ["u0", "u500", "u999"] {
        assert_eq!(stored(&api, user).await, Vec::<Value>::new(), "{user}");
    }
    // The same payload to a few users fits.
    let (status, body) = push(&api, &users[..3], &data).await;
    assert_eq!(status, 201, "{body}");
    app.stop().await.unwrap();
}

/// Two nodes on one Redis, `--room-limit 2`: a member on each fills the room,
/// and a third joining on either node is refused (the count is the room's on
/// every node, as presence counts it).
#[tokio::test]
async fn a_full_room_is_counted_on_every_node() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let nodes: Vec<ServerProcess> = (0..2)
        .map(|_| {
            ServerProcess::start_on(
                &database_url,
                &["--redis-url", &redis.url(), "--room-limit", "2"],
                &[("SWITCHBOARD_API_KEYS", API_KEY)],
            )
        })
        .collect();
    let mut ada = SioClient::connect(nodes[0].addr, "/chat").await;
    let mut bob = SioClient::connect(nodes[1].addr, "/chat").await;
    assert_eq!(join(&mut ada, "pair", "Ada").await["ok"], true);
    assert_eq!(join(&mut bob, "pair", "Bob").await["ok"], true);
    let presence = ada.next_event("presence").await;
    assert_eq!(
        (
            presence["member"]["name"].clone(),
            presence["count"].clone()
        ),
        (json!("Bob"), json!(2))
    );
    for (i, node) in nodes.iter().enumerate() {
        let mut cy = SioClient::connect(node.addr, "/chat").await;
        let ack = join(&mut cy, "pair", "Cy").await;
        assert_eq!(
            refusal(&ack),
            ("forbidden", "room `pair` is full (2 members)"),
            "on node {i}"
        );
        assert_eq!(metric(node.addr, ROOM_FULL).await, 1, "node {i}");
    }
    // Nobody heard of Cy; Bob leaving (on node 1) makes room on node 0.
    assert_eq!(
        bob.request("leave", json!({ "room": "pair" })).await["ok"],
        true
    );
    let left = ada.next_event("presence").await;
    assert_eq!(
        (left["event"].clone(), left["count"].clone()),
        (json!("leave"), json!(1))
    );
    assert_eq!(ada.pending("presence"), 0);
    let mut cy = SioClient::connect(nodes[0].addr, "/chat").await;
    let ack = join(&mut cy, "pair", "Cy").await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["members"].as_array().unwrap().len(), 2);
}
