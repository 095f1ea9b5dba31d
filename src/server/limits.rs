//! Connection caps: open TCP connections per node (`--max-connections`) and
//! per client address (`--max-connections-per-ip`), the client address behind
//! a trusted proxy (`--trusted-proxies`, `X-Forwarded-For`), and the fit of the
//! node cap under the process's open-file limit.
//!
//! What is counted where:
//!
//! - **Node cap**: every accepted TCP connection, for as long as its socket is
//!   open (an upgraded WebSocket included). At the cap, a new connection takes
//!   the place of the one that has been idle longest (no request in flight:
//!   waiting for its first request or its next one), which is closed; so a
//!   flood of idle connections cannot keep `/healthz` or any client that sends
//!   its request out. When none is idle (every place a WebSocket or a request
//!   in flight), the new connection is closed at once, before anything is read
//!   from it.
//! - **Per-address cap, direct clients** (the TCP peer is not a trusted
//!   proxy): the peer's open TCP connections; one past the cap is closed at
//!   once.
//! - **Per-address cap, behind a trusted proxy**: the proxy's TCP connections
//!   carry many clients (and nginx pools them), so they are not counted per
//!   address. Each request is instead counted under the client address that
//!   `X-Forwarded-For` names, while it is in flight (a held long-polling GET
//!   included) and, for a WebSocket upgrade, for as long as the WebSocket is
//!   open. One past the cap gets 503.
//!
//! IPv4 addresses count one by one (an IPv4-mapped IPv6 address as its IPv4
//! one), IPv6 addresses per /64 (one host usually has a whole /64).

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::http::HeaderMap;
use ipnet::IpNet;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio_util::sync::CancellationToken;

use crate::{
    http::client_addr::{self, address_key},
    metrics::Metrics,
};

/// The `limit` label of a refused connection in `switchboard_limit_hits_total`.
pub const NODE_LIMIT: &str = "connections";
/// The `limit` label of a connection or request refused for its address.
pub const PER_IP_LIMIT: &str = "connections_per_ip";

/// Open files kept for everything that is not a client connection (the
/// listener, the store's files and pool, Redis, the runtime, and the
/// connections accepted past a cap before they are closed).
const FD_RESERVE: u64 = 128;

/// How far past the node cap connections may be admitted while the idle
/// connections they replace are still closing (within [`FD_RESERVE`]).
const EVICTION_SLACK: usize = 64;

/// The caps and the live counts behind them; one per server.
pub struct Limits {
    max_connections: usize,
    max_per_ip: usize,
    trusted: Vec<IpNet>,
    open: AtomicUsize,
    /// Open connections (direct) plus requests in flight and WebSockets
    /// (behind a trusted proxy), by client address key.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Connections with no request in flight, oldest first.
    idle: Mutex<IdleQueue>,
    metrics: Metrics,
    node_log: Throttle,
    per_ip_log: Throttle,
}

/// Idle connections by the order they became idle; closing one is
/// cancelling its token.
#[derive(Default)]
struct IdleQueue {
    next: u64,
    by_age: BTreeMap<u64, CancellationToken>,
}

/// Why a connection or request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Node,
    PerIp,
}

/// Holds a connection's place under the node cap (and, for a direct client,
/// under its address's cap) until dropped.
pub struct ConnectionPermit {
    limits: Arc<Limits>,
    _ip: Option<IpSlot>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One place under a client address's cap, given back when dropped.
pub struct IpSlot {
    limits: Arc<Limits>,
    key: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self.limits.per_ip.lock().expect("per-ip counts");
        if let Some(count) = per_ip.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.key);
            }
        }
    }
}

