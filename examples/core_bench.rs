//! Core efficiency benchmark: Switchboard against a bare socketioxide echo
//! server (same socketioxide/engineioxide, default settings, no extra
//! layers) and a raw tokio-tungstenite WebSocket echo (the limit), side by
//! side in one run, on the same load.
//!
//! ```text
//! cargo run --release --example core_bench
//! cargo run --release --example core_bench -- --idle 2000 --seconds 2          # quick
//! cargo run --release --example core_bench -- --servers switchboard,bare --phases rate,closed
//! cargo run --release --example core_bench -- --switchboard-bin /path/to/old/switchboard --servers switchboard
//! cargo run --release --example core_bench -- --runs 3                         # medians of 3
//! ```
//!
//! Every server is a child process the bench starts (re-executing itself
//! with a hidden `--serve switchboard|bare|raw`, or `--switchboard-bin` for
//! a prebuilt Switchboard, with the same lifted limits as flags), one after
//! another: start, run the phases, stop it by its pid (also on error). With
//! `taskset` and at least 2 cores the server runs on core 0 and the load
//! generator (this process, a tokio runtime as wide as the cores it has) on
//! the others; the report says whether pinning happened. RLIMIT_NOFILE is
//! raised to its hard limit in both.
//!
//! Switchboard runs with its embedded defaults (SQLite in a temporary
//! directory, in-memory adapter), log level warn, and the per-socket,
//! per-address, echo and connect rate limits, connections per address and
//! in total lifted; `--room-limit` fits the broadcast room.
//!
//! The clients speak raw Engine.IO v4 over WebSocket (one socket per client,
//! each from its own source address 127.0.0.2-254 in turn), recognise replies
//! by frame prefix and carry the send time as the event's argument
//! (`42/echo,["message",T]`), so RTTs need no bookkeeping. Phases
//! (`--phases`):
//!
//! - `rate`: server CPU µs per message at 5,000 and 20,000 msg/s, open loop
//!   over `--clients` sockets (`message` -> `message-back`), `--seconds`
//!   measured after 1 s of warm-up: server CPU seconds / replies in the
//!   window; every message must get its reply (the unanswered are counted).
//! - `closed`: closed-loop maximum msg/s for `message` and `message-with-ack`,
//!   each socket keeping `--in-flight` messages in flight; RTT p50/p99/max
//!   and the CPU % of server and load generator (a load generator near 100 %
//!   of its cores means the figure is client-bound).
//! - `broadcast`: `--clients` sockets join one `/chat` room, `--senders` of
//!   them send one message after another (each when the last is acked);
//!   deliveries/s = `message` events received per second by all members.
//!   Not applicable to `raw`.
//! - `idle`: `--idle` sockets connect to `/echo` (200 connects in flight);
//!   server RSS per connection (VmRSS after 2 s settling minus before),
//!   server CPU µs per connect, connects/s.
//! - `storm`: those sockets all close, 2 s later all reconnect at once
//!   (2,000 in flight, failed connects retried after a short backoff and
//!   counted): time until all are back, server CPU seconds, peak RSS (VmRSS
//!   every 10 ms, and VmHWM after resetting it through `clear_refs`).
//!
//! The end is a Markdown table (medians over `--runs`) with the ratios
//! switchboard/bare and bare/raw, the machine line and the command line.

use std::time::Instant;

use anyhow::bail;
use clap::Parser;

mod support;

#[path = "core_bench/client.rs"]
mod client;
#[path = "core_bench/phases.rs"]
mod phases;
#[path = "core_bench/report.rs"]
mod report;
#[path = "core_bench/servers.rs"]
mod servers;
#[path = "core_bench/sys.rs"]
mod sys;

use servers::{Kind, ServerProcess};

