//! `/chat` over raw Socket.IO frames, on SQLite and on PostgreSQL: every event,
//! every refusal, the rate limit, and history across a restart.

use serde_json::{Value, json};

use crate::helpers::*;

on_both_engines!(
    join_lists_members_and_tells_the_others,
    messages_are_stored_then_sent_to_the_others,
    history_pages_backwards_oldest_first,
    typing_reaches_the_others_only,
    leave_and_disconnect_tell_the_others,
    bad_input_is_refused_and_changes_nothing,
    non_members_are_forbidden,
    history_survives_a_restart,
    members_lists_the_room_on_request,
);

async fn join(client: &mut SioClient, room: &str, name: &str) -> Value {
    client
        .request_ok("join", json!({ "room": room, "name": name }))
        .await
}

async fn say(client: &mut SioClient, room: &str, text: &str) -> Value {
    let ack = client
        .request_ok("message", json!({ "room": room, "text": text }))
        .await;
    ack["message"].clone()
}

fn member(client: &SioClient, name: &str) -> Value {
    json!({ "id": client.id, "name": name })
}

async fn join_lists_members_and_tells_the_others(engine: Engine) {
    let Some(app) = engine.spawn().await else {
        return;
    };
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    let mut bob = SioClient::connect(app.addr, "/chat").await;

    let ack = join(&mut ada, "lobby", "  Ada ").await;
    assert_eq!(ack["room"], "lobby");
    assert_eq!(
        ack["members"],
        json!([member(&ada, "Ada")]),
        "name is trimmed"
    );
    assert_eq!(ack["history"], json!([]));

    let ack = join(&mut bob, "lobby", "Bob").await;
    let both = json!([member(&ada, "Ada"), member(&bob, "Bob")]);
    assert_eq!(ack["members"], both);

    // The others hear who joined and how many are in now, not the list.
    let presence = ada.next_event("presence").await;
    assert_eq!(
        presence,
        json!({ "room": "lobby", "event": "join", "member": member(&bob, "Bob"), "count": 2 })
    );
    // Bob is not told about his own join.
    say(&mut bob, "lobby", "sync").await;
    assert_eq!(bob.pending("presence"), 0);
    app.stop().await.unwrap();
}

async fn messages_are_stored_then_sent_to_the_others(engine: Engine) {
    let Some(app) = engine.spawn().await else {
        return;
    };
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    let mut eve = SioClient::connect(app.addr, "/chat").await;
    join(&mut ada, "lobby", "Ada").await;
    join(&mut bob, "lobby", "Bob").await;
    join(&mut eve, "elsewhere", "Eve").await;

    let before = switchboard::protocol::now_ms();
    let text = "héllo wörld ✓ ".repeat(10);
    let sent = say(&mut ada, "lobby", &text).await;
    assert_eq!(sent["room"], "lobby");
    assert_eq!(sent["text"], text.as_str());
    assert_eq!(sent["from"], member(&ada, "Ada"));
    let ts = sent["ts"].as_i64().unwrap();
    assert!(
        ts >= before && ts <= switchboard::protocol::now_ms(),
        "ts {ts}"
    );
    let id = sent["id"].as_str().unwrap();
    assert!(!id.is_empty());

    assert_eq!(
        bob.next_event("message").await,
        sent,
        "Bob gets the stored message"
    );

    // 4000 characters (not bytes) is the limit.
    let long = "é".repeat(4000);
    let second = say(&mut bob, "lobby", &long).await;
    assert!(
        second["id"].as_str().unwrap() > id,
        "ids sort in creation order"
    );
    assert_eq!(ada.next_event("message").await, second);

    // Neither the sender nor another room hears it.
    let third = say(&mut eve, "elsewhere", "only here").await;
    assert_eq!(eve.pending("message"), 0);
    assert_eq!(ada.pending("message"), 0);
    assert_eq!(bob.pending("message"), 0);
    assert!(third["id"].as_str().unwrap() > second["id"].as_str().unwrap());

    let history = ada.request("history", json!({ "room": "lobby" })).await;
    assert_eq!(history["messages"], json!([sent, second]));
    app.stop().await.unwrap();
}

