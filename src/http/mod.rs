//! Plain HTTP: health, readiness, metrics, the bare WebSocket echo and the
//! index page. Socket.IO itself is a tower layer added in [`crate::app`].

mod health;
mod metrics;
mod request_metrics;
mod ws_echo;

use axum::{Router, routing::get};

use crate::metrics::Metrics;

pub use request_metrics::track_requests;

/// What the plain HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Metrics,
    /// Largest WebSocket message `/ws` accepts, as for Socket.IO.
    pub max_payload: usize,
}

/// The plain HTTP routes. The caller adds the Socket.IO layer and request metrics.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/ws", get(ws_echo::upgrade))
        .with_state(state)
}

async fn index() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../../clients/web/index.html"))
}
