//! `/notifications`: a JWT-authenticated namespace with a durable per-user
//! inbox, replay with `since`, read state and topics, as PROTOCOL.md says.
//!
//! The connect middleware checks the token and opens the socket's live
//! subscription before the CONNECT packet goes out; once connected, a
//! [`Delivery`] task (of the notifications feature) sends the replay and then
//! the live stream.
//!
//! With connection state recovery on `/notifications`, the connect
//! middleware runs again for a recovering socket (as in the reference): the
//! token must name the user the session was for, or the connection is
//! refused (`unauthorized`). The notifications themselves are not recorded
//! (they ask for an ack, which the reference does not record either): the
//! store is their record, and a recovered socket without `since` is replayed
//! from the last notification it acknowledged, so recovery neither skips
//! nor duplicates what the `since` replay would send (ids stay the dedupe
//! key). Its topics come back, and the `unread` counts it missed.

pub mod payload;
mod session;
mod wire;

use std::{fmt, sync::Arc};

use socketioxide::{
    adapter::Adapter,
    extract::{SocketRef, State, TryData},
    socket::DisconnectReason,
};

use self::{
    payload::{ConnectAuth, ReadRequest, TopicsRequest, parse_since},
    session::{HeldSession, NotificationSession},
    wire::{Topics, Unread, UnreadCount},
};
use super::{
    Common, emit_recorded,
    event::{self, Event, Reply, store_write_refusal},
    socket_closed, socket_opened,
};
use crate::protocol::{RoomId, StreamId, bounds};
use crate::recovery::log::Sender;
use crate::{
    notifications::{
        Hub, InboxPage, ListRequest, NAMESPACE, TokenError, TokenVerifier, delivery::Delivery,
    },
    protocol::{EventError, rooms},
    store::{NotificationStore, StoreError},
};

/// What every `/notifications` handler needs (socketioxide state).
#[derive(Clone)]
pub struct NotificationsContext {
    pub store: NotificationStore,
    pub hub: Hub,
    pub verifier: TokenVerifier,
    pub common: Common,
    /// On a cluster, live notifications only wake delivery up (see
    /// [`crate::notifications::delivery`]).
    pub clustered: bool,
}

/// What a `/notifications` handler gets besides its request.
type NotificationsEvent<A> = Event<A, NotificationSession, NotificationsContext>;

/// Why a connection was refused: the client's `connect_error` message is the
/// contract's code.
#[derive(Debug)]
pub enum Refusal {
    Unauthorized,
    BadRequest,
    Internal,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unauthorized => "unauthorized",
            Self::BadRequest => "bad_request",
            Self::Internal => "internal",
        })
    }
}

/// Connect middleware: [`admit`], counting a refusal by its code
/// (`switchboard_connect_refusals_total`).
pub async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    auth: TryData<Option<ConnectAuth>>,
    State(ctx): State<NotificationsContext>,
) -> Result<(), Refusal> {
    let metrics = ctx.common.metrics.clone();
    let result = admit(socket, auth, State(ctx)).await;
    if let Err(refusal) = &result {
        metrics.connect_refused(NAMESPACE, &refusal.to_string());
    }
    result
}

/// Checks the token and `since`, then opens the live subscription and fixes
/// the replay cursor, all before the CONNECT packet.
async fn admit<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Option<ConnectAuth>>,
    State(ctx): State<NotificationsContext>,
) -> Result<(), Refusal> {
    let auth = auth.ok().flatten().unwrap_or_default();
    let token = match auth.token {
        Some(serde_json::Value::String(token)) => token,
        _ => String::new(),
    };
    let identity = ctx.verifier.verify(&token).await.map_err(|reason| {
        let level_warn = matches!(reason, TokenError::Disabled);
        if level_warn {
            tracing::warn!(socket_id = %socket.id, "refused /notifications connection: {reason}");
        } else {
            tracing::info!(socket_id = %socket.id, "refused /notifications connection: {reason}");
        }
        Refusal::Unauthorized
    })?;
    let user = identity.user;
    let since = parse_since(auth.since.as_ref()).map_err(|e| {
        tracing::info!(socket_id = %socket.id, "refused /notifications connection: {}", e.message);
        Refusal::BadRequest
    })?;
    let held = restored_session(&socket, &ctx).await;
    if let Some(held) = &held
        && held.user != user.as_str()
    {
        // The pid is a secret of the session's user: another user's token
        // with it is refused, not given that user's session.
        tracing::info!(socket_id = %socket.id, "refused /notifications connection: the token's user is not the recovered session's");
        return Err(Refusal::Unauthorized);
    }
    // Without `since`, the cursor is the newest id *before* subscribing: what
    // commits in between is then replayed rather than missed. A recovered
    // socket resumes after what it acknowledged.
    let (subscription, cursor) = match (since, &held) {
        (Some(since), _) => (ctx.hub.subscribe(&user), since),
        (None, Some(held)) => (ctx.hub.subscribe(&user), StreamId(held.after)),
        (None, None) => {
            let newest = ctx.store.newest_id(user.as_str()).await.map_err(|e| {
                tracing::error!(error = %e, "cannot read the newest notification id");
                Refusal::Internal
            })?;
            (ctx.hub.subscribe(&user), newest)
        }
    };
    socket.join(rooms::user(&user));
    let session = NotificationSession::new(user, subscription, cursor);
    if let Some(held) = &held {
        let topics: Vec<RoomId> = held
            .topics
            .iter()
            .filter_map(|topic| RoomId::parse("topic", topic).ok())
            .collect();
        let _ = session.subscribe(&topics);
    }
    if let Some(log) = &ctx.common.recovery {
        log.touch(&socket, session.to_data()).await;
    }
    socket.extensions.insert(Arc::new(session));
    event::on(&socket, "list", list::<A>);
    event::on(&socket, "read", read::<A>);
    event::on(&socket, "subscribe", subscribe::<A>);
    event::on(&socket, "unsubscribe", unsubscribe::<A>);
    socket.on_disconnect(on_disconnect::<A>);
    socket_opened(&socket, &ctx.common);
    Ok(())
}

