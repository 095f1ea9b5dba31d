//! The three servers compared, as the child processes run them (`--serve
//! KIND`), and how the bench starts and stops them.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::serve::ListenerExt;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use socketioxide::{
    SocketIo,
    extract::{AckSender, Data, SocketRef, TryData},
};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

use crate::{client, support::bootstrap};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Switchboard,
    Bare,
    Raw,
}

impl Kind {
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "switchboard" => Kind::Switchboard,
            "bare" => Kind::Bare,
            "raw" => Kind::Raw,
            other => bail!("unknown server `{other}` (switchboard, bare, raw)"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Switchboard => "switchboard",
            Kind::Bare => "bare",
            Kind::Raw => "raw",
        }
    }

    /// Whether `/echo` emits `auth` on connect.
    pub fn emits_auth(self) -> bool {
        self != Kind::Raw
    }
}

/// Switchboard's settings lifted for a benchmark, as CLI flags (the
/// in-process role sets the same fields).
pub fn switchboard_flags(port: u16, db: &Path, room_limit: u32) -> Vec<String> {
    [
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--database-url",
        &format!("sqlite://{}", db.display()),
        "--log-level",
        "warn",
        "--rate-limit",
        "100000",
        "--rate-burst",
        "100000",
        "--echo-rate-limit",
        "100000",
        "--connect-rate-limit",
        "100000",
        "--max-connections-per-ip",
        "1000000",
        "--max-connections",
        "1000000",
        "--room-limit",
        &room_limit.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

// ==== the roles, in the child process ====

/// `--serve switchboard`: the real server in this process.
pub async fn serve_switchboard(port: u16, db: &Path, room_limit: u32) -> anyhow::Result<()> {
    let mut config = bootstrap::config(switchboard::config::DatabaseUrl::Sqlite(db.into()));
    config.listen = ([127, 0, 0, 1], port).into();
    bootstrap::lift_rate_limits(&mut config);
    config.echo_rate_limit = 100_000;
    config.max_connections = 1_000_000;
    config.room_limit = room_limit;
    switchboard::telemetry::init(config.log_format, &config.log_level);
    let app = switchboard::App::build(config).await?;
    app.run_until_stopped().await
}

/// `--serve bare`: socketioxide with the default engine settings and the
/// in-memory adapter, served by axum, the same events as Switchboard's.
pub async fn serve_bare(port: u16) -> anyhow::Result<()> {
    let (layer, io) = SocketIo::new_layer();
    io.ns(
        "/echo",
        async |socket: SocketRef, TryData::<Value>(auth)| {
            socket.on("message", async |socket: SocketRef, Data::<Value>(data)| {
                socket.emit("message-back", &data).ok();
            });
            socket.on(
                "message-with-ack",
                async |Data::<Value>(data), ack: AckSender| {
                    ack.send(&data).ok();
                },
            );
            socket
                .emit("auth", &auth.unwrap_or_else(|_| json!({})))
                .ok();
        },
    );
    io.ns("/chat", async |socket: SocketRef| {
        socket.on(
            "join",
            async |socket: SocketRef, Data::<Value>(join), ack: AckSender| {
                let room = join["room"].as_str().unwrap_or("").to_string();
                let name = join["name"].as_str().unwrap_or("").to_string();
                socket.extensions.insert(Name(name));
                socket.join(room.clone());
                ack.send(&json!({"ok": true, "room": room})).ok();
            },
        );
        socket.on(
            "message",
            async |socket: SocketRef, Data::<Value>(msg), ack: AckSender| {
                static NEXT_ID: AtomicU64 = AtomicU64::new(0);
                let room = msg["room"].as_str().unwrap_or("").to_string();
                let name = socket
                    .extensions
                    .get::<Name>()
                    .map(|n| n.0)
                    .unwrap_or_default();
                let ts = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                let message = json!({
                    "id": format!("{ts:013}-{:08}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
                    "room": room,
                    "from": {"id": socket.id.to_string(), "name": name},
                    "text": msg["text"],
                    "ts": ts,
                });
                socket.to(room).emit("message", &message).await.ok();
                ack.send(&json!({"ok": true, "message": message})).ok();
            },
        );
    });
    let app = axum::Router::new().fallback(async || "").layer(layer);
    // TCP_NODELAY as Switchboard sets it, so both differ in the engine only.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await?;
    Ok(())
}

#[derive(Clone)]
struct Name(String);

/// `--serve raw`: tokio-tungstenite echo, speaking just enough Engine.IO
/// (the open packet, the CONNECT answer) for the bench's client.
pub async fn serve_raw(port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = raw_connection(stream).await;
        });
    }
}

