//! The load generator's client: raw Engine.IO v4 over one WebSocket per
//! socket, each from its own loopback source address (127.0.0.2-254 in turn,
//! so ephemeral ports never run out), and the per-socket loops of the phases.
//! Replies are recognised by their frame prefix, never parsed as JSON: the
//! send time (µs since the phase's epoch) travels as the event's only
//! argument and comes back as the frame's last number.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpSocket;
use tokio_tungstenite::{
    MaybeTlsStream,
    tungstenite::{Message, protocol::WebSocketConfig},
};

use crate::support::raw_client::{self, PING, PONG, Ws};

static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// The next source address, 127.0.0.2 to 127.0.0.254 round robin.
fn next_source() -> Ipv4Addr {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % 253;
    Ipv4Addr::new(127, 0, 0, 2 + n as u8)
}

/// An open WebSocket (Engine.IO open packet not read yet) to the server on
/// 127.0.0.1:`port`.
pub async fn open_ws(port: u16) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((next_source(), 0)))?;
    let stream = socket
        .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .context("tcp connect")?;
    stream.set_nodelay(true)?;
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    // A small read buffer (as engineioxide's): 10,000 sockets of
    // tungstenite's default 128 KiB would be over a GiB here.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        url,
        MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await
    .context("websocket handshake")?;
    Ok(ws)
}

/// A socket connected to namespace `nsp`: Engine.IO open read, CONNECT
/// answered, and (when `expect_auth`) the `auth` event the echo namespace
/// emits on connect read past.
pub async fn connect_ns(port: u16, nsp: &str, expect_auth: bool) -> anyhow::Result<Ws> {
    let mut ws = open_ws(port).await?;
    let open = raw_client::next_text(&mut ws).await?;
    if !open.starts_with('0') {
        bail!("no Engine.IO open: {open}");
    }
    ws.send(Message::text(format!("40{nsp},"))).await?;
    let connected = raw_client::next_text(&mut ws).await?;
    if !connected.starts_with(&format!("40{nsp},{{")) {
        bail!("connect to {nsp} refused: {connected}");
    }
    if expect_auth {
        let auth = format!("42{nsp},[\"auth\"");
        while !raw_client::next_text(&mut ws).await?.starts_with(&auth) {}
    }
    Ok(ws)
}

/// [`connect_ns`] within 10 s, retried after a short backoff when it fails
/// (at most 50 attempts); also returns how many attempts failed.
pub async fn connect_retry(port: u16, nsp: &str, expect_auth: bool) -> anyhow::Result<(Ws, u32)> {
    let mut failed = 0;
    loop {
        let attempt =
            tokio::time::timeout(Duration::from_secs(10), connect_ns(port, nsp, expect_auth)).await;
        match attempt {
            Ok(Ok(ws)) => return Ok((ws, failed)),
            Ok(Err(e)) if failed >= 49 => return Err(e),
            Err(_) if failed >= 49 => bail!("connect timed out 50 times"),
            _ => {
                failed += 1;
                tokio::time::sleep(Duration::from_millis(20 + 10 * failed.min(20) as u64)).await;
            }
        }
    }
}

/// Closes a socket politely, not waiting long for the server's answer.
pub async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

/// The number just before the closing `]` of a frame (`...,12345]`).
fn trailing_number(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let end = bytes.len().checked_sub(1)?;
    if bytes[end] != b']' {
        return None;
    }
    let mut start = end;
    while start > 0 && bytes[start - 1].is_ascii_digit() {
        start -= 1;
    }
    if start == end {
        return None;
    }
    let mut n = 0u64;
    for &b in &bytes[start..end] {
        n = n * 10 + (b - b'0') as u64;
    }
    Some(n)
}

/// Which echo event a load sends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Event {
    /// `message` -> `message-back`.
    Echo,
    /// `message-with-ack` -> its ack.
    Ack,
}

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// One message every `interval`, the first at `first`.
    Open { interval: Duration, first: Instant },
    /// `k` messages in flight: each reply sends the next.
    Closed { k: u32 },
}

/// What every socket of an echo load does.
#[derive(Clone)]
pub struct Plan {
    pub event: Event,
    pub mode: Mode,
    /// Send times are µs since this.
    pub epoch: Instant,
    /// Replies in `[from, until)` are counted (and their RTTs kept).
    pub from: Instant,
    pub until: Instant,
    /// No message is sent from `until`; the socket waits for its missing
    /// replies until `drain`.
    pub drain: Instant,
}

