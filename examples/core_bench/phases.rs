//! The measured phases. Each adds its figures (keys of [`crate::report::FIGURES`]).

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::bail;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::{
    client::{self, ChatPlan, Event, LoadResult, Mode, Plan},
    servers::Kind,
    support::{
        cpu::{Snapshot, process_cpu_seconds},
        raw_client::Ws,
        stats::quantile,
    },
    sys,
};

pub type Figures = BTreeMap<&'static str, f64>;

/// What every phase is told.
pub struct Ctx {
    pub kind: Kind,
    pub port: u16,
    pub pid: u32,
    pub clients: usize,
    pub idle: usize,
    pub seconds: u64,
    pub in_flight: u32,
    pub senders: usize,
}

const WARMUP: Duration = Duration::from_secs(1);

/// `n` sockets connected to `nsp`, `concurrency` connects at a time.
async fn connect_many(
    ctx: &Ctx,
    nsp: &'static str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<Ws>, u32)> {
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let gate = gate.clone();
        let (port, auth) = (ctx.port, ctx.kind.emits_auth() && nsp == "/echo");
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            client::connect_retry(port, nsp, auth).await
        }));
    }
    let mut sockets = Vec::with_capacity(n);
    let mut retries = 0;
    for task in tasks {
        let (ws, failed) = task.await??;
        retries += failed;
        sockets.push(ws);
    }
    Ok((sockets, retries))
}

async fn close_all(sockets: Vec<Ws>) {
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(client::close(ws)))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// CPU seconds of the window `[from, until)` of the server, of this process
/// and of every other process of the machine: sleeps to `from`, reads,
/// sleeps to `until`, reads.
async fn window_cpu(pid: u32, from: Instant, until: Instant) -> anyhow::Result<(f64, f64, f64)> {
    tokio::time::sleep_until(from.into()).await;
    let start = Snapshot::take(Some(pid))?;
    tokio::time::sleep_until(until.into()).await;
    let spent = Snapshot::take(Some(pid))?.since(&start);
    let server = spent.server.unwrap_or(0.0);
    let other = (spent.machine_busy - server - spent.own).max(0.0);
    Ok((server, spent.own, other))
}

