//! Plain HTTP: health, readiness, metrics, the bare WebSocket echo and the
//! index page. Socket.IO itself is a tower layer added in [`crate::app`];
//! [`origin`] guards it and `/ws` against cross-site WebSocket hijacking.

pub mod api;
pub mod client_addr;
pub mod client_bundle;
mod demo;
mod health;
mod metrics;
pub mod origin;
mod pages;
mod request_metrics;
pub mod session_request;
mod ws_echo;

use axum::{Router, routing::get};

use crate::{metrics::Metrics, notifications::Credentials, store::Store};

pub use origin::OriginGuard;
pub use request_metrics::track_requests;

/// What the plain HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Metrics,
    /// Largest WebSocket message `/ws` accepts, as for Socket.IO.
    pub max_payload: usize,
    /// How long `/ws` may go without a message from the client (`--ws-idle-timeout`).
    pub ws_idle_timeout: std::time::Duration,
    /// Checked by `/readyz`.
    pub store: Store,
    /// For `/demo/token` (development mode only).
    pub credentials: Credentials,
    /// Checked by `/readyz` on a cluster node.
    pub redis: Option<crate::cluster::RedisDriver>,
}

/// The plain HTTP routes. The caller adds the HTTP API, the Socket.IO layer
/// and request metrics.
pub fn router(state: HttpState) -> Router {
    let demo = Router::new()
        .route("/demo/token", get(demo::token))
        .with_state(state.credentials.clone());
    Router::new()
        .route("/", get(pages::index))
        .route("/chat", get(pages::chat))
        .route("/notifications", get(pages::notifications))
        .route("/game", get(pages::game))
        .route("/assets/{name}", get(pages::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/ws", get(ws_echo::upgrade))
        .with_state(state)
        .merge(demo)
}
