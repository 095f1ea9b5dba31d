//! Notifications benchmark (issue #4): durable HTTP push throughput, and
//! push -> receive latency with connected users over real WebSockets.
//!
//! - `throughput`: `--concurrency` requesters send `POST /api/v1/notifications`
//!   back to back (HTTP keep-alive) for `--seconds`, each naming
//!   `--users-per-push` users who are not connected; prints pushes/s accepted
//!   (each `201` is a commit), notifications/s and the HTTP latency.
//! - `latency`: `--users` users connect to `/notifications` (one WebSocket
//!   each, acking every notification like a real client); pushes go out at a
//!   steady `--rate` to random users, each carrying its send time; the
//!   receiving client computes push -> receive latency. Every accepted push
//!   must arrive exactly once at the right user: a mismatch is an error.
//!
//! ```text
//! cargo run --release --example notify_bench -- --mode both
//! cargo run --release --example notify_bench -- --mode throughput --users-per-push 10
//! cargo run --release --example notify_bench -- --database-url postgres://USER@127.0.0.1:5432/DB
//! cargo run --release --example notify_bench -- --url http://127.0.0.1:3000 --api-key KEY --jwt-secret SECRET
//! ```
//!
//! Without `--url` the server runs in this process (same tokio runtime, same
//! cores as the clients) on a temporary SQLite file or the given database.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use switchboard::{config::Secret, notifications::sign_token, protocol::UserId};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

mod support;
use support::{
    bootstrap::{self, InProcess, Server},
    raw_client::{self, PING, PONG, Ws},
    rng::SplitMix,
    stats::{ms, print_latency, quantile},
};

/// Secrets of the in-process server (it listens on loopback only).
const BENCH_JWT_SECRET: &str = "notify-bench-jwt-secret-0123456789";
const BENCH_API_KEY: &str = "notify-bench-api-key-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Throughput,
    Latency,
    Both,
}

