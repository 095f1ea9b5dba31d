//! `/notifications` and the HTTP push API, on SQLite and on PostgreSQL: tokens,
//! live delivery and receipts, replay with `since` (including while pushes
//! race the replay), list, read-state sync, topics, broadcast.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use switchboard::{
    ServeConfig,
    config::Secret,
    protocol::StreamId,
    store::{CommitListener, Store, StoredNotification},
};

use crate::helpers::*;

on_both_engines!(
    bad_tokens_are_refused_with_unauthorized,
    a_live_push_arrives_and_its_ack_is_the_delivery_receipt,
    replay_after_an_offline_period_is_in_order_then_live,
    replay_races_live_pushes_without_gap_or_disorder,
    read_state_reaches_every_socket_of_the_user,
    list_pages_newest_first_with_filters,
    a_list_counts_exactly_what_it_lists_while_pushes_commit,
    topics_and_broadcasts_are_live_only,
    bad_events_get_bad_request_and_change_nothing,
    http_api_refusals,
    idempotent_retries_send_nothing_again,
);

async fn spawn(engine: Engine) -> Option<(TestApp, ServeConfig)> {
    let config = notifications_config(engine.config().await?);
    let app = spawn_app(config.clone()).await;
    Some((app, config))
}

/// The ids of a `list` answer, in its order.
fn listed_ids(answer: &Value) -> Vec<&str> {
    field_of_each(&answer["notifications"], "id")
}

/// A second handle on the test's store, to read what clients cannot see.
struct Ignore;
impl CommitListener for Ignore {
    fn committed(&self, n: &[StoredNotification]) -> Vec<usize> {
        vec![0; n.len()]
    }
}

async fn open_store(app: &TestApp) -> Store {
    Store::open(&app.database_url, Arc::new(Ignore), &Default::default())
        .await
        .expect("store opens")
}

async fn bad_tokens_are_refused_with_unauthorized(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let now = u64::try_from(switchboard::protocol::now_ms() / 1000).unwrap();
    let sign = |secret: &str, claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let refused = [
        ("no auth", None),
        ("no token", Some(json!({}))),
        ("token not a string", Some(json!({ "token": 42 }))),
        ("malformed", Some(json!({ "token": "not-a-jwt" }))),
        (
            "wrong secret",
            Some(
                json!({ "token": sign("another-secret-0123456", json!({"sub": "u", "exp": now + 60})) }),
            ),
        ),
        (
            "expired",
            Some(json!({ "token": sign(SECRET, json!({"sub": "u", "exp": now - 5})) })),
        ),
        (
            "no exp",
            Some(json!({ "token": sign(SECRET, json!({"sub": "u"})) })),
        ),
        (
            "empty sub",
            Some(json!({ "token": sign(SECRET, json!({"sub": "", "exp": now + 60})) })),
        ),
        // `{token, since?}` as an array is no auth payload at all.
        ("auth as an array", Some(json!([token("u")]))),
    ];
    for (what, auth) in refused {
        let refusal = SioClient::connect_with_auth(app.addr, "/notifications", auth)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: connected"));
        assert_eq!(refusal, "unauthorized", "{what}");
    }
    for since in [json!("x"), json!("live:0000000000000001"), json!(12)] {
        let auth = json!({ "token": token("u"), "since": since });
        let refusal = SioClient::connect_with_auth(app.addr, "/notifications", Some(auth))
            .await
            .err()
            .expect("a bad since is refused");
        assert_eq!(refusal, "bad_request", "since {since}");
    }
    // A good token with a null since connects.
    let auth = json!({ "token": token("u"), "since": null });
    assert!(
        SioClient::connect_with_auth(app.addr, "/notifications", Some(auth))
            .await
            .is_ok()
    );
    app.stop().await.unwrap();
}

