//! `server_stats`, every [`STATS_EVERY`] from every node to every `/admin`
//! socket (and to a new one at once): the node (`serverId` is its host name
//! and process id, distinct on one host), its uptime, its clients (Engine.IO
//! sessions with a socket in some namespace; how many of them poll), its
//! namespaces with their sockets on this node, and the reference's
//! `aggregatedEvents`: per second, the sessions opened and closed (by
//! reason), and the events received and sent with their bytes.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Serialize;
use socketioxide::{SocketIo, TransportType, adapter::Adapter, socket::DisconnectReason};

use super::{Admin, NAMESPACE, sockets};
use crate::{protocol::now_ms, tasks::Tasks};

/// How often each node sends its `server_stats` (the reference's period).
pub const STATS_EVERY: Duration = Duration::from_secs(2);
/// Seconds of aggregated events kept when nobody takes them.
const KEEP_SECONDS: usize = 60;

/// What identifies this node.
pub struct Node {
    pub server_id: String,
    pub hostname: String,
    pub pid: u32,
    started: Instant,
}

impl Node {
    pub fn here(started: Instant) -> Self {
        let hostname = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let pid = std::process::id();
        Self {
            server_id: format!("{hostname}#{pid}"),
            hostname,
            pid,
            started,
        }
    }
}

/// The reference's `NamespaceEvent`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Aggregated {
    /// The second it counts (ms since the epoch, a multiple of 1000).
    pub timestamp: i64,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    pub count: u64,
}

/// An aggregated event's second, type and subtype.
type Bucket = (i64, &'static str, Option<String>);

/// The counts of the aggregated events, and the sessions they are counted
/// by (how many namespace sockets each has).
#[derive(Default)]
pub struct Counters {
    buckets: Mutex<BTreeMap<Bucket, u64>>,
    sessions: Mutex<HashMap<usize, u32>>,
}

impl Counters {
    fn add(&self, kind: &'static str, sub_type: Option<String>, count: u64) {
        let second = now_ms() / 1000 * 1000;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *buckets.entry((second, kind, sub_type)).or_default() += count;
        let oldest = second - 1000 * KEEP_SECONDS as i64;
        while buckets
            .first_key_value()
            .is_some_and(|((at, _, _), _)| *at < oldest)
        {
            buckets.pop_first();
        }
    }

    /// A socket of session `session` connected: the session's first counts
    /// as a connection.
    pub fn socket_opened(&self, session: usize) {
        let first = {
            let mut sessions = self
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let count = sessions.entry(session).or_default();
            *count += 1;
            *count == 1
        };
        if first {
            self.add("rawConnection", None, 1);
        }
    }

    /// A socket of session `session` left: the session's last counts as a
    /// disconnection, by `reason`.
    pub fn socket_closed(&self, session: usize, reason: DisconnectReason) {
        let last = {
            let mut sessions = self
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match sessions.get_mut(&session) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    sessions.remove(&session);
                    true
                }
                None => false,
            }
        };
        if last {
            self.add(
                "rawDisconnection",
                Some(sockets::reason_text(reason).to_owned()),
                1,
            );
        }
    }

    pub fn packet_in(&self, bytes: usize) {
        self.add("packetsIn", None, 1);
        self.add("bytesIn", None, bytes as u64);
    }

    pub fn packet_out(&self, bytes: usize) {
        self.add("packetsOut", None, 1);
        self.add("bytesOut", None, bytes as u64);
    }

    /// The counts so far, emptied.
    fn take(&self) -> Vec<Aggregated> {
        let buckets = std::mem::take(
            &mut *self
                .buckets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        buckets
            .into_iter()
            .map(|((timestamp, kind, sub_type), count)| Aggregated {
                timestamp,
                kind,
                sub_type,
                count,
            })
            .collect()
    }
}

/// One namespace in `server_stats`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceDetails {
    pub name: String,
    pub sockets_count: usize,
}

/// The reference's `server_stats`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStats {
    pub server_id: String,
    pub hostname: String,
    pub pid: u32,
    /// Seconds since the server started.
    pub uptime: f64,
    pub clients_count: usize,
    pub polling_clients_count: usize,
    pub aggregated_events: Vec<Aggregated>,
    pub namespaces: Vec<NamespaceDetails>,
}

/// This node's stats now; `drain` takes the aggregated events counted since
/// the last drain (otherwise none are sent: a new `/admin` socket's first
/// stats leave them to the next round, which every socket gets).
pub fn snapshot<A: Adapter>(admin: &Admin<A>, io: &SocketIo<A>, drain: bool) -> ServerStats {
    let inner = &admin.inner;
    let mut sessions: HashMap<usize, bool> = HashMap::new();
    let mut namespaces = Vec::new();
    for ns in io.nsps() {
        let name = ns.ns_path().to_owned();
        let sockets = ns.sockets();
        for socket in &sockets {
            let polling = socket.transport_type() == TransportType::Polling;
            sessions.insert(sockets::session_key(socket), polling);
        }
        namespaces.push(NamespaceDetails {
            name,
            sockets_count: sockets.len(),
        });
    }
    namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    let polling = sessions.values().filter(|polling| **polling).count();
    ServerStats {
        server_id: inner.node.server_id.clone(),
        hostname: inner.node.hostname.clone(),
        pid: inner.node.pid,
        uptime: inner.node.started.elapsed().as_secs_f64(),
        clients_count: sessions.len(),
        polling_clients_count: polling,
        aggregated_events: if drain {
            inner.counters.take()
        } else {
            Vec::new()
        },
        namespaces,
    }
}

/// Sends this node's stats to every `/admin` socket every [`STATS_EVERY`],
/// until the shutdown; on a cluster it also tells the other nodes that an
/// `/admin` socket is here, so that they report to it.
pub fn spawn<A: Adapter>(admin: Admin<A>, tasks: &Tasks) {
    let stopping = tasks.stopping();
    tasks.spawn(async move {
        let run = async {
            let mut every = tokio::time::interval(STATS_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(io) = admin.io() else {
                    continue;
                };
                if let Some(cluster) = &admin.inner.cluster
                    && admin.inner.feed.watched_here()
                {
                    cluster.announce_watching().await;
                }
                if !admin.inner.feed.watched() {
                    // Nobody to tell: the counts of a minute are kept.
                    continue;
                }
                let stats = snapshot(&admin, io, true);
                if let Some(admins) = io.of(NAMESPACE)
                    && let Err(e) = admins.emit("server_stats", &stats).await
                {
                    tracing::debug!("server_stats not sent: {e}");
                }
            }
        };
        tokio::select! {
            () = run => {}
            () = stopping => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_counts_once_however_many_namespaces_it_joins() {
        let counters = Counters::default();
        counters.socket_opened(7);
        counters.socket_opened(7);
        counters.socket_closed(7, DisconnectReason::ClientNSDisconnect);
        counters.socket_closed(7, DisconnectReason::TransportClose);
        counters.packet_in(10);
        let taken = counters.take();
        let count = |kind: &str| -> u64 {
            taken
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| a.count)
                .sum()
        };
        assert_eq!(count("rawConnection"), 1);
        assert_eq!(count("rawDisconnection"), 1);
        assert_eq!(count("bytesIn"), 10);
        let reasons: Vec<_> = taken.iter().filter_map(|a| a.sub_type.clone()).collect();
        assert_eq!(reasons, ["transport close"]);
        assert!(counters.take().is_empty());
    }
}
