//! `/ws`: a bare RFC 6455 WebSocket echo for clients that do not speak
//! Socket.IO. Text comes back as `Server received: <text>`, binary unchanged.

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
        .on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    loop {
        let reply = match socket.recv().await {
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
