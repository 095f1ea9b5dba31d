//! Slow and idle connections are closed within their timeouts, and
//! connections past the caps are refused, shaped like the attacks: many
//! sockets with partial headers, idle keep-alive, partial or trickled
//! bodies, idle `/ws`; floods past `--max-connections-per-ip` and
//! `--max-connections`, and a node under a low open-file limit.

use std::{
    net::SocketAddr,
    process::{Child, Command},
    sync::mpsc,
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt, future::join_all};
use switchboard::ServeConfig;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::{
    self, Message, client::IntoClientRequest, protocol::frame::coding::CloseCode,
};

use crate::helpers::*;

/// The timeouts of these tests: short, so a test takes seconds.
const HEADER: Duration = Duration::from_millis(1000);
const BODY: Duration = Duration::from_millis(1000);
const KEEP_ALIVE: Duration = Duration::from_millis(2000);
const WS_IDLE: Duration = Duration::from_millis(1000);
/// Timers fire at their deadline or a little after; never before, but the
/// client's clock starts a hair after the server's.
const SLACK: Duration = Duration::from_millis(50);

fn short_timeouts() -> ServeConfig {
    ServeConfig {
        header_read_timeout: HEADER,
        body_read_timeout: BODY,
        keep_alive_timeout: KEEP_ALIVE,
        ws_idle_timeout: WS_IDLE,
        ..test_config()
    }
}

/// Reads until the server closes the connection (end of stream or reset),
/// at most `bound`; returns what it sent meanwhile.
async fn until_closed(stream: &mut TcpStream, bound: Duration) -> Vec<u8> {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(bound, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server did not close the connection within {bound:?}; it sent {:?}",
        String::from_utf8_lossy(&seen)
    );
    seen
}

/// Sends `GET path` on a kept-alive connection and reads the whole answer;
/// `None` when the connection is closed instead.
async fn get(
    stream: &mut TcpStream,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |n| n.trim().parse().unwrap());
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        Some((
            status,
            String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned(),
        ))
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("an answer or a close in time")
}

/// `/healthz` on a fresh connection; `None` when that connection is refused.
async fn health_at(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    get(&mut stream, "/healthz", &[])
        .await
        .map(|(status, _)| status)
}

