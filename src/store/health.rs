//! Whether the store can write: the outcome of every write (and of a test
//! write when there were none lately), for `/readyz` and `/metrics`.
//!
//! A write that fails for a storage reason (disk full, read-only, I/O error,
//! the database unreachable) makes the store unwritable until a later write
//! succeeds: a real one, or the test write [`Health::check`] makes at most
//! once per [`PROBE_INTERVAL`] while no real write succeeded that recently.

use std::{
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, core::Collector};

use super::{Db, StoreError};
use crate::protocol::now_ms;
use crate::tasks::Tasks;

/// Fewest time between two test writes; while real writes succeed more
/// often than this, there is no test write at all.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The write streams, as `/metrics` labels them.
pub const STREAMS: [&str; 3] = ["chat", "notifications", "probe"];

/// Buckets of `switchboard_store_commit_seconds`: SQLite commits a small
/// batch in well under a millisecond without fsync and a few with it,
/// PostgreSQL in a network round trip or two; a large batch or a struggling
/// disk takes up to seconds.
pub const COMMIT_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Why `/readyz` fails the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotWritable {
    /// The last storage failure, for the log.
    pub reason: String,
}

impl fmt::Display for NotWritable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the store cannot write: {}", self.reason)
    }
}

/// Shared by the writers and the readiness check. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    write_errors: IntCounterVec,
    /// How long each transaction of a writer took, failed ones included.
    commit_seconds: HistogramVec,
    writable: IntGauge,
    state: Mutex<State>,
    /// Held while a test write runs: concurrent checks wait for its answer
    /// instead of writing too.
    probing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// Orders the outcomes below (the latest one decides).
    events: u64,
    last_success: u64,
    /// The latest storage failure and what it was.
    last_failure: Option<(u64, String)>,
    last_real_success_at: Option<Instant>,
    last_probe_at: Option<Instant>,
}