async fn raw_connection(stream: tokio::net::TcpStream) -> anyhow::Result<()> {
    static NEXT_SID: AtomicU64 = AtomicU64::new(0);
    stream.set_nodelay(true)?;
    // The read buffer engineioxide gives its WebSockets (its default
    // `ws_read_buffer_size`), not tungstenite's 128 KiB.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let sid = format!("raw{:017}", NEXT_SID.fetch_add(1, Ordering::Relaxed));
    ws.send(Message::text(format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}"
    )))
    .await?;
    while let Some(msg) = ws.next().await {
        match msg? {
            Message::Text(text) => {
                let t = text.as_str();
                if let Some(rest) = t.strip_prefix("40") {
                    let nsp = rest.split(',').next().unwrap_or("");
                    let comma = if nsp.is_empty() { "" } else { "," };
                    ws.send(Message::text(format!(
                        "40{nsp}{comma}{{\"sid\":\"s{sid}\"}}"
                    )))
                    .await?;
                } else if t != "3" {
                    ws.send(Message::Text(text)).await?;
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}

// ==== in the bench ====

/// How the bench starts its servers.
pub struct Launch<'a> {
    /// Pin each server to core 0.
    pub pin: bool,
    /// A prebuilt `switchboard` binary instead of this build's.
    pub switchboard_bin: Option<&'a str>,
    pub room_limit: u32,
    /// Switchboard's `--max-io-events-per-tick` (its own default when unset).
    pub switchboard_io_events: Option<u16>,
    /// The bare and raw servers' runtimes' `max_io_events_per_tick`.
    pub bare_io_events: usize,
}

impl Launch<'_> {
    /// The runtime setting a server of `kind` is started with, when it is
    /// not the server's own default.
    fn io_events(&self, kind: Kind) -> Option<usize> {
        match kind {
            Kind::Switchboard => self.switchboard_io_events.map(usize::from),
            Kind::Bare | Kind::Raw => Some(self.bare_io_events),
        }
    }
}

/// A server child process, killed if still running when dropped.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    pub pid: u32,
    /// Its SQLite directory (Switchboard), removed at the end.
    _dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts `kind` on a free loopback port (pinned to core 0 when `pin`)
    /// and waits until a client can connect to `/echo` (at most 30 s).
    pub async fn start(kind: Kind, launch: &Launch<'_>) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let exe = std::env::current_exe()?;
        let exe = exe.to_string_lossy().into_owned();
        let mut dir = None;
        let io_events = launch.io_events(kind);
        let (program, mut args): (String, Vec<String>) = match (kind, launch.switchboard_bin) {
            (Kind::Switchboard, Some(bin)) => {
                let d = tempfile::tempdir()?;
                let mut args =
                    switchboard_flags(port, &d.path().join("bench.db"), launch.room_limit);
                dir = Some(d);
                // Only when asked: an older binary may not know the flag.
                if let Some(n) = io_events {
                    args.extend(["--max-io-events-per-tick".into(), n.to_string()]);
                }
                (bin.to_string(), args)
            }
            (Kind::Switchboard, None) => {
                let d = tempfile::tempdir()?;
                let db = d.path().join("bench.db");
                dir = Some(d);
                let args = vec![
                    "--serve".into(),
                    "switchboard".into(),
                    "--port".into(),
                    port.to_string(),
                    "--db".into(),
                    db.display().to_string(),
                    "--room-limit".into(),
                    launch.room_limit.to_string(),
                ];
                (exe.clone(), args)
            }
            (other, _) => (
                exe.clone(),
                vec![
                    "--serve".into(),
                    other.name().into(),
                    "--port".into(),
                    port.to_string(),
                ],
            ),
        };
        if let (Some(n), true) = (io_events, program == exe) {
            // This bench's own child: its runtime is built from the flag.
            args.extend(["--io-events".into(), n.to_string()]);
        }
        let pin = launch.pin;
        let mut command = if pin {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let child = command
            .spawn()
            .with_context(|| format!("start {program}"))?;
        let pid = child.id();
        let mut server = Self {
            child,
            port,
            pid,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("{} server exited at start: {status}", kind.name());
            }
            let probe = tokio::time::timeout(
                Duration::from_secs(2),
                client::connect_ns(port, "/echo", kind.emits_auth()),
            )
            .await;
            if let Ok(Ok(ws)) = probe {
                client::close(ws).await;
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("{} server not ready after 30 s", kind.name());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        bootstrap::terminate(&mut self.child, Duration::from_secs(10))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        bootstrap::kill_if_running(&mut self.child);
    }
}