#[derive(Parser, Debug)]
struct Args {
    /// Target an already running server instead of starting one in-process
    /// (then `--api-key` and `--jwt-secret` are needed; start it with a high
    /// `--api-rate-limit`, or pushes above 1,000/s get 429).
    #[arg(long)]
    url: Option<String>,
    /// Send the HTTP pushes to this node instead of `--url` (the users stay
    /// connected to `--url`): push delivery across the nodes of a cluster.
    #[arg(long)]
    push_url: Option<String>,
    /// Store of the in-process server (default: a temporary SQLite file).
    #[arg(long)]
    database_url: Option<String>,
    /// API key of the external server (`--url`).
    #[arg(long)]
    api_key: Option<String>,
    /// JWT secret of the external server (`--url`), to sign the users' tokens.
    #[arg(long)]
    jwt_secret: Option<String>,
    /// Which measurement to run.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    mode: Mode,
    /// Throughput: concurrent HTTP requesters.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Throughput: users named by each push.
    #[arg(long, default_value_t = 1)]
    users_per_push: usize,
    /// Latency: connected users (one WebSocket each); throughput: size of the
    /// (offline) user pool the pushes are spread over.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Latency: pushes per second, each to one random connected user.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Measured seconds of each mode (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// Where the server is and how to talk to it.
struct Target {
    addr: String,
    /// Where pushes go (`--push-url`), when not `addr`.
    push_addr: Option<String>,
    api_key: String,
    jwt_secret: String,
}

impl Target {
    fn push_url(&self) -> String {
        let addr = self.push_addr.as_deref().unwrap_or(&self.addr);
        format!("http://{addr}/api/v1/notifications")
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.users == 0 || args.concurrency == 0 || args.users_per_push == 0 || args.seconds == 0 {
        bail!("--users, --concurrency, --users-per-push and --seconds must be at least 1");
    }
    if args.users_per_push > 1000 {
        bail!("--users-per-push is at most 1000 (the API's limit)");
    }
    bootstrap::block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _data_dir;
    let (target, server, store) = match &args.url {
        Some(url) => {
            let (Some(api_key), Some(jwt_secret)) = (&args.api_key, &args.jwt_secret) else {
                bail!("--url needs --api-key and --jwt-secret");
            };
            let addr = bootstrap::host_port(url);
            println!("server: external, {addr}");
            let push_addr = args.push_url.as_deref().map(bootstrap::host_port);
            if let Some(push) = &push_addr {
                println!("pushes through another node: {push}");
            }
            let target = Target {
                addr,
                push_addr,
                api_key: api_key.clone(),
                jwt_secret: jwt_secret.clone(),
            };
            (target, Server::External { pid: None }, "external")
        }
        None => {
            let (store, data_dir) = bootstrap::store(args.database_url.as_deref())?;
            _data_dir = data_dir;
            let mut config = bootstrap::config(store);
            bootstrap::lift_rate_limits(&mut config);
            // Likewise the per-API-key request limit (1,000/s by default).
            config.api_rate_limit = 100_000;
            config.jwt_secret = Some(Secret::new(BENCH_JWT_SECRET));
            config.api_keys = vec![Secret::new(BENCH_API_KEY)];
            let store = bootstrap::store_name(&config.database_url);
            println!("server: in-process, store {store}");
            let server = InProcess::start(config).await?;
            let target = Target {
                push_addr: None,
                addr: server.addr.clone(),
                api_key: BENCH_API_KEY.into(),
                jwt_secret: BENCH_JWT_SECRET.into(),
            };
            (target, Server::InProcess(server), store)
        }
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()?;

    let throughput_report = if matches!(args.mode, Mode::Throughput | Mode::Both) {
        Some(throughput(&args, &target, &http).await?)
    } else {
        None
    };
    let latency_report = if matches!(args.mode, Mode::Latency | Mode::Both) {
        Some(latency(&args, &target, &http).await?)
    } else {
        None
    };

    println!();
    println!("== notify_bench summary (store {store}) ==");
    let mut failed = false;
    if let Some(report) = &throughput_report {
        report.print_summary(&args);
        failed |= report.errors > 0;
    }
    if let Some(report) = &latency_report {
        report.print_summary(&args);
        failed |= !report.complete();
    }

    server.stop().await?;
    if failed {
        bail!("errors during the benchmark (see above)");
    }
    Ok(())
}

// ---------------------------------------------------------------- throughput

struct ThroughputReport {
    accepted_per_s: f64,
    errors: u64,
    first_error: Option<String>,
    http_us: Vec<u32>,
}

impl ThroughputReport {
    fn print_summary(&self, args: &Args) {
        println!(
            "throughput: {} requesters, {} user(s) per push, {} s: {:.0} pushes/s accepted (201), {:.0} notifications/s stored",
            args.concurrency,
            args.users_per_push,
            args.seconds,
            self.accepted_per_s,
            self.accepted_per_s * args.users_per_push as f64
        );
        print_latency("  push -> 201 (HTTP)", &mut self.http_us.clone());
        if self.errors > 0 {
            println!(
                "  ERROR: {} pushes not accepted; first: {}",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            );
        } else {
            println!("  errors: 0");
        }
        let aim = if self.accepted_per_s >= 5000.0 {
            "met"
        } else {
            "MISSED"
        };
        println!("  aim >= 5,000 durable pushes/s: {aim}");
    }
}

struct RequesterReport {
    accepted: u64,
    errors: u64,
    first_error: Option<String>,
    http_us: Vec<u32>,
}

async fn throughput(
    args: &Args,
    target: &Target,
    http: &reqwest::Client,
) -> anyhow::Result<ThroughputReport> {
    println!(
        "throughput: {} concurrent requesters, {} user(s) per push over {} offline users, {} s measured after 1 s warm-up",
        args.concurrency,
        args.users_per_push,
        args.users.max(args.users_per_push),
        args.seconds
    );
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(1);
    let measure_until = measure_from + Duration::from_secs(args.seconds);
    let pool = args.users.max(args.users_per_push);
    let url = Arc::new(target.push_url());

    let mut tasks = Vec::new();
    for requester in 0..args.concurrency {
        let http = http.clone();
        let url = url.clone();
        let key = target.api_key.clone();
        let per_push = args.users_per_push;
        tasks.push(tokio::spawn(async move {
            let mut report = RequesterReport {
                accepted: 0,
                errors: 0,
                first_error: None,
                http_us: Vec::new(),
            };
            let mut rng = SplitMix::new(requester as u64 + 1);
            let mut n = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= measure_until {
                    break;
                }
                let first = rng.below(pool as u64) as usize;
                let users: Vec<String> = (0..per_push)
                    .map(|k| format!("tp{}", (first + k) % pool))
                    .collect();
                let body = json!({
                    "users": users,
                    "kind": "bench",
                    "data": {"requester": requester, "n": n},
                });
                n += 1;
                let outcome = push(&http, &url, &key, &body).await;
                let done = Instant::now();
                let measured = done >= measure_from && done < measure_until;
                match outcome {
                    Ok(()) if measured => {
                        report.accepted += 1;
                        report
                            .http_us
                            .push(done.duration_since(sent).as_micros() as u32);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        report.errors += 1;
                        report.first_error.get_or_insert(e.to_string());
                    }
                }
            }
            report
        }));
    }

    let mut accepted = 0;
    let mut errors = 0;
    let mut first_error = None;
    let mut http_us = Vec::new();
    for task in tasks {
        let r = task.await?;
        accepted += r.accepted;
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
        http_us.extend(r.http_us);
    }
    let report = ThroughputReport {
        accepted_per_s: accepted as f64 / args.seconds as f64,
        errors,
        first_error,
        http_us,
    };
    println!(
        "throughput: {:.0} pushes/s accepted, {:.0} notifications/s, {} errors",
        report.accepted_per_s,
        report.accepted_per_s * args.users_per_push as f64,
        report.errors
    );
    Ok(report)
}

/// One push; `Ok` only for `201 Created` (the notifications are committed).
async fn push(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> anyhow::Result<()> {
    let response = http.post(url).bearer_auth(key).json(body).send().await?;
    let status = response.status();
    // Read the body whole so the connection goes back to the pool.
    let text = response.bytes().await?;
    if status != reqwest::StatusCode::CREATED {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&text));
    }
    Ok(())
}

// ---------------------------------------------------------------- latency

struct LatencyReport {
    users: usize,
    offered_per_s: f64,
    pushed: u64,
    accepted: u64,
    push_errors: u64,
    first_push_error: Option<String>,
    delivered: u64,
    missing: u64,
    duplicates: u64,
    wrong_user: u64,
    unknown: u64,
    out_of_order: u64,
    client_errors: Vec<String>,
    receive_us: Vec<u32>,
    http_us: Vec<u32>,
}

impl LatencyReport {
    fn complete(&self) -> bool {
        self.push_errors == 0
            && self.missing == 0
            && self.duplicates == 0
            && self.wrong_user == 0
            && self.unknown == 0
            && self.out_of_order == 0
            && self.client_errors.is_empty()
            && self.delivered == self.accepted
    }