/// `rate` and `closed`: on `--clients` sockets of `/echo`.
pub async fn echo_phases(
    ctx: &Ctx,
    rate: bool,
    closed: bool,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let (mut sockets, _) = connect_many(ctx, "/echo", ctx.clients, 200).await?;
    println!("  {} clients connected to /echo", sockets.len());
    let measured = Duration::from_secs(ctx.seconds);
    if rate {
        let mut unanswered = 0;
        for (rate, key) in [(5_000u64, "cpu_5k"), (20_000, "cpu_20k")] {
            let epoch = Instant::now();
            let n = sockets.len() as f64;
            let interval = Duration::from_secs_f64(n / rate as f64);
            let first = epoch + Duration::from_millis(50);
            let from = first + WARMUP;
            let until = from + measured;
            let plan = Plan {
                event: Event::Echo,
                mode: Mode::Open { interval, first },
                epoch,
                from,
                until,
                drain: until + Duration::from_secs(5),
            };
            // Spread the sockets' first sends over one interval.
            let plans: Vec<Plan> = (0..sockets.len())
                .map(|i| Plan {
                    mode: Mode::Open {
                        interval,
                        first: first + interval.mul_f64(i as f64 / n),
                    },
                    ..plan.clone()
                })
                .collect();
            let cpu = tokio::spawn(window_cpu(ctx.pid, from, until));
            let (back, total, errors) = run_load_each(sockets, plans).await;
            sockets = back;
            let (server_cpu, _own, _other) = cpu.await??;
            let answered = total.answered.max(1) as f64;
            let missing = total.sent_total - total.answered_total;
            unanswered += missing;
            figures.insert(key, server_cpu * 1e6 / answered);
            let achieved = total.answered as f64 / measured.as_secs_f64();
            if achieved < 0.95 * rate as f64 {
                println!(
                    "  note: only {achieved:.0} of {rate} msg/s answered in the window (the load generator or the server fell behind)"
                );
            }
            println!(
                "  rate {rate} msg/s: {:.0} msg/s answered, server {:.2} CPU s, {:.1} µs/msg, {missing} of {} unanswered{}",
                total.answered as f64 / measured.as_secs_f64(),
                server_cpu,
                server_cpu * 1e6 / answered,
                total.sent_total,
                error_note(errors, &total.error),
            );
        }
        figures.insert("unanswered", unanswered as f64);
    }
    if closed {
        for (event, prefix) in [(Event::Echo, "echo"), (Event::Ack, "ack")] {
            let epoch = Instant::now();
            let from = epoch + WARMUP;
            let until = from + measured;
            let plan = Plan {
                event,
                mode: Mode::Closed { k: ctx.in_flight },
                epoch,
                from,
                until,
                drain: until + Duration::from_secs(5),
            };
            let plans = vec![plan; sockets.len()];
            let cpu = tokio::spawn(window_cpu(ctx.pid, from, until));
            let (back, mut total, errors) = run_load_each(sockets, plans).await;
            sockets = back;
            let (server_cpu, own_cpu, other_cpu) = cpu.await??;
            let secs = measured.as_secs_f64();
            let rate = total.answered as f64 / secs;
            total.rtt_us.sort_unstable();
            let (p50, p99, max) = if total.rtt_us.is_empty() {
                (0.0, 0.0, 0.0)
            } else {
                let at = |q| quantile(&total.rtt_us, q) as f64 / 1000.0;
                (at(0.5), at(0.99), at(1.0))
            };
            let keys: [&'static str; 7] = match event {
                Event::Echo => [
                    "echo_rate",
                    "echo_p50",
                    "echo_p99",
                    "echo_max",
                    "echo_srv_cpu",
                    "echo_cli_cpu",
                    "echo_other_cpu",
                ],
                Event::Ack => [
                    "ack_rate",
                    "ack_p50",
                    "ack_p99",
                    "ack_max",
                    "ack_srv_cpu",
                    "ack_cli_cpu",
                    "ack_other_cpu",
                ],
            };
            let srv_pct = server_cpu / secs * 100.0;
            let cli_pct = own_cpu / secs * 100.0;
            let other_pct = other_cpu / secs * 100.0;
            for (k, v) in keys
                .iter()
                .zip([rate, p50, p99, max, srv_pct, cli_pct, other_pct])
            {
                figures.insert(k, v);
            }
            println!(
                "  closed {prefix} (K={}): {rate:.0} msg/s, RTT p50 {p50:.2} ms p99 {p99:.2} ms max {max:.2} ms, server CPU {srv_pct:.0}%, client CPU {cli_pct:.0}%, other processes {other_pct:.0}%{}",
                ctx.in_flight,
                error_note(errors, &total.error),
            );
        }
    }
    close_all(sockets).await;
    Ok(())
}

/// Runs one plan per socket; the sockets still usable come back.
async fn run_load_each(sockets: Vec<Ws>, plans: Vec<Plan>) -> (Vec<Ws>, LoadResult, u64) {
    let tasks: Vec<_> = sockets
        .into_iter()
        .zip(plans)
        .map(|(ws, plan)| tokio::spawn(client::echo_load(ws, Arc::new(plan))))
        .collect();
    let mut total = LoadResult::default();
    let mut back = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for t in tasks {
        let Ok((ws, r)) = t.await else {
            errors += 1;
            continue;
        };
        back.extend(ws);
        total.answered += r.answered;
        total.sent_total += r.sent_total;
        total.answered_total += r.answered_total;
        total.rtt_us.extend_from_slice(&r.rtt_us);
        if let Some(e) = r.error {
            errors += 1;
            total.error.get_or_insert(e);
        }
    }
    (back, total, errors)
}

fn error_note(errors: u64, first: &Option<String>) -> String {
    match first {
        Some(e) if errors > 0 => format!(" ({errors} sockets failed, first: {e})"),
        _ => String::new(),
    }
}