/// Asks `/healthz` on fresh connections until one answers, within `bound`;
/// returns how long that took and how many connections it opened.
async fn health_answers_within(addr: SocketAddr, bound: Duration) -> (Duration, usize) {
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        if health_at(addr).await == Some(200) {
            return (start.elapsed(), attempts);
        }
        assert!(
            start.elapsed() < bound,
            "/healthz did not answer within {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How often `limit` was hit, from `/metrics`.
async fn metric(addr: SocketAddr, limit: &str) -> u64 {
    metric_sample(addr, &limit_hits_series(limit)).await as u64
}

/// The first and the last of the times `closed_after` connections were
/// closed after; asserts none was closed before `timeout` (less [`SLACK`]).
fn closed_not_before(closed_after: &[Duration], timeout: Duration) -> (Duration, Duration) {
    let first = *closed_after.iter().min().unwrap();
    let last = *closed_after.iter().max().unwrap();
    assert!(first >= timeout - SLACK, "closed early, after {first:?}");
    (first, last)
}

#[tokio::test]
async fn partial_headers_and_silent_connections_are_closed_after_the_header_timeout() {
    let app = spawn_app(short_timeouts()).await;
    let start = Instant::now();
    let attack = (0..100).map(|i| async move {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 0 {
            // Slowloris: a request line and some headers, never the blank line.
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await
                .unwrap();
        }
        let seen = until_closed(&mut stream, HEADER + WAIT).await;
        assert!(seen.is_empty(), "no answer to a partial request");
        start.elapsed()
    });
    let (first, last) = closed_not_before(&join_all(attack).await, HEADER);
    eprintln!("100 slow connections closed after {first:?}..{last:?} (header timeout {HEADER:?})");
    assert_eq!(metric(app.addr, "header_read_timeout").await, 100);
    assert_eq!(health_at(app.addr).await, Some(200));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_keep_alive_timeout() {
    let app = spawn_app(short_timeouts()).await;
    let idle = (0..20).map(|_| async move {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        assert_eq!(get(&mut stream, "/healthz", &[]).await.unwrap().0, 200);
        // A second request on the kept-alive connection, after a pause
        // shorter than the keep-alive timeout, is served.
        tokio::time::sleep(KEEP_ALIVE / 4).await;
        assert_eq!(get(&mut stream, "/healthz", &[]).await.unwrap().0, 200);
        let answered = Instant::now();
        until_closed(&mut stream, KEEP_ALIVE + WAIT).await;
        answered.elapsed()
    });
    let closed_after = join_all(idle).await;
    let first = closed_after.iter().min().unwrap();
    // Later than the header timeout: idle between requests is the keep-alive one.
    assert!(
        *first >= KEEP_ALIVE - Duration::from_millis(300),
        "closed after {first:?}"
    );
    assert_eq!(metric(app.addr, "keep_alive_timeout").await, 20);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn partial_and_trickled_bodies_are_closed_after_the_body_timeout() {
    let app = spawn_app(short_timeouts()).await;
    let start = Instant::now();
    let attack = (0..40).map(|i| async move {
        // Before the connect: the server's clock starts later, never earlier.
        let sent = Instant::now();
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(
                b"POST /api/v1/emit HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                  Authorization: Bearer switchboard-dev-key\r\n\
                  Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"event\":",
            )
            .await
            .unwrap();
        if i % 2 == 0 {
            // One byte every 100 ms: each read is quick, the body never ends.
            let (mut reader, mut writer) = stream.split();
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            let mut buf = [0u8; 64];
            loop {
                tokio::select! {
                    _ = interval.tick() => {
                        if writer.write_all(b" ").await.is_err() {
                            break;
                        }
                    }
                    read = reader.read(&mut buf) => {
                        assert!(matches!(read, Ok(0) | Err(_)), "no answer: {read:?}");
                        break;
                    }
                }
                assert!(sent.elapsed() < BODY + WAIT, "trickle not cut");
            }
        } else {
            let seen = until_closed(&mut stream, BODY + WAIT).await;
            assert!(seen.is_empty(), "no answer to a partial body");
        }
        sent.elapsed()
    });
    let (first, last) = closed_not_before(&join_all(attack).await, BODY);
    eprintln!(
        "40 partial bodies closed {first:?}..{last:?} after their connect, {:?} after the start",
        start.elapsed()
    );
    assert_eq!(metric(app.addr, "body_read_timeout").await, 40);

    // A whole body sent at once is served as before.
    let response = reqwest::Client::new()
        .post(app.http_url("/api/v1/emit"))
        .header("authorization", "Bearer switchboard-dev-key")
        .json(&serde_json::json!({"namespace": "/echo", "event": "hello", "data": {}}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn idle_plain_websockets_are_closed_and_pings_keep_one_open() {
    let app = spawn_app(short_timeouts()).await;
    let url = app.ws_url("/ws");

    // One that pings for twice the idle timeout stays open, then is closed
    // once it stops.
    let pinger = {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            let until = Instant::now() + WS_IDLE * 2;
            while Instant::now() < until {
                ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
                match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
                    Some(Ok(Message::Pong(_))) => {}
                    other => panic!("expected a pong, got {other:?}"),
                }
                tokio::time::sleep(WS_IDLE / 4).await;
            }
            let quiet = Instant::now();
            ws.send(Message::Text("still here".into())).await.unwrap();
            let echo = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
            assert!(
                matches!(&echo, Some(Ok(Message::Text(t))) if t.as_str() == "Server received: still here"),
                "{echo:?}"
            );
            let close = tokio::time::timeout(WS_IDLE + WAIT, ws.next())
                .await
                .unwrap();
            assert!(matches!(close, Some(Ok(Message::Close(_)))), "{close:?}");
            quiet.elapsed()
        }
    };
    let idle = (0..20).map(|_| {
        let url = url.clone();
        async move {
            let opened = Instant::now();
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            let frame = tokio::time::timeout(WS_IDLE + WAIT, ws.next())
                .await
                .expect("closed in time");
            match frame {
                Some(Ok(Message::Close(Some(close)))) => {
                    assert_eq!(close.code, CloseCode::Away);
                    assert_eq!(close.reason.as_str(), "idle timeout");
                }
                other => panic!("expected a close frame, got {other:?}"),
            }
            opened.elapsed()
        }
    });
    let (pinger_closed_after, idle_closed_after) = tokio::join!(pinger, join_all(idle));
    let first = idle_closed_after.iter().min().unwrap();
    assert!(*first >= WS_IDLE - SLACK, "closed early, after {first:?}");
    assert!(pinger_closed_after >= WS_IDLE - SLACK);
    assert_eq!(metric(app.addr, "ws_idle_timeout").await, 21);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_pending_long_poll_is_not_cut_by_the_http_timeouts() {
    // Every HTTP timeout is shorter than the ping interval a poll waits for.
    let ping_interval = Duration::from_millis(2500);
    let app = spawn_app(ServeConfig {
        ping_interval,
        ping_timeout: Duration::from_secs(2),
        ..short_timeouts()
    })
    .await;
    let (sid, _) = polling_session(&app).await;
    let http = reqwest::Client::new();
    let poll_url = app.polling_url(&sid);
    for _ in 0..2 {
        let asked = Instant::now();
        let body = tokio::time::timeout(ping_interval + WAIT, async {
            http.get(&poll_url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
        .await
        .expect("the poll is answered");
        assert_eq!(body, "2", "the poll gets the ping");
        assert!(
            asked.elapsed() > HEADER.max(BODY).max(KEEP_ALIVE) - Duration::from_millis(500),
            "the poll waited for the ping ({:?})",
            asked.elapsed()
        );
        let pong = http.post(&poll_url).body("3").send().await.unwrap();
        assert_eq!(pong.status(), 200);
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn past_20_connections_per_address_the_next_is_refused() {
    let app = spawn_app(ServeConfig {
        max_connections_per_ip: 20,
        ..test_config()
    })
    .await;
    let mut open = Vec::new();
    for i in 0..20 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        // No proxy is trusted: X-Forwarded-For changes nothing.
        let forwarded = format!("198.51.100.{i}");
        let answer = get(&mut stream, "/healthz", &[("X-Forwarded-For", &forwarded)]).await;
        assert_eq!(answer.map(|a| a.0), Some(200), "connection {i}");
        open.push(stream);
    }
    let mut refused = TcpStream::connect(app.addr).await.unwrap();
    let seen = until_closed(&mut refused, WAIT).await;
    assert!(seen.is_empty(), "the 21st gets no answer");
    assert_eq!(
        get(
            &mut refused,
            "/healthz",
            &[("X-Forwarded-For", "203.0.113.9")]
        )
        .await,
        None
    );
    assert_eq!(metric_on_open(&mut open[0], "connections_per_ip").await, 1);
    // The first 20 still work.
    for stream in &mut open {
        assert_eq!(get(stream, "/healthz", &[]).await.unwrap().0, 200);
    }
    // One closes: its place is free again.
    drop(open.pop());
    health_answers_within(app.addr, WAIT).await;
    app.stop().await.unwrap();
}

/// The metric, asked on a connection that is already open (a new one would
/// be refused).
async fn metric_on_open(stream: &mut TcpStream, limit: &str) -> u64 {
    let (status, body) = get(stream, "/metrics", &[]).await.unwrap();
    assert_eq!(status, 200);
    sample(&body, &limit_hits_series(limit)) as u64
}

async fn ws_forwarded_for(
    url: &str,
    forwarded: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    tungstenite::Error,
> {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-forwarded-for", forwarded.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_is_capped() {
    let app = spawn_app(ServeConfig {
        max_connections_per_ip: 20,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..test_config()
    })
    .await;
    let url = app.ws_url("/ws");
    let (a, b) = ("203.0.113.1", "203.0.113.2");
    // 20 WebSockets for each of two clients: 40 TCP connections from the
    // proxy, which is not capped by its own address.
    let mut sockets = Vec::new();
    for client in [a, b] {
        for i in 0..20 {
            // nginx appends the address it got the request from.
            let forwarded = format!("10.9.9.9, {client}");
            let ws = ws_forwarded_for(&url, &forwarded).await;
            sockets.push(ws.unwrap_or_else(|e| panic!("{client} #{i}: {e}")));
        }
    }
    // The 21st of either gets 503 (the same for a plain request).
    for client in [a, b] {
        match ws_forwarded_for(&url, client).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                assert_eq!(response.headers()["retry-after"], "5");
            }
            other => panic!("expected 503 for {client}, got {:?}", other.map(|_| ())),
        }
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let (status, body) = get(&mut stream, "/healthz", &[("X-Forwarded-For", client)])
            .await
            .unwrap();
        assert_eq!(status, 503);
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "rate_limited");
    }
    // A third address is not affected.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let answer = get(
        &mut stream,
        "/healthz",
        &[("X-Forwarded-For", "203.0.113.3")],
    )
    .await;
    assert_eq!(answer.unwrap().0, 200);
    assert_eq!(metric(app.addr, "connections_per_ip").await, 4);

    // The WebSockets still echo; when one of `a`'s closes, `a` may open one again.
    let ws = &mut sockets[0];
    ws.send(Message::Text("hi".into())).await.unwrap();
    let echo = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert!(matches!(echo, Some(Ok(Message::Text(_)))), "{echo:?}");
    sockets.swap_remove(0).close(None).await.unwrap();
    let start = Instant::now();
    while ws_forwarded_for(&url, a).await.is_err() {
        assert!(
            start.elapsed() < WAIT,
            "the place of a closed WebSocket is freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn past_50_connections_idle_ones_make_room_and_health_answers_at_once() {
    let app = spawn_app(ServeConfig {
        max_connections: 50,
        header_read_timeout: HEADER,
        ..test_config()
    })
    .await;
    let flood = (0..60).map(|_| idle_connection(app.addr, HEADER + WAIT));
    let probe = async {
        // Once the flood holds every place: a fresh connection takes the
        // place of the longest idle one and is answered.
        tokio::time::sleep(HEADER / 4).await;
        health_answers_within(app.addr, WAIT).await
    };
    let (closed_after, (health_took, attempts)) = tokio::join!(join_all(flood), probe);
    // The 10 past the cap, and one for each /healthz connection, closed
    // at once (the longest idle ones); the others at the header timeout
    // (measured from this side, late by as much as this task's own
    // scheduling: the header test checks the timeout's precision).
    let at_once = closed_after.iter().filter(|t| **t < HEADER / 2).count();
    assert!(
        (11..=10 + attempts).contains(&at_once),
        "{at_once} closed at once, {attempts} probes: {:?}",
        millis(&closed_after)
    );
    assert!(health_took < HEADER / 4, "/healthz took {health_took:?}");
    eprintln!(
        "60 idle connections at --max-connections 50: /healthz answered in {health_took:?} \
         ({attempts} connection(s))"
    );
    // Every replacement is counted.
    assert_eq!(metric(app.addr, "connections").await, at_once as u64);
    app.stop().await.unwrap();
}

/// Opens a connection that sends nothing; returns how long after its
/// handshake (as this task saw it) the server closed it.
async fn idle_connection(addr: SocketAddr, bound: Duration) -> Duration {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let connected = Instant::now();
    until_closed(&mut stream, bound).await;
    connected.elapsed()
}

/// Durations in sorted milliseconds, for a failure message.
fn millis(durations: &[Duration]) -> Vec<u128> {
    let mut millis: Vec<_> = durations.iter().map(Duration::as_millis).collect();
    millis.sort_unstable();
    millis
}

/// A `switchboard` process with a low open-file limit (soft and hard), logging
/// JSON lines read on a thread.
struct LimitedServer {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// The lines logged before `switchboard listening`.
    startup: Vec<serde_json::Value>,
    addr: SocketAddr,
    _data_dir: tempfile::TempDir,
}

impl LimitedServer {
    fn start(open_files: u32, extra: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", data_dir.path().join("sb.db").display());
        let limit = open_files.to_string();
        let (child, lines) = spawn_reading_stderr(
            Command::new("sh")
                .args([
                    "-c",
                    r#"ulimit -S -n "$0" && ulimit -H -n "$0" && exec "$@""#,
                    &limit,
                    env!("CARGO_BIN_EXE_switchboard"),
                    "--database-url",
                    &database_url,
                    "--listen",
                    "127.0.0.1:0",
                    "--log-format",
                    "json",
                ])
                .args(extra),
        );
        let mut startup = Vec::new();
        let listening = loop {
            let line = lines
                .recv_timeout(WAIT)
                .map(|line| log_json(&line))
                .unwrap_or_else(|_| panic!("not listening within {WAIT:?}: {startup:?}"));
            if line["message"] == "switchboard listening" {
                break line;
            }
            startup.push(line);
        };
        Self {
            child,
            lines,
            startup,
            addr: listening["address"].as_str().unwrap().parse().unwrap(),
            _data_dir: data_dir,
        }
    }

    fn logged_so_far(&self) -> Vec<serde_json::Value> {
        self.lines.try_iter().map(|line| log_json(&line)).collect()
    }
}

/// A log line as JSON; a line that is not JSON as `{"message": line}`.
fn log_json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|_| serde_json::json!({ "message": line }))
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[tokio::test]
async fn under_a_256_file_limit_a_flood_of_300_does_not_stop_health() {
    // The red-team attack, scaled down: more idle connections than the
    // process may open files.
    let mut server = LimitedServer::start(256, &["--header-read-timeout", "2s"]);
    let warning = server
        .startup
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("--max-connections lowered")
        })
        .unwrap_or_else(|| panic!("no warning: {:?}", server.startup));
    // 256 less the reserve for everything else.
    assert_eq!(warning["lowered_to"], 128, "{warning}");
    let addr = server.addr;
    let flood = (0..300).map(|_| idle_connection(addr, Duration::from_secs(2) + WAIT));
    let probe = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        health_answers_within(addr, WAIT).await
    };
    let (closed_after, (health_took, attempts)) = tokio::join!(join_all(flood), probe);
    // Past the cap each new connection closed an idle one (or, while those
    // were still closing, itself): 172 at once, and one per /healthz probe.
    let at_once = closed_after
        .iter()
        .filter(|t| **t < Duration::from_secs(1))
        .count();
    assert!(
        (172..=172 + attempts).contains(&at_once),
        "{at_once} closed at once, {attempts} probes: {:?}",
        millis(&closed_after)
    );
    assert!(
        health_took < Duration::from_secs(1),
        "/healthz took {health_took:?}"
    );
    eprintln!(
        "300 idle connections at a 256 open-file limit: /healthz answered in {health_took:?} \
         ({attempts} connection(s))"
    );
    // Still there, and it never ran out of descriptors.
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server is alive"
    );
    assert_eq!(health_at(addr).await, Some(200));
    let lines = server.logged_so_far();
    assert!(
        !lines.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("cannot accept")),
        "no accept errors: {lines:?}"
    );
    let refusals: Vec<_> = lines
        .iter()
        .filter(|l| l["limit"] == "connections")
        .collect();
    assert_eq!(refusals.len(), 1, "one line for the burst: {lines:?}");
}