    fn print_summary(&self, args: &Args) {
        println!(
            "latency: {} users connected, {} pushes/s asked ({:.0} sent), {} s measured",
            self.users, args.rate, self.offered_per_s, args.seconds
        );
        println!(
            "  pushed {}, accepted (201) {}, delivered {}",
            self.pushed, self.accepted, self.delivered
        );
        let mut receive = self.receive_us.clone();
        print_latency("  push -> receive", &mut receive);
        print_latency("  push -> 201 (HTTP)", &mut self.http_us.clone());
        if self.complete() {
            println!("  every accepted push received exactly once, by its user, in id order: yes");
        } else {
            println!(
                "  ERROR: delivery mismatch: {} push errors, {} missing, {} duplicates, {} to the wrong user, {} unknown, {} out of order, {} client errors",
                self.push_errors,
                self.missing,
                self.duplicates,
                self.wrong_user,
                self.unknown,
                self.out_of_order,
                self.client_errors.len()
            );
            if let Some(e) = &self.first_push_error {
                println!("  first push error: {e}");
            }
            if let Some(e) = self.client_errors.first() {
                println!("  first client error: {e}");
            }
        }
        let p99_ms = if receive.is_empty() {
            f64::INFINITY
        } else {
            ms(quantile(&receive, 0.99))
        };
        let aim = if self.users < 1000 || args.rate < 1000 {
            "not applicable (fewer users or a lower rate)"
        } else if p99_ms < 50.0 && self.complete() {
            "met"
        } else {
            "MISSED"
        };
        println!("  aim p99 push -> receive < 50 ms (1,000 pushes/s, 1,000 users): {aim}");
    }
}

/// One notification as a client saw it.
struct Received {
    seq: u64,
    sent_us: u64,
    received_us: u64,
}

struct ClientReport {
    received: Vec<Received>,
    out_of_order: u64,
}

/// One push as the pusher saw it.
struct Pushed {
    seq: u64,
    user: usize,
    sent_us: u64,
    outcome: anyhow::Result<u32>,
}

async fn latency(
    args: &Args,
    target: &Target,
    http: &reqwest::Client,
) -> anyhow::Result<LatencyReport> {
    let epoch = Instant::now();
    // A distinct prefix per run, so users of an external server start empty.
    let run_tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 1_000_000)
        .unwrap_or(0);
    let user_name = |n: usize| format!("lat{run_tag}-{n}");

