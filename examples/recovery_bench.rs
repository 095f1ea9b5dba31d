//! Connection state recovery benchmark: the heap a held (disconnected)
//! session and a recorded event cost, and how long a recovering reconnect
//! takes next to a fresh one that joins its room and reads the history again.
//!
//! ```text
//! cargo run --release --example recovery_bench -- --sessions 2000 --events 20000 --missed 50
//! ```
//!
//! The server runs in this process with `--recovery-namespaces /chat,/echo`,
//! under a counting allocator: the figures are live heap bytes, measured
//! before and after, divided by the count. Clients are raw WebSockets
//! (`support::raw_client`).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicIsize, Ordering},
    time::{Duration, Instant},
};

use clap::Parser;
use serde_json::{Value, json};

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
    bootstrap::block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (store, _dir) = bootstrap::store(None)?;
    let mut config = bootstrap::config(store);
    bootstrap::lift_rate_limits(&mut config);
    config.echo_rate_limit = 1_000_000;
    config.recovery_namespaces = vec!["/chat".into(), "/echo".into()];
    config.recovery_session_packets = (args.missed as u32 + 1).max(256);
    config.recovery_window = Duration::from_secs(600);
    let server = InProcess::start(config).await?;
    let addr = server.addr.clone();
    let held = "switchboard_recovery_sessions_held{namespace=\"/chat\"}";

    // Held sessions: connect and join, then drop every connection.
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
    let per_session = (live() - before) as f64 / args.sessions as f64;
    println!(
        "held sessions: {} ({} rooms), {:.0} bytes of heap each (the session, its rooms and name, and its share of the presence events recorded)",
        args.sessions, 100, per_session
    );

    // Recorded events: one echo client asks for `message-back`.
    let (mut echo, _) = connect(&addr, "/echo", None).await?;
    events(&mut echo, "/echo", "auth", 1).await?;
    let text = "x".repeat(100);
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
    println!(
        "recorded events: {}, {:.0} bytes of heap each (a 100-character text argument; {} bytes as JSON)",
        args.events,
        per_event,
        json!([text]).to_string().len() + "message-back".len()
    );

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
