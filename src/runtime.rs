//! The tokio runtime the server runs on: tokio's multi-threaded scheduler,
//! one worker per core, with one setting changed for fairness at saturation.
//!
//! A worker asks the OS for ready sockets (epoll) up to
//! `max_io_events_per_tick` at a time; tokio's default is 1,024. When more
//! sockets are busy than a core can serve, a large batch wakes more tasks than
//! the worker's local run queue holds (256); the overflow goes to the global
//! queue, which a busy worker polls only every few dozen ticks, so the same
//! hundred or so sockets keep being served while the rest wait. On one core
//! with 1,000 sockets each keeping a message in flight (`core_bench`
//! closed loop) that is p50 1 ms but p99 300 ms. A batch of 16 keeps the run
//! queue short and every socket in turn: p99 about 20 ms, at about a quarter
//! fewer messages a second in total (the served sockets no longer stay in the
//! CPU's caches). Below saturation it changes nothing (same CPU per message
//! at 5,000 and 20,000 msg/s). `docs/benchmarks.md` has the figures.

use tokio::runtime::{Builder, Runtime};

/// The server's runtime, taking at most `max_io_events_per_tick` ready
/// sockets from the OS per look (`--max-io-events-per-tick`).
pub fn build(max_io_events_per_tick: usize) -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .enable_all()
        .max_io_events_per_tick(max_io_events_per_tick)
        .build()
}
