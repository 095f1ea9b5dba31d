//! `/ws`: a bare RFC 6455 WebSocket echo for clients that do not speak
//! Socket.IO. Text comes back as `Server received: <text>`, binary unchanged.

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{Message, WebSocket},
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
    // Pings are answered by the library; a read error (including an over-size
    // message, which closes with 1009) ends the loop.
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(text) => {
                Message::Text(format!("Server received: {}", text.as_str()).into())
            }
            Message::Binary(bytes) => Message::Binary(bytes),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => break,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