/// The session a recovering socket restored, if any.
async fn restored_session<A: Adapter>(
    socket: &SocketRef<A>,
    ctx: &NotificationsContext,
) -> Option<HeldSession> {
    let log = ctx.common.recovery.as_ref()?;
    let data = log.claimed_data(socket).await?;
    // A session without its user (written before its connect finished)
    // names nobody, so it matches no token.
    Some(serde_json::from_value(data).unwrap_or(HeldSession {
        user: String::new(),
        topics: Vec::new(),
        after: 0,
    }))
}

/// Connected: start the socket's delivery task (after a recovered socket
/// joined its rooms again and got the `unread` counts it missed).
pub async fn on_connect<A: Adapter>(socket: SocketRef<A>, State(ctx): State<NotificationsContext>) {
    if let Some(log) = &ctx.common.recovery {
        log.resume(&socket).await;
    }
    let Some(session) = socket.extensions.get::<Arc<NotificationSession>>() else {
        return;
    };
    let Some((subscription, cursor)) = session.take_pending() else {
        return;
    };
    let delivery = Delivery {
        socket: socket.clone(),
        user: session.user.clone(),
        subscription,
        cursor,
        store: ctx.store.clone(),
        metrics: ctx.common.metrics.clone(),
        closed: session.closed.clone(),
        live_is_wake_up: ctx.clustered,
        tasks: ctx.common.tasks.clone(),
        acked: session.acked.clone(),
    };
    ctx.common.tasks.spawn(delivery.run());
}

fn store_failed(e: &dyn fmt::Display) -> EventError {
    tracing::error!(error = %e, "notification store failed");
    EventError::internal()
}

fn store_write_failed(e: &StoreError) -> EventError {
    tracing::error!(error = %e, "notification store write failed");
    store_write_refusal(e)
}

async fn list<A: Adapter>(
    req: Option<ListRequest>,
    event: NotificationsEvent<A>,
) -> Reply<InboxPage> {
    let query = req.unwrap_or_default().parse()?;
    let (notifications, unread) = event
        .ctx
        .store
        .list(event.session.user.as_str(), query)
        .await
        .map_err(|e| store_failed(&e))?;
    Ok(InboxPage {
        notifications,
        unread,
    })
}

async fn read<A: Adapter>(req: ReadRequest, event: NotificationsEvent<A>) -> Reply<Unread> {
    let target = req.parse()?;
    let unread = event
        .ctx
        .store
        .mark_read(event.session.user.as_str(), target)
        .await
        .map_err(|e| store_write_failed(&e))?;
    // Every socket of the user, on every node, this one included.
    let (sender, room) = (Sender::Server(&event.io), rooms::user(&event.session.user));
    let count = UnreadCount { count: unread };
    match emit_recorded(sender, &event.ctx.common, NAMESPACE, room, "unread", &count).await {
        Ok(()) => event.ctx.common.metrics.event_out(NAMESPACE),
        Err(e) => tracing::warn!(user = %event.session.user, "unread not broadcast: {e}"),
    }
    Ok(Unread { unread })
}

async fn subscribe<A: Adapter>(req: TopicsRequest, event: NotificationsEvent<A>) -> Reply<Topics> {
    let topics = req.parse()?;
    let held = event.session.subscribe(&topics).map_err(|()| {
        EventError::bad_request(format!(
            "a event.socket holds at most {} topics",
            bounds::MAX_TOPICS_PER_SOCKET
        ))
    })?;
    event
        .socket
        .join(topics.iter().map(rooms::topic).collect::<Vec<_>>());
    remember_session(&event).await;
    Ok(Topics::held(&held))
}

async fn unsubscribe<A: Adapter>(
    req: TopicsRequest,
    event: NotificationsEvent<A>,
) -> Reply<Topics> {
    let topics = req.parse()?;
    let held = event.session.unsubscribe(&topics);
    event
        .socket
        .leave(topics.iter().map(rooms::topic).collect::<Vec<_>>());
    remember_session(&event).await;
    Ok(Topics::held(&held))
}

/// With recovery on a cluster: the socket's topics are written where every
/// node reads them.
async fn remember_session<A: Adapter>(event: &NotificationsEvent<A>) {
    if let Some(log) = &event.ctx.common.recovery {
        log.touch(&event.socket, event.session.to_data()).await;
    }
}

/// The delivery task ends with the socket; with recovery, a transport that
/// dropped holds the session (user, topics, what it acknowledged).
async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    reason: DisconnectReason,
    State(ctx): State<NotificationsContext>,
) {
    if let Some(session) = socket.extensions.get::<Arc<NotificationSession>>() {
        session.closed.cancel();
        if let Some(log) = &ctx.common.recovery {
            log.hold(&socket, reason, session.to_data()).await;
        }
    }
    socket_closed(&socket, &ctx.common.metrics, reason);
}
