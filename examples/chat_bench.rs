//! Chat benchmark: N Socket.IO clients over real WebSockets, in rooms of K
//! members, each sending messages at a steady rate; prints messages/s stored
//! (acked after commit) and delivered, and send->delivery latency.
//!
//! ```text
//! cargo run --release --example chat_bench -- --clients 1000 --room-size 10 --rate 20000
//! cargo run --release --example chat_bench -- --database-url postgres://USER@127.0.0.1:5432/DB
//! cargo run --release --example chat_bench -- --url http://127.0.0.1:3000   # an external server
//! cargo run --release --example chat_bench -- --url http://127.0.0.1:3001,http://127.0.0.1:3002  # nodes of a cluster
//! ```
//!
//! Without `--url` the server runs in this process (same tokio runtime, same
//! cores as the clients) on a temporary SQLite file or the given database.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::{
    bootstrap::{self, InProcess, Server},
    raw_client::{self, PING, PONG, Ws},
    stats::print_latency,
};

#[derive(Parser, Debug)]
struct Args {
    /// Target already running servers instead of starting one in-process;
    /// several (comma separated, the nodes of a cluster) get the clients in
    /// turn, so every room has members on every node.
    #[arg(long, value_delimiter = ',')]
    url: Vec<String>,
    /// Store of the in-process server (default: a temporary SQLite file).
    #[arg(long)]
    database_url: Option<String>,
    /// Connected clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Members per room (clients / room-size rooms).
    #[arg(long, default_value_t = 10)]
    room_size: usize,
    /// Messages per second sent by all clients together.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Measured seconds (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Default)]
struct Totals {
    acked: AtomicU64,
    refused: AtomicU64,
    delivered: AtomicU64,
}

struct ClientReport {
    delivery_us: Vec<u32>,
    ack_us: Vec<u32>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.room_size < 2 || args.clients < args.room_size {
        bail!("need --room-size >= 2 and --clients >= --room-size");
    }
    bootstrap::block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _data_dir;
    let (addrs, server) = match args.url.as_slice() {
        [_, ..] => {
            let addrs: Vec<String> = args
                .url
                .iter()
                .map(|url| bootstrap::host_port(url))
                .collect();
            println!("server: external, {} node(s)", addrs.len());
            (addrs, Server::External { pid: None })
        }
        [] => {
            let (store, data_dir) = bootstrap::store(args.database_url.as_deref())?;
            _data_dir = data_dir;
            let mut config = bootstrap::config(store);
            bootstrap::lift_rate_limits(&mut config);
            let engine = bootstrap::store_name(&config.database_url);
            println!("server: in-process, store {engine}");
            let server = InProcess::start(config).await?;
            (vec![server.addr.clone()], Server::InProcess(server))
        }
    };

    let rooms = args.clients / args.room_size;
    let clients = rooms * args.room_size;
    let per_client_interval = Duration::from_secs_f64(clients as f64 / args.rate.max(1) as f64);
    println!(
        "load: {clients} clients in {rooms} rooms of {}, {} msg/s in total ({:.1} msg/s per client), {} s measured",
        args.room_size,
        args.rate,
        1.0 / per_client_interval.as_secs_f64(),
        args.seconds
    );

    let epoch = Instant::now();
    let totals = Arc::new(Totals::default());
    let warmup = Duration::from_secs(1);
    let measure_from = epoch + Duration::from_secs(2) + warmup; // connect time + warm-up
    let measure_until = measure_from + Duration::from_secs(args.seconds);

    // Connect everyone first (joined), then start sending together.
    let mut joined = Vec::new();
    for n in 0..clients {
        // Room r holds clients r, r + rooms, r + 2 rooms...: alternate their
        // nodes so every room spans the cluster.
        let addr = &addrs[(n / rooms) % addrs.len()];
        joined.push(connect_and_join(addr, &format!("room-{}", n % rooms), n).await?);
    }
    println!(
        "connected and joined: {clients} clients in {:.1} s",
        epoch.elapsed().as_secs_f64()
    );
    let start_sending = Instant::now().max(epoch + Duration::from_secs(2));

    let mut tasks = Vec::new();
    for (n, ws) in joined.into_iter().enumerate() {
        let totals = totals.clone();
        let room = format!("room-{}", n % rooms);
        // Spread the clients' send times evenly over one interval.
        let offset = per_client_interval.mul_f64(n as f64 / clients as f64);
        tasks.push(tokio::spawn(client(
            ws,
            room,
            epoch,
            start_sending + offset,
            per_client_interval,
            measure_from,
            measure_until,
            totals,
        )));
    }

    tokio::time::sleep_until((measure_from).into()).await;
    let at_start = snapshot(&totals);
    tokio::time::sleep_until(measure_until.into()).await;
    let at_end = snapshot(&totals);

