//! Socket.IO namespaces, one module each, registered by [`crate::app`].
//!
//! Handlers are generic over the socketioxide [`Adapter`] so one code path
//! serves the in-memory adapter and the Redis adapter of a cluster.

pub mod auth;
pub mod chat;
pub mod echo;
pub mod event;
pub mod game;
pub mod notifications;
pub mod order;
pub mod proxy;
pub mod rate_limit;
pub mod rpc;

use std::{borrow::Cow, sync::Arc};

use socketioxide::{
    SocketIo, TransportType,
    adapter::Adapter,
    extract::SocketRef,
    extract::{State, TryData},
    handler::{ConnectHandler, ConnectMiddleware},
    socket::DisconnectReason,
};
use socketioxide_core::adapter::DefinedAdapter;

use self::rate_limit::RateLimit;
use crate::{
    metrics::Metrics,
    protocol::args::Args,
    recovery::{NamespaceLog, Recovery, SendFailed, log::Sender},
    tasks::Tasks,
};

/// What the state of every namespace holds besides its own.
#[derive(Clone)]
pub struct Common {
    pub metrics: Metrics,
    /// The namespace's per-socket rate limit.
    pub rate_limit: RateLimit,
    /// Where the namespace's tasks run; each socket counts as one.
    pub tasks: Tasks,
    /// The namespace's connection state recovery, `None` when it has none
    /// (`--recovery-namespaces`).
    pub recovery: Option<Arc<NamespaceLog>>,
}

/// Emits `data` as `event` to `room` (on every node), from `sender` (left
/// out) or from the server: recorded with an offset when the namespace
/// recovers, so a socket whose transport dropped gets it when it comes back.
pub async fn emit_recorded<A: Adapter, T: serde::Serialize + ?Sized>(
    sender: Sender<'_, A>,
    common: &Common,
    ns: &str,
    room: String,
    event: &str,
    data: &T,
) -> Result<(), SendFailed> {
    if let Some(log) = &common.recovery {
        let args = Args::from_value(data).map_err(SendFailed::Encode)?;
        return log.broadcast(sender, vec![room], event, args).await;
    }
    let sent = match sender {
        Sender::Socket(socket) => socket.to(room).emit(event, data).await,
        Sender::Server(io) => match io.of(ns) {
            Some(all) => all.to(room).emit(event, data).await,
            None => Ok(()),
        },
    };
    Ok(sent?)
}

/// Mounts a namespace at `path`, the same way for all: its metrics are
/// registered, a CONNECT first passes the connect rate limit
/// ([`rate_limit::admit_connect`]), then the connect proxy where it applies
/// ([`proxy::check_connect`]), then `prepare`, the namespace's connect
/// middleware (its session, limiter and event handlers, in place before the
/// CONNECT packet goes out, since clients emit from their `connect`
/// callback), then `on_connect`, which socketioxide runs in a task of its own
/// after the packet was sent.
pub fn mount<A, H, Th, M, Tm>(
    io: &SocketIo<A>,
    metrics: &Metrics,
    path: impl Into<Cow<'static, str>>,
    on_connect: H,
    prepare: M,
) -> A::InitRes
where
    A: Adapter + DefinedAdapter,
    H: ConnectHandler<A, Th>,
    M: ConnectMiddleware<A, Tm>,
    Th: Send + Sync + 'static,
    Tm: Send + Sync + 'static,
{
    let path = path.into();
    metrics.register_namespace(&path);
    io.ns(
        path,
        on_connect
            .with(prepare)
            .with(recovery_choice::<A>)
            .with(proxy::check_connect::<A>)
            .with(rate_limit::admit_connect::<A>),
    )
}

/// The auth fields that concern recovery.
#[derive(serde::Deserialize)]
struct RecoveryAuth {
    /// `false`: this client cannot take the offset argument, so it gets no
    /// pid and its events exactly as without recovery.
    recovery: Option<bool>,
}

/// Before the namespace's own middleware, in a namespace that recovers: a
/// client that asked for none (`auth.recovery = false`) declines it, and the
/// socket joins the group its events are sent to ([`NamespaceLog::opened`]).
async fn recovery_choice<A: Adapter>(
    socket: SocketRef<A>,
    auth: TryData<RecoveryAuth>,
    State(recovery): State<Recovery>,
) -> Result<(), std::convert::Infallible> {
    let Some(log) = recovery.log(socket.ns()) else {
        return Ok(());
    };
    if !socket.recovered()
        && matches!(
            auth.0,
            Ok(RecoveryAuth {
                recovery: Some(false)
            })
        )
    {
        socket.decline_recovery();
    }
    log.opened(&socket).await;
    Ok(())
}

/// The transport's name as clients spell it.
pub fn transport_name(transport: TransportType) -> &'static str {
    match transport {
        TransportType::Polling => "polling",
        TransportType::Websocket => "websocket",
    }
}

/// A socket joined a namespace: gives it its event queue and rate limiter
/// ([`order::attach`]), counts and logs it, and counts it as one of the
/// tasks until [`socket_closed`] (a shutdown waits for the disconnect
/// handlers so). Every namespace's connect middleware calls this, and
/// [`socket_closed`] last in its disconnect handler.
pub fn socket_opened<A: Adapter>(socket: &SocketRef<A>, common: &Common) {
    order::attach(socket, common.rate_limit.for_socket(socket));
    common.tasks.socket_opened(&socket.extensions);
    common
        .metrics
        .sockets_connected
        .with_label_values(&[socket.ns()])
        .inc();
    tracing::info!(
        namespace = socket.ns(),
        socket_id = %socket.id,
        transport = transport_name(socket.transport_type()),
        "socket connected"
    );
}

/// The metric label of a disconnect reason.
pub fn reason_label(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport_close",
        DisconnectReason::MultipleHttpPollingError => "multiple_polling",
        DisconnectReason::PacketParsingError => "bad_packet",
        DisconnectReason::TransportError => "transport_error",
        DisconnectReason::HeartbeatTimeout => "heartbeat_timeout",
        DisconnectReason::ClientNSDisconnect => "client_disconnect",
        DisconnectReason::ServerNSDisconnect => "server_disconnect",
        DisconnectReason::ClosingServer => "closing_server",
        DisconnectReason::SlowClient => "slow_client",
    }
}

/// Counts and logs a socket that left a namespace, with the reason.
pub fn socket_closed<A: Adapter>(
    socket: &SocketRef<A>,
    metrics: &Metrics,
    reason: DisconnectReason,
) {
    metrics
        .sockets_connected
        .with_label_values(&[socket.ns()])
        .dec();
    metrics
        .disconnects
        .with_label_values(&[socket.ns(), reason_label(reason)])
        .inc();
    tracing::info!(
        namespace = socket.ns(),
        socket_id = %socket.id,
        transport = transport_name(socket.transport_type()),
        reason = %reason,
        "socket disconnected"
    );
    Tasks::socket_closed(&socket.extensions);
}
