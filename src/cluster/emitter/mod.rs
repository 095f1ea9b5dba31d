//! Pushes from Node backends through @socket.io/redis-emitter 5.x: a node on
//! `--redis-url` listens on the channels the emitter publishes to and
//! delivers to its own sockets. Every node hears each publish, so each
//! socket gets it once, from its own node.
//!
//! - **Channels** ([`wire`]): for every namespace of the server, the pattern
//!   `socket.io#<nsp>#*` (broadcasts: the namespace's channel and its
//!   one-room channels) and the request channel `socket.io-request#<nsp>#`,
//!   subscribed as a pattern too (it names that channel alone): a channel
//!   subscription would count in `PUBSUB NUMSUB`, which socketioxide-redis
//!   reads as the number of nodes.
//! - **A connection of its own** (redis-rs `ConnectionManager`, RESP3,
//!   resubscribing after a reconnect, pinged every [`KEEPALIVE`] so that it
//!   notices an outage), so the emitter's traffic never holds up the
//!   adapter's. Redis delivers one connection's messages in publish order,
//!   and one task handles them in that order: a `socketsJoin` followed by an
//!   emit to the room reaches the sockets that just joined, as on Node.
//! - **Not socketioxide-redis's messages**: its broadcasts between our nodes
//!   travel on the request channel too, as msgpack; they are told apart by
//!   their first byte (the emitter's requests are JSON, `{`) and ignored
//!   before anything is copied. socketioxide-redis never publishes on the
//!   broadcast channels, so nothing is delivered twice. The other way round,
//!   socketioxide-redis hears the emitter's JSON requests on its channel,
//!   cannot read them and logs a warning for each; nothing else comes of it.
//! - **Delivery** with socketioxide's operators, `.local()`: this node's
//!   sockets only, nothing re-published. Rooms are a union, `except` wins,
//!   `volatile` is honoured (`compress` has nothing to act on: the WebSocket
//!   transport does not compress). A room that names one of this node's
//!   socket ids targets that socket, as on Node, where every socket is in
//!   the room of its id.
//! - **Bounds**: a message larger than `--max-payload` is dropped before it
//!   is queued; at most [`QUEUE_MESSAGES`] messages and [`QUEUE_BYTES`]
//!   bytes wait for the task; the rest are [`wire`]'s. A dropped message is
//!   logged (at most one warning per [`LOG_EVERY`], with the count since),
//!   counted in `switchboard_limit_hits_total{limit="redis_emitter"}`, and
//!   changes nothing.
//!
//! What is not done: `serverSideEmit` (Switchboard has no server-side
//! listeners; logged and ignored), the requests of Node servers' adapters
//! (socket queries, acks: a Node server on the same Redis and prefix waits
//! for answers that never come), and connection state recovery: an emitter
//! event is not recorded, so it carries no offset and is not replayed (see
//! docs/backend-push.md).

