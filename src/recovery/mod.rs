//! Connection state recovery (socket.io 4.6+'s `connectionStateRecovery`): a
//! client whose transport dropped comes back within the window with its socket
//! id, its rooms, its namespace data and every event it missed, in order,
//! before any live one (`socket.recovered === true` on the client).
//!
//! Off unless `--recovery-namespaces` names a namespace: with it on, every
//! recorded event a socket receives carries one more argument, its offset
//! (the reference's wire format), which a client written for the contract's
//! arguments does not expect. A client opts out with `auth.recovery = false`
//! and then gets the events exactly as without recovery.
//!
//! - [`log`]: one namespace's record: the recent events with their offsets,
//!   the sockets that may recover, and the disconnected sessions held for the
//!   window, all under one lock so a replay and the live events never
//!   interleave.
//! - [`Recovery`]: the namespaces' logs, the socketioxide hook that gives a
//!   reconnecting socket its earlier id ([`SessionRecovery`], fork entry 14),
//!   the expiry sweep and the metrics.
//!
//! On one node the record lives in this process ([`log`]). On a cluster
//! (`--redis-url`) it lives on Redis ([`shared`]): a client recovers on any
//! node, also after its node was killed (see docs/deployment.md).

pub mod log;
mod metrics;
pub mod shared;

use std::{collections::HashMap, sync::Arc, time::Duration};

use socketioxide::recovery::{IdentifyFuture, Identity, RecoveryClaim, SessionRecovery};

pub use self::log::{Expired, NamespaceLog, SendFailed};
use self::metrics::RecoveryMetrics;
use crate::tasks::Tasks;

/// The operator's recovery settings (`--recovery-*`).
#[derive(Debug, Clone)]
pub struct RecoverySettings {
    /// Namespaces whose sockets can recover.
    pub namespaces: Vec<String>,
    /// How long a disconnected session is held (Node's `maxDisconnectionDuration`).
    pub window: Duration,
    /// Most events one disconnected session may have missed; past it the
    /// session is not recoverable.
    pub session_packets: usize,
    /// Most bytes of events one disconnected session may have missed.
    pub session_bytes: usize,
    /// Most bytes of events one namespace's record keeps (its oldest go first).
    pub log_bytes: usize,
}

/// Every recovering namespace's log, and the hook socketioxide asks for each
/// connecting socket's identity.
#[derive(Clone)]
pub struct Recovery {
    logs: Arc<HashMap<String, Arc<NamespaceLog>>>,
}

impl Recovery {
    /// The logs of `settings.namespaces` (on `redis` for a cluster), their
    /// metrics registered in `metrics`, and the sweep that ends held
    /// sessions past the window (and, on a cluster, beats this node's heart).
    pub fn new(
        settings: &RecoverySettings,
        redis: Option<(redis::Client, redis::aio::ConnectionManager)>,
        metrics: &crate::metrics::Metrics,
        tasks: &Tasks,
    ) -> Self {
        let recovery_metrics = RecoveryMetrics::new();
        metrics.register_collectors(recovery_metrics.collectors());
        let settings = Arc::new(settings.clone());
        // Names this process in Redis (its heartbeat, its live sessions).
        let node = socketioxide_core::Sid::new().to_string();
        let logs: HashMap<_, _> = settings
            .namespaces
            .iter()
            .map(|ns| {
                let mut log =
                    NamespaceLog::new(ns.clone(), settings.clone(), recovery_metrics.clone());
                if let Some(redis) = &redis {
                    log = log.with_shared(shared::SharedRecord::new(
                        ns.clone(),
                        node.clone(),
                        redis.clone(),
                        settings.clone(),
                        recovery_metrics.clone(),
                    ));
                }
                (ns.clone(), Arc::new(log))
            })
            .collect();
        let recovery = Self {
            logs: Arc::new(logs),
        };
        if !recovery.logs.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
            let logs = Arc::downgrade(&recovery.logs);
            let stopping = tasks.stopping();
            let period =
                (settings.window / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
            tasks.spawn(async move {
                let mut stopping = std::pin::pin!(stopping);
                let mut every = tokio::time::interval(period);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = &mut stopping => return,
                        _ = every.tick() => {}
                    }
                    let Some(logs) = logs.upgrade() else {
                        return;
                    };
                    for log in logs.values() {
                        log.sweep().await;
                    }
                }
            });
        }
        recovery
    }

    /// On a cluster: starts reading each namespace's stream and delivering
    /// it to this node's sockets. Before the node serves.
    pub async fn start<A: socketioxide::adapter::Adapter>(
        &self,
        io: &socketioxide::SocketIo<A>,
        tasks: &Tasks,
    ) -> redis::RedisResult<()> {
        for log in self.logs.values() {
            if let Some(shared) = log.shared() {
                shared.start(io, tasks).await?;
                // The first heartbeat before the first socket.
                log.sweep().await;
            }
        }
        Ok(())
    }

    /// The log of namespace `ns`, `None` when it does not recover.
    pub fn log(&self, ns: &str) -> Option<Arc<NamespaceLog>> {
        self.logs.get(ns).cloned()
    }

    /// Whether any namespace recovers (the hook is installed only then).
    pub fn is_enabled(&self) -> bool {
        !self.logs.is_empty()
    }
}

impl SessionRecovery for Recovery {
    fn identify<'a>(&'a self, ns: &'a str, claim: Option<RecoveryClaim>) -> IdentifyFuture<'a> {
        Box::pin(async move {
            match self.logs.get(ns) {
                Some(log) => log.identify(claim).await,
                None => Identity::fresh(),
            }
        })
    }
}