/// `broadcast`: `--clients` members of one `/chat` room, `--senders` of them
/// sending one message after another.
pub async fn broadcast_phase(ctx: &Ctx, figures: &mut Figures) -> anyhow::Result<()> {
    let room = "core-bench";
    let joined_at = Instant::now();
    let (sockets, _) = connect_many(ctx, "/chat", ctx.clients, 200).await?;
    // Joins one after another in a few lanes (a join answers the member list).
    let lanes = 8;
    let mut per_lane: Vec<Vec<(usize, Ws)>> = (0..lanes).map(|_| Vec::new()).collect();
    for (i, ws) in sockets.into_iter().enumerate() {
        per_lane[i % lanes].push((i, ws));
    }
    let mut tasks = Vec::new();
    for lane in per_lane {
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for (i, mut ws) in lane {
                client::chat_join(&mut ws, room, &format!("member-{i}")).await?;
                out.push((i, ws));
            }
            anyhow::Ok(out)
        }));
    }
    let mut members = Vec::new();
    for t in tasks {
        members.extend(t.await??);
    }
    members.sort_by_key(|(i, _)| *i);
    println!(
        "  {} members joined `{room}` in {:.1} s",
        members.len(),
        joined_at.elapsed().as_secs_f64()
    );
    // Let the presence events of the last joins drain before measuring.
    let from = Instant::now() + Duration::from_secs(2);
    let until = from + Duration::from_secs(ctx.seconds);
    let plan = Arc::new(ChatPlan {
        room: room.into(),
        from,
        until,
        drain: until + Duration::from_secs(5),
    });
    // The server's CPU over the measured window, read beside the members.
    let pid = ctx.pid;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let before = process_cpu_seconds(pid)?;
        tokio::time::sleep_until(until.into()).await;
        anyhow::Ok(process_cpu_seconds(pid)? - before)
    });
    let tasks: Vec<_> = members
        .into_iter()
        .map(|(i, ws)| tokio::spawn(client::chat_member(ws, plan.clone(), i < ctx.senders)))
        .collect();
    let (mut delivered, mut sent, mut acked, mut errors, mut first_error) = (0, 0, 0, 0, None);
    let mut back = Vec::new();
    for t in tasks {
        let (ws, r) = t.await?;
        back.extend(ws);
        delivered += r.delivered;
        sent += r.sent;
        acked += r.acked;
        if let Some(e) = r.error {
            errors += 1;
            first_error.get_or_insert(e);
        }
    }
    let secs = ctx.seconds as f64;
    let cpu = cpu.await??;
    figures.insert("bcast", delivered as f64 / secs);
    figures.insert("bcast_msgs", acked as f64 / secs);
    figures.insert("bcast_srv_cpu", cpu / secs * 100.0);
    if delivered > 0 {
        figures.insert("bcast_cpu_per", cpu * 1e6 / delivered as f64);
    }
    figures.insert("bcast_closed", errors as f64);
    println!(
        "  broadcast: {:.0} deliveries/s, {:.0} messages/s acked ({sent} sent by {} senders), server CPU {:.0}%, {:.2} µs per delivery{}",
        delivered as f64 / secs,
        acked as f64 / secs,
        ctx.senders,
        cpu / secs * 100.0,
        cpu * 1e6 / delivered.max(1) as f64,
        error_note(errors, &first_error),
    );
    close_all(back).await;
    Ok(())
}

