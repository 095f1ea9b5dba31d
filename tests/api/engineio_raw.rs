//! Engine.IO behaviour that real clients hide: handshake values, the heartbeat
//! schedule, payload limits, closing.

use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn polling_handshake_advertises_the_configured_heartbeat_and_payload() {
    let app = spawn_app(conformance_config()).await;
    let (sid, handshake) = polling_session(&app).await;
    assert!(!sid.is_empty());
    let mut keys: Vec<_> = handshake.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
    assert_eq!(handshake["pingInterval"], 300);
    assert_eq!(handshake["pingTimeout"], 200);
    assert_eq!(handshake["maxPayload"], 1_000_000);
    assert_eq!(handshake["upgrades"], serde_json::json!(["websocket"]));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn websocket_handshake_follows_the_settings() {
    let app = spawn_app(switchboard::ServeConfig {
        ping_interval: Duration::from_secs(7),
        ping_timeout: Duration::from_secs(3),
        max_payload: 4096,
        ..test_config()
    })
    .await;
    let socket = RawSocket::connect(&app).await;
    assert_eq!(socket.handshake["pingInterval"], 7000);
    assert_eq!(socket.handshake["pingTimeout"], 3000);
    assert_eq!(socket.handshake["maxPayload"], 4096);
    assert_eq!(socket.handshake["upgrades"], serde_json::json!([]));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn bad_handshake_requests_are_400() {
    let app = spawn_app(test_config()).await;
    let client = reqwest::Client::new();
    for query in [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=4",
        "EIO=4&transport=abc",
    ] {
        let status = client
            .get(app.http_url(&format!("/socket.io/?{query}")))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 400, "{query}");
    }
    let status = client
        .post(app.http_url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400, "POST without sid");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn first_ping_comes_one_interval_after_the_handshake() {
    let interval = Duration::from_millis(800);
    let app = spawn_app(switchboard::ServeConfig {
        ping_interval: interval,
        ping_timeout: Duration::from_secs(2),
        ..test_config()
    })
    .await;

    // WebSocket: the first frame after the handshake is the ping, not before the interval.
    let started = Instant::now();
    let mut socket = RawSocket::connect(&app).await;
    assert_eq!(socket.next_frame().await, Message::Text("2".into()));
    let waited = started.elapsed();
    assert!(
        waited >= interval - Duration::from_millis(50),
        "first ping after {waited:?}"
    );

    // Polling: the first GET is held until the ping.
    let started = Instant::now();
    let (sid, _) = polling_session(&app).await;
    let body = reqwest::get(app.polling_url(&sid))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "2");
    let waited = started.elapsed();
    assert!(
        waited >= interval - Duration::from_millis(50),
        "first ping after {waited:?}"
    );
    app.stop().await.unwrap();
}

/// An app on the conformance settings and the sid of a polling session on it.
async fn conformance_polling_session() -> (TestApp, String) {
    let app = spawn_app(conformance_config()).await;
    let (sid, _) = polling_session(&app).await;
    (app, sid)
}

#[tokio::test]
async fn polling_close_answers_the_pending_poll_with_noop() {
    let (app, sid) = conformance_polling_session().await;
    let url = app.polling_url(&sid);
    let client = reqwest::Client::new();
    let (poll, close) = tokio::join!(client.get(&url).send(), async {
        // The GET must be pending on the server before the close arrives, and
        // nothing observable says when it is: give it a head start.
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.post(&url).body("1").send().await
    });
    assert_eq!(close.unwrap().status(), 200);
    let poll = poll.unwrap();
    assert_eq!(poll.status(), 200);
    assert_eq!(poll.text().await.unwrap(), "6");
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        400,
        "session is gone"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_ping_timeout() {
    let app = spawn_app(conformance_config()).await;
    let mut socket = RawSocket::connect(&app).await;
    // Never answer the ping: the server sends its close packet and closes.
    let frames = socket.until_closed().await;
    assert_eq!(
        frames,
        vec![Message::Text("2".into()), Message::Text("1".into())]
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn oversize_polling_body_is_413() {
    let app = spawn_configured(|config| config.max_payload = 2048).await;
    let (sid, _) = polling_session(&app).await;
    let url = app.polling_url(&sid);
    let message = format!("42[\"message\",\"{}\"]", "x".repeat(4096));
    let response = send_in_time(reqwest::Client::new().post(&url).body(message)).await;
    assert_eq!(response.status(), 413);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn oversize_websocket_message_closes_the_connection() {
    let app = spawn_configured(|config| config.max_payload = 2048).await;
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    // Under the limit: echoed.
    let small = format!("42[\"message\",\"{}\"]", "y".repeat(1000));
    socket
        .expect_reply(&small, small.replace("\"message\"", "\"message-back\""))
        .await;
    // Over the limit: refused by closing the connection.
    socket
        .send_text(&format!("42[\"message\",\"{}\"]", "x".repeat(4096)))
        .await;
    let frames = socket.until_closed().await;
    assert!(
        frames
            .iter()
            .all(|f| !matches!(f, Message::Text(t) if t.contains("message-back"))),
        "the over-size message must not be echoed: {frames:?}"
    );
    app.stop().await.unwrap();
}

/// The next message on WebSocket `ws`, within [`WAIT`].
async fn next_message<S>(ws: &mut S) -> Message
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    use futures_util::StreamExt;
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a message in time")
        .expect("a message")
        .expect("a message")
}

#[tokio::test]
async fn upgrade_from_polling_to_websocket() {
    let (app, sid) = conformance_polling_session().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(app.upgrade_url(&sid))
        .await
        .unwrap();
    use futures_util::SinkExt;
    ws.send(Message::Text("2probe".into())).await.unwrap();
    let probe = next_message(&mut ws).await;
    assert_eq!(probe, Message::Text("3probe".into()));
    ws.send(Message::Text("5".into())).await.unwrap();
    ws.send(Message::Text("40".into())).await.unwrap();
    let connected = next_message(&mut ws).await;
    assert!(
        connected.to_text().unwrap().starts_with("40{\"sid\":"),
        "{connected:?}"
    );
    // The polling transport is gone once upgraded.
    let poll = reqwest::get(app.polling_url(&sid)).await.unwrap();
    assert_eq!(poll.status(), 400);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_session_that_joins_no_namespace_is_closed_after_the_connect_timeout() {
    let app = spawn_app(switchboard::ServeConfig {
        connect_timeout: Duration::from_millis(300),
        ..test_config()
    })
    .await;
    let started = Instant::now();
    let mut socket = RawSocket::connect(&app).await;
    socket.until_closed().await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after {:?}",
        started.elapsed()
    );
    app.stop().await.unwrap();
}