#[derive(Parser, Debug)]
struct Args {
    /// Servers to compare, in this order: switchboard, bare, raw.
    #[arg(long, value_delimiter = ',', default_value = "switchboard,bare,raw")]
    servers: Vec<String>,
    /// Phases to run: rate, closed, broadcast, idle, storm.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "rate,closed,broadcast,idle,storm"
    )]
    phases: Vec<String>,
    /// Sockets of the rate, closed and broadcast phases.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Sockets of the idle and storm phases.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Measured seconds of each load (after 1 s of warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Messages each socket keeps in flight in the closed loop.
    #[arg(long, default_value_t = 1)]
    in_flight: u32,
    /// Senders of the broadcast phase (among the members).
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Repeat everything this many times; the table has the medians.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// A prebuilt `switchboard` binary to run as the switchboard server
    /// (instead of this build's, in-process in a child of the bench).
    #[arg(long)]
    switchboard_bin: Option<String>,
    /// Switchboard's `--max-io-events-per-tick` (unset: its default, 16).
    #[arg(long)]
    switchboard_max_io_events_per_tick: Option<u16>,
    /// `max_io_events_per_tick` of the bare and raw servers' tokio runtimes
    /// (tokio's default, 1024, unless given: 16 compares them on
    /// Switchboard's scheduling).
    #[arg(long, default_value_t = 1024)]
    bare_max_io_events_per_tick: usize,

    /// (Internal) run as the server KIND on --port instead of benchmarking.
    #[arg(long, hide = true)]
    serve: Option<String>,
    #[arg(long, hide = true, default_value_t = 0)]
    port: u16,
    #[arg(long, hide = true)]
    db: Option<std::path::PathBuf>,
    #[arg(long, hide = true, default_value_t = 1001)]
    room_limit: u32,
    #[arg(long, hide = true)]
    io_events: Option<usize>,
}