async fn history_pages_backwards_oldest_first(engine: Engine) {
    // 60 messages at once is more than the default burst.
    let Some(app) = engine.spawn_with(|config| config.rate_burst = 100).await else {
        return;
    };
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    join(&mut ada, "lobby", "Ada").await;
    // Sent without waiting for each ack, so the writer commits them in batches.
    let mut acks = Vec::new();
    for n in 0..60 {
        let id = ada
            .send_with_ack(
                "message",
                &[json!({ "room": "lobby", "text": format!("m{n}") })],
            )
            .await;
        acks.push(id);
    }
    let mut sent = Vec::new();
    for id in acks {
        let ack = ada.ack(id).await.remove(0);
        assert_eq!(ack["ok"], true, "{ack}");
        sent.push(ack["message"].clone());
    }
    let texts: Vec<String> = (0..60).map(|n| format!("m{n}")).collect();
    let sent_texts: Vec<&str> = sent.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(sent_texts, texts, "acks come back in sending order");
    let ids: Vec<&str> = sent.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    // A newcomer gets the last 50 on join, oldest first.
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    let joined = join(&mut bob, "lobby", "Bob").await;
    assert_eq!(joined["history"], json!(sent[10..]));

    let page = bob
        .request(
            "history",
            json!({ "room": "lobby", "before": ids[10], "limit": 4 }),
        )
        .await;
    assert_eq!(page["messages"], json!(sent[6..10]));
    let page = bob
        .request("history", json!({ "room": "lobby", "before": ids[3] }))
        .await;
    assert_eq!(page["messages"], json!(sent[..3]));
    let page = bob
        .request("history", json!({ "room": "lobby", "before": ids[0] }))
        .await;
    assert_eq!(page["messages"], json!([]));
    let page = bob
        .request("history", json!({ "room": "lobby", "limit": 100 }))
        .await;
    assert_eq!(page["messages"], json!(sent));
    app.stop().await.unwrap();
}

async fn typing_reaches_the_others_only(engine: Engine) {
    let Some(app) = engine.spawn().await else {
        return;
    };
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    join(&mut ada, "lobby", "Ada").await;
    join(&mut bob, "lobby", "Bob").await;

    for typing in [true, false] {
        let ack = ada
            .request("typing", json!({ "room": "lobby", "typing": typing }))
            .await;
        assert_eq!(ack, json!({ "ok": true }));
        assert_eq!(
            bob.next_event("typing").await,
            json!({ "room": "lobby", "member": member(&ada, "Ada"), "typing": typing })
        );
    }
    say(&mut ada, "lobby", "sync").await;
    assert_eq!(ada.pending("typing"), 0);
    app.stop().await.unwrap();
}