    // Connect everyone first, then push.
    let secret = target.jwt_secret.clone();
    let addr = target.addr.clone();
    let connected: Vec<anyhow::Result<Ws>> = stream::iter(0..args.users)
        .map(|n| {
            let user = UserId::parse(&user_name(n)).expect("a valid user id");
            let token = sign_token(&secret, &user, Duration::from_secs(3600));
            let addr = addr.clone();
            async move { connect(&addr, &token).await }
        })
        .buffered(16)
        .collect()
        .await;
    let sockets = connected
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()
        .context("connecting the users")?;
    println!(
        "latency: {} users connected to /notifications in {:.1} s",
        args.users,
        epoch.elapsed().as_secs_f64()
    );

    let stop = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for ws in sockets {
        clients.push(tokio::spawn(receiver(
            ws,
            epoch,
            stop.clone(),
            delivered.clone(),
        )));
    }

    let start = Instant::now();
    let measure_from_us = (start + Duration::from_secs(1))
        .duration_since(epoch)
        .as_micros() as u64;
    let push_until = start + Duration::from_secs(1 + args.seconds);
    println!(
        "latency: pushing {} /s to random users of {} for {} s (+1 s warm-up)",
        args.rate, args.users, args.seconds
    );
    let url = Arc::new(target.push_url());
    let rate = args.rate.max(1) as f64;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rng = SplitMix::new(0x5eed);
    let mut pushes = Vec::new();
    let mut seq = 0u64;
    loop {
        ticker.tick().await;
        let now = Instant::now();
        if now >= push_until {
            break;
        }
        // Send whatever is due by now, so the average rate holds above 1,000/s.
        let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
        while seq < due {
            let user = rng.below(args.users as u64) as usize;
            let http = http.clone();
            let url = url.clone();
            let key = target.api_key.clone();
            let name = user_name(user);
            pushes.push(tokio::spawn(async move {
                let sent = Instant::now();
                let sent_us = sent.duration_since(epoch).as_micros() as u64;
                let body = json!({
                    "users": [name],
                    "kind": "bench",
                    "data": {"seq": seq, "sent_us": sent_us},
                });
                let outcome = push(&http, &url, &key, &body)
                    .await
                    .map(|()| sent.elapsed().as_micros() as u32);
                Pushed {
                    seq,
                    user,
                    sent_us,
                    outcome,
                }
            }));
            seq += 1;
        }
    }
    let push_secs = start.elapsed().as_secs_f64();

    let mut pushed = Vec::with_capacity(pushes.len());
    for task in pushes {
        pushed.push(task.await?);
    }
    let accepted = pushed.iter().filter(|p| p.outcome.is_ok()).count() as u64;
    // Let the last deliveries arrive (at most 5 s).
    let drain_until = Instant::now() + Duration::from_secs(5);
    while delivered.load(Ordering::Relaxed) < accepted && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A little longer, so duplicates would show too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();

