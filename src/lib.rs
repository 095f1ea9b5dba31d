//! # Switchboard
//!
//! A Socket.IO-compatible real-time event server: standard Socket.IO clients
//! connect unchanged. The wire contract is `docs/PROTOCOL.md`.
//!
//! # Layout
//!
//! - [`config`]: typed settings from flags and `SWITCHBOARD_*` variables.
//! - [`telemetry`]: tracing set-up (text or JSON lines).
//! - [`app`]: builds the axum router and the Socket.IO layer, binds, serves,
//!   shuts down gracefully.
//! - [`namespaces`]: one module per Socket.IO namespace (`echo`, `chat`,
//!   `notifications`, `game`), plus
//!   the shared pieces every namespace uses (connection logging, names, the
//!   contract's replies and error codes, the rate limits per socket, per
//!   client address and of namespace connects).
//! - [`store`]: the durable store on sqlx (SQLite or PostgreSQL), written
//!   through one group-committing writer task per stream.
//! - [`notifications`]: tokens, API keys, and the live fan-out of stored
//!   notifications to the sockets of their user.
//! - [`game`]: the arena game's simulation (pure, deterministic) and the
//!   registry of running games.
//! - [`http`]: plain HTTP routes: health, readiness, metrics, `/ws`, the demo
//!   pages, the HTTP push API (`http::api`), and who a request's client is
//!   (`http::client_addr`).
//! - [`cluster`]: several nodes on Redis: the socketioxide-redis adapter's
//!   driver, and the fan-out of committed notifications to every node.
//! - [`metrics`]: the Prometheus registry each app owns.
//! - [`server`]: the accept loop under the router: connection caps and the
//!   timeouts of slow and idle connections.
//! - [`tasks`]: every spawned task, tracked, and the order a shutdown stops
//!   them in (the store's writers last, so they drain).
//!
//! Data flows one way: transport -> namespace handler (parses the payload into
//! typed values) -> domain -> emit.

// The docs are for the people working on Switchboard (CI runs `cargo doc
// --document-private-items`), so module docs may link to private items.
#![allow(rustdoc::private_intra_doc_links)]

pub mod app;
pub mod cluster;
pub mod config;
pub mod game;
pub mod http;
pub mod metrics;
pub mod namespaces;
pub mod notifications;
pub mod server;
pub mod store;
pub mod tasks;
pub mod telemetry;

pub use app::{App, ShutdownHandle};
pub use config::ServeConfig;