const PHASES: [&str; 5] = ["rate", "closed", "broadcast", "idle", "storm"];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nofile = sys::raise_nofile();
    if let Some(kind) = &args.serve {
        return serve(Kind::parse(kind)?, &args);
    }

    let kinds = args
        .servers
        .iter()
        .map(|s| Kind::parse(s.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for p in &args.phases {
        if !PHASES.contains(&p.as_str()) {
            bail!("unknown phase `{p}` (rate, closed, broadcast, idle, storm)");
        }
    }
    if args.clients == 0 || args.idle == 0 || args.seconds == 0 || args.runs == 0 {
        bail!("--clients, --idle, --seconds and --runs must be at least 1");
    }
    let cores = support::cpu::machine_cores();
    let machine = sys::machine_line(cores);
    let pin = sys::can_pin(cores);
    if pin {
        sys::pin_self(cores)?;
    }
    let client_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinning = if pin {
        format!(
            "servers pinned to core 0 (taskset -c 0), load generator to cores 1-{} ({})",
            cores - 1,
            runtime_kind(client_threads)
        )
    } else {
        format!(
            "no pinning (taskset missing or 1 core), load generator {}",
            runtime_kind(client_threads)
        )
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("machine: {machine}");
    println!("{pinning}");
    println!("RLIMIT_NOFILE {nofile} (bench and servers)");

    // One core: a current-thread runtime (no cross-thread wake-ups), else
    // one worker per core.
    let runtime = if client_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(client_threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(bench(args, kinds, pin, machine, pinning, command, nofile))
}

fn runtime_kind(threads: usize) -> String {
    if threads == 1 {
        "current-thread tokio runtime".into()
    } else {
        format!("tokio runtime of {threads} workers")
    }
}

/// The child process: one server until killed.
fn serve(kind: Kind, args: &Args) -> anyhow::Result<()> {
    if args.port == 0 {
        bail!("--serve needs --port");
    }
    // The runtime a server of this kind runs on: Switchboard's own (the
    // setting from its defaults unless the bench was given one), tokio's
    // default for the others unless given.
    let io_events = args.io_events.unwrap_or(match kind {
        Kind::Switchboard => switchboard::ServeConfig::defaults()
            .max_io_events_per_tick
            .into(),
        Kind::Bare | Kind::Raw => 1024,
    });
    let runtime = switchboard::runtime::build(io_events)?;
    runtime.block_on(async {
        match kind {
            Kind::Switchboard => {
                let Some(db) = &args.db else {
                    bail!("--serve switchboard needs --db");
                };
                servers::serve_switchboard(args.port, db, args.room_limit).await
            }
            Kind::Bare => servers::serve_bare(args.port).await,
            Kind::Raw => servers::serve_raw(args.port).await,
        }
    })
}

async fn bench(
    args: Args,
    kinds: Vec<Kind>,
    pin: bool,
    machine: String,
    pinning: String,
    command: String,
    nofile: u64,
) -> anyhow::Result<()> {
    let has = |p: &str| args.phases.iter().any(|x| x == p);
    let room_limit = (args.clients as u32 + 1).clamp(1001, 10_000);
    let mut results: Vec<(Kind, Vec<phases::Figures>)> =
        kinds.iter().map(|k| (*k, Vec::new())).collect();
    let launch = servers::Launch {
        pin,
        switchboard_bin: args.switchboard_bin.as_deref(),
        room_limit,
        switchboard_io_events: args.switchboard_max_io_events_per_tick,
        bare_io_events: args.bare_max_io_events_per_tick,
    };
    let started = Instant::now();
    for run in 1..=args.runs {
        for (kind, runs) in results.iter_mut() {
            let kind = *kind;
            let label = match (kind, &args.switchboard_bin) {
                (Kind::Switchboard, Some(bin)) => format!("switchboard ({bin})"),
                _ => kind.name().to_string(),
            };
            println!(
                "[{:6.1} s] run {run}/{}: {label}",
                started.elapsed().as_secs_f64(),
                args.runs
            );
            let server = ServerProcess::start(kind, &launch).await?;
            let ctx = phases::Ctx {
                kind,
                port: server.port,
                pid: server.pid,
                clients: args.clients,
                idle: args.idle,
                seconds: args.seconds,
                in_flight: args.in_flight.max(1),
                senders: args.senders.clamp(1, args.clients),
            };
            println!(
                "  pid {}, port {}, RSS {:.1} MiB at start",
                server.pid,
                server.port,
                sys::rss_kib(server.pid) as f64 / 1024.0
            );
            let mut figures = phases::Figures::new();
            if has("rate") || has("closed") {
                phases::echo_phases(&ctx, has("rate"), has("closed"), &mut figures).await?;
            }
            if has("broadcast") {
                if kind == Kind::Raw {
                    println!("  broadcast: not applicable to raw");
                } else {
                    phases::broadcast_phase(&ctx, &mut figures).await?;
                }
            }
            if has("idle") || has("storm") {
                // A fresh server, so the memory of the loads before does not
                // hide the connections' (freed memory is reused, not returned).
                let server = if has("rate") || has("closed") || has("broadcast") {
                    server.stop()?;
                    let fresh = ServerProcess::start(kind, &launch).await?;
                    println!(
                        "  restarted for idle/storm: pid {}, RSS {:.1} MiB",
                        fresh.pid,
                        sys::rss_kib(fresh.pid) as f64 / 1024.0
                    );
                    fresh
                } else {
                    server
                };
                let ctx = phases::Ctx {
                    port: server.port,
                    pid: server.pid,
                    ..ctx
                };
                phases::idle_storm(&ctx, has("idle"), has("storm"), &mut figures).await?;
                server.stop()?;
            } else {
                server.stop()?;
            }
            runs.push(figures);
        }
    }

    println!();
    println!("## Core efficiency: switchboard vs bare socketioxide vs raw WebSocket");
    println!();
    println!("- machine: {machine}");
    println!("- {pinning}; RLIMIT_NOFILE {nofile}");
    println!(
        "- load: {} clients (rate, closed, broadcast), {} idle, {} s measured per load, K={} in flight, {} broadcast senders, {} run(s) (medians)",
        args.clients, args.idle, args.seconds, args.in_flight, args.senders, args.runs
    );
    if let Some(bin) = &args.switchboard_bin {
        println!("- switchboard column: the prebuilt `{bin}`");
    }
    let switchboard_io = args
        .switchboard_max_io_events_per_tick
        .map_or("its default".to_string(), |n| n.to_string());
    println!(
        "- tokio max_io_events_per_tick: switchboard {switchboard_io}, bare and raw {}",
        args.bare_max_io_events_per_tick
    );
    println!("- command: `{command}`");
    println!();
    print!("{}", report::table(&results));
    println!();
    println!(
        "total {:.0} s. Ratios are switchboard/bare and bare/raw of the medians; – = not measured or not applicable.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
