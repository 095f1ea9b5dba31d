//! The Admin UI's actions, as the reference server (Socket.IO v4) takes
//! them, on every node of a cluster:
//!
//! - `emit (nsp, filter, event, ...args)`: emits `event` with `args`;
//! - `join (nsp, room, filter?)` and `leave (nsp, room, filter?)`: makes
//!   sockets join or leave `room`;
//! - `_disconnect (nsp, close, filter?)`: disconnects sockets from `nsp`;
//!   with `close`, a socket on this node also loses its whole connection
//!   (every namespace of its client), as Node's `disconnect(true)`; one on
//!   another node is disconnected from `nsp` only.
//!
//! `filter` is a socket id (the UI names one socket so: in Node every socket
//! is in a room of its own id), else a room; without it, the whole
//! namespace. The server's own rooms (U+001F in their names) cannot be
//! named. With `--admin-read-only` every action is refused and nothing is
//! done. The stock UI asks for no ack; a client that asks gets `{ok: true}`
//! or `{ok: false, error: {code, message}}`.

use std::str::FromStr;

use serde::Serialize;
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, SocketRef, State, TryData},
    operators::BroadcastOperators,
    socket::{RemoteSocket, Sid},
};

use super::{
    Admin,
    sockets::{self, shown_room},
};
use crate::protocol::{ErrorCode, EventError, RESERVED_EVENTS, args::Args};

/// The reference's features: what the UI offers.
const ACTIONS: [&str; 7] = [
    "EMIT",
    "JOIN",
    "LEAVE",
    "DISCONNECT",
    "MJOIN",
    "MLEAVE",
    "MDISCONNECT",
];
/// Always: `server_stats` carries aggregated events, and every socket and
/// event is shown (the reference's development mode).
const VIEWS: [&str; 2] = ["AGGREGATED_EVENTS", "ALL_EVENTS"];

/// The longest event or room name an action takes.
const MAX_NAME: usize = 256;
/// How long a client whose connection an action closes has to close it
/// itself (see [`close_connection`]).
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The `config` event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub supported_features: Vec<&'static str>,
}

pub fn config(read_only: bool) -> Config {
    let actions: &[&str] = if read_only { &[] } else { &ACTIONS };
    Config {
        supported_features: actions.iter().chain(VIEWS.iter()).copied().collect(),
    }
}

/// Registers the actions on an `/admin` socket.
pub fn register<A: Adapter>(socket: &SocketRef<A>, read_only: bool) {
    if read_only {
        for event in ["emit", "join", "leave", "_disconnect"] {
            socket.on(event, refuse::<A>);
        }
        return;
    }
    socket.on("emit", on_action::<A>);
    socket.on("join", on_action::<A>);
    socket.on("leave", on_action::<A>);
    socket.on("_disconnect", on_action::<A>);
}

#[derive(Serialize)]
struct Done {
    ok: bool,
}

#[derive(Serialize)]
struct Failed {
    ok: bool,
    error: EventError,
}

fn answer<A: Adapter>(ack: AckSender<A>, result: Result<(), EventError>) {
    let sent = match result {
        Ok(()) => ack.send(&Done { ok: true }),
        Err(error) => ack.send(&Failed { ok: false, error }),
    };
    sent.ok();
}

async fn refuse<A: Adapter>(socket: SocketRef<A>, ack: AckSender<A>) {
    tracing::info!(socket_id = %socket.id, "admin action refused: read-only");
    answer(
        ack,
        Err(EventError::forbidden(
            "the Admin UI is read-only (--admin-read-only)",
        )),
    );
}

