//! RPC namespaces (`--rpc-namespaces`): every client event is POSTed to a
//! backend (`--rpc-proxy-url`), whose answer becomes the client's ack and
//! may carry actions (join or leave a room, emit to a room or to the socket)
//! carried out in order first. PROTOCOL.md, "Connect proxy and RPC proxy",
//! has the JSON of both sides.
//!
//! A socket's events are forwarded in the order they arrived (each waits for
//! its [`Turn`](super::order::Turn), passes the rate limit and takes its
//! in-flight slots in that order), then run side by side: up to
//! `--rpc-max-in-flight-per-socket` calls per socket and
//! `--rpc-max-in-flight` in all; an event past either is refused
//! `rate_limited` at once. Backend failures map to the contract's codes:
//! a timeout, no connection, a status other than 2xx or an answer that is not
//! one give `internal`; an `error` the backend answers with a contract code
//! is passed through.

use std::{sync::Arc, time::Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Event, SocketRef, State, TryData},
    socket::DisconnectReason,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{
    Common,
    event::disconnect_flooding,
    order::Arrival,
    proxy::{Backend, ProxyCalls, bounded_message},
    rate_limit::Verdict,
    socket_closed, socket_opened,
};
use crate::{
    config::ServeConfig,
    identity::Identity,
    protocol::{
        BadEventName, ErrorCode, EventError, MAX_EVENT_CHARS, RoomId, args::Args, check_event_name,
    },
};

/// Most actions one answer may carry; an answer with more is refused whole.
pub const MAX_ACTIONS: usize = 32;
/// The `event` label of every RPC event's metrics (client event names are
/// any string, so they are not labels).
const EVENT_LABEL: &str = "rpc";

/// What the RPC namespaces share (socketioxide state). Cheap to clone.
#[derive(Clone)]
pub struct RpcContext {
    pub common: Common,
    inner: Arc<RpcInner>,
}

struct RpcInner {
    namespaces: Vec<String>,
    backend: Backend,
    overall: Arc<Semaphore>,
    per_socket: usize,
    calls: ProxyCalls,
}

/// One socket's in-flight slots (its extensions).
#[derive(Clone)]
struct Slots(Arc<Semaphore>);

impl RpcContext {
    /// With `--rpc-namespaces`: the context, its names checked against
    /// `taken` (every other namespace); `None` without RPC namespaces.
    pub fn from_config(
        config: &ServeConfig,
        taken: &[&str],
        common: Common,
        calls: &ProxyCalls,
    ) -> anyhow::Result<Option<Self>> {
        let namespaces = &config.rpc_namespaces;
        if namespaces.is_empty() {
            return Ok(None);
        }
        for (i, ns) in namespaces.iter().enumerate() {
            if taken.contains(&ns.as_str()) || namespaces[..i].contains(ns) {
                anyhow::bail!(
                    "--rpc-namespaces names `{ns}`, which is already a namespace (or named twice)"
                );
            }
        }
        let Some(url) = config.rpc_proxy_url.clone() else {
            anyhow::bail!("--rpc-namespaces needs --rpc-proxy-url, the backend that answers");
        };
        let max_answer = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
        let backend = Backend::new(url, config.rpc_timeout, max_answer, "--rpc-proxy-url")?;
        Ok(Some(Self {
            common,
            inner: Arc::new(RpcInner {
                namespaces: namespaces.clone(),
                backend,
                overall: Arc::new(Semaphore::new(config.rpc_max_in_flight as usize)),
                per_socket: config.rpc_max_in_flight_per_socket as usize,
                calls: calls.clone(),
            }),
        }))
    }

    /// The RPC namespaces to mount.
    pub fn namespaces(&self) -> &[String] {
        &self.inner.namespaces
    }
}