    let mut delivery = Vec::new();
    let mut acks = Vec::new();
    for task in tasks {
        let report = task.await??;
        delivery.extend(report.delivery_us);
        acks.extend(report.ack_us);
    }
    let secs = args.seconds as f64;
    let stored = (at_end.0 - at_start.0) as f64 / secs;
    let delivered = (at_end.2 - at_start.2) as f64 / secs;
    println!("messages stored (acked): {stored:.0} msg/s");
    println!(
        "messages delivered:      {delivered:.0} deliveries/s ({:.0} msg/s x {} receivers)",
        delivered / (args.room_size - 1) as f64,
        args.room_size - 1
    );
    println!("refused (rate_limited or errors): {}", at_end.1);
    print_latency("send -> delivery", &mut delivery);
    print_latency("send -> ack (stored)", &mut acks);

    server.stop().await
}

fn snapshot(t: &Totals) -> (u64, u64, u64) {
    (
        t.acked.load(Ordering::Relaxed),
        t.refused.load(Ordering::Relaxed),
        t.delivered.load(Ordering::Relaxed),
    )
}

async fn connect_and_join(addr: &str, room: &str, n: usize) -> anyhow::Result<Ws> {
    let mut ws = raw_client::connect(addr, "/chat", None, "not connected").await?;
    let join = json!(["join", {"room": room, "name": format!("bot{n}")}]);
    raw_client::emit(&mut ws, "/chat", Some(0), &join).await?;
    let ack = raw_client::wait_ack(&mut ws, "/chat", 0).await?;
    if !ack.text.contains(r#""ok":true"#) {
        bail!("join refused: {}", ack.text);
    }
    Ok(ws)
}

#[allow(clippy::too_many_arguments)]
async fn client(
    ws: Ws,
    room: String,
    epoch: Instant,
    first_send: Instant,
    interval: Duration,
    measure_from: Instant,
    measure_until: Instant,
    totals: Arc<Totals>,
) -> anyhow::Result<ClientReport> {
    let (mut sink, mut stream) = ws.split();
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let sent_at: Arc<std::sync::Mutex<std::collections::HashMap<u64, u64>>> = Default::default();

    let sender_sent_at = sent_at.clone();
    let sender = tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(first_send.into(), interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ack_id = 1u64;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if Instant::now() >= measure_until {
                        break;
                    }
                    let now_us = epoch.elapsed().as_micros() as u64;
                    sender_sent_at.lock().unwrap().insert(ack_id, now_us);
                    let packet = format!(r#"42/chat,{ack_id}["message",{{"room":"{room}","text":"{now_us}"}}]"#);
                    if sink.send(Message::Text(packet.into())).await.is_err() {
                        break;
                    }
                    ack_id += 1;
                }
                Some(()) = pong_rx.recv() => {
                    if sink.send(Message::Text(PONG.into())).await.is_err() {
                        break;
                    }
                }
            }
        }
        sink
    });

    let mut report = ClientReport {
        delivery_us: Vec::new(),
        ack_us: Vec::new(),
    };
    let drain_until = measure_until + Duration::from_secs(2);
    loop {
        let frame = match tokio::time::timeout_at(drain_until.into(), stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            Ok(_) | Err(_) => break,
        };
        let text = frame.as_str();
        let now = Instant::now();
        let now_us = now.duration_since(epoch).as_micros() as u64;
        let measured = now >= measure_from && now < measure_until;
        if text == PING {
            pong_tx.send(()).ok();
        } else if let Some(rest) = text.strip_prefix("42/chat,[\"message\"") {
            totals.delivered.fetch_add(1, Ordering::Relaxed);
            if measured && let Some(sent) = text_micros(rest) {
                report.delivery_us.push(now_us.saturating_sub(sent) as u32);
            }
        } else if let Some(rest) = text.strip_prefix("43/chat,") {
            let id: u64 = rest.split('[').next().unwrap_or("").parse().unwrap_or(0);
            let sent = sent_at.lock().unwrap().remove(&id);
            if rest.contains(r#""ok":true"#) {
                totals.acked.fetch_add(1, Ordering::Relaxed);
                if let (true, Some(sent)) = (measured, sent) {
                    report.ack_us.push(now_us.saturating_sub(sent) as u32);
                }
            } else {
                totals.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    drop(sender.await);
    Ok(report)
}

/// The send time the sender put in the message text (`"text":"<micros>"`).
fn text_micros(packet: &str) -> Option<u64> {
    let start = packet.find(r#""text":""#)? + 8;
    let end = packet[start..].find('"')? + start;
    packet[start..end].parse().ok()
}
