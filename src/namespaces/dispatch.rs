//! The common path of every client event in the namespaces with a contract
//! (`/chat`, `/notifications`): count it, apply the socket's rate limit, hand
//! the parsed payload to the event's own function, answer as the contract
//! says, and disconnect a socket that keeps flooding.

use std::future::Future;

use socketioxide::{
    ParserError,
    adapter::Adapter,
    extract::{AckSender, SocketRef},
};

use super::{
    rate_limit::{SocketLimiter, Verdict},
    reply::{ErrorCode, EventError, EventResult, respond},
};
use crate::metrics::Metrics;

/// One event, start to end. `body` runs only for an allowed, well-formed event.
pub async fn dispatch<A, T, Fut>(
    socket: &SocketRef<A>,
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
        tracing::warn!(namespace = socket.ns(), socket_id = %socket.id, "disconnecting a flooding socket");
        socket.clone().disconnect().ok();
    }
}
