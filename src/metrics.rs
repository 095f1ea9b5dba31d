//! The server's Prometheus metrics. Each [`Metrics`] owns its registry, so two
//! apps in one process (as in the tests) never mix their counts.

use std::{sync::Arc, time::Duration};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::protocol::ErrorCode;

/// Buckets of `switchboard_event_duration_seconds`: an event handled in
/// memory takes well under a millisecond, one that waits for a store commit
/// a few milliseconds, one queued behind a slow one or a slow store seconds.
pub const EVENT_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Buckets of `switchboard_push_delivery_seconds`: from a few milliseconds
/// (a live socket on this node) to the slow-client backoff and a cluster's
/// store round trips.
pub const PUSH_DELIVERY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How a delivered notification reached its socket
/// (`switchboard_notifications_delivered_total{delivery}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A user's stored notification, sent by its socket's delivery task
    /// (replayed on connect or live).
    Stored,
    /// A live-only push to a topic or to everyone.
    Live,
}

impl Delivery {
    fn label(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Live => "live",
        }
    }
}

/// Counters and gauges shared by the namespaces and the HTTP layer: one set
/// behind an `Arc`, so that a clone is one reference count. Handlers clone
/// their namespace's state, and with it the metrics, for every event
/// (socketioxide's `State` extractor): a clone of every collector was 2% of
/// the server's time in the echo benchmark (perf, docs/benchmarks.md).
#[derive(Clone)]
pub struct Metrics(Arc<MetricSet>);

impl std::ops::Deref for Metrics {
    type Target = MetricSet;

    fn deref(&self) -> &MetricSet {
        &self.0
    }
}