async fn on_action<A: Adapter>(
    socket: SocketRef<A>,
    socketioxide::extract::Event(event): socketioxide::extract::Event,
    TryData(args): TryData<Args>,
    ack: AckSender<A>,
    State(admin): State<Admin<A>>,
) {
    let result = match args {
        Ok(Args(args)) => run(&admin, &event, args).await,
        Err(e) => Err(EventError::bad_request(format!("invalid arguments: {e}"))),
    };
    match &result {
        Ok(()) => tracing::info!(socket_id = %socket.id, action = %event, "admin action"),
        Err(e) => {
            tracing::info!(socket_id = %socket.id, action = %event, error = %e.message, "admin action refused")
        }
    }
    answer(ack, result);
}

/// Argument `i` as a string.
fn text<'a>(args: &'a [rmpv::Value], i: usize, what: &str) -> Result<&'a str, EventError> {
    args.get(i).and_then(rmpv::Value::as_str).ok_or_else(|| {
        EventError::bad_request(format!("argument {} ({what}) must be a string", i + 1))
    })
}

/// Argument `i` as an optional string (absent, null or empty: none).
fn optional_text<'a>(
    args: &'a [rmpv::Value],
    i: usize,
    what: &str,
) -> Result<Option<&'a str>, EventError> {
    match args.get(i) {
        None | Some(rmpv::Value::Nil) => Ok(None),
        Some(rmpv::Value::String(s)) => Ok(s.as_str().filter(|s| !s.is_empty())),
        Some(_) => Err(EventError::bad_request(format!(
            "argument {} ({what}) must be a string or null",
            i + 1
        ))),
    }
}

/// A room an action may name.
fn room_name<'a>(name: &'a str, what: &str) -> Result<&'a str, EventError> {
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(EventError::bad_request(format!(
            "{what} must be 1 to {MAX_NAME} characters"
        )));
    }
    if !shown_room(name) {
        return Err(EventError::forbidden(format!(
            "{what} is one of the server's own rooms"
        )));
    }
    Ok(name)
}

/// What an action applies to.
enum Target<A: Adapter> {
    /// Every socket of the namespace, on every node.
    Namespace(BroadcastOperators<A>),
    /// The sockets in a room, on every node.
    Room(BroadcastOperators<A>),
    /// One socket of this node.
    Here(SocketRef<A>),
    /// One socket of another node.
    There(RemoteSocket<A>),
}

/// `filter` in namespace `nsp`: a socket id (of any node) or a room.
async fn target<A: Adapter>(
    admin: &Admin<A>,
    nsp: &str,
    filter: Option<&str>,
) -> Result<Target<A>, EventError> {
    let io = admin
        .io()
        .ok_or_else(|| EventError::new(ErrorCode::Internal, "the server is starting"))?;
    let ns = io
        .of(nsp)
        .ok_or_else(|| EventError::new(ErrorCode::NotFound, format!("no namespace `{nsp}`")))?;
    let Some(filter) = filter else {
        return Ok(Target::Namespace(ns));
    };
    if let Ok(sid) = Sid::from_str(filter) {
        if let Some(socket) = ns.get_socket(sid) {
            return Ok(Target::Here(socket));
        }
        if admin.inner.cluster.is_some() {
            match ns.clone().fetch_sockets().await {
                Ok(remote) => {
                    if let Some(socket) = remote.into_iter().find(|s| s.data().id == sid) {
                        return Ok(Target::There(socket));
                    }
                }
                Err(e) => tracing::warn!("cannot list the sockets of the other nodes: {e}"),
            }
        }
    }
    let room = room_name(filter, "the filter")?.to_owned();
    Ok(Target::Room(ns.within(room)))
}

/// Node's `disconnect(true)`: every namespace socket of `socket`'s
/// connection is disconnected (each gets its DISCONNECT, and
/// socket.io-client, left with no socket, closes the connection itself),
/// then the connection is closed after [`CLOSE_GRACE`] if the client has
/// not. Closing it at once would drop, over long-polling, the DISCONNECTs
/// the client has not polled yet (it would see a transport error, and
/// reconnect).
fn close_connection<A: Adapter>(admin: &Admin<A>, socket: &SocketRef<A>) {
    let Some(io) = admin.io() else {
        return;
    };
    let session = sockets::session_key(socket);
    for ns in io.nsps() {
        for other in ns.sockets() {
            if sockets::session_key(&other) == session {
                other.disconnect().ok();
            }
        }
    }
    let socket = socket.clone();
    admin.spawn(async move {
        tokio::time::sleep(CLOSE_GRACE).await;
        socket.close_session();
    });
}

