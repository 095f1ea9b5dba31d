//! Event and connect rate limits (governor token buckets) that reconnecting
//! cannot renew.
//!
//! An event is counted against two buckets, the narrower first:
//!
//! - **The socket's**, kept across reconnects: each Engine.IO session holds
//!   one pair of buckets per namespace ([`SessionTag`], which
//!   [`tag_sessions`] puts on the handshake request, the one socketioxide
//!   keeps for the whole session, whatever the transport). A socket that
//!   sends DISCONNECT then CONNECT on the same session gets the same buckets
//!   back, not fresh ones.
//! - **Its client address's**: every session of one address (IPv6: its /64;
//!   behind `--trusted-proxies`, the `X-Forwarded-For` client) draws from
//!   one bucket per namespace, `--address-rate-multiplier` times the
//!   socket's rate and burst. New connections do not renew it.
//!
//! Past either, the event is refused (`rate_limited`; echo drops it).
//! Refused events are counted against the socket's second bucket of the same
//! size, and when that is empty too the socket is flooding and disconnected:
//! a client that slows down when told never is. The socket's own bucket is
//! checked first, so one flooding socket takes no more of its address's
//! budget than its own rate.
//!
//! Namespace connects are limited per client address ([`ConnectLimit`],
//! `--connect-rate-limit`, every namespace together): past it the connect
//! gets `connect_error` `rate_limited`. Refused connects are counted against
//! the session's own bucket of the same rate and burst, and a session that
//! empties it too is flooding: its Engine.IO session is closed (every
//! namespace socket on it disconnected, the transport closed), so a client
//! spamming CONNECTs does not keep its connection, and the server's work on
//! it, for as long as it likes. socket.io-client never retries a refused
//! namespace by itself, so a real client is far from that.
//!
//! The limits are per node. Idle per-address buckets are dropped every
//! [`SWEEP_EVERY`], so memory follows the addresses seen recently.

use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc, LazyLock, Mutex, Once, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{extract::Request, middleware::Next, response::Response};
use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter, clock::DefaultClock,
};
use ipnet::IpNet;
use socketioxide::{
    adapter::Adapter,
    extract::{SocketRef, State},
};

use crate::{
    http::{
        client_addr::{address_key, client_ip, peer},
        session_request::opens_session,
    },
    metrics::Metrics,
    tasks::Tasks,
};

/// How often idle per-address buckets are dropped.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The `limit` label, in `switchboard_limit_hits_total`, of an event refused
/// by its address's bucket.
pub const ADDRESS_LIMIT: &str = "address_rate";
/// The `limit` label of a refused namespace connect.
pub const CONNECT_LIMIT: &str = "connect_rate";
/// The `limit` label of a session closed for flooding connects.
pub const CONNECT_FLOOD: &str = "connect_flood";

/// A quota of `per_second` with bursts of `burst` (at least the rate).
fn quota(per_second: u32, burst: u32) -> Quota {
    let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(per_second).max(per_second);
    Quota::per_second(per_second).allow_burst(burst)
}

