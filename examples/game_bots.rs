//! Game bots: N bot players in M games of the `/game` namespace, over real
//! Socket.IO WebSocket connections. Each bot joins its game, then every 0.5 to
//! 2 s picks a random direction (`dx`, `dy` in {-1, 0, 1}) and sends
//! `input {seq, dx, dy}` with an increasing `seq`; it reads every `state`.
//!
//! Two uses:
//!
//! ```text
//! # Demo: fill game `arena` of a running server with 5 bots until Ctrl-C,
//! # then open the browser demo and join `arena` (a single game is named after
//! # the prefix itself; several are PREFIX-0, PREFIX-1, ...).
//! cargo run --release --example game_bots -- --url http://127.0.0.1:3000 --game arena --bots 5 --forever
//! cargo run --release --example game_bots -- --url http://127.0.0.1:3000 --games 1 --bots 5 --game-prefix arena --forever
//!
//! # Load: the server as its own process (its CPU read from /proc), 100 games
//! # of 8 players, 20 s measured.
//! cargo build --release && cargo build --release --example game_bots
//! target/release/examples/game_bots --spawn-server target/release/switchboard \
//!     --games 100 --bots-per-game 8 --seconds 20
//! # or against a server started by hand (pass its pid for the CPU figures):
//! target/release/examples/game_bots --url http://127.0.0.1:3000 --server-pid PID --games 100
//! ```
//!
//! Without `--url` or `--spawn-server` the server runs in this process (same
//! tokio runtime and cores as the bots), so its CPU cannot be told apart from
//! the bots': the figure printed is the whole process. Its tick rate comes
//! from `SWITCHBOARD_GAME_TICK_RATE` like the binary's.
//!
//! Printed after a load run: the achieved tick rate per game (advance of the
//! `tick` field per second, min/avg/max over games), states received per bot
//! and ticks a bot never saw, the inter-arrival jitter of `state` frames
//! (|interval - 1/tick rate|, p50/p99/max over all bots and per bot), errors
//! and disconnects, and, when the server's pid is known, its CPU time over the
//! measured window (utime + stime from `/proc/PID/stat`) as a share of one core
//! and per game-tick (CPU time / ticks of all games, the ticks counted by the
//! server's `switchboard_game_ticks_total` when `/metrics` answers).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use switchboard::config::DatabaseUrl;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

mod support;
use support::{
    bootstrap::{self, InProcess, Server, SpawnedServer},
    cpu::{self, Snapshot},
    raw_client::{self, PING, PONG, Ws},
    rng::XorShift,
    stats::{ms, quantile},
};