pub mod wire;

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use redis::{
    FromRedisValue, PushInfo, PushKind,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use socketioxide::{SocketIo, adapter::Adapter, extract::SocketRef, operators::BroadcastOperators};
use socketioxide_core::Sid;
use tokio::sync::mpsc;

use self::wire::{Broadcast, Refused, Request, Targets};
use crate::{config::ServeConfig, metrics::Metrics, tasks::Tasks};

/// Messages waiting for the delivery task before new ones are dropped.
pub const QUEUE_MESSAGES: usize = 1024;
/// Bytes of messages waiting for the delivery task before new ones are
/// dropped.
pub const QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// How often the connection is pinged (a ping that fails reconnects it).
pub const KEEPALIVE: Duration = Duration::from_secs(2);
/// At most one warning about dropped messages this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long one Redis command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The `limit` label of dropped messages in `switchboard_limit_hits_total`.
const LIMIT: &str = "redis_emitter";

/// What the listener takes from the settings.
pub struct Settings {
    /// Largest message read (`--max-payload`).
    pub max_message_bytes: usize,
    /// The namespaces with connection state recovery (for the start line).
    pub recovering: Vec<String>,
}

impl Settings {
    pub fn from_config(config: &ServeConfig) -> Self {
        Self {
            max_message_bytes: usize::try_from(config.max_payload).unwrap_or(usize::MAX),
            recovering: config.recovery_namespaces.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Broadcast,
    Request,
}

/// Which namespace and kind a subscribed pattern is.
struct Route {
    ns: Arc<str>,
    kind: Kind,
}

/// A message for the delivery task.
struct Incoming {
    ns: Arc<str>,
    kind: Kind,
    channel: String,
    payload: Vec<u8>,
}

/// Subscribes to the emitter's channels of every namespace `io` has (call it
/// once they are all registered) and starts the delivery task, which ends
/// when the shutdown closes the sockets.
pub async fn start<A: Adapter>(
    url: &str,
    io: &SocketIo<A>,
    settings: Settings,
    metrics: &Metrics,
    tasks: &Tasks,
) -> anyhow::Result<()> {
    let namespaces: Vec<String> = io.nsps().iter().map(|ns| ns.ns_path().to_owned()).collect();
    let mut routes = HashMap::new();
    for ns in &namespaces {
        let route = |kind| Route {
            ns: ns.as_str().into(),
            kind,
        };
        routes.insert(wire::broadcast_pattern(ns), route(Kind::Broadcast));
        routes.insert(wire::request_pattern(ns), route(Kind::Request));
    }
    let patterns: Vec<String> = routes.keys().cloned().collect();
    let drops = Arc::new(DropLog::default());
    let (queue, incoming) = mpsc::channel(QUEUE_MESSAGES);
    let inbox = Inbox {
        routes,
        queue,
        queued: Arc::default(),
        max_message_bytes: settings.max_message_bytes,
        drops: drops.clone(),
        metrics: metrics.clone(),
    };
    let queued = inbox.queued.clone();
    let config = ConnectionManagerConfig::new()
        .set_push_sender(move |push: PushInfo| {
            inbox.accept(push);
            Ok::<(), Infallible>(())
        })
        .set_automatic_resubscription()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_max_delay(Duration::from_secs(1));
    let client = redis::Client::open(with_resp3(url))?;
    let mut conn = client.get_connection_manager_with_config(config).await?;
    for pattern in &patterns {
        conn.psubscribe(pattern).await?;
    }
    tasks.spawn(keep_alive(conn, tasks.stopping()));
    let delivery = Delivery {
        io: io.clone(),
        metrics: metrics.clone(),
        drops,
    };
    tasks.spawn(delivery.run(incoming, queued, tasks.stopping()));
    tracing::info!(
        namespaces = ?namespaces,
        "listening for @socket.io/redis-emitter on Redis (socket.io#<namespace>#)"
    );
    if !settings.recovering.is_empty() {
        tracing::info!(
            namespaces = ?settings.recovering,
            "Redis emitter events are not recorded for connection state recovery: they carry no offset and are not replayed"
        );
    }
    Ok(())
}

/// Adds `protocol=resp3` to the URL unless it names a protocol (pub/sub on a
/// multiplexed connection needs RESP3).
fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}protocol=resp3")
}

/// Pings the connection so that the manager notices a lost Redis and
/// reconnects (subscribing again) once it is back; logs both.
async fn keep_alive(conn: ConnectionManager, stopping: impl Future<Output = ()>) {
    let mut stopping = std::pin::pin!(stopping);
    let mut up = true;
    loop {
        tokio::select! {
            () = &mut stopping => return,
            () = tokio::time::sleep(KEEPALIVE) => {}
        }
        let mut conn = conn.clone();
        let answer = redis::cmd("PING").query_async::<String>(&mut conn).await;
        match (answer, up) {
            (Ok(_), false) => {
                tracing::info!("Redis emitter listener: Redis is back");
                up = true;
            }
            (Err(e), true) => {
                tracing::warn!(error = %e, "Redis emitter listener: Redis does not answer; emitter messages are missed until it does");
                up = false;
            }
            _ => {}
        }
    }
}

/// Where Redis pushes arrive (in the connection's task: no waiting here).
struct Inbox {
    routes: HashMap<String, Route>,
    queue: mpsc::Sender<Incoming>,
    /// Bytes waiting in `queue`.
    queued: Arc<AtomicUsize>,
    max_message_bytes: usize,
    drops: Arc<DropLog>,
    metrics: Metrics,
}

impl Inbox {
    fn accept(&self, push: PushInfo) {
        if push.kind != PushKind::PMessage {
            return;
        }
        let mut data = push.data.into_iter();
        let (Some(pattern), Some(channel), Some(payload)) = (data.next(), data.next(), data.next())
        else {
            return;
        };
        let (Ok(pattern), Ok(channel)) = (
            String::from_redis_value(pattern),
            String::from_redis_value(channel),
        ) else {
            return;
        };
        let Some(route) = self.routes.get(&pattern) else {
            return;
        };
        let redis::Value::BulkString(payload) = payload else {
            return self.drop(&route.ns, &channel, "not a string payload");
        };
        if matches!(route.kind, Kind::Request) && !wire::is_json(&payload) {
            // socketioxide-redis's own request between the nodes.
            return;
        }
        if payload.len() > self.max_message_bytes {
            let why = format!(
                "{} bytes, over --max-payload ({})",
                payload.len(),
                self.max_message_bytes
            );
            return self.drop(&route.ns, &channel, &why);
        }
        let bytes = payload.len();
        if self.queued.fetch_add(bytes, Ordering::Relaxed) + bytes > QUEUE_BYTES {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
            return self.drop(&route.ns, &channel, "the delivery queue is full (bytes)");
        }
        let message = Incoming {
            ns: route.ns.clone(),
            kind: route.kind,
            channel,
            payload,
        };
        if let Err(e) = self.queue.try_send(message) {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
            let message = e.into_inner();
            self.drop(&message.ns, &message.channel, "the delivery queue is full");
        }
    }

    fn drop(&self, ns: &str, channel: &str, why: &str) {
        self.metrics.limit_hit(LIMIT);
        self.drops.dropped(ns, channel, why);
    }
}

/// Logs dropped messages: each at debug, and a warning at most once per
/// [`LOG_EVERY`] with how many were dropped since the last one.
#[derive(Default)]
struct DropLog {
    state: Mutex<DropState>,
}

#[derive(Default)]
struct DropState {
    last_warning: Option<Instant>,
    since: u64,
}

impl DropLog {
    fn dropped(&self, ns: &str, channel: &str, why: &str) {
        tracing::debug!(
            namespace = ns,
            channel,
            reason = why,
            "Redis emitter message dropped"
        );
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if state
            .last_warning
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            state.since += 1;
            return;
        }
        let others = std::mem::take(&mut state.since);
        state.last_warning = Some(now);
        drop(state);
        tracing::warn!(
            namespace = ns,
            channel,
            reason = why,
            dropped_since_last_warning = others,
            "Redis emitter message dropped; nothing of it was delivered"
        );
    }
}