async fn leave_and_disconnect_tell_the_others(engine: Engine) {
    let Some(app) = engine.spawn().await else {
        return;
    };
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    let mut cy = SioClient::connect(app.addr, "/chat").await;
    join(&mut ada, "lobby", "Ada").await;
    join(&mut bob, "lobby", "Bob").await;
    join(&mut cy, "lobby", "Cy").await;
    join(&mut bob, "side", "Bobby").await;
    join(&mut cy, "side", "Cy").await;
    ada.next_event("presence").await;
    ada.next_event("presence").await;
    bob.next_event("presence").await;
    bob.next_event("presence").await; // Cy in side

    let ack = ada.request("leave", json!({ "room": "lobby" })).await;
    assert_eq!(ack, json!({ "ok": true }));
    let left = json!({
        "room": "lobby", "event": "leave", "member": member(&ada, "Ada"), "count": 2,
    });
    assert_eq!(bob.next_event("presence").await, left);
    assert_eq!(cy.next_event("presence").await, left);
    // No longer a member: its messages are refused, and it hears nothing.
    let refused = ada
        .request("message", json!({ "room": "lobby", "text": "hi" }))
        .await;
    assert_eq!(error_code(&refused), "forbidden");

    // Disconnecting leaves every room the same way.
    drop(bob);
    let mut seen = vec![
        cy.next_event("presence").await,
        cy.next_event("presence").await,
    ];
    seen.sort_by_key(|p| p["room"].as_str().unwrap().to_string());
    assert_eq!(
        seen,
        vec![
            json!({ "room": "lobby", "event": "leave", "member": { "id": seen[0]["member"]["id"], "name": "Bob" }, "count": 1 }),
            json!({ "room": "side", "event": "leave", "member": { "id": seen[0]["member"]["id"], "name": "Bobby" }, "count": 1 }),
        ]
    );
    say(&mut cy, "lobby", "alone").await;
    assert_eq!(ada.pending("message"), 0);
    app.stop().await.unwrap();
}