#[derive(Default)]
pub struct LoadResult {
    /// Replies received in the window.
    pub answered: u64,
    /// Messages sent and replies received over the whole run.
    pub sent_total: u64,
    pub answered_total: u64,
    /// Round trips of the window's replies, µs.
    pub rtt_us: Vec<u32>,
    /// The connection failed (the socket is gone).
    pub error: Option<String>,
}

/// One socket's echo load; gives the socket back when it is still usable.
pub async fn echo_load(mut ws: Ws, plan: std::sync::Arc<Plan>) -> (Option<Ws>, LoadResult) {
    let mut result = LoadResult::default();
    let mut frame = String::with_capacity(64);
    let mut ack_id: u64 = 0;
    let drain = tokio::time::sleep_until(plan.drain.into());
    tokio::pin!(drain);
    // Wakes the loop at `until`, to stop sending and end once all is answered.
    let end = tokio::time::sleep_until(plan.until.into());
    tokio::pin!(end);
    let mut ended = false;
    let (mut tick, closed_k) = match plan.mode {
        Mode::Open { interval, first } => {
            let mut tick = tokio::time::interval_at(first.into(), interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            (Some(tick), 0)
        }
        Mode::Closed { k } => (None, k),
    };

    // Builds and sends one message stamped `now`.
    macro_rules! send_one {
        ($now:expr) => {{
            use std::fmt::Write;
            frame.clear();
            let t = ($now - plan.epoch).as_micros() as u64;
            match plan.event {
                Event::Echo => {
                    let _ = write!(frame, "42/echo,[\"message\",{t}]");
                }
                Event::Ack => {
                    ack_id += 1;
                    let _ = write!(frame, "42/echo,{ack_id}[\"message-with-ack\",{t}]");
                }
            }
            result.sent_total += 1;
            ws.send(Message::text(frame.as_str())).await
        }};
    }

    let now = Instant::now();
    if closed_k > 0 && now < plan.until {
        for _ in 0..closed_k {
            if let Err(e) = send_one!(now) {
                result.error = Some(e.to_string());
                return (None, result);
            }
        }
    }

    loop {
        let now = Instant::now();
        if now >= plan.until && result.sent_total == result.answered_total {
            break; // everything sent was answered, and nothing more is due
        }
        let sending = tick.is_some() && now < plan.until;
        tokio::select! {
            biased;
            msg = ws.next() => {
                let text = match answer_ping(&mut ws, msg).await {
                    Ok(Some(text)) => text,
                    Ok(None) => continue,
                    Err(e) => {
                        result.error = Some(e);
                        return (None, result);
                    }
                };
                let text = text.as_str();
                if text.starts_with("42/echo,[\"auth\"") {
                    continue;
                }
                let Some(t) = trailing_number(text) else { continue };
                let now = Instant::now();
                result.answered_total += 1;
                if now >= plan.from && now < plan.until {
                    result.answered += 1;
                    let sent = plan.epoch + Duration::from_micros(t);
                    result.rtt_us.push(now.saturating_duration_since(sent).as_micros() as u32);
                }
                if closed_k > 0
                    && now < plan.until
                    && let Err(e) = send_one!(now)
                {
                    result.error = Some(e.to_string());
                    return (None, result);
                }
            }
            _ = async { tick.as_mut().unwrap().tick().await }, if sending => {
                let now = Instant::now();
                if now >= plan.until {
                    continue;
                }
                if let Err(e) = send_one!(now) {
                    result.error = Some(e.to_string());
                    return (None, result);
                }
            }
            _ = &mut end, if !ended => ended = true,
            _ = &mut drain => break,
        }
    }
    (Some(ws), result)
}

/// Joins `/chat` room `room` as `name` (ack id 1), reading past the
/// presence events on the way.
pub async fn chat_join(ws: &mut Ws, room: &str, name: &str) -> anyhow::Result<()> {
    ws.send(Message::text(format!(
        "42/chat,1[\"join\",{{\"room\":\"{room}\",\"name\":\"{name}\"}}]"
    )))
    .await?;
    let ack = raw_client::wait_ack(ws, "/chat", 1).await?;
    if !ack.args().contains("\"ok\":true") {
        bail!("join refused: {}", ack.args());
    }
    Ok(())
}

/// What a room member does during the broadcast phase.
pub struct ChatPlan {
    pub room: String,
    pub from: Instant,
    pub until: Instant,
    /// Members stop reading then.
    pub drain: Instant,
}

#[derive(Default)]
pub struct ChatResult {
    /// `message` events received in the window.
    pub delivered: u64,
    /// Messages this member sent (senders only) and had acked.
    pub sent: u64,
    pub acked: u64,
    pub error: Option<String>,
}

/// A room member: counts the `message` events it receives; a sender also
/// sends one message after another, each when the previous one is acked.
pub async fn chat_member(
    mut ws: Ws,
    plan: std::sync::Arc<ChatPlan>,
    sender: bool,
) -> (Option<Ws>, ChatResult) {
    let mut result = ChatResult::default();
    let mut ack_id: u64 = 1; // 1 was the join
    let mut in_flight = false;
    let mut ack_prefix = String::new();
    let drain = tokio::time::sleep_until(plan.drain.into());
    tokio::pin!(drain);
    let start = tokio::time::sleep_until(plan.from.into());
    tokio::pin!(start);
    let end = tokio::time::sleep_until(plan.until.into());
    tokio::pin!(end);
    let mut ended = false;
    let mut started = !sender;
    loop {
        if sender && started && !in_flight && Instant::now() < plan.until {
            ack_id += 1;
            let frame = format!(
                "42/chat,{ack_id}[\"message\",{{\"room\":\"{}\",\"text\":\"core bench message {ack_id}\"}}]",
                plan.room
            );
            ack_prefix = format!("43/chat,{ack_id}[");
            if let Err(e) = ws.send(Message::text(frame)).await {
                result.error = Some(e.to_string());
                return (None, result);
            }
            result.sent += 1;
            in_flight = true;
        }
        if Instant::now() >= plan.until && !in_flight && started {
            break;
        }
        tokio::select! {
            biased;
            msg = ws.next() => {
                let text = match answer_ping(&mut ws, msg).await {
                    Ok(Some(text)) => text,
                    Ok(None) => continue,
                    Err(e) => {
                        result.error = Some(e);
                        return (None, result);
                    }
                };
                let text = text.as_str();
                if text.starts_with("42/chat,[\"message\"") {
                    let now = Instant::now();
                    if now >= plan.from && now < plan.until {
                        result.delivered += 1;
                    }
                } else if in_flight && text.starts_with(&ack_prefix) {
                    in_flight = false;
                    result.acked += 1;
                    if !text.contains("\"ok\":true") {
                        result.error = Some(format!("message refused: {text}"));
                    }
                }
            }
            _ = &mut start, if !started => started = true,
            _ = &mut end, if !ended => ended = true,
            _ = &mut drain => break,
        }
    }
    (Some(ws), result)
}

/// A frame read by a phase's loop: its text, `None` for a ping (answered
/// here) or a frame that is not text, `Err` with the reason once the
/// connection failed or the server closed it.
async fn answer_ping(
    ws: &mut Ws,
    msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>, String> {
    match msg {
        Some(Ok(Message::Text(t))) if t.as_str() == PING => {
            ws.send(Message::text(PONG))
                .await
                .map_err(|e| e.to_string())?;
            Ok(None)
        }
        Some(Ok(Message::Text(t))) => Ok(Some(t)),
        Some(Ok(Message::Close(_))) | None => Err("closed by the server".into()),
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(e.to_string()),
    }
}

/// Holds an idle socket, answering pings, until `stop` is cancelled (then
/// closes it) or the server closes it (returns false).
pub async fn hold(mut ws: Ws, stop: tokio_util::sync::CancellationToken) -> bool {
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) if t.as_str() == PING => {
                    if ws.send(Message::text(PONG)).await.is_err() {
                        return false;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return false,
                Some(Ok(_)) => {}
            },
            _ = stop.cancelled() => {
                close(ws).await;
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trailing_number() {
        assert_eq!(
            super::trailing_number("42/echo,[\"message\",123]"),
            Some(123)
        );
        assert_eq!(super::trailing_number("43/echo,7[5]"), Some(5));
        assert_eq!(super::trailing_number("43/echo,7[]"), None);
    }
}