async fn a_live_push_arrives_and_its_ack_is_the_delivery_receipt(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let api = Api::new(&app);
    let alice = unique_user("alice");
    let mut socket = listening_socket(app.addr, &alice, None).await;

    let body = api
        .push(&[&alice], "order.shipped", json!({"order": 7}))
        .await;
    assert_eq!(body["online"], 1, "{body}");
    let id = body["notifications"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["notifications"][0]["user"], alice.as_str());

    let (notification, ack) = socket.next_event_with_ack("notification").await;
    let ts = notification["ts"].as_i64().expect("ts is an integer");
    assert_eq!(
        notification,
        json!({"id": id, "user": alice, "kind": "order.shipped", "data": {"order": 7}, "ts": ts, "read": false})
    );
    let keys: Vec<&str> = notification
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "user", "kind", "data", "ts", "read"]);

    let store = open_store(&app).await;
    let stream_id: StreamId = id.parse().unwrap();
    assert_eq!(
        store.notifications().delivered_at(stream_id).await.unwrap(),
        None,
        "no receipt before the ack"
    );
    socket
        .answer(ack.expect("asks for an ack"), &[json!("thanks")])
        .await;
    // The receipt is written after the ack arrives; nothing signals it to a
    // client, so poll the store (bounded).
    let mut receipt = None;
    for _ in 0..100 {
        receipt = store.notifications().delivered_at(stream_id).await.unwrap();
        if receipt.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let receipt = receipt.expect("the ack recorded a delivery receipt");
    assert!(receipt >= ts, "receipt {receipt} after creation {ts}");
    app.stop().await.unwrap();
}

async fn replay_after_an_offline_period_is_in_order_then_live(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let api = Api::new(&app);
    let bob = unique_user("bob");
    let mut socket = listening_socket(app.addr, &bob, None).await;
    let first = api.push_one(&bob, "first").await;
    assert_eq!(receive(&mut socket).await["id"], first.as_str());
    socket.close().await;

    // Offline: three arrive, and one for someone else.
    let mut missed = Vec::new();
    for kind in ["a", "b", "c"] {
        missed.push(api.push_one(&bob, kind).await);
        api.push_one(&unique_user("carol"), kind).await;
    }

    let mut socket = notifications_socket(app.addr, &bob, Some(&first)).await;
    for id in &missed {
        let n = receive(&mut socket).await;
        assert_eq!(n["id"], id.as_str(), "replayed in id order");
        assert_eq!(n["user"], bob.as_str());
    }
    let live = api.push_one(&bob, "live").await;
    assert_eq!(receive(&mut socket).await["id"], live.as_str());
    // Nothing else came: a round trip, then nothing pending.
    socket.request("list", json!({})).await;
    assert_eq!(socket.pending("notification"), 0);

    // Without `since`, nothing old is replayed.
    let fresh = listening_socket(app.addr, &bob, None).await;
    assert_eq!(fresh.pending("notification"), 0);
    app.stop().await.unwrap();
}

/// Pushes go on while clients connect with `since` again and again: every
/// connection sees strictly increasing ids, and together they see every id.
async fn replay_races_live_pushes_without_gap_or_disorder(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let user = unique_user("racer");
    const PUSHES: usize = 120;
    let pusher = {
        let api = Api::new(&app);
        let user = user.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            // Two in flight at a time, so batches commit several at once.
            for _ in 0..PUSHES / 2 {
                let (a, b) = tokio::join!(api.push_one(&user, "x"), api.push_one(&user, "y"));
                ids.push(a);
                ids.push(b);
            }
            ids
        })
    };
    let mut seen: Vec<String> = Vec::new();
    let mut connections = 0;
    while !pusher.is_finished() || connections == 0 {
        connections += 1;
        let since = seen.last().cloned().unwrap_or_else(|| "0".into());
        let mut socket = notifications_socket(app.addr, &user, Some(&since)).await;
        // Take a few, then drop the connection mid-stream.
        for _ in 0..5 {
            let next = tokio::time::timeout(Duration::from_millis(300), async {
                receive(&mut socket).await
            })
            .await;
            let Ok(n) = next else { break };
            let id = n["id"].as_str().unwrap().to_owned();
            if let Some(last) = seen.last() {
                assert!(
                    &id > last,
                    "connection {connections}: {id} after {last} (seen {seen:?})"
                );
            }
            seen.push(id);
        }
        socket.close().await;
    }
    let pushed = pusher.await.unwrap();
    // One last connection drains what is left.
    let mut socket = notifications_socket(app.addr, &user, Some(seen.last().unwrap())).await;
    while seen.len() < PUSHES {
        let id = receive(&mut socket).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(&id > seen.last().unwrap(), "{id} after {:?}", seen.last());
        seen.push(id);
    }
    let mut pushed_sorted = pushed.clone();
    pushed_sorted.sort();
    assert_eq!(seen, pushed_sorted, "every pushed id, once, in order");
    assert!(
        connections > 1,
        "the replay raced the pushes more than once"
    );
    app.stop().await.unwrap();
}

