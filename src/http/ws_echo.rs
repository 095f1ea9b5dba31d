//! `/ws`: a bare RFC 6455 WebSocket echo for clients that do not speak
//! Socket.IO. Text comes back as `Server received: <text>`, binary unchanged.
//! A WebSocket with no message from the client (pings and pongs count) for
//! `--ws-idle-timeout` is closed with 1001 `idle timeout`.

use std::time::Duration;

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket, close_code},
    },
    response::Response,
};

use super::HttpState;

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<HttpState>) -> Response {
    ws.max_message_size(state.max_payload)
        .max_frame_size(state.max_payload)
        .on_upgrade(move |socket| echo(socket, state))
}

/// The `limit` label of an idle close in `switchboard_limit_hits_total`.
const IDLE_LIMIT: &str = "ws_idle_timeout";

async fn echo(mut socket: WebSocket, state: HttpState) {
    let idle: Duration = state.ws_idle_timeout;
    loop {
        let Ok(received) = tokio::time::timeout(idle, socket.recv()).await else {
            state.metrics.limit_hit(IDLE_LIMIT);
            let frame = CloseFrame {
                code: close_code::AWAY,
                reason: "idle timeout".into(),
            };
            socket.send(Message::Close(Some(frame))).await.ok();
            return;
        };
        let reply = match received {
            Some(Ok(Message::Text(text))) => {
                Message::Text(format!("Server received: {}", text.as_str()).into())
            }
            Some(Ok(Message::Binary(bytes))) => Message::Binary(bytes),
            // The library answers pings itself, and answers a close frame with
            // its own close reply on the next read; the stream then ends.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_))) => continue,
            None => return,
            Some(Err(e)) => {
                close_after_error(socket, e).await;
                return;
            }
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}

/// Tells the client why the connection ends: 1009 for an over-size message (as
/// RFC 6455 says), 1002 for a protocol error. The library itself just drops it.
async fn close_after_error(mut socket: WebSocket, error: axum::Error) {
    let too_big = error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    let (code, reason) = if too_big {
        (close_code::SIZE, "message too big")
    } else {
        (close_code::PROTOCOL, "protocol error")
    };
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    socket.send(Message::Close(Some(frame))).await.ok();
}