#[derive(Parser, Debug)]
struct Args {
    /// Target an already running server (`http://HOST:PORT`).
    #[arg(long, conflicts_with = "spawn_server")]
    url: Option<String>,
    /// Start this server binary as a separate process on a free loopback port
    /// (temporary SQLite store, log level warn) and stop it at the end.
    #[arg(long, value_name = "PATH_TO_BINARY")]
    spawn_server: Option<String>,
    /// Extra argument for the spawned server (repeatable), e.g. `--server-arg=--rate-limit=100`.
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
    /// Pid of the server given by `--url`, to report its CPU time.
    #[arg(long, requires = "url")]
    server_pid: Option<u32>,
    /// `--game-tick-rate` for the spawned server (default: the server's own, 20).
    #[arg(long)]
    tick_rate: Option<u32>,
    /// Number of games.
    #[arg(long, default_value_t = 1)]
    games: usize,
    /// Bots in each game.
    #[arg(long = "bots-per-game", visible_alias = "bots", default_value_t = 8)]
    bots_per_game: usize,
    /// Games are named PREFIX-0 .. PREFIX-(games-1); a single game (`--games 1`)
    /// is named PREFIX itself.
    #[arg(long, default_value = "bots")]
    game_prefix: String,
    /// Exactly one game with this name (instead of --games / --game-prefix).
    #[arg(long, conflicts_with_all = ["games", "game_prefix"])]
    game: Option<String>,
    /// Run until Ctrl-C (demo), printing a line every 10 s; bots reconnect if dropped.
    #[arg(long)]
    forever: bool,
    /// Measured seconds (load run).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of play after every bot joined before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Connections opened at once while bots join.
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
    /// Seed of the bots' random moves (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

/// Counters shared by every bot, read by the periodic (forever) line.
#[derive(Default)]
struct Totals {
    states: AtomicU64,
    inputs: AtomicU64,
    errors: AtomicU64,
    disconnects: AtomicU64,
}

/// What one bot saw inside the measured window.
#[derive(Default)]
struct BotReport {
    game: usize,
    frames: u64,
    /// (receipt, tick) of the first and last `state` in the window.
    first: Option<(Instant, u64)>,
    last: Option<(Instant, u64)>,
    /// Inter-arrival times of consecutive `state` frames, microseconds.
    intervals_us: Vec<u32>,
    /// Spacing of the `ts` fields of consecutive frames, milliseconds: the
    /// server's own tick spacing, free of delivery delays.
    ts_intervals_ms: Vec<u32>,
    /// Receipt time (wall clock) minus the state's `ts`, milliseconds.
    latency_ms: Vec<u32>,
    /// Ticks skipped between two consecutive frames (never delivered to this bot).
    missed: u64,
    /// Frames whose tick did not increase.
    out_of_order: u64,
    disconnected: bool,
}

struct Joined {
    index: usize,
    game: usize,
    ws: Ws,
    tick_rate: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.games == 0 || args.bots_per_game == 0 {
        bail!("need --games >= 1 and --bots-per-game >= 1");
    }
    bootstrap::block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let (addr, server) = if let Some(url) = &args.url {
        let addr = bootstrap::host_port(url);
        println!("server: external, {addr}");
        (
            addr,
            Server::External {
                pid: args.server_pid,
            },
        )
    } else if let Some(path) = &args.spawn_server {
        let mut extra = Vec::new();
        if let Some(rate) = args.tick_rate {
            extra.extend(["--game-tick-rate".to_string(), rate.to_string()]);
        }
        extra.extend(args.server_arg.iter().cloned());
        let spawned = SpawnedServer::start(path, &data_dir.path().join("game.db"), &extra).await?;
        println!(
            "server: spawned {path} (pid {}) on {}",
            spawned.pid(),
            spawned.addr
        );
        (spawned.addr.clone(), Server::Spawned(spawned))
    } else {
        let config = bootstrap::config(DatabaseUrl::Sqlite(data_dir.path().join("game.db")));
        let server = InProcess::start(config).await?;
        let addr = server.addr.clone();
        println!("server: in-process on {addr} (its CPU is shared with the bots')");
        (addr, Server::InProcess(server))
    };