async fn read_state_reaches_every_socket_of_the_user(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let api = Api::new(&app);
    let (dana, erin) = (unique_user("dana"), unique_user("erin"));
    let mut phone = notifications_socket(app.addr, &dana, None).await;
    let mut laptop = notifications_socket(app.addr, &dana, None).await;
    let mut other = notifications_socket(app.addr, &erin, None).await;
    for socket in [&mut phone, &mut laptop, &mut other] {
        socket.request("list", json!({})).await;
    }
    let ids = [
        api.push_one(&dana, "1").await,
        api.push_one(&dana, "2").await,
        api.push_one(&dana, "3").await,
    ];
    let erins = api.push_one(&erin, "e").await;
    for socket in [&mut phone, &mut laptop] {
        for id in &ids {
            assert_eq!(receive(socket).await["id"], id.as_str());
        }
    }

    let ack = phone.request("read", json!({ "ids": [ids[0]] })).await;
    assert_eq!(ack, json!({"ok": true, "unread": 2}));
    assert_eq!(phone.next_event("unread").await, json!({"count": 2}));
    assert_eq!(laptop.next_event("unread").await, json!({"count": 2}));

    // Another user's id changes nothing for either user.
    let ack = laptop.request("read", json!({ "ids": [erins] })).await;
    assert_eq!(ack["unread"], 2);
    assert_eq!(phone.next_event("unread").await, json!({"count": 2}));
    assert_eq!(laptop.next_event("unread").await, json!({"count": 2}));

    let ack = laptop.request("read", json!({ "all": true })).await;
    assert_eq!(ack, json!({"ok": true, "unread": 0}));
    assert_eq!(phone.next_event("unread").await, json!({"count": 0}));
    assert_eq!(laptop.next_event("unread").await, json!({"count": 0}));
    let listed = phone.request("list", json!({})).await;
    assert!(
        listed["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["read"] == true)
    );

    // Erin heard nothing of it, and hers is still unread.
    let listed = other.request("list", json!({})).await;
    assert_eq!(listed["unread"], 1);
    assert_eq!(other.pending("unread"), 0);
    app.stop().await.unwrap();
}

/// `list` answers one snapshot: while pushes commit, every answer's unread
/// count is the number of unread notifications it lists (all of them fit in
/// one page). Read apart, a push committed between the page and the count
/// was counted but not listed, and the browser page, adding what arrived
/// meanwhile, showed a badge of 2 for one notification.
async fn a_list_counts_exactly_what_it_lists_while_pushes_commit(engine: Engine) {
    let Some(config) = engine.config().await else {
        return;
    };
    // As many lists as the store answers, not the default events per second.
    let app = spawn_app(ServeConfig {
        rate_limit: 1_000_000,
        ..notifications_config(config)
    })
    .await;
    let user = unique_user("counted");
    const PUSHES: usize = 80;
    let pusher = {
        let api = Api::new(&app);
        let user = user.clone();
        tokio::spawn(async move {
            for _ in 0..PUSHES / 2 {
                tokio::join!(api.push_one(&user, "x"), api.push_one(&user, "y"));
            }
        })
    };
    let mut socket = notifications_socket(app.addr, &user, None).await;
    let mut lists = 0;
    let mut last_len = 0;
    loop {
        let done = pusher.is_finished();
        let answer = socket.request("list", json!({ "limit": 100 })).await;
        assert!(answer["notifications"].is_array(), "list {lists}: {answer}");
        let listed = listed_ids(&answer).len();
        assert_eq!(
            answer["unread"].as_u64(),
            Some(listed as u64),
            "list {lists}: the count of what it lists: {answer}"
        );
        assert!(
            listed >= last_len,
            "list {lists}: {listed} after {last_len}"
        );
        last_len = listed;
        lists += 1;
        if done {
            break;
        }
    }
    assert_eq!(last_len, PUSHES, "the last list has every push");
    assert!(lists > 2, "lists raced the pushes: {lists}");
    socket.close().await;
    app.stop().await.unwrap();
}

async fn list_pages_newest_first_with_filters(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let api = Api::new(&app);
    let fay = unique_user("fay");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(api.push_one(&fay, &format!("k{i}")).await);
    }
    let mut socket = notifications_socket(app.addr, &fay, None).await;
    socket
        .request("read", json!({ "ids": [ids[1], ids[3]] }))
        .await;

    let listed = socket.request("list", json!({})).await;
    let got = listed_ids(&listed);
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(got, newest_first);
    assert_eq!(listed["unread"], 3);

    let page = socket
        .request("list", json!({ "before": ids[3], "limit": 2 }))
        .await;
    let got = listed_ids(&page);
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);

    let unread = socket.request("list", json!({ "unread_only": true })).await;
    let got = listed_ids(&unread);
    assert_eq!(got, [ids[4].as_str(), ids[2].as_str(), ids[0].as_str()]);

    // The HTTP listing says the same.
    let (status, body) = api
        .get(&format!("/users/{fay}/notifications?unread_only=true"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["notifications"], unread["notifications"]);
    assert_eq!(body["unread"], 3);
    let (status, body) = api.get("/users/nobody-here/notifications").await;
    assert_eq!(
        (status, body),
        (200, json!({"notifications": [], "unread": 0}))
    );
    app.stop().await.unwrap();
}

