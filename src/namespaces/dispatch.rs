//! The common path of every client event in the namespaces with a contract
//! (`/chat`, `/notifications`, `/game`): wait for the socket's earlier events
//! ([`order`](super::order)), count it, apply the socket's rate limit, hand
//! the parsed payload to the event's own function, answer as the contract
//! says, and disconnect a socket that keeps flooding.

use std::{future::Future, sync::Arc};

use socketioxide::{
    ParserError,
    adapter::Adapter,
    extract::{AckSender, SocketRef},
};

use super::{
    AckRequested,
    order::Turn,
    rate_limit::{SocketLimiter, Verdict},
    reply::{EventResult, respond},
};
use crate::{
    metrics::Metrics,
    protocol::{ErrorCode, EventError},
};

/// A namespace's per-socket state, kept in the socket's extensions as `Arc<Self>`.
pub trait Session: Send + Sync + 'static {
    fn limiter(&self) -> &SocketLimiter;
}

/// A namespace's shared state (socketioxide state).
pub trait Context: Clone + Send + Sync + 'static {
    fn metrics(&self) -> &Metrics;
}

/// [`dispatch`] with the socket's session `S`: `body` gets the socket, the
/// session, the parsed payload and the context. A socket without its session
/// (never set up) is ignored.
pub async fn handle<A, S, C, T, F, Fut>(
    socket: SocketRef<A>,
    turn: Turn,
    payload: Result<T, ParserError>,
    AckRequested(ack_requested): AckRequested,
    ack: AckSender<A>,
    ctx: C,
    body: F,
) where
    A: Adapter,
    S: Session,
    C: Context,
    F: FnOnce(SocketRef<A>, Arc<S>, T, C) -> Fut,
    Fut: Future<Output = EventResult>,
{
    let Some(session) = socket.extensions.get::<Arc<S>>() else {
        return;
    };
    let (event_socket, event_session, metrics) =
        (socket.clone(), session.clone(), ctx.metrics().clone());
    dispatch(
        &socket,
        turn,
        session.limiter(),
        &metrics,
        payload,
        (ack, ack_requested),
        |payload| body(event_socket, event_session, payload, ctx),
    )
    .await;
}

/// The socketioxide handler of one event: extracts what [`handle`] needs and
/// runs the event's own function (`$body`) through it.
macro_rules! event_handler {
    ($handler:ident, $request:ty, $context:ty, $body:ident) => {
        async fn $handler<A: ::socketioxide::adapter::Adapter>(
            socket: ::socketioxide::extract::SocketRef<A>,
            turn: $crate::namespaces::order::Turn,
            ::socketioxide::extract::TryData(payload): ::socketioxide::extract::TryData<$request>,
            asked: $crate::namespaces::AckRequested,
            ack: ::socketioxide::extract::AckSender<A>,
            ::socketioxide::extract::State(ctx): ::socketioxide::extract::State<$context>,
        ) {
            $crate::namespaces::dispatch::handle(
                socket, turn, payload, asked, ack, ctx, $body::<A>,
            )
            .await;
        }
    };
}
pub(crate) use event_handler;

/// One event, start to end. `body` runs only for an allowed, well-formed event,
/// after every earlier event of the socket is done.
pub async fn dispatch<A, T, Fut>(
    socket: &SocketRef<A>,
    turn: Turn,
    limiter: &SocketLimiter,
    metrics: &Metrics,
    payload: Result<T, ParserError>,
    (ack, ack_requested): (AckSender<A>, bool),
    body: impl FnOnce(T) -> Fut,
) where
    A: Adapter,
    Fut: Future<Output = EventResult>,
{
    metrics.event_in(socket.ns());
    let Ok(_place) = turn.wait().await else {
        let error = EventError::new(ErrorCode::RateLimited, "too many events queued, slow down");
        respond(socket, ack, ack_requested, metrics, Err(error));
        disconnect_flooding(socket, "its event queue is full");
        return;
    };
    let verdict = limiter.check();
    let result = match (verdict, payload) {
        (Verdict::Allow, Ok(payload)) => body(payload).await,
        (Verdict::Allow, Err(e)) => Err(EventError::bad_request(format!("invalid payload: {e}"))),
        (Verdict::Refuse | Verdict::Flooding, _) => Err(EventError::new(
            ErrorCode::RateLimited,
            "too many events, slow down",
        )),
    };
    respond(socket, ack, ack_requested, metrics, result);
    if verdict == Verdict::Flooding {
        disconnect_flooding(socket, "it keeps sending past its rate limit");
    }
}

/// Disconnects a socket that sends more than it may. Its events already
/// received are still handled (and refused) after that; they do not send the
/// client another DISCONNECT, which it would take for one of a socket it
/// connected since on the same session.
pub fn disconnect_flooding<A: Adapter>(socket: &SocketRef<A>, why: &str) {
    if !socket.connected() {
        return;
    }
    tracing::warn!(namespace = socket.ns(), socket_id = %socket.id, "disconnecting a flooding socket: {why}");
    socket.clone().disconnect().ok();
}
