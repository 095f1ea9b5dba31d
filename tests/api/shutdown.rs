//! Graceful shutdown, in-process and as a real process receiving signals.

use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn shutdown_disconnects_sockets_and_returns() {
    let app = spawn_app(test_config()).await;
    let mut root = RawSocket::connect_ns(&app, "/", None).await;
    let addr = app.addr;
    app.stop().await.expect("clean shutdown");
    // An Engine.IO close, not a Socket.IO disconnect: clients see a transport
    // close and reconnect (to this node when it is back, or to another).
    let frames = root.until_closed().await;
    assert_eq!(frames, vec![Message::Text("1".into())]);
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

async fn signal_stops_cleanly(signal: &str) {
    let mut server = ServerProcess::start(&[]);
    let app_addr = server.addr;
    let mut socket =
        RawSocket::connect_ns_at(app_addr, "/echo", Some(r#"{"token":"very-secret-token"}"#)).await;

    let connected = server.wait_for_log("socket connected");
    assert_eq!(connected["namespace"], "/echo");
    assert_eq!(connected["transport"], "websocket");
    assert!(
        connected["socket_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );

    server.signal(signal);
    let frames = socket.until_closed().await;
    assert_eq!(
        frames,
        vec![Message::Text("1".into())],
        "the close packet is flushed before exit"
    );
    let disconnected = server.wait_for_log("socket disconnected");
    assert_eq!(disconnected["namespace"], "/echo");
    assert!(
        disconnected["reason"]
            .as_str()
            .is_some_and(|r| r.contains("server"))
    );
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "exit status after {signal}");

    // Logs never carry payloads or secrets at info level.
    for line in server.lines_so_far() {
        assert!(!line.contains("very-secret-token"), "secret in log: {line}");
    }
}

#[tokio::test]
async fn sigterm_disconnects_clients_and_exits_zero() {
    signal_stops_cleanly("TERM").await;
}

#[tokio::test]
async fn sigint_disconnects_clients_and_exits_zero() {
    signal_stops_cleanly("INT").await;
}
