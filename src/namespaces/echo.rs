//! The echo namespaces (`/` and `/echo` by default): the Socket.IO reference
//! behaviour of PROTOCOL.md, used by the official protocol test suite and by
//! anyone checking that a client talks to Switchboard at all.
//!
//! - on connect: emit `auth` with the handshake's auth payload;
//! - `message` -> emit `message-back` with the same arguments;
//! - `message-with-ack` -> ack with the same arguments;
//! - `emit-with-ack` -> emit it back asking for an ack, then emit the ack's arguments;
//! - any other event -> ack it if asked, else emit it back.
//!
//! A socket's events are answered in the order they arrived
//! ([`Turn`](super::order::Turn)); one that queues more than the limit is
//! disconnected.
//!
//! Echo has its own, generous rate limit (`--echo-rate-limit`, per socket and
//! per client address as in [`rate_limit`](super::rate_limit)). Echo has no
//! error contract, so an event past it is dropped unanswered, and a socket
//! that keeps flooding is disconnected.

use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Data, Event, SocketRef, State},
    socket::DisconnectReason,
};

use super::{
    Common,
    event::disconnect_flooding,
    order::{Arrival, Place},
    rate_limit::Verdict,
    socket_closed, socket_opened,
};
use crate::{metrics::Metrics, protocol::args::Args, recovery::Recovery};

/// What the echo namespaces share (socketioxide state): the [`Common`]
/// state of every namespace, and recovery, whose log each socket looks up by
/// its namespace (one state serves every echo namespace).
#[derive(Clone)]
pub struct EchoContext {
    pub common: Common,
    pub recovery: Recovery,
}

/// The socket's limiter and handlers, before the CONNECT packet goes out
/// ([`mount`](super::mount)).
pub async fn prepare_socket<A: Adapter>(
    socket: SocketRef<A>,
    State(echo): State<EchoContext>,
) -> Result<(), std::convert::Infallible> {
    socket_opened(&socket, &echo.common);
    socket.on("emit-with-ack", on_emit_with_ack::<A>);
    socket.on_fallback(on_event::<A>);
    socket.on_disconnect(
        |socket: SocketRef<A>, reason: DisconnectReason, State(echo): State<EchoContext>| async move {
            // Echo keeps no data of its own: a held session is its id.
            if let Some(log) = echo.recovery.log(socket.ns()) {
                log.hold(&socket, reason, serde_json::Value::Null).await;
            }
            socket_closed(&socket, &echo.common.metrics, reason);
        },
    );
    Ok(())
}

/// After the CONNECT packet: a recovered socket gets its missed events back
/// first; then `auth` as the contract says.
pub async fn on_connect<A: Adapter>(
    socket: SocketRef<A>,
    Data(auth): Data<rmpv::Value>,
    State(echo): State<EchoContext>,
) {
    if let Some(log) = echo.recovery.log(socket.ns()) {
        log.resume(&socket).await;
    }
    emit_counted(&socket, &echo, "auth", &Args(vec![auth])).await;
}

/// Emits `event` with `args` to this socket, counting it when it went out;
/// recorded with its offset in a namespace that recovers.
async fn emit_counted<A: Adapter>(
    socket: &SocketRef<A>,
    echo: &EchoContext,
    event: &str,
    args: &Args,
) {
    let sent = match echo.recovery.log(socket.ns()) {
        Some(log) => log.emit_to(socket, event, args.clone()).await,
        None => socket.emit(event, args).map_err(Into::into),
    };
    if sent.is_ok() {
        echo.common.metrics.event_out(socket.ns());
    }
}

/// Acknowledges with `args`, counting it as one event out.
fn ack_counted<A: Adapter>(
    socket: &SocketRef<A>,
    metrics: &Metrics,
    ack: AckSender<A>,
    args: &Args,
) {
    if ack.send(args).is_ok() {
        metrics.event_out(socket.ns());
    }
}

/// Counts the event, waits for the socket's earlier ones and applies the
/// rate limit; `None` when the event is dropped: past the rate limit, or the
/// socket's queue was full or it keeps flooding (it is then disconnected).
async fn in_turn<A: Adapter>(
    socket: &SocketRef<A>,
    metrics: &Metrics,
    Arrival { turn, limiter, .. }: Arrival,
) -> Option<Place> {
    metrics.event_in(socket.ns());
    let Ok(place) = turn.wait().await else {
        disconnect_flooding(socket, "its event queue is full");
        return None;
    };
    let verdict = limiter.map_or(Verdict::Allow, |limiter| limiter.check());
    match verdict {
        Verdict::Allow => Some(place),
        Verdict::Refuse => None,
        Verdict::Flooding => {
            disconnect_flooding(socket, "it keeps sending past its rate limit");
            None
        }
    }
}

async fn on_emit_with_ack<A: Adapter>(
    socket: SocketRef<A>,
    arrival: Arrival,
    Data(args): Data<Args>,
    State(echo): State<EchoContext>,
) {
    let metrics = &echo.common.metrics;
    let Some(place) = in_turn(&socket, metrics, arrival).await else {
        return;
    };
    let pending = socket.emit_with_ack::<_, Args>("emit-with-ack", &args);
    // The event is handled once its emit is out; waiting for the client's ack
    // must not hold up the socket's next events.
    drop(place);
    let pending = match pending {
        Ok(pending) => pending,
        Err(e) => {
            tracing::debug!(socket_id = %socket.id, "emit-with-ack not sent: {e}");
            return;
        }
    };
    echo.common.metrics.event_out(socket.ns());
    match pending.await {
        Ok(reply) => emit_counted(&socket, &echo, "emit-with-ack", &reply).await,
        Err(e) => tracing::debug!(socket_id = %socket.id, "no ack for emit-with-ack: {e}"),
    }
}

/// `message` -> `message-back` with the same arguments; `message-with-ack`
/// -> the ack with them (nothing when the client asked for none); any other
/// event -> the ack if asked, else the event emitted back.
async fn on_event<A: Adapter>(
    socket: SocketRef<A>,
    arrival: Arrival,
    Event(event): Event,
    Data(args): Data<Args>,
    ack: AckSender<A>,
    State(echo): State<EchoContext>,
) {
    let metrics = &echo.common.metrics;
    let ack_requested = arrival.ack_requested;
    let Some(_place) = in_turn(&socket, metrics, arrival).await else {
        return;
    };
    match event.as_str() {
        "message" => emit_counted(&socket, &echo, "message-back", &args).await,
        "message-with-ack" => ack_counted(&socket, metrics, ack, &args),
        _ if ack_requested => ack_counted(&socket, metrics, ack, &args),
        _ => emit_counted(&socket, &echo, &event, &args).await,
    }
}