async fn topics_and_broadcasts_are_live_only(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let api = Api::new(&app);
    let (gil, hal) = (unique_user("gil"), unique_user("hal"));
    let mut fan = notifications_socket(app.addr, &gil, None).await;
    let mut other = notifications_socket(app.addr, &hal, None).await;
    let ack = fan
        .request(
            "subscribe",
            json!({ "topics": ["sports", "news", "sports"] }),
        )
        .await;
    assert_eq!(ack, json!({"ok": true, "topics": ["news", "sports"]}));
    other.request("list", json!({})).await;

    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/notifications",
            Some(&json!({"topic": "sports", "kind": "goal", "data": {"score": "1-0"}})),
            &[],
        )
        .await;
    assert_eq!(
        (status, &body),
        (201, &json!({"notifications": [], "online": 1}))
    );
    let n = receive(&mut fan).await;
    assert_eq!(n["user"], Value::Null);
    assert_eq!(n["topic"], "sports");
    assert_eq!(n["kind"], "goal");
    assert!(n["id"].as_str().unwrap().starts_with("live:"));

    let ack = fan
        .request("unsubscribe", json!({ "topics": ["sports"] }))
        .await;
    assert_eq!(ack, json!({"ok": true, "topics": ["news"]}));
    let (_, body) = api
        .call(
            reqwest::Method::POST,
            "/notifications",
            Some(&json!({"topic": "sports", "kind": "goal"})),
            &[],
        )
        .await;
    assert_eq!(body["online"], 0);

    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/notifications",
            Some(&json!({"broadcast": true, "kind": "maintenance"})),
            &[],
        )
        .await;
    assert_eq!((status, body["online"].clone()), (201, json!(2)));
    for socket in [&mut fan, &mut other] {
        let n = receive(socket).await;
        assert_eq!(n["kind"], "maintenance");
        assert!(n.get("topic").is_none());
    }
    // Not stored: nobody's inbox has them, and no stray sports push arrived.
    let listed = fan.request("list", json!({})).await;
    assert_eq!(listed["notifications"], json!([]));
    assert_eq!(fan.pending("notification"), 0);
    app.stop().await.unwrap();
}

async fn bad_events_get_bad_request_and_change_nothing(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let api = Api::new(&app);
    let ivy = unique_user("ivy");
    let id = api.push_one(&ivy, "k").await;
    let mut socket = notifications_socket(app.addr, &ivy, None).await;
    let too_many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    for (event, payload) in [
        ("list", json!({ "limit": 0 })),
        ("list", json!({ "limit": "ten" })),
        ("list", json!({ "before": "yesterday" })),
        ("read", json!({})),
        ("read", json!({ "ids": [] })),
        ("read", json!({ "ids": ["nope"] })),
        ("read", json!({ "all": false })),
        ("read", json!({ "ids": [id], "all": true })),
        ("read", json!("all")),
        ("subscribe", json!({ "topics": [] })),
        ("subscribe", json!({ "topics": ["has space"] })),
        ("subscribe", json!({ "topics": too_many })),
        ("unsubscribe", json!({})),
        // The fields in order, as an array: an object or nothing.
        ("list", json!([true])),
        ("list", json!([false, null, 10])),
        ("read", json!([[id]])),
        ("read", json!([null, true])),
        ("subscribe", json!([["b"]])),
        ("unsubscribe", json!([["a"]])),
    ] {
        let ack = socket.request(event, payload.clone()).await;
        assert_eq!(error_code(&ack), "bad_request", "{event} {payload}");
    }
    // Without an ack callback the refusal is an `error` event.
    socket.emit("read", &[json!({})]).await;
    assert_eq!(socket.next_event("error").await["code"], "bad_request");
    socket.emit("read", &[json!([null, true])]).await;
    let error = socket.next_event("error").await;
    assert_eq!(error["code"], "bad_request");
    assert!(
        error["message"].as_str().unwrap().contains("an object"),
        "{error}"
    );

    let listed = socket.request("list", json!({})).await;
    assert_eq!(listed["unread"], 1, "nothing was marked read");
    let ack = socket
        .request("subscribe", json!({ "topics": ["a"] }))
        .await;
    assert_eq!(ack["topics"], json!(["a"]), "no topic was added");
    app.stop().await.unwrap();
}