/// The collectors of [`Metrics`].
pub struct MetricSet {
    registry: Registry,
    /// Sockets connected now, by namespace.
    pub sockets_connected: IntGaugeVec,
    /// Sockets disconnected, by namespace and reason (`slow_client` is a
    /// client that did not read: past its outgoing byte budget, or a broadcast
    /// found its packet buffer full).
    pub disconnects: IntCounterVec,
    /// Socket.IO events received from clients, by namespace.
    pub events_in: IntCounterVec,
    /// Socket.IO events and acks the server emitted, by namespace: one per
    /// emit call, so a broadcast counts once however many sockets it
    /// reaches ([`MetricSet::packets_out`] counts what clients receive).
    pub events_out: IntCounterVec,
    /// Socket.IO packets queued for clients, by namespace: one per recipient.
    /// Counted in the fork where socketioxide queues a packet for one socket
    /// (fork entry 17, [`Metrics::packet_sent_hook`]); see that method for
    /// why there and not at the broadcast sites.
    pub packets_out: IntCounterVec,
    /// Time from an event's arrival (before it waits for the socket's earlier
    /// events) to its answer, by namespace and event; see `namespaces::event`.
    pub event_duration: HistogramVec,
    /// Events refused with the contract's error (in the ack or an `error`
    /// event), by namespace and code.
    pub event_refusals: IntCounterVec,
    /// Connections to a namespace refused with the contract's code (the
    /// `connect_error` message), by namespace and code.
    pub connect_refusals: IntCounterVec,
    /// Pushes accepted by the HTTP API (`201`, not counting an
    /// `Idempotency-Key` replay), by target (`users`, `topic`, `broadcast`).
    pub pushes: IntCounterVec,
    /// Notifications emitted to sockets, by delivery (`stored`, `live`).
    pub notifications_delivered: IntCounterVec,
    /// Stored notifications a client acknowledged (the delivery receipt).
    pub notification_receipts: IntCounter,
    /// From a push being accepted to its notification being emitted to a
    /// socket, for live deliveries (not the replay of a connecting socket).
    pub push_delivery: Histogram,
    /// Always 1, labelled with the build's version, profile and target.
    pub build_info: IntGaugeVec,
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
                "Socket.IO events and acknowledgements emitted, one per emit call (a broadcast counts once; switchboard_packets_sent_total counts recipients), by namespace",
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
                "Socket.IO and /ws requests and CORS preflights refused for their browser Origin, by route",
            ),
            &["route"],
        )
        .expect("valid metric");
        for route in ["/socket.io/", "/ws", "preflight"] {
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
        let packets_out = IntCounterVec::new(
            Opts::new(
                "switchboard_packets_sent_total",
                "Socket.IO packets queued for clients (events, acks, connect and disconnect), one per recipient, broadcasts included, by namespace",
            ),
            &["namespace"],
        )
        .expect("valid metric");
        let event_duration = HistogramVec::new(
            HistogramOpts::new(
                "switchboard_event_duration_seconds",
                "Time from a client event's arrival to its answer (ack or error event), queueing behind the socket's earlier events included, by namespace and event",
            )
            .buckets(EVENT_BUCKETS.to_vec()),
            &["namespace", "event"],
        )
        .expect("valid metric");
        let event_refusals = IntCounterVec::new(
            Opts::new(
                "switchboard_event_refusals_total",
                "Client events refused with the contract's error, by namespace and code",
            ),
            &["namespace", "code"],
        )
        .expect("valid metric");
        let connect_refusals = IntCounterVec::new(
            Opts::new(
                "switchboard_connect_refusals_total",
                "Connections to a namespace refused with the contract's code (the connect_error message), by namespace and code",
            ),
            &["namespace", "code"],
        )
        .expect("valid metric");
        let pushes = IntCounterVec::new(
            Opts::new(
                "switchboard_pushes_total",
                "Pushes accepted by the HTTP API (not counting Idempotency-Key replays), by target",
            ),
            &["target"],
        )
        .expect("valid metric");
        for target in ["users", "topic", "broadcast"] {
            pushes.with_label_values(&[target]);
        }
        let notifications_delivered = IntCounterVec::new(
            Opts::new(
                "switchboard_notifications_delivered_total",
                "Notifications emitted to sockets, by delivery (stored: a user's stored notification, one per socket; live: a topic or broadcast push, one per socket it was addressed to)",
            ),
            &["delivery"],
        )
        .expect("valid metric");
        for delivery in [Delivery::Stored, Delivery::Live] {
            notifications_delivered.with_label_values(&[delivery.label()]);
        }
        let notification_receipts = IntCounter::new(
            "switchboard_notification_receipts_total",
            "Stored notifications acknowledged by a client (delivery receipts)",
        )
        .expect("valid metric");
        let push_delivery = Histogram::with_opts(
            HistogramOpts::new(
                "switchboard_push_delivery_seconds",
                "Time from a push being accepted to its notification being emitted to a socket, live deliveries only (not a connecting socket's replay)",
            )
            .buckets(PUSH_DELIVERY_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "switchboard_build_info",
                "Always 1: the server's version (Cargo package), build profile and target",
            ),
            &["version", "profile", "target"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                },
                &format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            ])
            .set(1);
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
            Box::new(packets_out.clone()),
            Box::new(event_duration.clone()),
            Box::new(event_refusals.clone()),
            Box::new(connect_refusals.clone()),
            Box::new(pushes.clone()),
            Box::new(notifications_delivered.clone()),
            Box::new(notification_receipts.clone()),
            Box::new(push_delivery.clone()),
            Box::new(build_info.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self(Arc::new(MetricSet {
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
            packets_out,
            event_duration,
            event_refusals,
            connect_refusals,
            pushes,
            notifications_delivered,
            notification_receipts,
            push_delivery,
            build_info,
        }))
    }

    /// Creates the per-namespace series at zero, so a scrape shows every
    /// namespace before its first connection.
    pub fn register_namespace(&self, ns: &str) {
        self.sockets_connected.with_label_values(&[ns]);
        self.events_in.with_label_values(&[ns]);
        self.events_out.with_label_values(&[ns]);
        self.packets_out.with_label_values(&[ns]);
    }

    pub fn event_in(&self, ns: &str) {
        self.events_in.with_label_values(&[ns]).inc();
    }

    pub fn event_out(&self, ns: &str) {
        self.events_out.with_label_values(&[ns]).inc();
    }

    /// The hook given to socketioxide (`SocketIoBuilder::on_packet_sent`,
    /// fork entry 17) that counts `switchboard_packets_sent_total`.
    ///
    /// Why in the fork and not at Switchboard's broadcast sites: a broadcast
    /// reaches sockets Switchboard never sees one by one. On a cluster the
    /// adapter delivers another node's broadcasts to this node's sockets, and
    /// the Redis emitter listener delivers a Node backend's; counting local
    /// room members before an emit would miss those, count a member whose
    /// buffer refused the packet, and need a room lookup per broadcast.
    /// socketioxide queues every packet for one socket through a few
    /// functions of `Socket`, so the hook there counts each packet once, on
    /// the node whose client receives it, whatever sent it.
    pub fn packet_sent_hook(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let packets = self.packets_out.clone();
        move |ns| packets.with_label_values(&[ns]).inc()
    }

    /// Records one client event handled: `started` is its arrival, and
    /// `refused` the code it was refused with, if it was.
    pub fn event_handled(
        &self,
        ns: &str,
        event: &str,
        started: std::time::Instant,
        refused: Option<ErrorCode>,
    ) {
        self.event_duration
            .with_label_values(&[ns, event])
            .observe(started.elapsed().as_secs_f64());
        if let Some(code) = refused {
            self.event_refusals
                .with_label_values(&[ns, code.as_str()])
                .inc();
        }
    }

    /// Counts a connection to `ns` refused with `code` (`unauthorized`,
    /// `rate_limited`, ...).
    pub fn connect_refused(&self, ns: &str, code: &str) {
        self.connect_refusals.with_label_values(&[ns, code]).inc();
    }

    /// Counts a push accepted for `target` (`users`, `topic`, `broadcast`).
    pub fn push_accepted(&self, target: &str) {
        self.pushes.with_label_values(&[target]).inc();
    }

    /// Counts `sockets` notifications emitted by `delivery`.
    pub fn notifications_delivered(&self, delivery: Delivery, sockets: u64) {
        self.notifications_delivered
            .with_label_values(&[delivery.label()])
            .inc_by(sockets);
    }

    /// Records how long a push took from being accepted to being emitted.
    pub fn push_delivered_after(&self, latency: Duration) {
        self.push_delivery.observe(latency.as_secs_f64());
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
