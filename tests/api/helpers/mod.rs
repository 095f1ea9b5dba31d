//! What the test modules share, by concept; every module imports from here
//! (`use crate::helpers::*`) and never from another test module.
//!
//! - [`app`]: an isolated in-process app per test and its settings, on
//!   either store engine;
//! - [`raw`]: raw Engine.IO / Socket.IO frames over a WebSocket or polling;
//! - [`sio`]: a minimal Socket.IO client with exact control;
//! - [`api`]: the notification credentials (JWT secret, API key), the HTTP
//!   push API and `/notifications` clients;
//! - [`metrics`]: `/metrics` samples;
//! - [`process`]: the real `switchboard` binary as a process;
//! - [`cluster`]: several processes on one PostgreSQL and one Redis;
//! - [`interop`]: real clients and check programs, run as processes;
//! - [`browser`]: Playwright page checks in Chromium;
//! - [`backend`]: a scripted HTTP backend for the connect and RPC proxies.

use std::time::Duration;

mod api;
mod app;
mod backend;
mod browser;
mod cluster;
mod interop;
mod metrics;
mod process;
mod raw;
mod sio;

pub use api::*;
pub use app::*;
pub use backend::*;
pub use browser::*;
pub use cluster::*;
pub use interop::*;
pub use metrics::*;
pub use process::*;
pub use raw::*;
pub use sio::*;

/// Every wait in these tests is bounded by this, so a missing reply fails
/// instead of hanging.
pub const WAIT: Duration = Duration::from_secs(5);