async fn http_api_refusals(engine: Engine) {
    let Some((app, config)) = spawn(engine).await else {
        return;
    };
    let api = Api::new(&app);
    let http = reqwest::Client::new();
    let url = app.http_url("/api/v1/notifications");
    let body = json!({"users": ["x"], "kind": "k"});

    // Keys.
    for auth in [None, Some("Bearer wrong-key-0123456789"), Some(API_KEY)] {
        let mut request = http.post(&url).json(&body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "unauthorized");
    }

    // Bodies.
    for (bad, why) in [
        (json!({"kind": "k"}), "no target"),
        (
            json!({"users": ["a"], "topic": "t", "kind": "k"}),
            "two targets",
        ),
        (
            json!({"users": ["a"], "broadcast": true, "kind": "k"}),
            "two targets",
        ),
        (json!({"users": [], "kind": "k"}), "empty users"),
        (json!({"users": [""], "kind": "k"}), "empty user id"),
        (json!({"users": ["a"]}), "no kind"),
        (json!({"users": ["a"], "kind": ""}), "empty kind"),
        (json!({"users": ["a"], "kind": "x".repeat(65)}), "long kind"),
        (json!({"topic": "bad topic", "kind": "k"}), "bad topic"),
        (json!({"users": "a", "kind": "k"}), "users not a list"),
        (
            json!({"users": ["a"], "kind": "k", "extra": 1}),
            "unknown field",
        ),
        (json!({"broadcast": false, "kind": "k"}), "broadcast false"),
    ] {
        let (status, error) = api
            .call(reqwest::Method::POST, "/notifications", Some(&bad), &[])
            .await;
        assert_eq!(status, 400, "{why}: {error}");
        assert_eq!(error["error"]["code"], "bad_request", "{why}");
    }
    let response = http
        .post(&url)
        .bearer_auth(API_KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let big = json!({"users": ["a"], "kind": "k", "data": "x".repeat(usize::try_from(config.max_payload).unwrap())});
    let (status, error) = api
        .call(reqwest::Method::POST, "/notifications", Some(&big), &[])
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (413, &json!("too_large"))
    );

    // Emit.
    let (status, error) = api
        .call(
            reqwest::Method::POST,
            "/emit",
            Some(&json!({"namespace": "/nowhere", "event": "e"})),
            &[],
        )
        .await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (404, &json!("not_found"))
    );
    for bad in [
        json!({"namespace": "/chat", "event": "connect"}),
        json!({"namespace": "/chat", "event": ""}),
        json!({"namespace": "/chat", "event": "e", "room": "no spaces"}),
        json!({"event": "e"}),
    ] {
        let (status, _) = api
            .call(reqwest::Method::POST, "/emit", Some(&bad), &[])
            .await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, error) = api.get("/no/such/thing").await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (404, &json!("not_found"))
    );

    // Nothing was stored by any of it.
    let (_, listed) = api.get("/users/a/notifications").await;
    assert_eq!(listed["unread"], 0);
    app.stop().await.unwrap();
}