/// The delivery task: one message after the other, in arrival order.
struct Delivery<A: Adapter> {
    io: SocketIo<A>,
    metrics: Metrics,
    drops: Arc<DropLog>,
}

impl<A: Adapter> Delivery<A> {
    async fn run(
        self,
        mut incoming: mpsc::Receiver<Incoming>,
        queued: Arc<AtomicUsize>,
        stopping: impl Future<Output = ()>,
    ) {
        let mut stopping = std::pin::pin!(stopping);
        loop {
            let message = tokio::select! {
                () = &mut stopping => return,
                message = incoming.recv() => message,
            };
            let Some(message) = message else {
                return;
            };
            queued.fetch_sub(message.payload.len(), Ordering::Relaxed);
            self.handle(message).await;
        }
    }

    async fn handle(&self, message: Incoming) {
        let ns = &*message.ns;
        let outcome = match message.kind {
            Kind::Broadcast => match wire::decode_broadcast(ns, &message.payload) {
                Ok(broadcast) => {
                    self.emit(ns, broadcast).await;
                    Ok(())
                }
                Err(refused) => Err(refused),
            },
            Kind::Request => match wire::decode_request(&message.payload) {
                Ok(request) => self.apply(ns, request).await,
                Err(refused) => Err(refused),
            },
        };
        if let Err(Refused(why)) = outcome {
            self.metrics.limit_hit(LIMIT);
            self.drops.dropped(ns, &message.channel, &why);
        }
    }

    async fn emit(&self, ns: &str, broadcast: Broadcast) {
        let Some(all) = self.io.of(ns) else {
            return;
        };
        let Broadcast {
            event,
            args,
            targets,
            volatile,
        } = broadcast;
        let failed = match recipients(all, &targets) {
            Recipients::Operators(operators) => {
                let operators = if volatile {
                    operators.volatile()
                } else {
                    *operators
                };
                operators
                    .emit(&event, &args)
                    .await
                    .err()
                    .map(|e| e.to_string())
            }
            Recipients::Sockets(sockets) => {
                let mut failed = None;
                for socket in sockets {
                    let sent = if volatile {
                        socket.volatile().emit(&event, &args)
                    } else {
                        socket.emit(&event, &args)
                    };
                    if let Err(e) = sent {
                        failed = Some(format!("socket {}: {e}", socket.id));
                    }
                }
                failed
            }
        };
        self.metrics.event_out(ns);
        if let Some(e) = failed {
            // As any broadcast: a socket whose buffer is full is disconnected
            // (slow_client) or, volatile, skipped.
            tracing::debug!(namespace = ns, event = %event, error = %e, "Redis emitter event not sent to every socket");
        }
    }