/// `idle` and `storm`: `--idle` sockets connected to `/echo`, 200 connects
/// at a time; then all closed and reconnected at once (2,000 in flight).
pub async fn idle_storm(
    ctx: &Ctx,
    idle: bool,
    storm: bool,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    // Let the previous phases' sockets go.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = sys::rss_kib(ctx.pid);
    let cpu_before = process_cpu_seconds(ctx.pid)?;
    let started = Instant::now();
    let (stop, holders, retries) = connect_and_hold(ctx, 200).await?;
    let took = started.elapsed().as_secs_f64();
    let cpu_connect = process_cpu_seconds(ctx.pid)? - cpu_before;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = sys::rss_kib(ctx.pid);
    let n = ctx.idle as f64;
    if idle {
        figures.insert("idle_rss", (rss_after as f64 - rss_before as f64) / n);
        figures.insert("connect_cpu", cpu_connect * 1e6 / n);
        figures.insert("connect_rate", n / took);
    }
    println!(
        "  idle: {} connected in {took:.1} s ({:.0}/s, {retries} retried), server {:.1} µs CPU per connect, RSS {:.1} -> {:.1} MiB ({:.1} KiB per connection)",
        ctx.idle,
        n / took,
        cpu_connect * 1e6 / n,
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        (rss_after as f64 - rss_before as f64) / n
    );
    stop.cancel();
    let mut server_closed = 0;
    for h in holders {
        if !h.await.unwrap_or(false) {
            server_closed += 1;
        }
    }
    if server_closed > 0 {
        println!("  note: {server_closed} idle sockets were closed by the server before the end");
    }
    if !storm {
        return Ok(());
    }
    // Let the server notice the closes and settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hwm_reset = sys::reset_peak(ctx.pid);
    let sampler = sys::RssSampler::start(ctx.pid);
    let cpu_before = process_cpu_seconds(ctx.pid)?;
    let started = Instant::now();
    let (stop, holders, retries) = connect_and_hold(ctx, 2_000).await?;
    let took = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds(ctx.pid)? - cpu_before;
    let mut peak = sampler.stop();
    if hwm_reset {
        peak = peak.max(sys::status_kib(ctx.pid, "VmHWM").unwrap_or(0));
    }
    figures.insert("storm_time", took);
    figures.insert("storm_cpu", cpu);
    figures.insert("storm_peak", peak as f64 / 1024.0);
    figures.insert("storm_retries", retries as f64);
    println!(
        "  storm: {} back in {took:.2} s, server {cpu:.2} CPU s, peak RSS {:.1} MiB, {retries} connects retried",
        ctx.idle,
        peak as f64 / 1024.0
    );
    stop.cancel();
    for h in holders {
        let _ = h.await;
    }
    Ok(())
}

/// `--idle` sockets connected (`concurrency` connects in flight), each held
/// by a task until the token is cancelled; the connect retries.
async fn connect_and_hold(
    ctx: &Ctx,
    concurrency: usize,
) -> anyhow::Result<(CancellationToken, Vec<tokio::task::JoinHandle<bool>>, u64)> {
    let stop = CancellationToken::new();
    let overflows = sys::listen_overflows();
    let gate = Arc::new(Semaphore::new(concurrency));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<(u32, u32), String>>();
    let mut holders = Vec::with_capacity(ctx.idle);
    for _ in 0..ctx.idle {
        let (gate, tx, stop) = (gate.clone(), tx.clone(), stop.clone());
        let (port, auth) = (ctx.port, ctx.kind.emits_auth());
        holders.push(tokio::spawn(async move {
            let Ok(permit) = gate.acquire_owned().await else {
                return false;
            };
            let began = Instant::now();
            match client::connect_retry(port, "/echo", auth).await {
                Ok((ws, failed)) => {
                    drop(permit);
                    let took = began.elapsed().as_micros() as u32;
                    let _ = tx.send(Ok((failed, took)));
                    client::hold(ws, stop).await
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    false
                }
            }
        }));
    }
    drop(tx);
    let mut retries = 0u64;
    let mut times = Vec::with_capacity(ctx.idle);
    for _ in 0..ctx.idle {
        match rx.recv().await {
            Some(Ok((failed, took))) => {
                retries += failed as u64;
                times.push(took);
            }
            Some(Err(e)) => {
                stop.cancel();
                bail!("a connect failed 50 times: {e}");
            }
            None => bail!("connect tasks ended early"),
        }
    }
    times.sort_unstable();
    let at = |q| quantile(&times, q) as f64 / 1000.0;
    println!(
        "    connect time ({concurrency} in flight): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; listen-queue overflows on the machine {} (a dropped SYN costs 1 s)",
        at(0.5),
        at(0.99),
        at(1.0),
        sys::listen_overflows() - overflows,
    );
    Ok((stop, holders, retries))
}
