//! The one path of every client event in the namespaces with a contract
//! (`/chat`, `/notifications`, `/game`).
//!
//! A namespace registers each event with [`on`] and a handler: a small async
//! function that reads like the event's section of PROTOCOL.md, taking the
//! typed request and the [`Event`] (socket, session, namespace state) and
//! returning a typed reply, a `#[derive(Serialize)]` struct of the success
//! fields, or the contract's [`EventError`]. Around every handler, in one
//! place and in this order:
//!
//! 1. the socket's earlier events finish first ([`Turn`](super::order::Turn)); a socket that
//!    queues too many is refused `rate_limited` and disconnected;
//! 2. the event is counted, and the socket's rate limit applied;
//! 3. the payload is parsed into the request type (`bad_request` if it does
//!    not fit);
//! 4. the answer goes out as the contract says: the ack `{"ok": true,
//!    ...reply}` or `{"ok": false, "error": {...}}` when the client asked for
//!    one; otherwise nothing on success and an `error` event on failure;
//! 5. a socket that keeps flooding is disconnected.
//!
//! Each event is measured from its arrival (before step 1) to its answer
//! (`switchboard_event_duration_seconds{namespace,event}`), and a refusal
//! counted by its code (`switchboard_event_refusals_total{namespace,code}`).

use std::{future::Future, sync::Arc, time::Instant};

use serde::{Serialize, de::DeserializeOwned};
use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{AckSender, SocketRef, State, TryData},
};

use super::{order::Arrival, rate_limit::Verdict};
use crate::{
    metrics::Metrics,
    protocol::{ErrorCode, EventError},
    store::{StoreError, UNWRITABLE_MESSAGE},
};

/// Everything a handler may need besides its request.
pub struct Event<A: Adapter, S, C> {
    pub socket: SocketRef<A>,
    /// The namespace's per-socket state, put in the socket's extensions as
    /// `Arc<S>` by its connect middleware.
    pub session: Arc<S>,
    /// The namespace's shared state (socketioxide state).
    pub ctx: C,
    /// The server, for work that outlives the event (a game's loop emits
    /// through it).
    pub io: SocketIo<A>,
}

/// What a handler answers: the reply's fields (besides `ok`) or the error.
/// `()` is a success without fields (`{"ok": true}`).
pub type Reply<R> = Result<R, EventError>;

/// Registers `handler` for `event` on `socket`, behind the steps of the
/// module doc. The rate limit is the socket's
/// [`SocketLimiter`](super::rate_limit::SocketLimiter), which its
/// [`Arrival`] carries (`order::attach`, when the socket opened). A socket without its session `S`
/// or limiter (never set up) ignores the event.
pub fn on<A, S, C, Req, Rep, H, Fut>(socket: &SocketRef<A>, event: &'static str, handler: H)
where
    A: Adapter,
    S: Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
    Req: DeserializeOwned + Send + Sync + 'static,
    Rep: Serialize,
    H: Fn(Req, Event<A, S, C>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply<Rep>> + Send,
{
    socket.on(
        event,
        move |socket: SocketRef<A>,
              Arrival {
                  turn,
                  ack_requested: asked,
                  limiter,
              }: Arrival,
              io: SocketIo<A>,
              TryData(payload): TryData<Req>,
              ack: AckSender<A>,
              State(ctx): State<C>,
              State(metrics): State<Metrics>| {
            let handler = handler.clone();
            let arrived = Instant::now();
            async move {
                let extensions = &socket.extensions;
                let (Some(session), Some(limiter)) = (extensions.get::<Arc<S>>(), limiter) else {
                    return;
                };
                metrics.event_in(socket.ns());
                let Ok(_place) = turn.wait().await else {
                    let error = EventError::new(
                        ErrorCode::RateLimited,
                        "too many events queued, slow down",
                    );
                    answer::<A, ()>(&socket, ack, asked, &metrics, Err(error));
                    metrics.event_handled(
                        socket.ns(),
                        event,
                        arrived,
                        Some(ErrorCode::RateLimited),
                    );
                    disconnect_flooding(&socket, "its event queue is full");
                    return;
                };
                let verdict = limiter.check();
                let result = match (verdict, payload) {
                    (Verdict::Allow, Ok(request)) => {
                        let event = Event {
                            socket: socket.clone(),
                            session,
                            ctx,
                            io,
                        };
                        handler(request, event).await
                    }
                    (Verdict::Allow, Err(e)) => {
                        Err(EventError::bad_request(format!("invalid payload: {e}")))
                    }
                    (Verdict::Refuse | Verdict::Flooding, _) => Err(EventError::new(
                        ErrorCode::RateLimited,
                        "too many events, slow down",
                    )),
                };
                let refused = result.as_ref().err().map(|error| error.code);
                answer(&socket, ack, asked, &metrics, result);
                metrics.event_handled(socket.ns(), event, arrived, refused);
                if verdict == Verdict::Flooding {
                    disconnect_flooding(&socket, "it keeps sending past its rate limit");
                }
            }
        },
    );
}

/// The ack of a success: `ok` first, then the reply's fields in their order.
#[derive(Serialize)]
struct Accepted<'a, R> {
    ok: bool,
    #[serde(flatten)]
    reply: &'a R,
}

/// The ack of a refusal.
#[derive(Serialize)]
struct Refused<'a> {
    ok: bool,
    error: &'a EventError,
}

/// Sends `result` to the client the way the contract says, counting what
/// went out (also the RPC namespaces' answer).
pub(super) fn answer<A: Adapter, R: Serialize>(
    socket: &SocketRef<A>,
    ack: AckSender<A>,
    asked: bool,
    metrics: &Metrics,
    result: Reply<R>,
) {
    let sent = match (result, asked) {
        (Ok(reply), true) => ack
            .send(&Accepted {
                ok: true,
                reply: &reply,
            })
            .is_ok(),
        (Ok(_), false) => false,
        (Err(error), true) => ack
            .send(&Refused {
                ok: false,
                error: &error,
            })
            .is_ok(),
        (Err(error), false) => socket.emit("error", &error).is_ok(),
    };
    if sent {
        metrics.event_out(socket.ns());
    }
}

/// A store write failed: `internal`, saying so when the store cannot
/// write at all (disk full, read-only), so clients know to retry later.
/// The caller logs the details.
pub fn store_write_refusal(error: &StoreError) -> EventError {
    if error.is_unwritable() {
        EventError::new(ErrorCode::Internal, UNWRITABLE_MESSAGE)
    } else {
        EventError::internal()
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Serialize)]
    struct Joined {
        room: &'static str,
        members: Vec<u32>,
    }

    /// The typed acks are byte for byte the `json!` objects they replaced.
    #[test]
    fn acks_are_ok_first_then_the_reply_fields_in_order() {
        let reply = Joined {
            room: "lobby",
            members: vec![1, 2],
        };
        let typed = serde_json::to_string(&Accepted {
            ok: true,
            reply: &reply,
        })
        .unwrap();
        assert_eq!(typed, r#"{"ok":true,"room":"lobby","members":[1,2]}"#);
        let empty = serde_json::to_string(&Accepted {
            ok: true,
            reply: &(),
        })
        .unwrap();
        assert_eq!(empty, json!({ "ok": true }).to_string());
        let error = EventError::forbidden("not a member of room `x`");
        let refused = serde_json::to_string(&Refused {
            ok: false,
            error: &error,
        })
        .unwrap();
        assert_eq!(refused, json!({ "ok": false, "error": error }).to_string());
    }
}