    async fn apply(&self, ns: &str, request: Request) -> Result<(), Refused> {
        let Some(all) = self.io.of(ns) else {
            return Ok(());
        };
        let failed = match request {
            Request::Join { rooms, .. } | Request::Leave { rooms, .. } if rooms.is_empty() => None,
            Request::Join { targets, rooms } => match recipients(all, &targets) {
                Recipients::Operators(operators) => {
                    (*operators).join(rooms).await.err().map(|e| e.to_string())
                }
                Recipients::Sockets(sockets) => {
                    for socket in sockets {
                        socket.join(rooms.clone());
                    }
                    None
                }
            },
            Request::Leave { targets, rooms } => match recipients(all, &targets) {
                Recipients::Operators(operators) => {
                    (*operators).leave(rooms).await.err().map(|e| e.to_string())
                }
                Recipients::Sockets(sockets) => {
                    for socket in sockets {
                        socket.leave(rooms.clone());
                    }
                    None
                }
            },
            Request::Disconnect { targets, close } => {
                let sockets = match recipients(all, &targets) {
                    Recipients::Operators(operators) if !close => {
                        return match (*operators).disconnect().await {
                            Ok(()) => Ok(()),
                            Err(e) => {
                                tracing::debug!(namespace = ns, error = %e, "Redis emitter disconnectSockets: not every socket was told");
                                Ok(())
                            }
                        };
                    }
                    Recipients::Operators(operators) => (*operators).sockets(),
                    Recipients::Sockets(sockets) => sockets,
                };
                // A socket that is leaving (its disconnect handler still
                // runs) is still in the namespace: closing its session again
                // would close the client's other namespaces.
                for socket in sockets.into_iter().filter(|socket| socket.connected()) {
                    if close {
                        socket.close_session();
                    } else if let Err(e) = socket.disconnect() {
                        tracing::debug!(namespace = ns, error = %e, "Redis emitter disconnectSockets: a socket was not told");
                    }
                }
                None
            }
            Request::ServerSideEmit => {
                tracing::info!(
                    namespace = ns,
                    "Redis emitter serverSideEmit ignored: Switchboard has no server-side listeners"
                );
                None
            }
            Request::Other(kind) => {
                tracing::debug!(
                    namespace = ns,
                    kind,
                    "a Node adapter's request on the emitter's channel, not answered"
                );
                None
            }
        };
        if let Some(e) = failed {
            tracing::warn!(namespace = ns, error = %e, "Redis emitter request failed on this node");
        }
        Ok(())
    }
}

/// Who gets a message on this node.
enum Recipients<A: Adapter> {
    /// Operators selecting them (local): the adapter does it in one go.
    Operators(Box<BroadcastOperators<A>>),
    /// When socket ids are named: the sockets themselves, each once.
    Sockets(Vec<SocketRef<A>>),
}

/// This node's sockets of `targets`: in any of the rooms (no rooms: every
/// socket) and in none of `except` (listed one by one: only those still
/// connected). Node puts every socket in a room named
/// by its id, socketioxide does not: a room that names a socket of this
/// node's namespace stands for that socket, in `rooms` and in `except`.
fn recipients<A: Adapter>(all: BroadcastOperators<A>, targets: &Targets) -> Recipients<A> {
    let all = all.local();
    let named = |room: &String| room.parse::<Sid>().ok().and_then(|sid| all.get_socket(sid));
    let by_id: Vec<SocketRef<A>> = targets.rooms.iter().filter_map(named).collect();
    let except_ids: HashSet<Sid> = targets
        .except
        .iter()
        .filter_map(named)
        .map(|socket| socket.id)
        .collect();
    let mut operators = all;
    if !targets.rooms.is_empty() {
        operators = operators.to(targets.rooms.clone());
    }
    if !targets.except.is_empty() {
        operators = operators.except(targets.except.clone());
    }
    if by_id.is_empty() && except_ids.is_empty() {
        return Recipients::Operators(Box::new(operators));
    }
    let excluded_by_room = |socket: &SocketRef<A>| {
        socket
            .rooms()
            .iter()
            .any(|room| targets.except.iter().any(|except| except == room.as_ref()))
    };
    let by_id = by_id.into_iter().filter(|socket| !excluded_by_room(socket));
    let mut seen = HashSet::new();
    let sockets = operators
        .sockets()
        .into_iter()
        .chain(by_id)
        .filter(|socket| {
            socket.connected() && !except_ids.contains(&socket.id) && seen.insert(socket.id)
        })
        .collect();
    Recipients::Sockets(sockets)
}
