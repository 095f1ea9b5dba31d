//! The Prometheus text a server serves at `/metrics`.

use std::net::SocketAddr;

/// The `/metrics` text of the server at `addr`.
pub async fn metrics_text(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample line that starts with `series` (a metric name and
/// its labels) in a Prometheus text body.
pub fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in\n{body}"))
}

/// The value of `series` in the `/metrics` of the server at `addr`.
pub async fn metric_sample(addr: SocketAddr, series: &str) -> f64 {
    sample(&metrics_text(addr).await, series)
}

/// The series of the limit hits counter for `limit`, with the space before
/// its value (`switchboard_limit_hits_total{limit="..."} `).
pub fn limit_hits_series(limit: &str) -> String {
    format!("switchboard_limit_hits_total{{limit=\"{limit}\"}} ")
}
