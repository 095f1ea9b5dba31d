//! Connection state recovery benchmark: the heap a held (disconnected)
//! session and a recorded event cost, and how long a recovering reconnect
//! takes next to a fresh one that joins its room and reads the history again.
//!
//! ```text
//! cargo run --release --example recovery_bench -- --sessions 2000 --events 20000 --missed 50
//! cargo run --release --example recovery_bench -- --cluster
//! ```
//!
//! The server runs in this process with `--recovery-namespaces /chat,/echo`,
//! under a counting allocator: the figures are live heap bytes, measured
//! before and after, divided by the count. Clients are raw WebSockets
//! (`support::raw_client`).
//!
//! `--cluster`: the record is on Redis (`--redis-url`). The bench starts its
//! own `redis-server` (`--redis-server`, on a free loopback port, `--save ''
//! --appendonly no`) and stops it at the end; the server is one node on a
//! SQLite store with `--allow-sqlite-with-redis` (no PostgreSQL). It reports
//! Redis's `used_memory` (`INFO memory`) per held session and per recorded
//! event next to this process's heap.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicIsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};
use switchboard::config::Secret;

mod support;
use support::{
    bootstrap::{self, InProcess},
    raw_client::{self, Ws},
    stats::print_latency,
};

/// The system allocator, counting the bytes live now.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Parser, Debug)]
struct Args {
    /// Disconnected sessions to hold (each a `/chat` member of one room).
    #[arg(long, default_value_t = 2000)]
    sessions: usize,
    /// Events to record (echo `message-back`, 100-byte text).
    #[arg(long, default_value_t = 20000)]
    events: usize,
    /// Events a recovering client missed, and reconnects timed of each kind.
    #[arg(long, default_value_t = 50)]
    missed: usize,
    #[arg(long, default_value_t = 50)]
    reconnects: usize,
    /// Keep the record on Redis (`--redis-url`), on a redis-server this
    /// bench starts and stops.
    #[arg(long)]
    cluster: bool,
    /// The redis-server binary `--cluster` starts.
    #[arg(long, default_value = "/usr/bin/redis-server")]
    redis_server: String,
}

/// The redis-server of a `--cluster` run: started on a free loopback port
/// without persistence, stopped by its pid at the end.
struct RedisServer {
    child: Child,
    url: String,
    conn: redis::aio::MultiplexedConnection,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    async fn start(path: &str) -> anyhow::Result<Self> {
        // A free loopback port: bind port 0, note it, let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = tempfile::tempdir()?;
        let child = Command::new(path)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start {path}"))?;
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let conn = loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                break conn;
            }
            if Instant::now() > deadline {
                let mut server = child;
                server.kill().ok();
                server.wait().ok();
                anyhow::bail!("{path} does not answer on port {port} after 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Ok(Self {
            child,
            url,
            conn,
            _dir: dir,
        })
    }

    /// `used_memory` of `INFO memory`: the bytes Redis has allocated.
    async fn used_memory(&mut self) -> anyhow::Result<i64> {
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut self.conn)
            .await?;
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .context("no used_memory in INFO memory")
    }

    /// SIGTERM to its pid, then SIGKILL if it is still there after 5 s.
    fn stop(mut self) -> anyhow::Result<()> {
        bootstrap::terminate(&mut self.child, Duration::from_secs(5))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        bootstrap::kill_if_running(&mut self.child);
    }
}

/// Redis's used memory now, in a `--cluster` run.
async fn redis_memory(redis: &mut Option<RedisServer>) -> anyhow::Result<i64> {
    match redis {
        Some(redis) => redis.used_memory().await,
        None => Ok(0),
    }
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The CONNECT reply's `pid`.
fn pid_of(reply: &str) -> String {
    let json = reply.split_once(',').map_or("{}", |(_, rest)| rest);
    let value: Value = serde_json::from_str(json).unwrap_or_default();
    value["pid"].as_str().unwrap_or_default().to_owned()
}

/// Connects to `nsp` and returns the socket and its pid.
async fn connect(addr: &str, nsp: &str, auth: Option<&Value>) -> anyhow::Result<(Ws, String)> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    raw_client::next_text(&mut ws).await?;
    let auth = auth.map(Value::to_string).unwrap_or_default();
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        format!("40{nsp},{auth}").into(),
    ))
    .await?;
    let reply = raw_client::next_text(&mut ws).await?;
    anyhow::ensure!(
        reply.starts_with(&format!("40{nsp},{{")),
        "refused: {reply}"
    );
    Ok((ws, pid_of(&reply)))
}

