//! Socket.IO namespaces, one module each, registered by [`crate::app`].
//!
//! Handlers are generic over the socketioxide [`Adapter`] so one code path
//! serves the in-memory adapter and the Redis adapter of a cluster.

pub mod args;
pub mod chat;
pub mod dispatch;
pub mod echo;
pub mod game;
pub mod notifications;
pub mod order;
pub mod rate_limit;
pub mod reply;

use std::{convert::Infallible, sync::Arc};

use socketioxide::handler::Value;
use socketioxide::{
    TransportType,
    adapter::Adapter,
    extract::SocketRef,
    handler::FromMessageParts,
    socket::{DisconnectReason, Socket},
};

use crate::{metrics::Metrics, tasks::Tasks};

/// Extractor: did the client attach an acknowledgement callback to this event?
/// socketioxide's `AckSender` silently does nothing without one, but some
/// contract rules ("acked if asked, emitted back otherwise") depend on it.
pub struct AckRequested(pub bool);

impl<A: Adapter> FromMessageParts<A> for AckRequested {
    type Error = Infallible;

    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Self(ack_id.is_some()))
    }
}

/// The transport's name as clients spell it.
pub fn transport_name(transport: TransportType) -> &'static str {
    match transport {
        TransportType::Polling => "polling",
        TransportType::Websocket => "websocket",
    }
}

/// Counts and logs a socket that joined a namespace, and counts it as one of
/// `tasks` until [`socket_closed`] (a shutdown waits for the disconnect
/// handlers so). Every namespace's connect handler calls this, and
/// [`socket_closed`] last in its disconnect handler.
pub fn socket_opened<A: Adapter>(socket: &SocketRef<A>, metrics: &Metrics, tasks: &Tasks) {
    tasks.socket_opened(&socket.extensions);
    metrics
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
