//! The events one socket sends are handled in the order they arrived, acks
//! included, on every transport (PROTOCOL.md, Conventions); another socket's
//! slow handler does not hold them up; and a socket may queue only so many.

use serde_json::{Value, json};

use crate::helpers::{
    RawSocket, SioClient, TestApp, WAIT, polling_session, spawn_app, test_config,
};

const EVENTS: usize = 1000;

/// The ack ids of `43...` packets among `packets`, in arrival order, checking
/// that each ack carries its own number back.
fn ack_ids<'a>(prefix: &str, packets: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
    packets
        .into_iter()
        .filter_map(|p| p.strip_prefix(prefix))
        .map(|rest| {
            let open = rest.find('[').expect("ack arguments");
            let id: usize = rest[..open].parse().expect("ack id");
            let args: Value = serde_json::from_str(&rest[open..]).unwrap();
            assert_eq!(
                args,
                json!([id]),
                "ack {id} carries its own event's argument"
            );
            id
        })
        .collect()
}

fn in_order() -> Vec<usize> {
    (0..EVENTS).collect()
}

async fn poll(app: &TestApp, sid: &str) -> String {
    poll_live(app, sid).await.expect("the session is live")
}

/// The next batch of packets, or `None` once the session is gone (400).
async fn poll_live(app: &TestApp, sid: &str) -> Option<String> {
    let url = app.polling_url(sid);
    let response = tokio::time::timeout(WAIT, reqwest::get(url))
        .await
        .expect("poll answers in time")
        .unwrap();
    if response.status() == 400 {
        return None;
    }
    assert_eq!(response.status(), 200);
    Some(response.text().await.unwrap())
}