    let mut expected: HashMap<u64, usize> = HashMap::new();
    let mut push_errors = 0;
    let mut first_push_error = None;
    let mut http_us = Vec::new();
    for p in &pushed {
        match &p.outcome {
            Ok(us) => {
                expected.insert(p.seq, p.user);
                if p.sent_us >= measure_from_us {
                    http_us.push(*us);
                }
            }
            Err(e) => {
                push_errors += 1;
                first_push_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    let mut report = LatencyReport {
        users: args.users,
        offered_per_s: pushed.len() as f64 / push_secs,
        pushed: pushed.len() as u64,
        accepted,
        push_errors,
        first_push_error,
        delivered: 0,
        missing: 0,
        duplicates: 0,
        wrong_user: 0,
        unknown: 0,
        out_of_order: 0,
        client_errors: Vec::new(),
        receive_us: Vec::new(),
        http_us,
    };
    let mut seen = std::collections::HashSet::new();
    for (user, client) in clients.into_iter().enumerate() {
        let client = match client.await? {
            Ok(client) => client,
            Err(e) => {
                report.client_errors.push(format!("user {user}: {e:#}"));
                continue;
            }
        };
        report.out_of_order += client.out_of_order;
        for r in client.received {
            report.delivered += 1;
            match expected.get(&r.seq) {
                None => report.unknown += 1,
                Some(&to) if to != user => report.wrong_user += 1,
                Some(_) => {}
            }
            if !seen.insert(r.seq) {
                report.duplicates += 1;
            } else if r.sent_us >= measure_from_us {
                report
                    .receive_us
                    .push(r.received_us.saturating_sub(r.sent_us) as u32);
            }
        }
    }
    report.missing = expected.keys().filter(|seq| !seen.contains(seq)).count() as u64;
    println!(
        "latency: {} pushed ({:.0}/s), {} accepted, {} delivered",
        report.pushed, report.offered_per_s, report.accepted, report.delivered
    );
    Ok(report)
}

/// A WebSocket connected to `/notifications` with `token`.
async fn connect(addr: &str, token: &str) -> anyhow::Result<Ws> {
    let auth = json!({ "token": token });
    raw_client::connect(addr, "/notifications", Some(&auth), "not connected").await
}

/// One connected user: records every `notification` (its push -> receive
/// time) and acks it, answers pings, until `stop`.
async fn receiver(
    mut ws: Ws,
    epoch: Instant,
    stop: CancellationToken,
    delivered: Arc<AtomicU64>,
) -> anyhow::Result<ClientReport> {
    let mut report = ClientReport {
        received: Vec::new(),
        out_of_order: 0,
    };
    let mut last_id = String::new();
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => break,
            frame = ws.next() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(close))) => bail!("closed by the server: {close:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("connection failed: {e}"),
            None => bail!("connection ended"),
        };
        let received_us = epoch.elapsed().as_micros() as u64;
        let text = text.as_str();
        if text == PING {
            ws.send(Message::Text(PONG.into())).await?;
            continue;
        }
        let Some(rest) = text.strip_prefix("42/notifications,") else {
            continue;
        };
        let bracket = rest.find('[').context("an event without arguments")?;
        let (ack_id, args) = rest.split_at(bracket);
        let args: Value = serde_json::from_str(args).context("event arguments")?;
        if args[0] != "notification" {
            continue;
        }
        let notification = &args[1];
        let (Some(seq), Some(sent_us)) = (
            notification["data"]["seq"].as_u64(),
            notification["data"]["sent_us"].as_u64(),
        ) else {
            bail!("a notification without the bench's data: {text}");
        };
        if !ack_id.is_empty() {
            // The delivery receipt, as a real client sends it.
            ws.send(Message::Text(
                format!("43/notifications,{ack_id}[true]").into(),
            ))
            .await?;
        }
        let id = notification["id"].as_str().unwrap_or_default();
        if id <= last_id.as_str() {
            report.out_of_order += 1;
        }
        last_id = id.to_owned();
        report.received.push(Received {
            seq,
            sent_us,
            received_us,
        });
        delivered.fetch_add(1, Ordering::Relaxed);
    }
    ws.close(None).await.ok();
    Ok(report)
}