/// A keyed limiter whose idle keys are dropped every [`SWEEP_EVERY`] (by a
/// task of `tasks` that ends with the limiter, or at shutdown).
fn keyed(quota: Quota, tasks: &Tasks) -> Arc<DefaultKeyedRateLimiter<IpAddr>> {
    let limiter = Arc::new(RateLimiter::keyed(quota));
    let weak = Arc::downgrade(&limiter);
    if tokio::runtime::Handle::try_current().is_ok() {
        let stopping = tasks.stopping();
        tasks.spawn(async move {
            let mut stopping = std::pin::pin!(stopping);
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.tick().await;
            loop {
                tokio::select! {
                    () = &mut stopping => return,
                    _ = every.tick() => {}
                }
                let Some(limiter) = weak.upgrade() else {
                    return;
                };
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
    }
    limiter
}

/// One namespace's event limit (cheap to clone): the quota of each socket,
/// the label its refusals count under, and the per-address buckets.
#[derive(Clone)]
pub struct RateLimit {
    inner: Arc<RateLimitInner>,
}

struct RateLimitInner {
    label: &'static str,
    quota: Quota,
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    metrics: Metrics,
}

impl RateLimit {
    /// `per_second` events per socket with bursts of `burst`, and
    /// `address_multiplier` times both per client address. Refusals by the
    /// socket's own bucket count under `label` in
    /// `switchboard_limit_hits_total`, by the address's under
    /// [`ADDRESS_LIMIT`].
    pub fn new(
        label: &'static str,
        per_second: u32,
        burst: u32,
        address_multiplier: u32,
        metrics: &Metrics,
        tasks: &Tasks,
    ) -> Self {
        let multiplier = address_multiplier.max(1);
        for limit in [label, ADDRESS_LIMIT] {
            metrics.limit_hits.with_label_values(&[limit]);
        }
        Self {
            inner: Arc::new(RateLimitInner {
                label,
                quota: quota(per_second, burst),
                per_address: keyed(
                    quota(
                        per_second.saturating_mul(multiplier),
                        burst.saturating_mul(multiplier),
                    ),
                    tasks,
                ),
                metrics: metrics.clone(),
            }),
        }
    }

    /// The limiter of a socket: its session's buckets for the socket's
    /// namespace (fresh ones the first time, or when the socket has no
    /// session tag) and its address's bucket (none when the address is
    /// unknown). [`admit_connect`] found both.
    pub fn for_socket<A: Adapter>(&self, socket: &SocketRef<A>) -> SocketLimiter {
        let client = socket.extensions.get::<Client>().unwrap_or_default();
        let own = match &client.session {
            Some(session) => session.0.buckets(socket.ns(), self.inner.quota),
            None => Arc::new(Buckets::new(self.inner.quota)),
        };
        SocketLimiter {
            limit: self.clone(),
            own,
            address: client.address,
        }
    }
}

/// What to do with one incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Answer `rate_limited` (echo: drop it).
    Refuse,
    /// Refuse and disconnect the socket.
    Flooding,
}

/// One socket's (session's, per namespace) pair of buckets.
struct Buckets {
    events: DefaultDirectRateLimiter,
    refusals: DefaultDirectRateLimiter,
}

impl Buckets {
    fn new(quota: Quota) -> Self {
        Self {
            events: direct(quota),
            refusals: direct(quota),
        }
    }
}

/// A bucket of its own on the process's one clock. `RateLimiter::direct`
/// makes a clock per bucket, and making a quanta clock queries the CPU
/// (`cpuid`): 5% of the server's time while sockets connect (perf, 10,000
/// WebSocket connects), for two buckets per socket.
fn direct(quota: Quota) -> DefaultDirectRateLimiter {
    static CLOCK: LazyLock<DefaultClock> = LazyLock::new(DefaultClock::default);
    RateLimiter::direct_with_clock(quota, CLOCK.clone())
}

/// One socket's limiter: its own buckets and its address's.
pub struct SocketLimiter {
    limit: RateLimit,
    own: Arc<Buckets>,
    address: Option<IpAddr>,
}

impl SocketLimiter {
    /// Takes one event from the socket's bucket, then its address's; a
    /// refusal is counted in `/metrics`.
    pub fn check(&self) -> Verdict {
        let inner = &self.limit.inner;
        let refused_by = if self.own.events.check().is_err() {
            Some(inner.label)
        } else if self
            .address
            .is_some_and(|ip| inner.per_address.check_key(&ip).is_err())
        {
            Some(ADDRESS_LIMIT)
        } else {
            None
        };
        let Some(limit) = refused_by else {
            return Verdict::Allow;
        };
        inner.metrics.limit_hit(limit);
        if self.own.refusals.check().is_ok() {
            Verdict::Refuse
        } else {
            Verdict::Flooding
        }
    }
}

/// One Engine.IO session's limit state, shared by all its namespace sockets
/// and kept across their reconnects.
#[derive(Default)]
pub struct SessionState {
    /// Per namespace path (a fixed, small set).
    buckets: Mutex<HashMap<String, Arc<Buckets>>>,
    /// Refused connects, made on the first refusal.
    connect_refusals: OnceLock<DefaultDirectRateLimiter>,
    /// Flooding connects: being closed, and refused any connect that is still
    /// read meanwhile (the rest of a polling POST, say).
    banned: AtomicBool,
}

impl SessionState {
    fn buckets(&self, ns: &str, quota: Quota) -> Arc<Buckets> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry(ns.to_owned())
            .or_insert_with(|| Arc::new(Buckets::new(quota)))
            .clone()
    }
}

/// The request extension that carries a session's [`SessionState`]: put on
/// every handshake request by [`tag_sessions`]; socketioxide keeps the
/// handshake request's parts for the session's whole life.
#[derive(Clone, Default)]
pub struct SessionTag(Arc<SessionState>);

/// Tower middleware before the Socket.IO layer: a fresh [`SessionTag`] on
/// every request that can open an Engine.IO session (one without `sid`).
/// Requests of an existing session (polls, posts, the upgrade) keep none:
/// the session has its handshake's.
pub async fn tag_sessions(mut request: Request, next: Next) -> Response {
    if opens_session(request.uri()) {
        request.extensions_mut().insert(SessionTag::default());
    }
    next.run(request).await
}

/// Who a socket is, for the limits: found by [`admit_connect`], kept in the
/// socket's extensions.
#[derive(Clone, Default)]
struct Client {
    session: Option<SessionTag>,
    /// The address key ([`address_key`]); `None` when the server did not say
    /// who the peer is.
    address: Option<IpAddr>,
}

impl Client {
    fn of<A: Adapter>(socket: &SocketRef<A>, trusted: &[IpNet]) -> Self {
        let parts = socket.req_parts();
        let address = match peer(parts) {
            Some(peer) => Some(address_key(client_ip(parts, peer.ip(), trusted))),
            None => {
                static MISSING: Once = Once::new();
                MISSING.call_once(|| {
                    tracing::warn!(
                        "no client address on Socket.IO requests (ConnectInfo<SocketAddr> missing): per-address limits are off"
                    );
                });
                None
            }
        };
        Self {
            session: parts.extensions.get::<SessionTag>().cloned(),
            address,
        }
    }
}

/// Namespace connects per client address, every namespace together
/// (socketioxide state, cheap to clone).
#[derive(Clone)]
pub struct ConnectLimit {
    inner: Arc<ConnectLimitInner>,
}

struct ConnectLimitInner {
    quota: Quota,
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trusted: Vec<IpNet>,
    metrics: Metrics,
}

impl ConnectLimit {
    /// `per_second` connects per client address, bursts of `burst`;
    /// `trusted` proxies name the client in `X-Forwarded-For`.
    pub fn new(
        per_second: u32,
        burst: u32,
        trusted: Vec<IpNet>,
        metrics: &Metrics,
        tasks: &Tasks,
    ) -> Self {
        for limit in [CONNECT_LIMIT, CONNECT_FLOOD] {
            metrics.limit_hits.with_label_values(&[limit]);
        }
        let quota = quota(per_second, burst);
        Self {
            inner: Arc::new(ConnectLimitInner {
                quota,
                per_address: keyed(quota, tasks),
                trusted,
                metrics: metrics.clone(),
            }),
        }
    }

    fn admit(&self, client: &Client) -> Result<(), Refusal> {
        let inner = &self.inner;
        let session = client.session.as_ref().map(|tag| &tag.0);
        if session.is_some_and(|s| s.banned.load(Ordering::Acquire)) {
            inner.metrics.limit_hit(CONNECT_LIMIT);
            return Err(Refusal::Flooding);
        }
        if client
            .address
            .is_none_or(|ip| inner.per_address.check_key(&ip).is_ok())
        {
            return Ok(());
        }
        inner.metrics.limit_hit(CONNECT_LIMIT);
        let Some(session) = session else {
            return Err(Refusal::Refuse);
        };
        let refusals = session.connect_refusals.get_or_init(|| direct(inner.quota));
        if refusals.check().is_ok() {
            return Err(Refusal::Refuse);
        }
        if !session.banned.swap(true, Ordering::AcqRel) {
            inner.metrics.limit_hit(CONNECT_FLOOD);
            tracing::warn!(
                client = ?client.address,
                "a session keeps connecting past its address's connect rate: closing it"
            );
        }
        Err(Refusal::Flooding)
    }
}

/// Why [`ConnectLimit::admit`] refused a connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Past the address's rate: answer `rate_limited`.
    Refuse,
    /// The session's refusals are past the rate too: answer `rate_limited`
    /// and close the session.
    Flooding,
}

