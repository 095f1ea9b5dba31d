//! The final Markdown table: one row per figure, one column per server
//! (medians over the runs), and the ratios switchboard/bare and bare/raw.

use crate::{phases::Figures, servers::Kind};

/// Key, row label, decimals.
pub const FIGURES: &[(&str, &str, usize)] = &[
    ("cpu_5k", "server CPU µs/msg at 5,000 msg/s (echo)", 1),
    ("cpu_20k", "server CPU µs/msg at 20,000 msg/s (echo)", 1),
    ("unanswered", "messages unanswered (rate phases)", 0),
    ("echo_rate", "closed-loop echo max msg/s", 0),
    ("echo_p50", "echo RTT p50 ms (saturated)", 2),
    ("echo_p99", "echo RTT p99 ms (saturated)", 2),
    ("echo_max", "echo RTT max ms (saturated)", 2),
    ("echo_srv_cpu", "server CPU % during closed echo", 0),
    ("echo_cli_cpu", "load generator CPU % during closed echo", 0),
    (
        "echo_other_cpu",
        "other processes' CPU % during closed echo (noise)",
        0,
    ),
    ("ack_rate", "closed-loop ack max msg/s", 0),
    ("ack_p50", "ack RTT p50 ms (saturated)", 2),
    ("ack_p99", "ack RTT p99 ms (saturated)", 2),
    ("ack_max", "ack RTT max ms (saturated)", 2),
    ("ack_srv_cpu", "server CPU % during closed ack", 0),
    ("ack_cli_cpu", "load generator CPU % during closed ack", 0),
    (
        "ack_other_cpu",
        "other processes' CPU % during closed ack (noise)",
        0,
    ),
    ("bcast", "room broadcast deliveries/s", 0),
    ("bcast_msgs", "room broadcast messages/s (acked)", 0),
    ("bcast_srv_cpu", "server CPU % during broadcast", 0),
    ("bcast_cpu_per", "server CPU µs per broadcast delivery", 2),
    ("bcast_closed", "broadcast members closed by the server", 0),
    ("idle_rss", "RSS KiB per idle connection", 1),
    ("connect_cpu", "server CPU µs per connect", 1),
    ("connect_rate", "connects/s (200 in flight)", 0),
    ("storm_time", "reconnect storm: s until all back", 2),
    ("storm_cpu", "reconnect storm: server CPU s", 2),
    ("storm_peak", "reconnect storm: peak RSS MiB", 1),
    ("storm_retries", "reconnect storm: connects retried", 0),
];

/// The median of `values` (none when empty).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// The table for `results` (per server, one `Figures` per run).
pub fn table(results: &[(Kind, Vec<Figures>)]) -> String {
    let median_of = |kind: Kind, key: &str| -> Option<f64> {
        let runs = &results.iter().find(|(k, _)| *k == kind)?.1;
        let mut v: Vec<f64> = runs.iter().filter_map(|f| f.get(key).copied()).collect();
        median(&mut v)
    };
    let has = |kind: Kind| results.iter().any(|(k, _)| *k == kind);
    let sb_bare = has(Kind::Switchboard) && has(Kind::Bare);
    let bare_raw = has(Kind::Bare) && has(Kind::Raw);

    let mut out = String::from("| figure |");
    let mut rule = String::from("|---|");
    for (kind, _) in results {
        out += &format!(" {} |", kind.name());
        rule += "---:|";
    }
    if sb_bare {
        out += " switchboard/bare |";
        rule += "---:|";
    }
    if bare_raw {
        out += " bare/raw |";
        rule += "---:|";
    }
    out += "\n";
    out += &rule;
    out += "\n";
    for &(key, label, decimals) in FIGURES {
        let values: Vec<Option<f64>> = results.iter().map(|(k, _)| median_of(*k, key)).collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        out += &format!("| {label} |");
        for v in &values {
            match v {
                Some(v) => out += &format!(" {v:.decimals$} |"),
                None => out += " – |",
            }
        }
        let ratio = |a: Kind, b: Kind| match (median_of(a, key), median_of(b, key)) {
            (Some(x), Some(y)) if y != 0.0 => format!(" {:.2} |", x / y),
            _ => " – |".to_string(),
        };
        if sb_bare {
            out += &ratio(Kind::Switchboard, Kind::Bare);
        }
        if bare_raw {
            out += &ratio(Kind::Bare, Kind::Raw);
        }
        out += "\n";
    }
    out
}
