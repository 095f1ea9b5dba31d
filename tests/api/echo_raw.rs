//! The echo namespaces at the packet level: exact frames for each contract rule.

use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn connect_emits_auth_with_the_handshake_payload() {
    let app = spawn_app(test_config()).await;
    for ns in ["/", "/echo"] {
        let prefix = ns_prefix(ns);
        let mut socket = RawSocket::connect(&app).await;
        socket.send_text(&format!("40{prefix}")).await;
        let connected = socket.next_text().await;
        let ack: serde_json::Value = serde_json::from_str(&connected[2 + prefix.len()..]).unwrap();
        assert_eq!(ack.as_object().unwrap().keys().collect::<Vec<_>>(), ["sid"]);
        assert_eq!(
            socket.next_text().await,
            format!("42{prefix}[\"auth\",{{}}]")
        );

        // Key order and nesting come back exactly as sent.
        let mut socket = RawSocket::connect(&app).await;
        let auth = r#"{"token":"abc","z":1,"a":{"n":[1,2.5,null]}}"#;
        socket.send_text(&format!("40{prefix}{auth}")).await;
        socket.next_text().await;
        assert_eq!(
            socket.next_text().await,
            format!("42{prefix}[\"auth\",{auth}]")
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_namespace_is_refused_with_invalid_namespace() {
    let app = spawn_app(test_config()).await;
    let mut socket = RawSocket::connect(&app).await;
    socket
        .expect_reply("40/random,", r#"44/random,{"message":"Invalid namespace"}"#)
        .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn namespaces_follow_the_setting() {
    let app = spawn_app(conformance_config()).await;
    let mut socket = RawSocket::connect(&app).await;
    socket
        .expect_reply("40/echo,", r#"44/echo,{"message":"Invalid namespace"}"#)
        .await;
    let mut socket = RawSocket::connect_ns(&app, "/custom", None).await;
    socket
        .expect_reply(
            r#"42/custom,["message","hi"]"#,
            r#"42/custom,["message-back","hi"]"#,
        )
        .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn message_comes_back_with_every_argument() {
    let app = spawn_app(test_config()).await;
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    for args in [
        "",
        r#","one""#,
        r#",1,"2""#,
        r#",1,"2",{"3":[true]}"#,
        r#",-4,2.5,null,false,"é ✓ 🎉",[[],{}],{"b":1,"a":2}"#,
    ] {
        socket
            .expect_reply(
                &format!(r#"42["message"{args}]"#),
                format!(r#"42["message-back"{args}]"#),
            )
            .await;
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn binary_attachments_come_back_in_place() {
    let app = spawn_app(test_config()).await;
    let mut socket = RawSocket::connect_ns(&app, "/echo", None).await;
    let ph = |n: u8| format!(r#"{{"_placeholder":true,"num":{n}}}"#);
    socket
        .send_text(&format!(
            r#"452-/echo,["message",{},"x",{{"nested":[{}]}}]"#,
            ph(0),
            ph(1)
        ))
        .await;
    socket.send_binary(&[1, 2, 3]).await;
    socket.send_binary(&[4, 5, 6, 255]).await;
    assert_eq!(
        socket.next_text().await,
        format!(
            r#"452-/echo,["message-back",{},"x",{{"nested":[{}]}}]"#,
            ph(0),
            ph(1)
        )
    );
    assert_eq!(socket.next_binary().await, [1, 2, 3]);
    assert_eq!(socket.next_binary().await, [4, 5, 6, 255]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn message_with_ack_is_acknowledged_with_the_same_arguments() {
    let app = spawn_app(test_config()).await;
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket
        .expect_reply(
            r#"421["message-with-ack",1,"2",{"3":[true]}]"#,
            r#"431[1,"2",{"3":[true]}]"#,
        )
        .await;

    socket
        .send_text(r#"451-9["message-with-ack",{"_placeholder":true,"num":0},"t"]"#)
        .await;
    socket.send_binary(&[9, 8, 7]).await;
    assert_eq!(
        socket.next_text().await,
        r#"461-9[{"_placeholder":true,"num":0},"t"]"#
    );
    assert_eq!(socket.next_binary().await, [9, 8, 7]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn emit_with_ack_round_trip() {
    let app = spawn_app(test_config()).await;
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket
        .send_text(r#"42["emit-with-ack",1,"2",{"3":[true]}]"#)
        .await;
    let request = socket.next_text().await;
    let ack_id = request
        .strip_prefix("42")
        .and_then(|rest| rest.strip_suffix(r#"["emit-with-ack",1,"2",{"3":[true]}]"#))
        .unwrap_or_else(|| panic!("unexpected {request}"));
    assert!(
        !ack_id.is_empty(),
        "the server must ask for an ack: {request}"
    );
    // The client answers with other values: the server emits exactly those.
    socket
        .expect_reply(
            &format!(r#"43{ack_id}["reply",[4,5]]"#),
            r#"42["emit-with-ack","reply",[4,5]]"#,
        )
        .await;

    // With binary, both ways.
    let data = r#"{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},"test""#;
    socket
        .send_text(&format!(r#"452-["emit-with-ack",{data}]"#))
        .await;
    socket.send_binary(&[1, 2, 3]).await;
    socket.send_binary(&[4, 5, 6]).await;
    let request = socket.next_text().await;
    let ack_id = request
        .strip_prefix("452-")
        .and_then(|rest| rest.strip_suffix(&format!(r#"["emit-with-ack",{data}]"#)))
        .unwrap_or_else(|| panic!("unexpected {request}"))
        .to_string();
    assert_eq!(socket.next_binary().await, [1, 2, 3]);
    assert_eq!(socket.next_binary().await, [4, 5, 6]);
    socket.send_text(&format!(r#"462-{ack_id}[{data}]"#)).await;
    socket.send_binary(&[7]).await;
    socket.send_binary(&[8]).await;
    assert_eq!(
        socket.next_text().await,
        format!(r#"452-["emit-with-ack",{data}]"#)
    );
    assert_eq!(socket.next_binary().await, [7]);
    assert_eq!(socket.next_binary().await, [8]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn other_events_are_acked_if_asked_else_emitted_back() {
    let app = spawn_app(test_config()).await;
    let mut socket = RawSocket::connect_ns(&app, "/echo", None).await;
    socket
        .expect_reply(
            r#"42/echo,["custom-event",1,{"k":"v"}]"#,
            r#"42/echo,["custom-event",1,{"k":"v"}]"#,
        )
        .await;
    socket
        .expect_reply(
            r#"42/echo,7["custom-event",1,{"k":"v"}]"#,
            r#"43/echo,7[1,{"k":"v"}]"#,
        )
        .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_invalid_packet_closes_the_connection() {
    let app = spawn_app(test_config()).await;
    let mut socket = RawSocket::connect(&app).await;
    socket.send_text("4abc").await;
    let frames = socket.until_closed().await;
    // Nothing but pings and the Engine.IO close packet before the close.
    assert!(
        frames
            .iter()
            .all(|f| matches!(f, Message::Text(t) if t.as_str() == "2" || t.as_str() == "1")),
        "{frames:?}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn namespace_disconnect_keeps_the_others() {
    let app = spawn_app(conformance_config()).await;
    let mut socket = RawSocket::connect_ns(&app, "/", None).await;
    socket.send_text("40/custom,").await;
    socket.next_text().await;
    socket.next_text().await;
    socket.send_text("41/custom,").await;
    socket
        .expect_reply(
            r#"42["message","still here",1,2]"#,
            r#"42["message-back","still here",1,2]"#,
        )
        .await;
    app.stop().await.unwrap();
}