async fn post(app: &TestApp, sid: &str, packets: &[String]) {
    let url = app.polling_url(sid);
    let response = reqwest::Client::new()
        .post(url)
        .body(packets.join("\u{1e}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// A polling session that has sent `connect` (`40`, `40/chat,`); its sid.
async fn polling_connected(app: &TestApp, connect: &str) -> String {
    let (sid, _) = polling_session(app).await;
    post(app, &sid, &[connect.to_owned()]).await;
    sid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_acked_events_over_websocket_are_answered_in_order_beside_a_slow_handler() {
    let app = spawn_app(unlimited()).await;
    // The slow one: its `emit-with-ack` handler waits for an ack the client
    // withholds until the other socket is done.
    let mut slow = SioClient::connect(app.addr, "/echo").await;
    slow.emit("emit-with-ack", &[json!("hold")]).await;
    let (_, held) = slow.next_event_with_ack("emit-with-ack").await;
    let held = held.expect("the server asked for an ack");

    let mut fast = RawSocket::connect_ns(&app, "/echo", None).await;
    for i in 0..EVENTS {
        fast.send_text(&format!(r#"42/echo,{i}["message-with-ack",{i}]"#))
            .await;
    }
    let mut texts = Vec::new();
    while texts.len() < EVENTS {
        texts.push(fast.next_text().await);
    }
    assert_eq!(
        ack_ids("43/echo,", texts.iter().map(String::as_str)),
        in_order()
    );

    // The slow handler was still waiting all along: it finishes only now.
    slow.answer(held, &[json!("released")]).await;
    let finished = slow.next_event("emit-with-ack").await;
    assert_eq!(finished, json!("released"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_acked_events_in_polling_posts_are_answered_in_order() {
    let app = spawn_app(unlimited()).await;
    let sid = polling_connected(&app, "40").await;
    let mut packets: Vec<String> = Vec::new();
    while !packets.iter().any(|p| p.starts_with("40{")) {
        packets.extend(poll(&app, &sid).await.split('\u{1e}').map(str::to_owned));
    }
    // Many packets per POST, as a polling client sends what it buffered; a
    // batch at a time, so the session's outgoing buffer (1024 packets by
    // default, --max-buffered-packets) holds every answer until the next poll.
    let mut acks = Vec::new();
    for batch in (0..EVENTS).collect::<Vec<_>>().chunks(100) {
        let events: Vec<String> = batch
            .iter()
            .map(|i| format!(r#"42{i}["message-with-ack",{i}]"#))
            .collect();
        post(&app, &sid, &events).await;
        let until = batch.last().unwrap() + 1;
        while acks.len() < until {
            let body = poll(&app, &sid).await;
            acks.extend(ack_ids("43", body.split('\u{1e}')));
        }
    }
    assert_eq!(acks, in_order());
    app.stop().await.unwrap();
}

/// Settings where only the order is under test, not the rate limits (1000
/// events back to back would sit right at echo's default burst).
fn unlimited() -> switchboard::ServeConfig {
    let mut config = test_config();
    config.rate_limit = 100_000;
    config.rate_burst = 100_000;
    config.echo_rate_limit = 100_000;
    config
}

/// Every stored message text of `room`, oldest first, read page by page.
async fn stored_texts(reader: &mut SioClient, room: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut before: Option<Value> = None;
    loop {
        let mut query = json!({ "room": room, "limit": 100 });
        if let Some(before) = &before {
            query["before"] = before.clone();
        }
        let page = reader.request("history", query).await;
        let messages = page["messages"].as_array().expect("a history page").clone();
        if messages.is_empty() {
            return texts;
        }
        before = Some(messages[0]["id"].clone());
        let page_texts = messages
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned());
        texts.splice(0..0, page_texts);
    }
}

const MESSAGES: usize = 300;

fn expected_texts() -> Vec<String> {
    (0..MESSAGES).map(|i| format!("m{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chat_messages_fired_without_waiting_are_stored_in_order_over_websocket() {
    let app = spawn_app(unlimited()).await;
    let mut sender = SioClient::connect(app.addr, "/chat").await;
    sender
        .request("join", json!({ "room": "order", "name": "Ada" }))
        .await;
    let ids: Vec<u64> = {
        let mut ids = Vec::new();
        for i in 0..MESSAGES {
            let args = [json!({ "room": "order", "text": format!("m{i}") })];
            ids.push(sender.send_with_ack("message", &args).await);
        }
        ids
    };
    for id in ids {
        let ack = sender.ack(id).await;
        assert_eq!(ack[0]["ok"], true, "{ack:?}");
    }
    assert_eq!(stored_texts(&mut sender, "order").await, expected_texts());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chat_messages_in_one_polling_post_are_stored_in_order() {
    let app = spawn_app(unlimited()).await;
    let sid = polling_connected(&app, "40/chat,").await;
    let mut seen = String::new();
    while !seen.contains("40/chat,{") {
        seen = poll(&app, &sid).await;
    }
    let join = r#"42/chat,0["join",{"room":"order","name":"Ada"}]"#.to_owned();
    let mut packets = vec![join];
    packets.extend((0..MESSAGES).map(|i| {
        format!(
            r#"42/chat,{}["message",{{"room":"order","text":"m{i}"}}]"#,
            i + 1
        )
    }));
    post(&app, &sid, &packets).await;
    let mut acked = 0;
    while acked < MESSAGES + 1 {
        let body = poll(&app, &sid).await;
        for packet in body.split('\u{1e}').filter(|p| p.starts_with("43/chat,")) {
            assert!(packet.contains(r#""ok":true"#), "{packet}");
            acked += 1;
        }
    }
    let mut reader = SioClient::connect(app.addr, "/chat").await;
    reader
        .request("join", json!({ "room": "order", "name": "Reader" }))
        .await;
    assert_eq!(stored_texts(&mut reader, "order").await, expected_texts());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_socket_that_queues_past_the_bound_is_refused_then_disconnected() {
    let mut config = unlimited();
    config.event_queue = 4;
    let app = spawn_app(config).await;
    let mut bystander = SioClient::connect(app.addr, "/chat").await;
    bystander
        .request("join", json!({ "room": "busy", "name": "Bob" }))
        .await;

    let mut flood = RawSocket::connect(&app).await;
    flood.send_text("40/chat,").await;
    assert!(flood.next_text().await.starts_with("40/chat,{"));
    flood
        .send_text(r#"42/chat,0["join",{"room":"busy","name":"Flood"}]"#)
        .await;
    assert!(flood.next_text().await.starts_with("43/chat,0"));
    // Each message waits for a durable commit; a hundred sent back to back
    // queue up far faster than they are stored.
    for i in 1..=100 {
        flood
            .send_text(&format!(
                r#"42/chat,{i}["message",{{"room":"busy","text":"f{i}"}}]"#
            ))
            .await;
    }
    let mut refused = 0;
    loop {
        match flood.next_text_or_close().await {
            Some(packet) if packet == "41/chat," => break,
            Some(packet) => {
                if packet.starts_with("43/chat,") && packet.contains("rate_limited") {
                    refused += 1;
                }
            }
            None => break,
        }
    }
    assert!(
        refused >= 1,
        "the event past the bound is answered rate_limited"
    );

    // The bystander is unaffected.
    let ack = bystander
        .request("message", json!({ "room": "busy", "text": "still fine" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn overlapping_polling_posts_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app(test_config()).await;
    let sid = polling_connected(&app, "40").await;
    let mut seen = String::new();
    while !seen.contains("auth") {
        seen.push_str(&poll(&app, &sid).await);
    }
    // A first POST whose body is still arriving.
    let body = r#"42["message","first"]"#;
    let mut first = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        body.len()
    );
    first.write_all(head.as_bytes()).await.unwrap();
    first.write_all(&body.as_bytes()[..5]).await.unwrap();
    first.flush().await.unwrap();

    // A second POST of the same session meanwhile is refused and changes nothing.
    let url = app.polling_url(&sid);
    let refused = loop {
        let response = reqwest::Client::new()
            .post(&url)
            .body(r#"42["message","second"]"#)
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            break response.status();
        }
        // The first POST was not being read yet: that one went through alone.
        assert!(poll(&app, &sid).await.contains("second"));
    };
    assert_eq!(refused, 400);

    // The first completes normally and the session lives on.
    first.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut response = vec![0; 1024];
    let n = tokio::time::timeout(WAIT, first.read(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(poll(&app, &sid).await.contains("first"));
    app.stop().await.unwrap();
}