/// The live heap once it stops shrinking (at most 5 s): a session is
/// counted held before its connection's tasks have all ended and freed their
/// buffers.
async fn settled() -> isize {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = live();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = live();
        if now >= last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// Waits until `name` in /metrics reads `value`.
async fn metric_is(addr: &str, name: &str, value: f64) {
    while bootstrap::metric(addr, name).await != Some(value) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn ack(ws: &mut Ws, nsp: &str, id: u64, args: Value) -> anyhow::Result<raw_client::Ack> {
    raw_client::emit(ws, nsp, Some(id), &args).await?;
    raw_client::wait_ack(ws, nsp, id).await
}

/// Reads frames until `n` events named `event` arrived; returns the last offset.
async fn events(ws: &mut Ws, nsp: &str, event: &str, n: usize) -> anyhow::Result<String> {
    let prefix = format!("42{nsp},[\"{event}\"");
    let mut last = String::new();
    let mut seen = 0;
    while seen < n {
        let text = raw_client::next_text(ws).await?;
        if text.starts_with(&prefix) {
            let args: Vec<Value> = serde_json::from_str(&text[nsp.len() + 3..])?;
            last = args
                .last()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            seen += 1;
        }
    }
    Ok(last)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    bootstrap::block_on(async {
        let mut redis = if args.cluster {
            Some(RedisServer::start(&args.redis_server).await?)
        } else {
            None
        };
        let result = run(args, &mut redis).await;
        if let Some(redis) = redis {
            redis.stop()?;
        }
        result
    })
}

async fn run(args: Args, redis: &mut Option<RedisServer>) -> anyhow::Result<()> {
    let (store, _dir) = bootstrap::store(None)?;
    let mut config = bootstrap::config(store);
    bootstrap::lift_rate_limits(&mut config);
    config.echo_rate_limit = 1_000_000;
    config.recovery_namespaces = vec!["/chat".into(), "/echo".into()];
    config.recovery_session_packets = (args.missed as u32 + 1).max(256);
    config.recovery_window = Duration::from_secs(600);
    if let Some(redis) = redis.as_ref() {
        config.redis_url = Some(Secret::new(redis.url.as_str()));
        // One node on its own SQLite file: the cluster's shared store is not
        // what this measures.
        config.allow_sqlite_with_redis = true;
        let version = Command::new(&args.redis_server)
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default();
        println!(
            "cluster: one node with --redis-url {} ({version}, started by this bench with --save '' --appendonly no); \
             store SQLite with --allow-sqlite-with-redis (one node on purpose, no PostgreSQL)",
            redis.url
        );
    }
    let server = InProcess::start(config).await?;
    let addr = server.addr.clone();
    let held = "switchboard_recovery_sessions_held{namespace=\"/chat\"}";

    // Held sessions: connect and join, then drop every connection.
    let redis_before = redis_memory(redis).await?;
    let before = live();
    let mut sockets = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions {
        let (mut ws, _) = connect(&addr, "/chat", None).await?;
        let room = format!("room{}", i % 100);
        ack(
            &mut ws,
            "/chat",
            1,
            json!(["join", {"room": room, "name": format!("m{i}")}]),
        )
        .await?;
        sockets.push(ws);
    }
    drop(sockets);
    metric_is(&addr, held, args.sessions as f64).await;
    let per_session = (settled().await - before) as f64 / args.sessions as f64;
    if args.cluster {
        let on_redis = (redis_memory(redis).await? - redis_before) as f64 / args.sessions as f64;
        println!(
            "held sessions: {} ({} rooms), {:.0} bytes of Redis used_memory each (the session, its rooms and name, and its share of the presence events recorded), {:.0} bytes of heap here each",
            args.sessions, 100, on_redis, per_session
        );
    } else {
        println!(
            "held sessions: {} ({} rooms), {:.0} bytes of heap each (the session, its rooms and name, and its share of the presence events recorded)",
            args.sessions, 100, per_session
        );
    }

    // Recorded events: one echo client asks for `message-back`.
    let (mut echo, _) = connect(&addr, "/echo", None).await?;
    events(&mut echo, "/echo", "auth", 1).await?;
    let text = "x".repeat(100);
    let redis_before = redis_memory(redis).await?;
    let before = live();
    // In batches the outgoing buffer holds (a client that does not read is
    // disconnected).
    for batch in (0..args.events).collect::<Vec<_>>().chunks(256) {
        for _ in batch {
            raw_client::emit(&mut echo, "/echo", None, &json!(["message", text])).await?;
        }
        events(&mut echo, "/echo", "message-back", batch.len()).await?;
    }
    let per_event = (live() - before) as f64 / args.events as f64;
    let json_bytes = json!([text]).to_string().len() + "message-back".len();
    if args.cluster {
        let on_redis = (redis_memory(redis).await? - redis_before) as f64 / args.events as f64;
        println!(
            "recorded events: {}, {:.0} bytes of Redis used_memory each, {:.0} bytes of heap here each (a 100-character text argument; {} bytes as JSON)",
            args.events, on_redis, per_event, json_bytes
        );
    } else {
        println!(
            "recorded events: {}, {:.0} bytes of heap each (a 100-character text argument; {} bytes as JSON)",
            args.events, per_event, json_bytes
        );
    }

    // Reconnects: recovering (missed events replayed) against fresh + join + history.
    let (mut sender, _) = connect(&addr, "/chat", None).await?;
    ack(
        &mut sender,
        "/chat",
        1,
        json!(["join", {"room": "timed", "name": "sender"}]),
    )
    .await?;
    let (mut recovering, mut recovery_times, mut fresh_times) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut ack_id = 2;
    for i in 0..args.reconnects {
        let (mut ws, pid) = connect(&addr, "/chat", None).await?;
        ack(
            &mut ws,
            "/chat",
            1,
            json!(["join", {"room": "timed", "name": format!("r{i}")}]),
        )
        .await?;
        ack(
            &mut sender,
            "/chat",
            ack_id,
            json!(["message", {"room": "timed", "text": "sync"}]),
        )
        .await?;
        ack_id += 1;
        let offset = events(&mut ws, "/chat", "message", 1).await?;
        recovering.push((ws, pid, offset));
    }
    let held_before = bootstrap::metric(&addr, held).await.unwrap_or(0.0);
    // Dropping each WebSocket closes its transport: the sessions are held.
    let recovering: Vec<(String, String)> = recovering
        .into_iter()
        .map(|(ws, pid, offset)| {
            drop(ws);
            (pid, offset)
        })
        .collect();
    metric_is(&addr, held, held_before + args.reconnects as f64).await;
    for _ in 0..args.missed {
        ack(
            &mut sender,
            "/chat",
            ack_id,
            json!(["message", {"room": "timed", "text": text}]),
        )
        .await?;
        ack_id += 1;
    }
    for (pid, offset) in &recovering {
        let start = Instant::now();
        let (mut ws, back) =
            connect(&addr, "/chat", Some(&json!({"pid": pid, "offset": offset}))).await?;
        anyhow::ensure!(&back == pid, "not recovered");
        events(&mut ws, "/chat", "message", args.missed).await?;
        recovery_times.push(start.elapsed().as_micros() as u32);
    }
    for i in 0..args.reconnects {
        let start = Instant::now();
        let (mut ws, _) = connect(&addr, "/chat", None).await?;
        ack(
            &mut ws,
            "/chat",
            1,
            json!(["join", {"room": "timed", "name": format!("f{i}")}]),
        )
        .await?;
        fresh_times.push(start.elapsed().as_micros() as u32);
    }
    println!(
        "reconnects of a client that missed {} messages ({} each):",
        args.missed, args.reconnects
    );
    print_latency("  recovered (CONNECT + replay)", &mut recovery_times);
    print_latency("  fresh (CONNECT + join with history)", &mut fresh_times);
    server.stop().await
}