    let result = play(&args, &addr, &server).await;
    server.stop().await?;
    result
}

async fn play(args: &Args, addr: &str, server: &Server) -> anyhow::Result<()> {
    let game_names: Vec<String> = match &args.game {
        Some(name) => vec![name.clone()],
        None if args.games == 1 => vec![args.game_prefix.clone()],
        None => (0..args.games)
            .map(|g| format!("{}-{g}", args.game_prefix))
            .collect(),
    };
    let games = game_names.len();
    let bots = games * args.bots_per_game;
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!(
        "load: {games} game(s) ({}) x {} bots = {bots} bots, {}",
        if games == 1 {
            game_names[0].clone()
        } else {
            format!("{} .. {}", game_names[0], game_names[games - 1])
        },
        args.bots_per_game,
        if args.forever {
            "until Ctrl-C".to_string()
        } else {
            format!("{} s warm-up, {} s measured", args.warmup, args.seconds)
        }
    );

    // Join everyone first, a few connections at a time, then play together.
    let started = Instant::now();
    let mut joined: Vec<Joined> = futures_util::stream::iter(0..bots)
        .map(|index| {
            let game = index % games;
            let name = game_names[game].clone();
            async move {
                let (ws, tick_rate) = connect_and_join(addr, &name, &bot_name(index)).await?;
                anyhow::Ok(Joined {
                    index,
                    game,
                    ws,
                    tick_rate,
                })
            }
        })
        .buffer_unordered(args.connect_concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    joined.sort_by_key(|j| j.index);
    let tick_rate = joined[0].tick_rate;
    println!(
        "joined: {bots} bots in {:.1} s, server tick rate {tick_rate}/s",
        started.elapsed().as_secs_f64()
    );

    let measure_from = Instant::now() + Duration::from_secs(args.warmup);
    let measure_until = measure_from + Duration::from_secs(args.seconds);
    let window = Window {
        from: measure_from,
        until: measure_until,
    };
    let totals = Arc::new(Totals::default());
    let stop = CancellationToken::new();
    let mut tasks = Vec::with_capacity(bots);
    for j in joined {
        let reconnect = args.forever.then(|| Rejoin {
            addr: addr.to_string(),
            game: game_names[j.game].clone(),
            name: bot_name(j.index),
        });
        tasks.push(tokio::spawn(bot(
            j.ws,
            j.game,
            reconnect,
            XorShift::new(seed ^ (j.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            window,
            totals.clone(),
            stop.clone(),
        )));
    }

    if args.forever {
        forever(server, &totals, &stop).await;
        for task in tasks {
            task.await??;
        }
        return Ok(());
    }

    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_start = Snapshot::take(server.pid())?;
    let ticks_start = bootstrap::metric(addr, GAME_TICKS).await;
    let at_start = Instant::now();
    tokio::time::sleep_until(measure_until.into()).await;
    let cpu_end = Snapshot::take(server.pid())?;
    let ticks_end = bootstrap::metric(addr, GAME_TICKS).await;
    let elapsed = at_start.elapsed().as_secs_f64();
    stop.cancel();

    let mut reports = Vec::with_capacity(bots);
    for task in tasks {
        reports.push(task.await??);
    }
    report(
        games,
        tick_rate,
        &reports,
        &totals,
        Measured {
            elapsed,
            cpu: cpu_end.since(&cpu_start),
            server_ticks: ticks_start.zip(ticks_end).map(|(a, b)| b - a),
            in_process: server.is_in_process(),
        },
    );
    Ok(())
}

fn bot_name(index: usize) -> String {
    format!("bot{index}")
}

#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

/// How a bot of a `--forever` run joins again when its connection drops.
struct Rejoin {
    addr: String,
    game: String,
    name: String,
}

/// Counted by the server once per tick of every game.
const GAME_TICKS: &str = "switchboard_game_ticks_total";

struct Measured {
    elapsed: f64,
    /// CPU seconds in the window: the server's (when its pid is known), this
    /// process's, the whole machine's (all processes, all cores).
    cpu: Snapshot,
    server_ticks: Option<f64>,
    in_process: bool,
}

fn report(games: usize, tick_rate: f64, reports: &[BotReport], totals: &Totals, m: Measured) {
    // Per game: the advance of the tick field over the window, as seen by the
    // bot of that game that saw the most frames.
    let mut best: Vec<Option<&BotReport>> = vec![None; games];
    for r in reports {
        let slot = &mut best[r.game];
        if slot.is_none_or(|b| r.frames > b.frames) {
            *slot = Some(r);
        }
    }
    let rates: Vec<f64> = best
        .iter()
        .map(|r| match r.and_then(|r| r.first.zip(r.last)) {
            Some(((t0, k0), (t1, k1))) if t1 > t0 => {
                k1.saturating_sub(k0) as f64 / (t1 - t0).as_secs_f64()
            }
            _ => 0.0,
        })
        .collect();
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    let avg = rates.iter().sum::<f64>() / games as f64;
    let stalled = rates.iter().filter(|r| **r == 0.0).count();
    println!(
        "tick rate per game (tick field / s): min {min:.2}, avg {avg:.2}, max {max:.2} (target {tick_rate}; {stalled} game(s) without ticks)"
    );

    let frames: u64 = reports.iter().map(|r| r.frames).sum();
    let missed: u64 = reports.iter().map(|r| r.missed).sum();
    let out_of_order: u64 = reports.iter().map(|r| r.out_of_order).sum();
    let per_bot = frames as f64 / reports.len() as f64 / m.elapsed;
    println!(
        "states received: {per_bot:.2}/s per bot ({:.0}/s in all); ticks never delivered to a bot: {missed} ({:.3} %), out of order: {out_of_order}",
        frames as f64 / m.elapsed,
        100.0 * missed as f64 / (frames + missed).max(1) as f64,
    );

    let period_us = 1e6 / tick_rate;
    let mut all: Vec<u32> = Vec::new();
    let mut client_p99: Vec<u32> = Vec::new();
    for r in reports {
        let mut jitter: Vec<u32> = r
            .intervals_us
            .iter()
            .map(|&i| (i as f64 - period_us).abs() as u32)
            .collect();
        if jitter.is_empty() {
            continue;
        }
        jitter.sort_unstable();
        client_p99.push(quantile(&jitter, 0.99));
        all.extend(jitter);
    }
    all.sort_unstable();
    client_p99.sort_unstable();
    if all.is_empty() {
        println!("state jitter: no samples");
    } else {
        println!(
            "state jitter |interval - {:.1} ms|: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} intervals); per-bot p99: median {:.2} ms, worst {:.2} ms",
            period_us / 1000.0,
            ms(quantile(&all, 0.5)),
            ms(quantile(&all, 0.99)),
            ms(quantile(&all, 1.0)),
            all.len(),
            ms(quantile(&client_p99, 0.5)),
            ms(quantile(&client_p99, 1.0)),
        );
    }
    let mut spacing: Vec<u32> = reports
        .iter()
        .flat_map(|r| &r.ts_intervals_ms)
        .map(|&i| (i as f64 - period_us / 1000.0).abs().round() as u32)
        .collect();
    let mut latency: Vec<u32> = reports
        .iter()
        .flat_map(|r| &r.latency_ms)
        .copied()
        .collect();
    spacing.sort_unstable();
    latency.sort_unstable();
    if !spacing.is_empty() && !latency.is_empty() {
        println!(
            "server tick spacing |ts step - {:.1} ms| (ms resolution): p50 {} ms, p99 {} ms, max {} ms; ts -> receipt: p50 {} ms, p99 {} ms, max {} ms",
            period_us / 1000.0,
            quantile(&spacing, 0.5),
            quantile(&spacing, 0.99),
            quantile(&spacing, 1.0),
            quantile(&latency, 0.5),
            quantile(&latency, 0.99),
            quantile(&latency, 1.0),
        );
    }
    let disconnected = reports.iter().filter(|r| r.disconnected).count();
    println!(
        "inputs sent: {}; errors received: {}; bots disconnected: {disconnected}",
        totals.inputs.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed),
    );

    let observed_ticks = avg * games as f64 * m.elapsed;
    let (game_ticks, source) = match m.server_ticks {
        Some(t) if t > 0.0 => (t, GAME_TICKS),
        _ => (observed_ticks, "tick fields seen"),
    };
    println!(
        "game-ticks in the window: {game_ticks:.0} ({source}; {:.1}/s)",
        game_ticks / m.elapsed
    );
    match m.cpu.server {
        Some(cpu) => {
            let whose = if m.in_process {
                "process CPU (in-process server and bots together)"
            } else {
                "server CPU"
            };
            println!(
                "{whose}: {:.1} % of one core ({cpu:.2} s in {:.1} s), {:.1} us per game-tick",
                100.0 * cpu / m.elapsed,
                m.elapsed,
                1e6 * cpu / game_ticks.max(1.0),
            );
        }
        None => println!("server CPU: unknown (give --server-pid with --url)"),
    }
    if !m.in_process {
        println!(
            "bots' CPU (this process): {:.1} % of one core",
            100.0 * m.cpu.own / m.elapsed
        );
    }
    let cores = cpu::machine_cores();
    let ours = m.cpu.own
        + if m.in_process {
            0.0
        } else {
            m.cpu.server.unwrap_or(0.0)
        };
    println!(
        "machine: {:.1} % of {cores} cores busy; other processes {:.1} % of one core",
        100.0 * m.cpu.machine_busy / m.elapsed / cores as f64,
        100.0 * (m.cpu.machine_busy - ours).max(0.0) / m.elapsed,
    );
}

/// `--forever`: a line every 10 s until Ctrl-C, then stop the bots.
async fn forever(server: &Server, totals: &Totals, stop: &CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    every.tick().await;
    let mut last = (
        Instant::now(),
        0,
        0,
        server.pid().and_then(|p| cpu::process_cpu_seconds(p).ok()),
    );
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = every.tick() => {
                let now = Instant::now();
                let states = totals.states.load(Ordering::Relaxed);
                let inputs = totals.inputs.load(Ordering::Relaxed);
                let cpu = server.pid().and_then(|p| cpu::process_cpu_seconds(p).ok());
                let secs = (now - last.0).as_secs_f64();
                let cpu_note = match (last.3, cpu) {
                    (Some(a), Some(b)) => format!(", server CPU {:.1} %", 100.0 * (b - a) / secs),
                    _ => String::new(),
                };
                println!(
                    "states {:.0}/s, inputs {:.1}/s, errors {}, disconnects {}{cpu_note}",
                    (states - last.1) as f64 / secs,
                    (inputs - last.2) as f64 / secs,
                    totals.errors.load(Ordering::Relaxed),
                    totals.disconnects.load(Ordering::Relaxed),
                );
                last = (now, states, inputs, cpu);
            }
        }
    }
    println!("stopping the bots");
    stop.cancel();
}

async fn connect_and_join(addr: &str, game: &str, name: &str) -> anyhow::Result<(Ws, f64)> {
    let mut ws = raw_client::connect(addr, "/game", None, "not connected to /game").await?;
    let join = json!(["join", {"game": game, "name": name}]);
    raw_client::emit(&mut ws, "/game", Some(1), &join).await?;
    // Passes over a state or player_joined before the ack.
    let ack = raw_client::wait_ack(&mut ws, "/game", 1).await?;
    let text = &ack.text;
    let body: serde_json::Value = serde_json::from_str(ack.args()).context("join ack")?;
    let body = &body[0];
    if body["ok"] != true {
        bail!("join {game} refused: {text}");
    }
    let tick_rate = body["tick_rate"]
        .as_f64()
        .with_context(|| format!("join ack without tick_rate: {text}"))?;
    Ok((ws, tick_rate))
}

/// One bot: turn at random, read every frame, until stopped.
async fn bot(
    mut ws: Ws,
    game: usize,
    rejoin: Option<Rejoin>,
    mut rng: XorShift,
    window: Window,
    totals: Arc<Totals>,
    stop: CancellationToken,
) -> anyhow::Result<BotReport> {
    let mut report = BotReport {
        game,
        ..BotReport::default()
    };
    let mut seq = 0u64;
    // The first input at once, the first turn spread over 0.5..2 s.
    let mut next_turn = Instant::now();
    let mut prev: Option<(Instant, u64, u64)> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                ws.close(None).await.ok();
                break;
            }
            _ = tokio::time::sleep_until(next_turn.into()) => {
                let dx = rng.below(3) as i64 - 1;
                let dy = rng.below(3) as i64 - 1;
                let packet = format!(r#"42/game,["input",{{"seq":{seq},"dx":{dx},"dy":{dy}}}]"#);
                seq += 1;
                next_turn = Instant::now() + Duration::from_secs_f64(0.5 + 1.5 * rng.unit());
                if ws.send(Message::Text(packet.into())).await.is_ok() {
                    totals.inputs.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => String::new().into(),
                    Some(Ok(_)) => continue,
                };
                let text = text.as_str();
                let now = Instant::now();
                if let Some(state) = text.strip_prefix(r#"42/game,["state","#) {
                    totals.states.fetch_add(1, Ordering::Relaxed);
                    let (Some(tick), Some(ts)) = (state_field(state, "tick"), state_field(state, "ts")) else {
                        bail!("state without tick or ts: {text}");
                    };
                    if now >= window.from && now < window.until {
                        report.frames += 1;
                        report.first.get_or_insert((now, tick));
                        report.last = Some((now, tick));
                        report.latency_ms.push(unix_ms().saturating_sub(ts) as u32);
                        if let Some((at, prev_tick, prev_ts)) = prev {
                            report.intervals_us.push((now - at).as_micros() as u32);
                            report.ts_intervals_ms.push(ts.saturating_sub(prev_ts) as u32);
                            if tick <= prev_tick {
                                report.out_of_order += 1;
                            } else {
                                report.missed += tick - prev_tick - 1;
                            }
                        }
                        prev = Some((now, tick, ts));
                    }
                    continue;
                }
                if text == PING {
                    if ws.send(Message::Text(PONG.into())).await.is_ok() {
                        continue;
                    }
                } else if text.starts_with(r#"42/game,["error","#) {
                    if totals.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("a bot of game {game} got: {text}");
                    }
                    continue;
                } else if !text.is_empty() && !text.starts_with("41") {
                    continue; // player_joined, player_left, ...
                }
            }
        }
        // The connection is gone (send failed, close, error or a namespace disconnect).
        totals.disconnects.fetch_add(1, Ordering::Relaxed);
        report.disconnected = true;
        prev = None;
        let Some(rejoin) = &rejoin else {
            if !stop.is_cancelled() && Instant::now() < window.until {
                eprintln!("a bot of game {game} was disconnected");
            }
            break;
        };
        // --forever: join again (and keep trying) until stopped.
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(report),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            match connect_and_join(&rejoin.addr, &rejoin.game, &rejoin.name).await {
                Ok((fresh, _)) => {
                    ws = fresh;
                    break;
                }
                Err(e) => eprintln!("{} could not rejoin {}: {e:#}", rejoin.name, rejoin.game),
            }
        }
    }
    Ok(report)
}

/// A top-level integer field of a serialized state (`{"game":..,"tick":N,"ts":N,..}`,
/// both before the players, whose names are the only free text) without parsing it all.
fn state_field(state: &str, key: &str) -> Option<u64> {
    let key = format!("\"{key}\":");
    let at = state.find(&key)? + key.len();
    let digits = &state[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
