//! Hostile Socket.IO packets on the echo namespace `/`, as raw frames: too many
//! or too heavy binary attachments (`--max-attachments`,
//! `--max-attachment-bytes`, `--attachment-timeout`), placeholders that point
//! at nothing, attachment counts and ack ids that overflow, and deeply nested
//! JSON. Each is refused (the connection closed, or the event dropped) without
//! a panic, and a well-behaved client beside it keeps being served.

use std::{
    sync::{Mutex, Once, PoisonError},
    time::Duration,
};

use switchboard::ServeConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// Panic messages seen on this module's test threads. `#[tokio::test]` runs a
/// current-thread runtime, so the server's tasks (connections, handlers) run
/// on the thread of the test that started it: a panic in any of them is
/// recorded here even though tokio catches it.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(name) = std::thread::current().name()
                && name.starts_with("packet_limits::")
            {
                PANICS
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(format!("{name}: {info}"));
            }
            previous(info);
        }));
    });
}

/// Fails if anything panicked on this test's thread (the server included).
fn assert_no_panics() {
    let this = std::thread::current().name().unwrap_or_default().to_owned();
    let panics: Vec<String> = PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|p| p.starts_with(&format!("{this}: ")))
        .cloned()
        .collect();
    assert!(panics.is_empty(), "panicked: {panics:#?}");
}

async fn start(config: ServeConfig) -> TestApp {
    watch_panics();
    spawn_app(config).await
}