impl Limits {
    pub fn new(
        max_connections: usize,
        max_per_ip: usize,
        trusted: Vec<IpNet>,
        metrics: Metrics,
    ) -> Self {
        // The series exist from the start, so a dashboard shows zero.
        metrics.limit_hits.with_label_values(&[NODE_LIMIT]);
        metrics.limit_hits.with_label_values(&[PER_IP_LIMIT]);
        Self {
            max_connections,
            max_per_ip,
            trusted,
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            idle: Mutex::default(),
            metrics,
            node_log: Throttle::default(),
            per_ip_log: Throttle::default(),
        }
    }

    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Admits a just-accepted TCP connection from `peer` (at the node cap,
    /// in place of the longest idle connection, which is told to close), or
    /// says which cap refuses it (counted and logged here).
    pub fn admit_connection(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let ip = if self.is_trusted(peer) {
            None
        } else {
            match self.take_ip_slot(peer) {
                Some(slot) => Some(slot),
                None => {
                    self.refused(Refusal::PerIp, peer);
                    return Err(Refusal::PerIp);
                }
            }
        };
        let open = self.open.fetch_add(1, Ordering::AcqRel);
        // From here the permit gives the node place back, whatever happens.
        let permit = ConnectionPermit {
            limits: self.clone(),
            _ip: ip,
        };
        if open >= self.max_connections {
            let replaced =
                open < self.max_connections + EVICTION_SLACK && self.close_longest_idle();
            self.refused(Refusal::Node, peer);
            if !replaced {
                return Err(Refusal::Node);
            }
        }
        Ok(permit)
    }

    /// Puts a connection that has no request in flight at the end of the
    /// idle queue; `cancel` closes it. Returns its place, for [`Self::busy`].
    pub fn idle(&self, cancel: CancellationToken) -> u64 {
        let mut idle = self.idle.lock().expect("idle queue");
        let place = idle.next;
        idle.next += 1;
        idle.by_age.insert(place, cancel);
        place
    }

    /// Takes a connection out of the idle queue (a request began, or it closed).
    pub fn busy(&self, place: u64) {
        self.idle.lock().expect("idle queue").by_age.remove(&place);
    }

    fn close_longest_idle(&self) -> bool {
        let longest = self.idle.lock().expect("idle queue").by_age.pop_first();
        match longest {
            Some((_, cancel)) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether requests from `peer` are counted per request by their
    /// `X-Forwarded-For` address (the peer is a trusted proxy).
    pub fn counts_requests_from(&self, peer: IpAddr) -> bool {
        self.is_trusted(peer)
    }

    /// Admits a request that a trusted proxy at `peer` forwarded, counted
    /// under the client its `X-Forwarded-For` names; `Err` past that
    /// address's cap (counted and logged here).
    pub fn admit_forwarded(
        self: &Arc<Self>,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Result<IpSlot, Refusal> {
        let client = self.forwarded_client(peer, headers);
        self.take_ip_slot(client).ok_or_else(|| {
            self.refused(Refusal::PerIp, client);
            Refusal::PerIp
        })
    }

    /// The client of a request from the trusted proxy `peer`
    /// ([`client_addr::forwarded_client`]).
    pub fn forwarded_client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_addr::forwarded_client(headers, peer, &self.trusted)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        client_addr::is_trusted(ip, &self.trusted)
    }

    fn take_ip_slot(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let key = address_key(ip);
        let mut per_ip = self.per_ip.lock().expect("per-ip counts");
        let count = per_ip.entry(key).or_insert(0);
        if *count >= self.max_per_ip {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            limits: self.clone(),
            key,
        })
    }

    /// Counts a refusal, and logs it unless its log line came less than an
    /// interval ago (a flood must not flood the log too).
    fn refused(&self, refusal: Refusal, client: IpAddr) {
        let (limit, log) = match refusal {
            Refusal::Node => (NODE_LIMIT, &self.node_log),
            Refusal::PerIp => (PER_IP_LIMIT, &self.per_ip_log),
        };
        self.metrics.limit_hit(limit);
        let Some(refused) = log.hit() else {
            return;
        };
        match refusal {
            Refusal::Node => tracing::warn!(
                limit,
                max_connections = self.max_connections,
                refused,
                "--max-connections reached: idle connections closed for new ones, or new ones refused (one line per 10 s at most)"
            ),
            Refusal::PerIp => tracing::warn!(
                limit,
                max_connections_per_ip = self.max_per_ip,
                client = %client,
                refused,
                "connections refused: --max-connections-per-ip reached (one line per 10 s at most; `client` is the last one)"
            ),
        }
    }
}

/// Lets one log line through per interval and counts the events it stands for.
pub struct Throttle {
    interval: Duration,
    next: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::every(Duration::from_secs(10))
    }
}

impl Throttle {
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            next: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// One more event: `Some(events since the last line, this one included)`
    /// when it is time for a line, `None` otherwise.
    pub fn hit(&self) -> Option<u64> {
        let now = Instant::now();
        let mut next = self.next.lock().expect("throttle");
        if next.is_some_and(|at| now < at) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *next = Some(now + self.interval);
        Some(self.suppressed.swap(0, Ordering::Relaxed) + 1)
    }
}

/// The node cap that fits under the open-file limit: raises the soft limit
/// towards the hard one when `wanted` connections and a reserve do not fit,
/// and lowers the cap (with a warning) when they still do not.
pub fn fit_open_file_limit(wanted: usize) -> usize {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let Some(mut soft) = current else {
        return wanted; // unlimited
    };
    let needed = (wanted as u64).saturating_add(FD_RESERVE);
    if soft < needed {
        let target = maximum.map_or(needed, |hard| hard.min(needed));
        if target > soft {
            match setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(target),
                    maximum,
                },
            ) {
                Ok(()) => {
                    tracing::info!(
                        from = soft,
                        to = target,
                        "raised the open-file limit (RLIMIT_NOFILE) for --max-connections"
                    );
                    soft = target;
                }
                Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
            }
        }
    }
    let reserve = FD_RESERVE.min(soft / 2);
    let fits = usize::try_from(soft - reserve).unwrap_or(usize::MAX).max(1);
    if fits < wanted {
        tracing::warn!(
            max_connections = wanted,
            lowered_to = fits,
            open_file_limit = soft,
            "--max-connections lowered to fit the open-file limit with headroom; raise the limit (ulimit -n, systemd LimitNOFILE=) to allow more"
        );
        return fits;
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize, trusted: &[&str]) -> Arc<Limits> {
        Arc::new(Limits::new(
            max,
            per_ip,
            trusted.iter().map(|n| n.parse().unwrap()).collect(),
            Metrics::new(),
        ))
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let limits = limits(10, 10, &["127.0.0.1/32", "10.0.0.0/8"]);
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(limits.forwarded_client(proxy, &xff(&[])), proxy);
        for &(headers, client) in crate::http::client_addr::FORWARDED {
            let client: IpAddr = client.parse().unwrap();
            assert_eq!(
                limits.forwarded_client(proxy, &xff(headers)),
                client,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn caps_count_and_give_back() {
        let limits = limits(3, 2, &["127.0.0.1/32"]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let b_same_64: IpAddr = "2001:db8::ffff".parse().unwrap();
        let a1 = limits.admit_connection(a).unwrap();
        let a2 = limits.admit_connection(a).unwrap();
        assert_eq!(limits.admit_connection(a).err(), Some(Refusal::PerIp));
        let _b1 = limits.admit_connection(b).unwrap();
        assert_eq!(
            limits.admit_connection(b_same_64).err(),
            Some(Refusal::Node)
        );
        drop(a1);
        let _b2 = limits.admit_connection(b_same_64).unwrap();
        drop(a2);
        // Another address of the same /64 counts with the first two.
        assert_eq!(limits.admit_connection(b).err(), Some(Refusal::PerIp));
        assert_eq!(limits.open.load(Ordering::Acquire), 2);
        // A trusted proxy's connections count under the node cap only.
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let _p1 = limits.admit_connection(proxy).unwrap();
        assert!(limits.per_ip.lock().unwrap().get(&proxy).is_none());
        let one = limits
            .admit_forwarded(proxy, &xff(&["198.51.100.1"]))
            .unwrap();
        let _two = limits
            .admit_forwarded(proxy, &xff(&["198.51.100.1"]))
            .unwrap();
        assert!(
            limits
                .admit_forwarded(proxy, &xff(&["198.51.100.1"]))
                .is_err()
        );
        let _other = limits
            .admit_forwarded(proxy, &xff(&["198.51.100.2"]))
            .unwrap();
        drop(one);
        let _three = limits
            .admit_forwarded(proxy, &xff(&["198.51.100.1"]))
            .unwrap();
        let metrics = limits.metrics.render();
        assert!(metrics.contains(r#"switchboard_limit_hits_total{limit="connections"} 1"#));
        assert!(metrics.contains(r#"switchboard_limit_hits_total{limit="connections_per_ip"} 3"#));
    }

    #[test]
    fn at_the_node_cap_the_longest_idle_connection_makes_room() {
        let limits = limits(2, 10, &[]);
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let (first, second) = (CancellationToken::new(), CancellationToken::new());
        let _c1 = limits.admit_connection(peer).unwrap();
        let first_place = limits.idle(first.clone());
        let _c2 = limits.admit_connection(peer).unwrap();
        let second_place = limits.idle(second.clone());
        let c3 = limits.admit_connection(peer).unwrap();
        assert!(first.is_cancelled() && !second.is_cancelled());
        // The closed one's place is given back once it is gone.
        limits.busy(first_place);
        drop(_c1);
        drop(c3);
        // Nothing idle: refused.
        let _c4 = limits.admit_connection(peer).unwrap();
        limits.busy(second_place);
        assert_eq!(limits.admit_connection(peer).err(), Some(Refusal::Node));
        assert!(!second.is_cancelled());
        let metrics = limits.metrics.render();
        assert!(metrics.contains(r#"switchboard_limit_hits_total{limit="connections"} 2"#));
    }

    #[test]
    fn a_throttle_lets_one_line_through_per_interval() {
        let throttle = Throttle::every(Duration::from_secs(60));
        assert_eq!(throttle.hit(), Some(1));
        assert_eq!(throttle.hit(), None);
        assert_eq!(throttle.hit(), None);
        *throttle.next.lock().unwrap() = Some(Instant::now());
        assert_eq!(throttle.hit(), Some(3));
    }
}
