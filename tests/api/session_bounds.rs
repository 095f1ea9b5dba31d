//! What one Engine.IO session may hold on the server is bounded: a partial
//! binary packet completes in time or the connection closes, a client that
//! does not read is cut off past its outgoing byte budget, and a namespace
//! CONNECT right after a DISCONNECT is answered while the old socket is still
//! being torn down.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{RawSocket, WAIT, polling_session, spawn_app, test_config};

#[tokio::test]
async fn a_binary_packet_whose_attachment_never_comes_closes_the_connection() {
    let mut config = test_config();
    config.attachment_timeout = Duration::from_millis(500);
    let app = spawn_app(config).await;
    let mut attacker = RawSocket::connect_ns(&app, "/", None).await;
    // Declares one attachment and never sends it.
    attacker
        .send_text(r#"451-["message",{"_placeholder":true,"num":0}]"#)
        .await;
    let closed = tokio::time::timeout(WAIT * 2, attacker.until_closed())
        .await
        .expect("the server closes the connection once the attachment is late");
    assert!(
        closed
            .iter()
            .all(|m| !m.to_string().contains("message-back")),
        "{closed:?}"
    );

    // Others are unaffected.
    let mut other = RawSocket::connect_ns(&app, "/", None).await;
    other.send_text(r#"42["message","hi"]"#).await;
    assert_eq!(other.next_text().await, r#"42["message-back","hi"]"#);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_polling_client_that_never_polls_is_cut_off_at_its_byte_budget() {
    let mut config = test_config();
    config.max_buffered_bytes = 1 << 20;
    let app = spawn_app(config).await;
    let (sid, _) = polling_session(&app).await;
    let url = app.http_url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    let http = reqwest::Client::new();
    let post = |body: String| http.post(&url).body(body).send();
    assert_eq!(post("40".into()).await.unwrap().status(), 200);

    // Each event is echoed back (100 KB each) into a buffer nobody drains:
    // 30 of them are 3 MB, three times the budget.
    let blob = "x".repeat(100_000);
    let event = json!(["message", blob]).to_string();
    let mut refused = false;
    for _ in 0..10 {
        let body = [event.as_str(), event.as_str(), event.as_str()]
            .map(|e| format!("42{e}"))
            .join("\u{1e}");
        if post(body).await.unwrap().status() != 200 {
            refused = true; // the session is already gone
            break;
        }
    }
    // The session is gone: its client sees a 400 on its next request.
    let poll = http.get(&url).send().await.unwrap();
    assert!(refused || poll.status() == 400, "status {}", poll.status());
    let metrics = reqwest::get(app.http_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"switchboard_disconnects_total{namespace="/",reason="slow_client"} 1"#),
        "{metrics}"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_connect_right_after_a_disconnect_is_answered() {
    let app = spawn_app(test_config()).await;
    let mut client = RawSocket::connect(&app).await;
    for round in 0..20 {
        client.send_text("40/chat,").await;
        let connected = client.next_text().await;
        assert!(
            connected.starts_with("40/chat,{"),
            "round {round}: {connected}"
        );
        // A member, so the disconnect handler has work to do (presence).
        client
            .send_text(&format!(
                r#"42/chat,0["join",{{"room":"cycle","name":"Ada{round}"}}]"#
            ))
            .await;
        let joined = client.next_text().await;
        assert!(joined.starts_with("43/chat,0"), "round {round}: {joined}");
        client.send_text("41/chat,").await;
    }
    client.send_text("40/chat,").await;
    assert!(client.next_text().await.starts_with("40/chat,{"));
    app.stop().await.unwrap();
}