/// The socket's slots, limiter and handlers, before the CONNECT packet goes
/// out ([`mount`](super::mount)).
pub async fn prepare_socket<A: Adapter>(
    socket: SocketRef<A>,
    State(rpc): State<RpcContext>,
) -> Result<(), std::convert::Infallible> {
    socket
        .extensions
        .insert(Slots(Arc::new(Semaphore::new(rpc.inner.per_socket))));
    socket_opened(&socket, &rpc.common);
    socket.on_fallback(on_event::<A>);
    socket.on_disconnect(
        |socket: SocketRef<A>, reason: DisconnectReason, State(rpc): State<RpcContext>| async move {
            socket_closed(&socket, &rpc.common.metrics, reason);
        },
    );
    Ok(())
}

/// Connected: nothing more to do (the connect proxy, when it applies, ran
/// before).
pub async fn on_connect<A: Adapter>(_socket: SocketRef<A>) {}

/// What Switchboard POSTs for one event.
#[derive(Serialize)]
struct RpcRequest<'a> {
    namespace: &'a str,
    socket_id: String,
    user: Option<&'a str>,
    event: &'a str,
    args: Value,
}

/// What the backend answers.
#[derive(Deserialize)]
struct RpcAnswer {
    #[serde(default)]
    reply: Option<Value>,
    #[serde(default)]
    actions: Vec<Action>,
    #[serde(default, deserialize_with = "optional_object")]
    error: Option<BackendError>,
}

#[derive(Deserialize)]
struct BackendError {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

/// One action, in the backend's spelling (`{"join": room}`).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Join(String),
    Leave(String),
    Emit(#[serde(deserialize_with = "object")] EmitAction),
}

/// `T` from a JSON object only: serde's derived structs would also take an
/// array of their fields in order (`"error": ["forbidden", "text"]`), which
/// the contract (and its schema) does not allow.
fn object<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(
    deserializer: D,
) -> Result<T, D::Error> {
    from_map(Map::deserialize(deserializer)?)
}

/// [`object`], or `None` for `null`.
fn optional_object<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<Map<String, Value>>::deserialize(deserializer)?
        .map(from_map)
        .transpose()
}

