//! What the example benchmarks (`chat_bench`, `notify_bench`, `game_bots`)
//! share: starting the server they measure, a raw Socket.IO client over
//! WebSockets, percentiles and the latency line, a small PRNG, and CPU time
//! from `/proc`. Each example declares `mod support;` (this directory has no
//! `main.rs`, so Cargo does not build it as an example of its own).

// Every example uses only part of this module.
#![allow(dead_code)]

pub mod bootstrap;
pub mod cpu;
pub mod raw_client;
pub mod rng;
pub mod stats;