async fn bad_input_is_refused_and_changes_nothing(engine: Engine) {
    // More refused events than the default burst allows in a second.
    let Some(app) = engine.spawn_with(|config| config.rate_burst = 1000).await else {
        return;
    };
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    join(&mut bob, "lobby", "Bob").await;

    let bad_joins = [
        json!({ "name": "Ada" }),
        json!({ "room": "lobby" }),
        json!({ "room": "lob by", "name": "Ada" }),
        json!({ "room": "x".repeat(65), "name": "Ada" }),
        json!({ "room": "", "name": "Ada" }),
        json!({ "room": 7, "name": "Ada" }),
        json!({ "room": "lobby", "name": "   " }),
        json!({ "room": "lobby", "name": "a".repeat(33) }),
        json!({ "room": "lobby", "name": "bell\u{7}" }),
        json!("lobby"),
        json!(null),
        // The fields in order, as an array: an object or nothing.
        json!(["lobby", "Ada"]),
        json!([["lobby", "Ada"]]),
    ];
    for bad in bad_joins {
        let ack = ada.request("join", bad.clone()).await;
        assert_eq!(error_code(&ack), "bad_request", "join {bad}");
    }
    // No arguments at all.
    let id = ada.send_with_ack("join", &[]).await;
    assert_eq!(error_code(&ada.ack(id).await[0]), "bad_request");
    // None of them joined: Bob heard no presence, Ada is no member.
    let refused = ada
        .request("message", json!({ "room": "lobby", "text": "hi" }))
        .await;
    assert_eq!(error_code(&refused), "forbidden");
    assert_eq!(bob.pending("presence"), 0);

    join(&mut ada, "lobby", "Ada").await;
    bob.next_event("presence").await;
    let bad_messages = [
        json!({ "room": "lobby", "text": "" }),
        json!({ "room": "lobby", "text": "   \n " }),
        json!({ "room": "lobby", "text": "x".repeat(4001) }),
        json!({ "room": "lobby", "text": 42 }),
        json!({ "room": "lobby" }),
        json!({ "text": "hi" }),
        json!({ "room": "no such/room", "text": "hi" }),
        json!(["lobby", "hi"]),
    ];
    for bad in bad_messages {
        let ack = ada.request("message", bad.clone()).await;
        assert_eq!(error_code(&ack), "bad_request", "message {bad}");
    }
    for bad in [
        json!({ "room": "lobby", "typing": "yes" }),
        json!({ "room": "lobby" }),
        json!({ "typing": true }),
        json!(["lobby", true]),
    ] {
        let ack = ada.request("typing", bad.clone()).await;
        assert_eq!(error_code(&ack), "bad_request", "typing {bad}");
    }
    for bad in [
        json!({ "room": "lobby", "limit": 0 }),
        json!({ "room": "lobby", "limit": 101 }),
        json!({ "room": "lobby", "limit": -1 }),
        json!({ "room": "lobby", "limit": "ten" }),
        json!({ "room": "lobby", "before": "not-an-id" }),
        json!({ "room": "lobby", "before": 5 }),
        json!({}),
        json!(["lobby"]),
    ] {
        let ack = ada.request("history", bad.clone()).await;
        assert_eq!(error_code(&ack), "bad_request", "history {bad}");
    }
    for bad in [json!({}), json!({ "room": "a b" }), json!(["lobby"])] {
        let ack = ada.request("leave", bad.clone()).await;
        assert_eq!(error_code(&ack), "bad_request", "leave {bad}");
    }
    // Nothing was stored or sent, and the socket still works.
    let history = ada.request("history", json!({ "room": "lobby" })).await;
    assert_eq!(history["messages"], json!([]));
    let sent = say(&mut ada, "lobby", "still here").await;
    assert_eq!(bob.next_event("message").await, sent);
    assert_eq!(bob.pending("typing"), 0);
    // Ada is still in, once: no presence for the refused joins and leaves.
    assert_eq!(bob.pending("presence"), 0);

    // Without an ack the refusal arrives as an `error` event.
    ada.emit("message", &[json!({ "room": "lobby", "text": "" })])
        .await;
    let error = ada.next_event("error").await;
    assert_eq!(error["code"], "bad_request");
    assert!(
        error["message"].as_str().unwrap().contains("text"),
        "{error}"
    );
    ada.emit_raw(r#"["join",{"room":"lobby","name":42}]"#).await;
    assert_eq!(ada.next_event("error").await["code"], "bad_request");
    // An array is not read as the fields in order; the refusal says so.
    ada.emit_raw(r#"["join",["lobby","Ada"]]"#).await;
    let error = ada.next_event("error").await;
    assert_eq!(error["code"], "bad_request");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("an object {room, name}"),
        "{error}"
    );
    app.stop().await.unwrap();
}

async fn non_members_are_forbidden(engine: Engine) {
    let Some(app) = engine.spawn().await else {
        return;
    };
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    join(&mut bob, "lobby", "Bob").await;
    join(&mut ada, "other", "Ada").await;

    for (event, payload) in [
        ("message", json!({ "room": "lobby", "text": "hi" })),
        ("typing", json!({ "room": "lobby", "typing": true })),
        ("history", json!({ "room": "lobby" })),
        ("leave", json!({ "room": "lobby" })),
        ("members", json!({ "room": "lobby" })),
    ] {
        let ack = ada.request(event, payload).await;
        assert_eq!(error_code(&ack), "forbidden", "{event}");
    }
    ada.emit("typing", &[json!({ "room": "lobby", "typing": true })])
        .await;
    assert_eq!(ada.next_event("error").await["code"], "forbidden");
    // Bob heard none of it.
    let sent = say(&mut bob, "lobby", "sync").await;
    let history = bob.request("history", json!({ "room": "lobby" })).await;
    assert_eq!(history["messages"], json!([sent]));
    assert_eq!(bob.pending("typing") + bob.pending("presence"), 0);
    app.stop().await.unwrap();
}

/// `members {room}` answers the whole list (presence only carries changes):
/// sorted by name, with the count, renames included; members only.
async fn members_lists_the_room_on_request(engine: Engine) {
    let Some(app) = engine.spawn().await else {
        return;
    };
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    join(&mut bob, "lobby", "Bob").await;
    join(&mut ada, "lobby", "Ada").await;
    let ack = bob.request("members", json!({ "room": "lobby" })).await;
    assert_eq!(
        ack,
        json!({ "ok": true, "room": "lobby", "members": [member(&ada, "Ada"), member(&bob, "Bob")], "count": 2 })
    );
    // A member joining again under another name is one member, renamed: the
    // others hear a `join` of the same id with the count unchanged.
    join(&mut ada, "lobby", "Zoe").await;
    assert_eq!(bob.next_event("presence").await["count"], 2);
    let renamed = bob.next_event("presence").await;
    assert_eq!(
        renamed,
        json!({ "room": "lobby", "event": "join", "member": member(&ada, "Zoe"), "count": 2 })
    );
    let ack = ada.request("members", json!({ "room": "lobby" })).await;
    assert_eq!(
        ack["members"],
        json!([member(&bob, "Bob"), member(&ada, "Zoe")])
    );
    for bad in [json!({}), json!({ "room": "a b" }), json!(["lobby"])] {
        let ack = ada.request("members", bad.clone()).await;
        assert_eq!(error_code(&ack), "bad_request", "members {bad}");
    }
    app.stop().await.unwrap();
}

async fn history_survives_a_restart(engine: Engine) {
    let Some(mut config) = engine.config().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    if let Engine::Sqlite = engine {
        config.database_url =
            switchboard::config::DatabaseUrl::Sqlite(data_dir.path().join("chat.db"));
    }
    let app = spawn_app(config.clone()).await;
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    join(&mut ada, "lobby", "Ada").await;
    let first = say(&mut ada, "lobby", "before the restart").await;
    let second = say(&mut ada, "lobby", "me too").await;
    drop(ada);
    app.stop().await.unwrap();

    let app = spawn_app(config).await;
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    let joined = join(&mut bob, "lobby", "Bob").await;
    assert_eq!(joined["history"], json!([first, second]));
    let third = say(&mut bob, "lobby", "after").await;
    assert!(third["id"].as_str().unwrap() > second["id"].as_str().unwrap());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_flooding_socket_is_refused_then_disconnected() {
    let mut config = test_config();
    config.rate_limit = 1;
    config.rate_burst = 5;
    let app = spawn_app(config).await;
    let mut ada = SioClient::connect(app.addr, "/chat").await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(
            ada.send_with_ack("typing", &[json!({ "room": "lobby", "typing": true })])
                .await,
        );
    }
    let mut codes = Vec::new();
    for id in ids {
        if ada.disconnected {
            break;
        }
        let ack = ada.ack(id).await.remove(0);
        codes.push(ack["error"]["code"].as_str().unwrap_or("ok").to_string());
    }
    // The burst is allowed (not a member, so `forbidden`), then refused.
    let allowed = codes.iter().take_while(|c| *c == "forbidden").count();
    assert!((5..=6).contains(&allowed), "{codes:?}");
    assert!(
        codes[allowed..].iter().all(|c| c == "rate_limited"),
        "{codes:?}"
    );
    assert!(
        codes.len() > allowed + 4,
        "refusals before the disconnect: {codes:?}"
    );
    ada.until_disconnected().await;

    // Another socket is not affected.
    let mut bob = SioClient::connect(app.addr, "/chat").await;
    join(&mut bob, "lobby", "Bob").await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn readiness_reports_the_store() {
    let app = spawn_app(test_config()).await;
    let body: Value = reqwest::get(app.http_url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["checks"]["store"],
        json!({ "ok": true, "engine": "sqlite" })
    );
    app.stop().await.unwrap();
}

/// Clients emit `join` from their `connect` callback. The handlers must be in
/// place before the CONNECT packet goes out, or such an event can arrive first
/// and be dropped (it did, under the benchmark, before they were registered in
/// a connect middleware). A multi-threaded runtime and many sockets make the
/// race likely if it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_as_soon_as_connected_is_handled() {
    let app = spawn_app(test_config()).await;
    let mut clients = Vec::new();
    for n in 0..300 {
        let mut client = SioClient::connect(app.addr, "/chat").await;
        join(
            &mut client,
            &format!("room-{}", n % 30),
            &format!("user{n}"),
        )
        .await;
        clients.push(client);
    }
    app.stop().await.unwrap();
}