fn from_map<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    map: Map<String, Value>,
) -> Result<T, E> {
    serde_json::from_value(Value::Object(map)).map_err(E::custom)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmitAction {
    #[serde(default)]
    room: Option<String>,
    event: String,
    #[serde(default)]
    data: Option<Value>,
}

/// An action checked.
#[derive(Debug, PartialEq)]
enum Checked {
    Join(String),
    Leave(String),
    Emit {
        room: Option<String>,
        event: String,
        data: Value,
    },
}

/// What an answer says to do.
#[derive(Debug, PartialEq)]
enum Outcome {
    Reply { reply: Value, actions: Vec<Checked> },
    Refused(EventError),
}

/// Reads an answer; `Err` says why it is not one (the client gets
/// `internal`).
fn read_answer(body: &[u8]) -> Result<Outcome, String> {
    let answer: RpcAnswer =
        super::proxy::json_object(body).map_err(|e| format!("not an RPC answer: {e}"))?;
    if let Some(error) = answer.error {
        let code = ErrorCode::parse(&error.code)
            .ok_or_else(|| format!("`error.code` `{}` is not a contract code", error.code))?;
        let message = error
            .message
            .as_deref()
            .and_then(bounded_message)
            .unwrap_or_else(|| "refused by the backend".into());
        return Ok(Outcome::Refused(EventError::new(code, message)));
    }
    if answer.actions.len() > MAX_ACTIONS {
        return Err(format!(
            "{} actions, at most {MAX_ACTIONS}",
            answer.actions.len()
        ));
    }
    let room = |room: String| {
        RoomId::parse("room", &room)
            .map(|_| room)
            .map_err(|e| e.message)
    };
    let actions = answer
        .actions
        .into_iter()
        .map(|action| match action {
            Action::Join(name) => room(name).map(Checked::Join),
            Action::Leave(name) => room(name).map(Checked::Leave),
            Action::Emit(emit) => {
                check_event_name(&emit.event)
                    .map_err(|_| format!("cannot emit event `{}`", emit.event))?;
                Ok(Checked::Emit {
                    room: emit.room.map(room).transpose()?,
                    event: emit.event,
                    data: emit.data.unwrap_or(Value::Null),
                })
            }
        })
        .collect::<Result<_, String>>()?;
    Ok(Outcome::Reply {
        reply: answer.reply.unwrap_or(Value::Null),
        actions,
    })
}

/// Every event of an RPC socket: in turn, rate limited, its slots taken;
/// then the call, the actions and the answer, beside the socket's next
/// events.
async fn on_event<A: Adapter>(
    socket: SocketRef<A>,
    Arrival {
        turn,
        ack_requested,
        limiter,
    }: Arrival,
    Event(event): Event,
    TryData(args): TryData<Args>,
    ack: AckSender<A>,
    State(rpc): State<RpcContext>,
) {
    let arrived = Instant::now();
    let metrics = rpc.common.metrics.clone();
    metrics.event_in(socket.ns());
    let Ok(place) = turn.wait().await else {
        let error = EventError::new(ErrorCode::RateLimited, "too many events queued, slow down");
        finish(&socket, ack, ack_requested, &rpc, arrived, Err(error));
        disconnect_flooding(&socket, "its event queue is full");
        return;
    };
    let verdict = limiter.map_or(Verdict::Allow, |limiter| limiter.check());
    let admitted = match verdict {
        Verdict::Allow => admit(&socket, &event, args, &rpc),
        Verdict::Refuse | Verdict::Flooding => Err(EventError::new(
            ErrorCode::RateLimited,
            "too many events, slow down",
        )),
    };
    // The socket's next events may go on: this one's call runs beside them.
    drop(place);
    let result = match admitted {
        Ok((args, slots)) => {
            let result = call(&socket, &event, args, &rpc).await;
            drop(slots);
            result
        }
        Err(error) => Err(error),
    };
    finish(&socket, ack, ack_requested, &rpc, arrived, result);
    if verdict == Verdict::Flooding {
        disconnect_flooding(&socket, "it keeps sending past its rate limit");
    }
}

/// The event's arguments as JSON, and its slots: `bad_request` for a bad
/// name or payload, `rate_limited` past an in-flight bound.
fn admit<A: Adapter>(
    socket: &SocketRef<A>,
    event: &str,
    args: Result<Args, impl std::fmt::Display>,
    rpc: &RpcContext,
) -> Result<(Value, [OwnedSemaphorePermit; 2]), EventError> {
    // Only the shape: any name a client sends is the backend's to answer.
    if let Err(BadEventName::Shape) = check_event_name(event) {
        return Err(EventError::bad_request(format!(
            "an event name is 1 to {MAX_EVENT_CHARS} characters, no control characters"
        )));
    }
    let args = args.map_err(|e| EventError::bad_request(format!("invalid payload: {e}")))?;
    let args = serde_json::to_value(&args.0)
        .map_err(|e| EventError::bad_request(format!("invalid payload: {e}")))?;
    let overloaded = |limit: &str, what: &str| {
        rpc.inner.calls.count("rpc", "overloaded");
        rpc.common.metrics.limit_hit(limit);
        EventError::new(
            ErrorCode::RateLimited,
            format!("too many requests in flight ({what}), try again"),
        )
    };
    let Some(Slots(own)) = socket.extensions.get::<Slots>() else {
        return Err(EventError::internal());
    };
    let own = own
        .try_acquire_owned()
        .map_err(|_| overloaded("rpc_in_flight_per_socket", "this socket"))?;
    let overall = rpc
        .inner
        .overall
        .clone()
        .try_acquire_owned()
        .map_err(|_| overloaded("rpc_in_flight", "the server"))?;
    Ok((args, [own, overall]))
}

/// The backend's answer, its actions carried out in order.
async fn call<A: Adapter>(
    socket: &SocketRef<A>,
    event: &str,
    args: Value,
    rpc: &RpcContext,
) -> Result<Value, EventError> {
    let ns = socket.ns();
    let identity = socket.extensions.get::<Arc<Identity>>();
    let request = RpcRequest {
        namespace: ns,
        socket_id: socket.id.to_string(),
        user: identity.as_ref().map(|identity| identity.user.as_str()),
        event,
        args,
    };
    let outcome = match rpc.inner.backend.call(&request).await {
        Ok(body) => read_answer(&body).map_err(|why| ("bad_answer", why)),
        Err(e) => Err((e.outcome(), e.to_string())),
    };
    let (reply, actions) = match outcome {
        Ok(Outcome::Reply { reply, actions }) => (reply, actions),
        Ok(Outcome::Refused(error)) => {
            rpc.inner.calls.count("rpc", "error");
            return Err(error);
        }
        Err((outcome, why)) => {
            rpc.inner.calls.count("rpc", outcome);
            tracing::warn!(namespace = ns, socket_id = %socket.id, "RPC proxy failed, refusing the event (internal): {why}");
            return Err(EventError::new(
                ErrorCode::Internal,
                "the backend did not answer, try again",
            ));
        }
    };
    rpc.inner.calls.count("rpc", "ok");
    for action in actions {
        match action {
            Checked::Join(room) => socket.join(room),
            Checked::Leave(room) => socket.leave(room),
            Checked::Emit { room, event, data } => {
                let sent = match room {
                    Some(room) => socket
                        .within(room)
                        .emit(&event, &data)
                        .await
                        .map_err(|e| e.to_string()),
                    None => socket.emit(&event, &data).map_err(|e| e.to_string()),
                };
                match sent {
                    Ok(()) => rpc.common.metrics.event_out(ns),
                    Err(e) => {
                        tracing::debug!(namespace = ns, socket_id = %socket.id, "RPC emit not sent: {e}")
                    }
                }
            }
        }
    }
    Ok(reply)
}

/// Answers as the contract says (`{"ok": true, "reply"}` or `{"ok": false,
/// "error"}` in the ack; an `error` event for a refusal nobody acks), and
/// records the event.
fn finish<A: Adapter>(
    socket: &SocketRef<A>,
    ack: AckSender<A>,
    asked: bool,
    rpc: &RpcContext,
    arrived: Instant,
    result: Result<Value, EventError>,
) {
    let metrics = &rpc.common.metrics;
    let refused = result.as_ref().err().map(|error| error.code);
    let result = result.map(|reply| Replied { reply });
    super::event::answer(socket, ack, asked, metrics, result);
    metrics.event_handled(socket.ns(), EVENT_LABEL, arrived, refused);
}

/// The fields of a success's ack besides `ok`: `{"ok": true, "reply"}`.
#[derive(Serialize)]
struct Replied {
    reply: Value,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_are_read_strictly() {
        let body = br#"{"reply":{"n":1},"actions":[{"join":"a"},{"emit":{"room":"a","event":"hi","data":[1]}},{"leave":"a"},{"emit":{"event":"me"}}]}"#;
        assert_eq!(
            read_answer(body).unwrap(),
            Outcome::Reply {
                reply: json!({"n": 1}),
                actions: vec![
                    Checked::Join("a".into()),
                    Checked::Emit {
                        room: Some("a".into()),
                        event: "hi".into(),
                        data: json!([1])
                    },
                    Checked::Leave("a".into()),
                    Checked::Emit {
                        room: None,
                        event: "me".into(),
                        data: Value::Null
                    },
                ]
            }
        );
        assert_eq!(
            read_answer(b"{}").unwrap(),
            Outcome::Reply {
                reply: Value::Null,
                actions: vec![]
            }
        );
        assert_eq!(
            read_answer(br#"{"error":{"code":"forbidden","message":"no"}}"#).unwrap(),
            Outcome::Refused(EventError::forbidden("no"))
        );
        for bad in [
            &br#"{"error":{"code":"teapot"}}"#[..],
            br#"{"actions":[{"join":"has space"}]}"#,
            br#"{"actions":[{"dance":"a"}]}"#,
            br#"{"actions":[{"emit":{"event":"connect"}}]}"#,
            br#"{"actions":[{"emit":{"event":"x","extra":1}}]}"#,
            br#"{"actions":"join"}"#,
            b"[]",
            b"nope",
        ] {
            assert!(
                read_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many = json!({"actions": vec![json!({"join": "a"}); MAX_ACTIONS + 1]});
        assert!(read_answer(many.to_string().as_bytes()).is_err());
    }
}
