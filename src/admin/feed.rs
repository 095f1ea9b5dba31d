//! The live events of the Admin UI, from one task per node: the reports of
//! the [tap](super::tap) become `socket_connected`, `socket_disconnected`,
//! `event_received` and `event_sent` for every `/admin` socket of the
//! cluster (through the adapter), the room scan finds `room_joined`,
//! `room_left` and the `socket_updated` of a transport upgrade, and a new
//! `/admin` socket gets its `all_sockets` here too, so that it is in step
//! with what the others were told.
//!
//! Only while somebody watches ([`Feed::watched`]: an `/admin` socket on
//! this node or, on a cluster, on another node lately) is anything reported
//! or scanned. Sockets' connects and disconnects wait in an unbounded queue
//! (each is one connect or disconnect of a client, and losing one would
//! leave the UI wrong); events in a bounded one ([`EVENT_QUEUE`]): past it
//! they are dropped and counted, the namespaces never wait for the UI.
//!
//! The scan: every socket notes the rooms and transport last reported of it
//! ([`Seen`], in its extensions); every [`SCAN_EVERY`] (and right after an
//! action) the task compares each local socket with its note and reports
//! the difference.

use std::{
    collections::BTreeSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use socketioxide::{
    SocketIo, adapter::Adapter, extract::SocketRef, handler::Value, socket::DisconnectReason,
    socket::Sid, socket::Socket,
};
use tokio::sync::{Notify, mpsc};

use super::{
    Admin, NAMESPACE, packet,
    sockets::{self, Described},
};
use crate::{protocol::now_ms, tasks::Tasks};

/// How often the rooms and transports of the sockets are compared with what
/// was reported of them.
pub const SCAN_EVERY: Duration = Duration::from_millis(500);
/// Events waiting for the task before new ones are dropped.
pub const EVENT_QUEUE: usize = 8192;
/// The most sockets `all_sockets` lists (about 1 KB each: the list must fit
/// the default `--max-buffered-bytes` of 4 MiB); sockets past it show as
/// they connect.
pub const MAX_LISTED: usize = 2000;

/// What the tap hands the task.
pub enum Report {
    Connected(Box<Described>),
    Disconnected {
        ns: String,
        sid: Sid,
        reason: DisconnectReason,
        at: i64,
    },
    Received {
        ns: String,
        sid: Sid,
        data: Value,
        at: i64,
    },
    Sent {
        ns: String,
        sid: Sid,
        data: Value,
        at: i64,
    },
}

/// The rooms and transport last reported of a socket (in its extensions, as
/// `Arc<Mutex<Seen>>`).
pub struct Seen {
    rooms: BTreeSet<String>,
    transport: &'static str,
}

impl Seen {
    pub fn of<A: Adapter>(socket: &Socket<A>) -> Self {
        Self {
            rooms: sockets::rooms(socket),
            transport: sockets::transport_name(socket.transport_type()),
        }
    }
}

/// Who watches, and the queues to the task.
pub struct Feed<A: Adapter> {
    /// `/admin` sockets on this node.
    local_admins: AtomicUsize,
    /// Until when (ms since the epoch) another node said an `/admin` socket
    /// is on it.
    remote_until: AtomicI64,
    reports: mpsc::UnboundedSender<Report>,
    events: mpsc::Sender<Report>,
    jobs: mpsc::UnboundedSender<Job<A>>,
    /// Taken by the task when it starts.
    receivers: Mutex<Option<Receivers<A>>>,
    /// Asks for a scan now (after an action).
    rescan: Notify,
    /// Events dropped since the last warning.
    dropped: AtomicU64,
}

struct Receivers<A: Adapter> {
    reports: mpsc::UnboundedReceiver<Report>,
    events: mpsc::Receiver<Report>,
    jobs: mpsc::UnboundedReceiver<Job<A>>,
}

/// What the task does besides reporting.
enum Job<A: Adapter> {
    /// A new `/admin` socket's `all_sockets`.
    Welcome(SocketRef<A>),
    /// This node's sockets for another node's new `/admin` socket.
    Describe { node: String, request: u64 },
}

impl<A: Adapter> Feed<A> {
    pub fn new() -> Self {
        let (reports, reports_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        Self {
            local_admins: AtomicUsize::new(0),
            remote_until: AtomicI64::new(0),
            reports,
            events,
            jobs,
            receivers: Mutex::new(Some(Receivers {
                reports: reports_rx,
                events: events_rx,
                jobs: jobs_rx,
            })),
            rescan: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether any `/admin` socket can hear a report of this node's.
    pub fn watched(&self) -> bool {
        self.local_admins.load(Ordering::Relaxed) > 0
            || self.remote_until.load(Ordering::Relaxed) > now_ms()
    }

    /// Whether an `/admin` socket is on this node.
    pub fn watched_here(&self) -> bool {
        self.local_admins.load(Ordering::Relaxed) > 0
    }

    pub fn admin_joined(&self) {
        self.local_admins.fetch_add(1, Ordering::Relaxed);
    }

    pub fn admin_left(&self) {
        self.local_admins.fetch_sub(1, Ordering::Relaxed);
    }

    /// Another node has an `/admin` socket: report to it until `until`.
    pub fn watched_from_afar(&self, until: i64) {
        self.remote_until.fetch_max(until, Ordering::Relaxed);
    }

    pub fn report(&self, report: Report) {
        self.reports.send(report).ok();
    }

    pub fn event(&self, report: Report) {
        if self.events.try_send(report).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A new `/admin` socket: its `all_sockets` comes from the task.
    pub fn welcome(&self, socket: SocketRef<A>) {
        self.jobs.send(Job::Welcome(socket)).ok();
    }

    /// Node `node` asks for this node's sockets (request `request`).
    pub fn describe_for(&self, node: String, request: u64) {
        self.jobs.send(Job::Describe { node, request }).ok();
    }

    /// Scans now (after an action changed rooms).
    pub fn rescan(&self) {
        self.rescan.notify_one();
    }
}

impl<A: Adapter> Default for Feed<A> {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts the task of `admin`'s feed, until the shutdown.
pub fn spawn<A: Adapter>(admin: Admin<A>, tasks: &Tasks) {
    let Some(receivers) = admin
        .inner
        .feed
        .receivers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    else {
        return;
    };
    let stopping = tasks.stopping();
    tasks.spawn(async move {
        tokio::select! {
            () = run(admin, receivers) => {}
            () = stopping => {}
        }
    });
}

async fn run<A: Adapter>(admin: Admin<A>, mut receivers: Receivers<A>) {
    let Some(io) = admin.io().cloned() else {
        return;
    };
    let feed = &admin.inner.feed;
    let mut scan = tokio::time::interval(SCAN_EVERY);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warn = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            biased;
            Some(report) = receivers.reports.recv() => send(&io, report).await,
            Some(job) = receivers.jobs.recv() => {
                // Whatever changed is reported first, so that the list and
                // the events after it agree.
                scan_rooms(&io).await;
                let here = local_sockets(&admin, &io);
                match job {
                    Job::Welcome(socket) => welcome(&admin, socket, here),
                    Job::Describe { node, request } => {
                        if let Some(cluster) = &admin.inner.cluster {
                            cluster.answer(node, request, here).await;
                        }
                    }
                }
            }
            Some(report) = receivers.events.recv() => send(&io, report).await,
            () = feed.rescan.notified() => {
                if feed.watched() {
                    scan_rooms(&io).await;
                }
            }
            _ = scan.tick() => {
                if feed.watched() {
                    scan_rooms(&io).await;
                }
            }
            _ = warn.tick() => {
                let dropped = feed.dropped.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    tracing::warn!(dropped, "admin UI events dropped: the feed could not keep up");
                }
            }
            else => return,
        }
    }
}

/// Emits `event` with `args` to every `/admin` socket (of every node).
async fn to_admins<A: Adapter, T: Serialize + ?Sized>(io: &SocketIo<A>, event: &str, args: &T) {
    let Some(admins) = io.of(NAMESPACE) else {
        return;
    };
    if let Err(e) = admins.emit(event, args).await {
        tracing::debug!("admin UI event {event} not sent: {e}");
    }
}

async fn send<A: Adapter>(io: &SocketIo<A>, report: Report) {
    match report {
        Report::Connected(described) => {
            let at = sockets::time_text(described.handshake.issued);
            to_admins(io, "socket_connected", &(&*described, at)).await;
        }
        Report::Disconnected {
            ns,
            sid,
            reason,
            at,
        } => {
            // A restored session's socket took the id meanwhile: the UI
            // keeps showing it (it knows sockets by id).
            let replaced = io
                .of(&ns)
                .and_then(|op| op.get_socket(sid))
                .is_some_and(|socket| socket.connected());
            if !replaced {
                let reason = sockets::reason_text(reason);
                to_admins(
                    io,
                    "socket_disconnected",
                    &(ns, sid.to_string(), reason, sockets::time_text(at)),
                )
                .await;
            }
        }
        Report::Received { ns, sid, data, at } => {
            if let Some(args) = packet::args(&data) {
                to_admins(
                    io,
                    "event_received",
                    &(ns, sid.to_string(), args, sockets::time_text(at)),
                )
                .await;
            }
        }
        Report::Sent { ns, sid, data, at } => {
            if let Some(args) = packet::args(&data) {
                to_admins(
                    io,
                    "event_sent",
                    &(ns, sid.to_string(), args, sockets::time_text(at)),
                )
                .await;
            }
        }
    }
}

/// What a scan found of one socket.
enum Change {
    Joined(String),
    Left(String),
    Transport(&'static str),
}

/// Compares every local socket's rooms and transport with its [`Seen`] and
/// reports the differences.
async fn scan_rooms<A: Adapter>(io: &SocketIo<A>) {
    let mut changes: Vec<(String, Sid, Change)> = Vec::new();
    for ns in io.nsps() {
        for socket in ns.sockets() {
            let Some(seen) = socket.extensions.get::<Arc<Mutex<Seen>>>() else {
                continue;
            };
            let now = Seen::of(&socket);
            let mut seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let path = socket.ns().to_owned();
            for room in now.rooms.difference(&seen.rooms) {
                changes.push((path.clone(), socket.id, Change::Joined(room.clone())));
            }
            for room in seen.rooms.difference(&now.rooms) {
                changes.push((path.clone(), socket.id, Change::Left(room.clone())));
            }
            if now.transport != seen.transport {
                changes.push((path.clone(), socket.id, Change::Transport(now.transport)));
            }
            *seen = now;
        }
    }
    let at = sockets::time_text(now_ms());
    for (ns, sid, change) in changes {
        let id = sid.to_string();
        match change {
            Change::Joined(room) => to_admins(io, "room_joined", &(ns, room, id, &at)).await,
            Change::Left(room) => to_admins(io, "room_left", &(ns, room, id, &at)).await,
            Change::Transport(transport) => {
                #[derive(Serialize)]
                struct Updated<'a> {
                    id: String,
                    nsp: String,
                    transport: &'a str,
                }
                let updated = Updated {
                    id,
                    nsp: ns,
                    transport,
                };
                to_admins(io, "socket_updated", &updated).await;
            }
        }
    }
}

/// Sends `socket` its `all_sockets`: `here`, and on a cluster what the
/// other nodes answer (waited for in a task of its own, so that this node's
/// reports go on meanwhile).
fn welcome<A: Adapter>(admin: &Admin<A>, socket: SocketRef<A>, mut here: Vec<Described>) {
    if admin.inner.cluster.is_none() {
        send_list(&socket, here);
        return;
    }
    let asking = admin.clone();
    admin.spawn(async move {
        if let Some(cluster) = &asking.inner.cluster {
            here.extend(cluster.remote_sockets().await);
        }
        send_list(&socket, here);
    });
}

/// Sends `all_sockets`: at most [`MAX_LISTED`] of them (one event, which
/// must fit the session's outgoing byte budget).
fn send_list<A: Adapter>(socket: &SocketRef<A>, mut all: Vec<Described>) {
    if all.len() > MAX_LISTED {
        tracing::warn!(
            sockets = all.len(),
            listed = MAX_LISTED,
            "the Admin UI lists only part of the sockets"
        );
        all.truncate(MAX_LISTED);
    }
    if let Err(e) = socket.emit("all_sockets", &all) {
        tracing::warn!(socket_id = %socket.id, "all_sockets not sent: {e}");
    }
}

/// This node's sockets, described.
pub fn local_sockets<A: Adapter>(admin: &Admin<A>, io: &SocketIo<A>) -> Vec<Described> {
    let trusted = &admin.settings().trusted_proxies;
    io.nsps()
        .into_iter()
        .flat_map(|ns| ns.sockets())
        .map(|socket| {
            let issued = socket
                .extensions
                .get::<sockets::Issued>()
                .map_or_else(now_ms, |issued| issued.0);
            sockets::describe(&socket, issued, trusted)
        })
        .collect()
}
