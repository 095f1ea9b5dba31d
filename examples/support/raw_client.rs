//! A raw Socket.IO client: Engine.IO v4 over one WebSocket, text frames only,
//! packets written and read as the strings on the wire (`40/chat,`,
//! `42/chat,1[...]`, `43/chat,1[...]`), so the benchmarks pay no client
//! library's costs and see every frame.

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The Engine.IO ping the server sends, and the client's answer.
pub const PING: &str = "2";
pub const PONG: &str = "3";

/// A WebSocket to `addr` (`HOST:PORT`) connected to namespace `nsp` (`/chat`),
/// with `auth` as the CONNECT payload when given. A refused CONNECT fails with
/// `"{refused}: {the server's answer}"`.
pub async fn connect(
    addr: &str,
    nsp: &str,
    auth: Option<&Value>,
    refused: &str,
) -> anyhow::Result<Ws> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("connect")?;
    next_text(&mut ws).await?; // Engine.IO open
    let auth = auth.map(Value::to_string).unwrap_or_default();
    ws.send(Message::Text(format!("40{nsp},{auth}").into()))
        .await?;
    let connected = next_text(&mut ws).await?;
    if !connected.starts_with(&format!("40{nsp},{{")) {
        bail!("{refused}: {connected}");
    }
    Ok(ws)
}

/// The next text frame, answering pings on the way; fails when the
/// connection ends.
pub async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == PING => {
                ws.send(Message::Text(PONG.into())).await?
            }
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(_)) => {}
            other => bail!("connection ended: {other:?}"),
        }
    }
}

/// Sends event `args` (`["name", ...]`) to `nsp`, asking for ack `ack_id` when given.
pub async fn emit(ws: &mut Ws, nsp: &str, ack_id: Option<u64>, args: &Value) -> anyhow::Result<()> {
    let id = ack_id.map(|id| id.to_string()).unwrap_or_default();
    ws.send(Message::Text(format!("42{nsp},{id}{args}").into()))
        .await?;
    Ok(())
}

/// An acknowledgement as received.
pub struct Ack {
    /// The whole frame (`43/chat,1[...]`).
    pub text: String,
    args_at: usize,
}

impl Ack {
    /// Its arguments, the JSON array after the ack id.
    pub fn args(&self) -> &str {
        &self.text[self.args_at..]
    }
}

/// Reads frames (answering pings, passing over the others) until the ack of
/// `ack_id` on `nsp`.
pub async fn wait_ack(ws: &mut Ws, nsp: &str, ack_id: u64) -> anyhow::Result<Ack> {
    let prefix = format!("43{nsp},{ack_id}[");
    loop {
        let text = next_text(ws).await?;
        if text.starts_with(&prefix) {
            return Ok(Ack {
                text,
                args_at: prefix.len() - 1,
            });
        }
    }
}
