//! The server's Prometheus metrics. Each [`Metrics`] owns its registry, so two
//! apps in one process (as in the tests) never mix their counts.

use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Counters and gauges shared by the namespaces and the HTTP layer.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Sockets connected now, by namespace.
    pub sockets_connected: IntGaugeVec,
    /// Sockets disconnected, by namespace and reason (`slow_client` is a
    /// client that did not read: past its outgoing byte budget, or a broadcast
    /// found its packet buffer full).
    pub disconnects: IntCounterVec,
    /// Socket.IO events received from clients, by namespace.
    pub events_in: IntCounterVec,
    /// Socket.IO events and acks sent to clients, by namespace.
    pub events_out: IntCounterVec,
    /// HTTP requests answered, by route (not raw path, to bound cardinality) and status.
    pub http_requests: IntCounterVec,
    /// Games with a running loop now.
    pub games_active: IntGauge,
    /// Game ticks run, all games together.
    pub game_ticks: IntCounter,
    /// Requests refused by the origin policy (`--cors-origins`), by route.
    pub origin_refused: IntCounterVec,
    /// Times a configured bound refused something, by limit (`room_full`,
    /// `api_stored_bytes`, ...); see [`Metrics::limit_hit`].
    pub limit_hits: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let sockets_connected = IntGaugeVec::new(
            Opts::new(
                "switchboard_sockets_connected",
                "Socket.IO sockets connected now, by namespace",
            ),
            &["namespace"],
        )
        .expect("valid metric");
        let disconnects = IntCounterVec::new(
            Opts::new(
                "switchboard_disconnects_total",
                "Socket.IO sockets disconnected, by namespace and reason",
            ),
            &["namespace", "reason"],
        )
        .expect("valid metric");
        let events_in = IntCounterVec::new(
            Opts::new(
                "switchboard_events_received_total",
                "Socket.IO events received from clients, by namespace",
            ),
            &["namespace"],
        )
        .expect("valid metric");
        let events_out = IntCounterVec::new(
            Opts::new(
                "switchboard_events_sent_total",
                "Socket.IO events and acknowledgements sent to clients, by namespace",
            ),
            &["namespace"],
        )
        .expect("valid metric");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "switchboard_http_requests_total",
                "HTTP requests answered, by route and status code",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let games_active = IntGauge::new(
            "switchboard_games_active",
            "Games with players (and a running loop) now",
        )
        .expect("valid metric");
        let game_ticks = IntCounter::new(
            "switchboard_game_ticks_total",
            "Game simulation ticks run, all games together",
        )
        .expect("valid metric");
        let origin_refused = IntCounterVec::new(
            Opts::new(
                "switchboard_origin_refused_total",
                "Socket.IO and /ws requests refused for their browser Origin, by route",
            ),
            &["route"],
        )
        .expect("valid metric");
        for route in ["/socket.io/", "/ws"] {
            origin_refused.with_label_values(&[route]);
        }
        let limit_hits = IntCounterVec::new(
            Opts::new(
                "switchboard_limit_hits_total",
                "Requests, events or connections refused because a configured limit was reached, by limit",
            ),
            &["limit"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(sockets_connected.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(disconnects.clone()),
            Box::new(events_in.clone()),
            Box::new(events_out.clone()),
            Box::new(http_requests.clone()),
            Box::new(games_active.clone()),
            Box::new(game_ticks.clone()),
            Box::new(origin_refused.clone()),
            Box::new(limit_hits.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            registry,
            sockets_connected,
            disconnects,
            events_in,
            events_out,
            http_requests,
            games_active,
            game_ticks,
            origin_refused,
            limit_hits,
        }
    }

    /// Creates the per-namespace series at zero, so a scrape shows every
    /// namespace before its first connection.
    pub fn register_namespace(&self, ns: &str) {
        self.sockets_connected.with_label_values(&[ns]);
        self.events_in.with_label_values(&[ns]);
        self.events_out.with_label_values(&[ns]);
    }

    pub fn event_in(&self, ns: &str) {
        self.events_in.with_label_values(&[ns]).inc();
    }

    pub fn event_out(&self, ns: &str) {
        self.events_out.with_label_values(&[ns]).inc();
    }

    /// Counts one refusal by the limit named `limit` (a short snake_case
    /// name, one per setting: `room_full`, `api_stored_bytes`).
    pub fn limit_hit(&self, limit: &str) {
        self.limit_hits.with_label_values(&[limit]).inc();
    }

    /// Adds metrics kept elsewhere to this registry: the store's write
    /// errors and writable state (`switchboard_store_write_errors_total`,
    /// `switchboard_store_writable`, see `store::health`).
    pub fn register_store(&self, store: &crate::store::Health) {
        for collector in store.collectors() {
            if let Err(error) = self.registry.register(collector) {
                tracing::warn!(%error, "store metrics not registered");
            }
        }
    }

    /// Adds collectors kept by another module (connection state recovery's)
    /// to this registry.
    pub fn register_collectors(&self, collectors: Vec<Box<dyn prometheus::core::Collector>>) {
        for collector in collectors {
            if let Err(error) = self.registry.register(collector) {
                tracing::warn!(%error, "metrics not registered");
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
