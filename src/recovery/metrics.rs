//! The recovery counters in `/metrics`.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, core::Collector};

/// Sessions held now, and what became of the others, by namespace.
#[derive(Clone)]
pub struct RecoveryMetrics {
    /// Disconnected sessions held for the window now.
    pub held: IntGaugeVec,
    /// Sessions by outcome: `recovered`, `expired` (the window passed),
    /// `dropped` (past a bound: too many or too large missed events, the
    /// record trimmed past the client's offset, or too many held sessions),
    /// `unknown` (a pid or offset the node does not hold).
    pub outcomes: IntCounterVec,
    /// Events recorded with an offset.
    pub recorded: IntCounterVec,
}

impl RecoveryMetrics {
    pub fn new() -> Self {
        let held = IntGaugeVec::new(
            Opts::new(
                "switchboard_recovery_sessions_held",
                "Disconnected sessions held for connection state recovery now, by namespace",
            ),
            &["namespace"],
        )
        .expect("valid metric");
        let outcomes = IntCounterVec::new(
            Opts::new(
                "switchboard_recovery_sessions_total",
                "Connection state recovery attempts and held sessions by outcome (recovered, expired, dropped, unknown), by namespace",
            ),
            &["namespace", "outcome"],
        )
        .expect("valid metric");
        let recorded = IntCounterVec::new(
            Opts::new(
                "switchboard_recovery_events_recorded_total",
                "Events recorded with an offset for connection state recovery, by namespace",
            ),
            &["namespace"],
        )
        .expect("valid metric");
        Self {
            held,
            outcomes,
            recorded,
        }
    }

    /// Creates `ns`'s series at zero.
    pub fn register_namespace(&self, ns: &str) {
        self.held.with_label_values(&[ns]);
        self.recorded.with_label_values(&[ns]);
        for outcome in ["recovered", "expired", "dropped", "unknown"] {
            self.outcomes.with_label_values(&[ns, outcome]);
        }
    }

    pub fn outcome(&self, ns: &str, outcome: &str) {
        self.outcomes.with_label_values(&[ns, outcome]).inc();
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.held.clone()),
            Box::new(self.outcomes.clone()),
            Box::new(self.recorded.clone()),
        ]
    }
}
