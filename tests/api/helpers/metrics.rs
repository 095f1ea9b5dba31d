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

/// The series of the limit hits counter for `limit`, with the space before
/// its value (`switchboard_limit_hits_total{limit="..."} `).
pub fn limit_hits_series(limit: &str) -> String {
    format!("switchboard_limit_hits_total{{limit=\"{limit}\"}} ")
}