impl State {
    fn writable(&self) -> Result<(), NotWritable> {
        match &self.last_failure {
            Some((at, reason)) if *at > self.last_success => Err(NotWritable {
                reason: reason.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// A test write is worth making: none was made lately, and either the
    /// store is failing or no real write proved it writable lately.
    fn probe_due(&self, now: Instant) -> bool {
        let recent =
            |at: Option<Instant>| at.is_some_and(|at| now.duration_since(at) < PROBE_INTERVAL);
        !recent(self.last_probe_at)
            && (self.writable().is_err() || !recent(self.last_real_success_at))
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        let write_errors = IntCounterVec::new(
            Opts::new(
                "switchboard_store_write_errors_total",
                "Store writes that failed, by stream (chat, notifications, probe: the readiness \
                 test write) and reason (storage: disk full, read-only, I/O error or database \
                 unreachable; item: refused for what it held)",
            ),
            &["stream", "reason"],
        )
        .expect("valid metric");
        for stream in STREAMS {
            write_errors.with_label_values(&[stream, "storage"]);
            write_errors.with_label_values(&[stream, "item"]);
        }
        let writable = IntGauge::new(
            "switchboard_store_writable",
            "1 while the store takes writes, 0 from a write failing for a storage reason until \
             one succeeds again",
        )
        .expect("valid metric");
        writable.set(1);
        let commit_seconds = HistogramVec::new(
            HistogramOpts::new(
                "switchboard_store_commit_seconds",
                "Time a store writer's transaction took (one per batch of writes, failed ones \
                 included), by stream",
            )
            .buckets(COMMIT_BUCKETS.to_vec()),
            &["stream"],
        )
        .expect("valid metric");
        for stream in ["chat", "notifications"] {
            commit_seconds.with_label_values(&[stream]);
        }
        Self {
            inner: Arc::new(Inner {
                write_errors,
                commit_seconds,
                writable,
                state: Mutex::new(State::default()),
                probing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The metrics to register with the server's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.inner.write_errors.clone()),
            Box::new(self.inner.writable.clone()),
            Box::new(self.inner.commit_seconds.clone()),
        ]
    }

    /// A transaction of `stream`'s writer took `took`.
    pub(super) fn commit_took(&self, stream: &str, took: Duration) {
        self.inner
            .commit_seconds
            .with_label_values(&[stream])
            .observe(took.as_secs_f64());
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent numbers.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A transaction of `stream` committed.
    pub(super) fn write_succeeded(&self, stream: &str) {
        let mut state = self.state();
        state.events += 1;
        state.last_success = state.events;
        if stream != "probe" {
            state.last_real_success_at = Some(Instant::now());
        }
        self.inner.writable.set(1);
    }

    /// `writes` writes of `stream` were refused with `error`.
    pub(super) fn write_failed(&self, stream: &str, error: &StoreError, writes: usize) {
        let reason = if error.is_item_failure() {
            "item"
        } else {
            "storage"
        };
        self.inner
            .write_errors
            .with_label_values(&[stream, reason])
            .inc_by(writes as u64);
        if error.is_item_failure() && stream != "probe" {
            // The store wrote the rest of the batch: it is writable.
            return;
        }
        let mut state = self.state();
        state.events += 1;
        state.last_failure = Some((state.events, error.to_string()));
        self.inner.writable.set(0);
    }

    /// Whether the store takes writes now; makes a test write first when
    /// one is due ([`State::probe_due`]). The test write runs in a task of
    /// its own: a caller that stops waiting (a timeout) never cuts a
    /// transaction short.
    pub(super) async fn check(&self, db: &Db, tasks: &Tasks) -> Result<(), NotWritable> {
        if self.state().probe_due(Instant::now()) {
            let _probing = self.inner.probing.lock().await;
            // Another check may have written while this one waited.
            let due = {
                let mut state = self.state();
                let now = Instant::now();
                let due = state.probe_due(now);
                if due {
                    state.last_probe_at = Some(now);
                }
                due
            };
            if due {
                let (health, db) = (self.clone(), db.clone());
                let probe = tasks.spawn(async move {
                    match db.probe_write(now_ms()).await {
                        Ok(()) => health.write_succeeded("probe"),
                        Err(error) => {
                            tracing::warn!(%error, "the store's test write failed");
                            health.write_failed("probe", &error, 1);
                        }
                    }
                });
                if probe.await.is_err() {
                    self.write_failed("probe", &StoreError::WriterGone, 1);
                }
            }
        }
        self.state().writable()
    }

    /// Whether the latest write (real or test) succeeded, without writing.
    pub fn writable(&self) -> Result<(), NotWritable> {
        self.state().writable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_outcome_decides() {
        let health = Health::new();
        assert!(health.writable().is_ok());
        health.write_failed("chat", &StoreError::disk_full(), 3);
        let err = health.writable().unwrap_err();
        assert!(err.to_string().contains("cannot write"), "{err}");
        // An item refused for its own content says nothing about the disk.
        health.write_failed("chat", &StoreError::bad_item(), 1);
        assert!(health.writable().is_err());
        health.write_succeeded("notifications");
        assert!(health.writable().is_ok());
        assert_eq!(
            health
                .inner
                .write_errors
                .with_label_values(&["chat", "storage"])
                .get(),
            3
        );
        assert_eq!(
            health
                .inner
                .write_errors
                .with_label_values(&["chat", "item"])
                .get(),
            1
        );
    }

    #[test]
    fn test_writes_are_rate_limited() {
        let health = Health::new();
        let now = Instant::now();
        assert!(health.state().probe_due(now), "nothing proved it yet");
        health.write_succeeded("chat");
        assert!(
            !health.state().probe_due(Instant::now()),
            "a real write just succeeded"
        );
        health.write_failed("chat", &StoreError::disk_full(), 1);
        assert!(
            health.state().probe_due(Instant::now()),
            "failing: test again"
        );
        health.state().last_probe_at = Some(Instant::now());
        assert!(!health.state().probe_due(Instant::now()), "tested just now");
        assert!(health.state().probe_due(Instant::now() + PROBE_INTERVAL));
    }
}