fn placeholder(num: usize) -> String {
    format!(r#"{{"_placeholder":true,"num":{num}}}"#)
}

fn placeholders(count: usize) -> String {
    (0..count).map(placeholder).collect::<Vec<_>>().join(",")
}

/// A client on `/` that behaves, to check the server still serves.
async fn still_echoes(socket: &mut RawSocket, text: &str) {
    socket
        .expect_reply(
            &format!(r#"42["message","{text}"]"#),
            format!(r#"42["message-back","{text}"]"#),
        )
        .await;
}

/// The server closed `socket`: nothing but pings and the Engine.IO close
/// packet came first, and its session is gone.
async fn assert_closed(app: &TestApp, socket: &mut RawSocket, what: &str) {
    let frames = socket.until_closed().await;
    assert!(
        frames
            .iter()
            .all(|f| matches!(f, Message::Text(t) if t.as_str() == "1" || t.as_str() == "2")),
        "{what}: {frames:?}"
    );
    let sid = socket.handshake["sid"].as_str().unwrap();
    assert_eq!(
        session_error(app, sid).await,
        "1",
        "{what}: session is gone"
    );
}

/// The Engine.IO error code a poll on session `sid` gets: `1` (unknown
/// session) once it is gone, `3` (bad request: it is a WebSocket session)
/// while it lives. A closed session is removed just after the close, so an
/// unknown one is waited for (bounded).
async fn session_error(app: &TestApp, sid: &str) -> String {
    let url = app.polling_url(sid);
    let mut code = String::new();
    for _ in 0..50 {
        let body: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        code = body["code"].to_string().trim_matches('"').to_owned();
        if code == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    code
}

#[tokio::test]
async fn the_panic_watch_sees_panics_in_server_tasks() {
    watch_panics();
    let task = tokio::spawn(async { panic!("a task panics") });
    assert!(task.await.is_err());
    let this = std::thread::current().name().unwrap().to_owned();
    let seen = PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        seen.iter()
            .any(|p| p.starts_with(&this) && p.contains("a task panics")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn eleven_attachments_close_the_connection_and_others_keep_echoing() {
    let app = start(test_config()).await;
    let mut good = RawSocket::connect_ns(&app, "/", None).await;
    let mut bad = RawSocket::connect_ns(&app, "/", None).await;
    bad.send_text(&format!(r#"4511-["message",{}]"#, placeholder(0)))
        .await;
    assert_closed(&app, &mut bad, "11 attachments").await;
    still_echoes(&mut good, "fine").await;

    assert_no_panics();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn ten_attachments_come_back_in_order() {
    let app = start(test_config()).await;
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket
        .send_text(&format!(r#"4510-["message",{}]"#, placeholders(10)))
        .await;
    for i in 0..10u8 {
        socket.send_binary(&[i, i, i]).await;
    }
    assert_eq!(
        socket.next_text().await,
        format!(r#"4510-["message-back",{}]"#, placeholders(10))
    );
    for i in 0..10u8 {
        assert_eq!(socket.next_binary().await, [i, i, i]);
    }
    still_echoes(&mut socket, "after").await;
    assert_no_panics();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn huge_attachment_counts_are_refused_without_panicking() {
    let app = start(test_config()).await;
    let mut good = RawSocket::connect_ns(&app, "/", None).await;
    for count in [
        "999999999",
        // Above u64::MAX: does not parse as a count at all.
        "18446744073709551616",
        "99999999999999999999999999999999999999",
    ] {
        let mut bad = RawSocket::connect_ns(&app, "/", None).await;
        bad.send_text(&format!(r#"45{count}-["message",{}]"#, placeholder(0)))
            .await;
        assert_closed(&app, &mut bad, count).await;
        still_echoes(&mut good, count).await;
    }
    assert_no_panics();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn placeholders_without_their_attachment_are_not_echoed() {
    let app = start(test_config()).await;
    let mut good = RawSocket::connect_ns(&app, "/", None).await;
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;

    // socketioxide takes attachments in the order of the placeholders and
    // ignores `num`: one placeholder, one attachment, whatever its number,
    // is that attachment, and the echo is a well-formed packet.
    socket
        .send_text(&format!(r#"451-["message",{}]"#, placeholder(5)))
        .await;
    socket.send_binary(&[1, 2]).await;
    assert_eq!(
        socket.next_text().await,
        format!(r#"451-["message-back",{}]"#, placeholder(0))
    );
    assert_eq!(socket.next_binary().await, [1, 2]);

    // More placeholders than attachments: the extra one would go back
    // pointing at nothing (the reference client drops its connection on
    // such a packet), so the event is dropped; the socket stays.
    for (header, binaries) in [
        (
            format!(r#"451-["message",{},{}]"#, placeholder(0), placeholder(5)),
            1,
        ),
        (format!(r#"450-["message",{}]"#, placeholder(0)), 0),
        (
            format!(
                r#"451-7["message-with-ack",{},{{"a":[{}]}}]"#,
                placeholder(0),
                placeholder(1)
            ),
            1,
        ),
        // A text packet holding a placeholder: nothing to put there either.
        (format!(r#"42["message",{}]"#, placeholder(0)), 0),
    ] {
        socket.send_text(&header).await;
        for _ in 0..binaries {
            socket.send_binary(&[9]).await;
        }
        // The next frame is the answer to the next packet: nothing came
        // back for this one.
        still_echoes(&mut socket, &header.replace('"', "'")).await;
    }

    // More attachments than placeholders: the extra ones are dropped.
    socket
        .send_text(&format!(r#"452-["message",{}]"#, placeholder(0)))
        .await;
    socket.send_binary(&[3]).await;
    socket.send_binary(&[4]).await;
    assert_eq!(
        socket.next_text().await,
        format!(r#"451-["message-back",{}]"#, placeholder(0))
    );
    assert_eq!(socket.next_binary().await, [3]);
    still_echoes(&mut socket, "after").await;
    still_echoes(&mut good, "fine").await;
    assert_no_panics();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_ack_id_beyond_i64_is_ignored_not_panicked() {
    let app = start(test_config()).await;
    let mut good = RawSocket::connect_ns(&app, "/", None).await;
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    // The largest id that fits is answered as usual.
    socket
        .expect_reply(
            r#"42/,9223372036854775807["message-with-ack",1]"#,
            "439223372036854775807[1]",
        )
        .await;
    // One that does not fit is not read as an id: the event arrives without
    // one, so `message-with-ack` has nobody to answer...
    socket
        .send_text(r#"42/,99999999999999999999999["message-with-ack",1]"#)
        .await;
    socket
        .send_text(r#"4299999999999999999999999["message-with-ack",2]"#)
        .await;
    // ... and `message` is echoed as an event like any other.
    socket
        .expect_reply(
            r#"42/,99999999999999999999999["message",3]"#,
            r#"42["message-back",3]"#,
        )
        .await;
    socket
        .expect_reply(r#"421["message-with-ack","next"]"#, r#"431["next"]"#)
        .await;
    still_echoes(&mut good, "fine").await;
    assert_no_panics();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_panicking() {
    const DEPTH: usize = 100_000;
    let (open, close) = ("[".repeat(DEPTH), "]".repeat(DEPTH));
    let app = start(test_config()).await;
    let mut good = RawSocket::connect_ns(&app, "/", None).await;

    // As the whole packet: no event name can be read, a protocol violation
    // that closes the connection.
    for packet in [format!("42{open}"), format!("42{open}{close}")] {
        let mut bad = RawSocket::connect_ns(&app, "/", None).await;
        bad.send_text(&packet).await;
        assert_closed(&app, &mut bad, &packet[..4]).await;
        still_echoes(&mut good, "after a nested packet").await;
    }
    // Unterminated after the event name: the event name reader meets the end
    // of the text, the same violation.
    let mut bad = RawSocket::connect_ns(&app, "/", None).await;
    bad.send_text(&format!(r#"42["message",{open}"#)).await;
    assert_closed(&app, &mut bad, "unterminated").await;

    // As an argument: the JSON parser's depth limit (128) refuses it, so the
    // event is dropped (echo) or refused with `bad_request` (/chat), and the
    // socket stays.
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket
        .send_text(&format!(r#"42["message",{open}{close}]"#))
        .await;
    socket
        .send_text(&format!(r#"421["message-with-ack",{open}{close}]"#))
        .await;
    still_echoes(&mut socket, "after nested arguments").await;
    let mut chat = SioClient::connect(app.addr, "/chat").await;
    chat.emit_raw(&format!(r#"["join",{open}{close}]"#)).await;
    assert_eq!(chat.next_event("error").await["code"], "bad_request");
    still_echoes(&mut good, "fine").await;
    assert_no_panics();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn attachments_over_the_byte_limit_close_the_connection() {
    let app = start(test_config()).await;
    let mut good = RawSocket::connect_ns(&app, "/", None).await;
    // Exactly --max-attachment-bytes (default 1000000) in two messages of
    // 500000 bytes each (each within --max-payload): accepted.
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket
        .send_text(&format!(r#"452-["message",{}]"#, placeholders(2)))
        .await;
    socket.send_binary(&vec![1; 500_000]).await;
    socket.send_binary(&vec![2; 500_000]).await;
    assert_eq!(
        socket.next_text().await,
        format!(r#"452-["message-back",{}]"#, placeholders(2))
    );
    assert_eq!(socket.next_binary().await, vec![1; 500_000]);
    assert_eq!(socket.next_binary().await, vec![2; 500_000]);

    // One byte more closes the connection.
    socket
        .send_text(&format!(r#"452-["message",{}]"#, placeholders(2)))
        .await;
    socket.send_binary(&vec![1; 500_000]).await;
    socket.send_binary(&vec![2; 500_001]).await;
    assert_closed(&app, &mut socket, "1000001 bytes").await;
    still_echoes(&mut good, "fine").await;
    assert_no_panics();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_limits_follow_the_settings() {
    let app = start(ServeConfig {
        max_attachments: 2,
        max_attachment_bytes: 4096,
        attachment_timeout: Duration::from_millis(300),
        ..test_config()
    })
    .await;
    let mut good = RawSocket::connect_ns(&app, "/", None).await;

    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket
        .send_text(&format!(r#"452-["message",{}]"#, placeholders(2)))
        .await;
    socket.send_binary(&[1; 2048]).await;
    socket.send_binary(&[2; 2048]).await;
    assert_eq!(
        socket.next_text().await,
        format!(r#"452-["message-back",{}]"#, placeholders(2))
    );
    assert_eq!(socket.next_binary().await, [1; 2048]);
    assert_eq!(socket.next_binary().await, [2; 2048]);
    socket
        .send_text(&format!(r#"453-["message",{}]"#, placeholders(3)))
        .await;
    assert_closed(&app, &mut socket, "3 attachments of 2").await;

    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket
        .send_text(&format!(r#"451-["message",{}]"#, placeholder(0)))
        .await;
    socket.send_binary(&[1; 4097]).await;
    assert_closed(&app, &mut socket, "4097 bytes of 4096").await;

    // The timeout counts from the packet's header; it is checked when the
    // next attachment arrives.
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket
        .send_text(&format!(r#"452-["message",{}]"#, placeholders(2)))
        .await;
    socket.send_binary(&[1]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    socket.send_binary(&[2]).await;
    assert_closed(&app, &mut socket, "attachment after the timeout").await;

    still_echoes(&mut good, "fine").await;
    assert_no_panics();
    app.stop().await.unwrap();
}