/// A connect refused by [`ConnectLimit`]: the client's `connect_error`
/// message is the contract's code.
#[derive(Debug)]
pub struct RateLimited;

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rate_limited")
    }
}

/// Connect middleware of every namespace, run before the namespace's own:
/// finds the socket's session and client address (for [`RateLimit::for_socket`])
/// and applies the connect limit; closes a flooding session.
pub async fn admit_connect<A: Adapter>(
    socket: SocketRef<A>,
    State(limit): State<ConnectLimit>,
) -> Result<(), RateLimited> {
    let client = Client::of(&socket, &limit.inner.trusted);
    socket.extensions.insert(client.clone());
    let refusal = match limit.admit(&client) {
        Ok(()) => return Ok(()),
        Err(refusal) => refusal,
    };
    tracing::debug!(namespace = socket.ns(), client = ?client.address, "connect refused: rate_limited");
    if refusal == Refusal::Flooding {
        // Fork entry 13: ends the whole Engine.IO session, whatever else it
        // is connected to; the refusal below may not reach the client.
        socket.close_session();
    }
    limit
        .inner
        .metrics
        .connect_refused(socket.ns(), &RateLimited.to_string());
    Err(RateLimited)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(
        limit: &RateLimit,
        session: &SessionState,
        address: Option<IpAddr>,
    ) -> SocketLimiter {
        SocketLimiter {
            limit: limit.clone(),
            own: session.buckets("/chat", limit.inner.quota),
            address,
        }
    }

    #[test]
    fn a_burst_passes_then_refusals_then_flooding() {
        let limit = RateLimit::new("rate", 5, 10, 10, &Metrics::new(), &Tasks::default());
        let limiter = limiter(&limit, &SessionState::default(), None);
        let verdicts: Vec<Verdict> = (0..25).map(|_| limiter.check()).collect();
        assert!(
            verdicts[..10].iter().all(|v| *v == Verdict::Allow),
            "{verdicts:?}"
        );
        assert!(
            verdicts[10..20].iter().all(|v| *v == Verdict::Refuse),
            "{verdicts:?}"
        );
        assert!(
            verdicts[20..].iter().all(|v| *v == Verdict::Flooding),
            "{verdicts:?}"
        );
    }

    #[test]
    fn a_reconnected_socket_gets_its_session_buckets_back() {
        let limit = RateLimit::new("rate", 5, 10, 10, &Metrics::new(), &Tasks::default());
        let session = SessionState::default();
        let first = limiter(&limit, &session, None);
        assert!((0..10).all(|_| first.check() == Verdict::Allow));
        drop(first);
        let again = limiter(&limit, &session, None);
        assert_eq!(again.check(), Verdict::Refuse);
        // Another session starts full.
        let other = limiter(&limit, &SessionState::default(), None);
        assert_eq!(other.check(), Verdict::Allow);
    }

    #[test]
    fn sessions_of_one_address_share_its_bucket() {
        let metrics = Metrics::new();
        let limit = RateLimit::new("rate", 5, 10, 2, &metrics, &Tasks::default());
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let allowed: usize = (0..5)
            .map(|_| {
                let socket = limiter(&limit, &SessionState::default(), Some(ip));
                (0..10).filter(|_| socket.check() == Verdict::Allow).count()
            })
            .sum();
        assert_eq!(allowed, 20, "2 × the burst of 10");
        let elsewhere = limiter(
            &limit,
            &SessionState::default(),
            Some("198.51.100.2".parse().unwrap()),
        );
        assert_eq!(elsewhere.check(), Verdict::Allow);
        let shown = metrics.render();
        assert!(
            shown.contains(r#"switchboard_limit_hits_total{limit="address_rate"} 30"#),
            "{shown}"
        );
    }

    #[test]
    fn connects_past_the_rate_are_refused_then_the_session_is_flooding() {
        let metrics = Metrics::new();
        let limit = ConnectLimit::new(2, 4, Vec::new(), &metrics, &Tasks::default());
        let client = Client {
            session: Some(SessionTag::default()),
            address: Some("198.51.100.1".parse().unwrap()),
        };
        let results: Vec<Result<(), Refusal>> = (0..12).map(|_| limit.admit(&client)).collect();
        // The address's burst, then the session's burst of refusals, then
        // flooding (from then on, whatever the address's bucket says).
        let expected: Vec<Result<(), Refusal>> = [Ok(()); 4]
            .into_iter()
            .chain([Err(Refusal::Refuse); 4])
            .chain([Err(Refusal::Flooding); 4])
            .collect();
        assert_eq!(results, expected);
        let shown = metrics.render();
        assert!(
            shown.contains(r#"switchboard_limit_hits_total{limit="connect_flood"} 1"#),
            "{shown}"
        );
        // Another address is not affected.
        let other = Client {
            session: Some(SessionTag::default()),
            address: Some("198.51.100.2".parse().unwrap()),
        };
        assert!(limit.admit(&other).is_ok());
    }
}