fn failed(e: impl std::fmt::Display) -> EventError {
    tracing::warn!("admin action failed: {e}");
    EventError::internal()
}

async fn run<A: Adapter>(
    admin: &Admin<A>,
    action: &str,
    args: Vec<rmpv::Value>,
) -> Result<(), EventError> {
    let nsp = text(&args, 0, "namespace")?;
    match action {
        "emit" => {
            let filter = optional_text(&args, 1, "filter")?;
            let event = text(&args, 2, "event")?;
            if event.is_empty()
                || event.chars().count() > MAX_NAME
                || RESERVED_EVENTS.contains(&event)
            {
                return Err(EventError::bad_request(format!(
                    "`{event}` cannot be emitted (1 to {MAX_NAME} characters, not a reserved event)"
                )));
            }
            let payload = Args(args[3..].to_vec());
            match target(admin, nsp, filter).await? {
                Target::Namespace(op) | Target::Room(op) => {
                    op.emit(event, &payload).await.map_err(failed)?
                }
                Target::Here(socket) => socket.emit(event, &payload).map_err(failed)?,
                Target::There(socket) => socket.emit(event, &payload).await.map_err(failed)?,
            }
        }
        "join" | "leave" => {
            let room = room_name(text(&args, 1, "room")?, "the room")?.to_owned();
            let filter = optional_text(&args, 2, "filter")?;
            let join = action == "join";
            match target(admin, nsp, filter).await? {
                Target::Namespace(op) | Target::Room(op) if join => {
                    op.join(room).await.map_err(failed)?
                }
                Target::Namespace(op) | Target::Room(op) => op.leave(room).await.map_err(failed)?,
                Target::Here(socket) if join => socket.join(room),
                Target::Here(socket) => socket.leave(room),
                Target::There(socket) if join => socket.join(room).await.map_err(failed)?,
                Target::There(socket) => socket.leave(room).await.map_err(failed)?,
            }
            admin.inner.feed.rescan();
        }
        "_disconnect" => {
            let close = args.get(1).and_then(rmpv::Value::as_bool).unwrap_or(false);
            let filter = optional_text(&args, 2, "filter")?;
            match target(admin, nsp, filter).await? {
                Target::Namespace(op) | Target::Room(op) => {
                    // The sockets of this node that lose their connection
                    // too, found before they leave.
                    let here = if close {
                        op.clone().sockets()
                    } else {
                        Vec::new()
                    };
                    op.disconnect().await.map_err(failed)?;
                    for socket in here {
                        close_connection(admin, &socket);
                    }
                }
                Target::Here(socket) if close => close_connection(admin, &socket),
                Target::Here(socket) => {
                    socket.disconnect().ok();
                }
                Target::There(socket) => socket.disconnect().await.map_err(failed)?,
            }
            admin.inner.feed.rescan();
        }
        _ => {
            return Err(EventError::bad_request(format!(
                "unknown action `{action}`"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_offers_no_action() {
        assert_eq!(
            config(true).supported_features,
            ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        );
        assert_eq!(config(false).supported_features.len(), 9);
    }

    #[test]
    fn rooms_are_checked() {
        assert!(room_name("lobby", "room").is_ok());
        assert!(room_name("", "room").is_err());
        assert_eq!(
            room_name("\u{1f}recovery\u{1f}plain", "room")
                .unwrap_err()
                .code,
            ErrorCode::Forbidden
        );
        assert!(room_name(&"x".repeat(257), "room").is_err());
    }
}
