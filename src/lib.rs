//! # Switchboard
//!
//! A Socket.IO-compatible real-time event server: standard Socket.IO clients
//! connect unchanged. The wire contract is `docs/PROTOCOL.md`.
//!
//! # Layout
//!
//! From the bottom up. Layers import downward only: [`protocol`] imports
//! nothing of the crate; the store and the features import neither the
//! namespaces nor the HTTP routes; `http` does not import `namespaces` (the
//! one piece both transports share is [`http::client_addr`], who a
//! connection's client is); [`app`] assembles everything.
//!
//! - [`protocol`]: the vocabulary every layer speaks: the contract's error
//!   codes and their HTTP statuses, the validated names and ids (`RoomId`,
//!   `DisplayName`, `UserId`, `StreamId`), an event's arguments (`Args`), the names of the adapter rooms
//!   (`protocol::rooms`), the contract's own bounds (`protocol::bounds`:
//!   page sizes, ids per request, rooms and topics per socket, players per
//!   game), the clock (`now_ms`). Imports nothing above it.
//! - [`runtime`]: the tokio runtime, its I/O batch kept small so a saturated
//!   server serves every socket in turn.
//! - [`tasks`]: every spawned task, tracked, and the order a shutdown stops
//!   them in (the store's writers last, so they drain).
//! - [`config`]: typed settings from flags and `SWITCHBOARD_*` variables.
//! - [`telemetry`]: tracing set-up (text or JSON lines).
//! - [`store`]: the durable store on sqlx (SQLite or PostgreSQL), written
//!   through one group-committing writer task per stream.
//! - [`metrics`]: the Prometheus registry each app owns.
//! - [`recovery`]: connection state recovery: the record of recent events
//!   with their offsets and the disconnected sessions held for the window,
//!   and the hook that gives a reconnecting socket its earlier id.
//! - [`game`]: the arena game's simulation (pure, deterministic) and the
//!   registry of running games.
//! - [`http_client`]: the HTTP client of outbound calls (the JWKS, the
//!   proxies): hyper-util over rustls on `ring`.
//! - [`identity`]: who a token says a client is: JWTs from a secret, PEM
//!   public keys or a JWKS (fetched, cached, refreshed on an unknown `kid`),
//!   `alg` bound to the key, `exp`/`nbf`/`iss`/`aud` checked.
//! - [`notifications`]: the whole push-notification feature: tokens, API
//!   keys, the push service (`push(...) -> receipt`), idempotency, the hub
//!   and the per-socket delivery of stored notifications.
//! - [`namespaces`]: one module per Socket.IO namespace. `chat`,
//!   `notifications` and `game` have the same files: `mod.rs` (registration
//!   and one small handler per event), `payload.rs` (the typed requests),
//!   `session.rs` (per-socket state), `wire.rs` (the typed replies and
//!   events); `echo` is the reference behaviour in one file. Shared by all:
//!   [`namespaces::event`] (the one path of every event: order, rate limit,
//!   parsing, the contract's answer), [`namespaces::order`] (events in
//!   arrival order), [`namespaces::rate_limit`] (per socket, per client
//!   address, and of namespace connects), connection logging.
//! - [`http`]: plain HTTP routes: health, readiness, metrics, `/ws`, the demo
//!   pages, the HTTP push API (`http::api`), and who a request's client is
//!   (`http::client_addr`).
//! - [`cluster`]: several nodes on Redis: the socketioxide-redis adapter's
//!   driver, and the fan-out of committed notifications to every node.
//! - [`server`]: the accept loop under the router: connection caps and the
//!   timeouts of slow and idle connections.
//! - [`app`]: builds the axum router and the Socket.IO layer, binds, serves,
//!   shuts down gracefully.
//!
//! Data flows one way: transport -> namespace handler (parses the payload into
//! typed values) -> domain -> emit.

// The docs are for the people working on Switchboard (CI runs `cargo doc
// --document-private-items`), so module docs may link to private items.
#![allow(rustdoc::private_intra_doc_links)]

pub mod admin;
pub mod app;
pub mod cluster;
pub mod config;
pub mod game;
pub mod http;
pub mod http_client;
pub mod identity;
pub mod metrics;
pub mod namespaces;
pub mod notifications;
pub mod protocol;
pub mod recovery;
pub mod runtime;
pub mod server;
pub mod store;
pub mod tasks;
pub mod telemetry;

pub use app::{App, ShutdownHandle};
pub use config::ServeConfig;