async fn idempotent_retries_send_nothing_again(engine: Engine) {
    let Some((app, _)) = spawn(engine).await else {
        return;
    };
    let api = Api::new(&app);
    let jo = unique_user("jo");
    let mut socket = listening_socket(app.addr, &jo, None).await;
    let body = json!({"users": [jo], "kind": "invoice", "data": {"n": 1}});
    let key = [("Idempotency-Key", "invoice-1")];

    let (status, first) = api
        .call(reqwest::Method::POST, "/notifications", Some(&body), &key)
        .await;
    assert_eq!(status, 201);
    assert_eq!(first["online"], 1);
    receive(&mut socket).await;
    let (status, again) = api
        .call(reqwest::Method::POST, "/notifications", Some(&body), &key)
        .await;
    assert_eq!((status, &again), (201, &first), "the first response again");

    let other = json!({"users": [jo], "kind": "invoice", "data": {"n": 2}});
    let (status, error) = api
        .call(reqwest::Method::POST, "/notifications", Some(&other), &key)
        .await;
    assert_eq!(status, 409, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("different request body")
    );

    // Concurrent retries with a fresh key: one push, one answer for all.
    let key2 = [("Idempotency-Key", "invoice-2")];
    let body2 = json!({"users": [jo], "kind": "invoice", "data": {"n": 3}});
    let (a, b, c) = tokio::join!(
        api.call(reqwest::Method::POST, "/notifications", Some(&body2), &key2),
        api.call(reqwest::Method::POST, "/notifications", Some(&body2), &key2),
        api.call(reqwest::Method::POST, "/notifications", Some(&body2), &key2),
    );
    assert_eq!(a.0, 201);
    assert_eq!(a.1["notifications"], b.1["notifications"]);
    assert_eq!(a.1["notifications"], c.1["notifications"]);
    receive(&mut socket).await;

    // A key is per API key and per request: the same key on a topic push is its own.
    let (status, listed) = api.get(&format!("/users/{jo}/notifications")).await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["notifications"].as_array().unwrap().len(),
        2,
        "two pushes stored, whatever the retries: {listed}"
    );
    socket.request("list", json!({})).await;
    assert_eq!(socket.pending("notification"), 0, "retries sent nothing");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn emit_reaches_a_chat_room_from_the_http_api() {
    let app = spawn_app(notifications_config(test_config())).await;
    let api = Api::new(&app);
    let mut inside = SioClient::connect(app.addr, "/chat").await;
    let mut outside = SioClient::connect(app.addr, "/chat").await;
    inside
        .request("join", json!({"room": "lobby", "name": "In"}))
        .await;
    outside
        .request("join", json!({"room": "hall", "name": "Out"}))
        .await;
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/emit",
            Some(&json!({"namespace": "/chat", "room": "lobby", "event": "announcement", "data": {"text": "hi"}})),
            &[],
        )
        .await;
    assert_eq!((status, body), (202, json!({"ok": true})));
    assert_eq!(
        inside.next_event("announcement").await,
        json!({"text": "hi"})
    );
    outside.request("history", json!({"room": "hall"})).await;
    assert_eq!(outside.pending("announcement"), 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn development_mode_serves_demo_tokens_and_the_development_key() {
    // test_config() is loopback without secret or keys: development mode.
    let app = spawn_app(test_config()).await;
    let http = reqwest::Client::new();
    let demo: Value = json_body(http.get(app.http_url("/demo/token?user=zoe"))).await;
    assert_eq!(demo["user"], "zoe");
    assert_eq!(
        demo["api_key"],
        switchboard::notifications::credentials::DEVELOPMENT_API_KEY
    );
    let auth = json!({ "token": demo["token"] });
    SioClient::connect_with_auth(app.addr, "/notifications", Some(auth))
        .await
        .expect("the demo token signs in");
    let response = http
        .get(app.http_url("/api/v1/users/zoe/notifications"))
        .bearer_auth(demo["api_key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await.unwrap();

    // With a real secret there are no demo tokens, and the development
    // token and key are refused.
    let app = spawn_app(notifications_config(test_config())).await;
    let response = http
        .get(app.http_url("/demo/token?user=zoe"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let auth = json!({ "token": demo["token"] });
    let refusal = SioClient::connect_with_auth(app.addr, "/notifications", Some(auth))
        .await
        .err()
        .expect("the development token is refused");
    assert_eq!(refusal, "unauthorized");
    let response = http
        .get(app.http_url("/api/v1/users/zoe/notifications"))
        .bearer_auth(demo["api_key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn each_api_key_has_its_own_request_rate() {
    let mut config = notifications_config(test_config());
    let other_key = "second-api-key-0123456789";
    config.api_keys.push(Secret::from(other_key));
    config.api_rate_limit = 2; // bursts of 4
    let app = spawn_app(config).await;
    let http = reqwest::Client::new();
    let url = app.http_url("/api/v1/users/u/notifications");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = http.get(&url).bearer_auth(API_KEY).send().await.unwrap();
        let status = response.status().as_u16();
        if status == 429 {
            assert_eq!(response.headers()["retry-after"], "1");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "rate_limited");
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..4], [200; 4], "the burst passes: {statuses:?}");
    assert!(statuses.contains(&429), "then the rate holds: {statuses:?}");
    // Another key is not held back by the first one's traffic.
    let response = http.get(&url).bearer_auth(other_key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await.unwrap();
}
