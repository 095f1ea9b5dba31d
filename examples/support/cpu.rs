//! CPU time from `/proc` (Linux): of one process, and of the whole machine.

use std::process::Command;

use anyhow::Context;

/// User + system CPU seconds of a process so far (`/proc/PID/stat` fields 14
/// and 15, in clock ticks of `getconf CLK_TCK`).
pub fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').context("odd /proc stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / clock_ticks_per_second())
}

/// Busy CPU seconds of the whole machine so far (`/proc/stat`, all cores:
/// user, nice, system, irq, softirq, steal).
pub fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("read /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| ticks.get(i).copied().unwrap_or(0.0))
        .sum();
    Ok(busy / clock_ticks_per_second())
}

/// The machine's cores (`cpuN` lines of `/proc/stat`; unlike
/// `available_parallelism`, not narrowed by this process's CPU affinity).
pub fn machine_cores() -> usize {
    std::fs::read_to_string("/proc/stat")
        .map(|stat| {
            stat.lines()
                .filter(|l| {
                    l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
                })
                .count()
        })
        .unwrap_or(1)
        .max(1)
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds so far of a server (when its pid is known), of this process
/// and of the whole machine, read in that order.
#[derive(Clone, Copy)]
pub struct Snapshot {
    pub server: Option<f64>,
    pub own: f64,
    pub machine_busy: f64,
}

impl Snapshot {
    pub fn take(server_pid: Option<u32>) -> anyhow::Result<Self> {
        Ok(Self {
            server: server_pid.map(process_cpu_seconds).transpose()?,
            own: process_cpu_seconds(std::process::id())?,
            machine_busy: machine_busy_seconds()?,
        })
    }

    /// CPU seconds spent from `start` to this one.
    pub fn since(&self, start: &Snapshot) -> Snapshot {
        Snapshot {
            server: start.server.zip(self.server).map(|(a, b)| b - a),
            own: self.own - start.own,
            machine_busy: self.machine_busy - start.machine_busy,
        }
    }
}
