//! `/chat`: rooms, messages, typing, presence and durable history, as
//! PROTOCOL.md says.
//!
//! Fan-out stays linear in the room size: `presence` carries the one member
//! who joined or left and the count, a room holds at most `--room-limit`
//! members (counted on every node), and the whole list goes only to the
//! joiner (its `join` ack) or to whoever asks (`members`).
//!
//! Every event is one handler registered with [`event::on`], which applies
//! the socket's order, rate limit and the contract's answer around it. A
//! message is committed to the store before it is broadcast and acked.
//!
//! A socket with a verified token ([`super::auth`], `--chat-auth`) is named
//! by its token in every room, whatever its `join` says, and its Member
//! carries its `user`, also in the presence marker, so every node lists it.

mod payload;
mod presence;
mod session;
mod wire;

use std::sync::Arc;

use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{SocketRef, State, TryData},
    socket::DisconnectReason,
};

use self::{
    payload::{HistoryRequest, JoinRequest, MessageRequest, RoomRequest, TypingRequest},
    session::{Authenticated, ChatSession},
    wire::{HistoryPage, Joined, Member, Members, Message, Presence, Sent, TypingNotice},
};
use super::{
    Common,
    auth::{self, NamespaceAuth, TokenAuth},
    emit_recorded,
    event::{self, Event, Reply, store_write_refusal},
    notifications::Refusal,
    socket_closed, socket_opened,
};
use crate::protocol::bounds;
use crate::recovery::{Expired, SendFailed, log::Sender};
use crate::{
    protocol::{EventError, RoomId, StreamId, rooms},
    store::{ChatStore, NewChatMessage},
};

pub const NAMESPACE: &str = "/chat";

/// What every `/chat` handler needs (socketioxide state).
#[derive(Clone)]
pub struct ChatContext {
    pub store: ChatStore,
    pub common: Common,
    /// Most members one room may have, on every node together (`--room-limit`).
    pub room_limit: usize,
    /// Token authentication (`--chat-auth`, `--display-name-claim`).
    pub auth: NamespaceAuth,
}

/// What a `/chat` handler gets besides its request.
type ChatEvent<A> = Event<A, ChatSession, ChatContext>;

/// The socket's identity ([`auth::admit`]: `unauthorized` when a token is
/// bad or a required one missing), then its session, limiter and handlers,
/// before the CONNECT packet goes out ([`mount`](super::mount)). A
/// recovered socket gets its rooms and names back, if it is still the same
/// user (or still anonymous); otherwise it is refused `unauthorized`.
pub async fn prepare_socket<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Option<TokenAuth>>,
    State(ctx): State<ChatContext>,
) -> Result<(), Refusal> {
    let identity = auth::admit(&socket, auth.ok().flatten(), &ctx.auth, &ctx.common).await?;
    let member = identity.map(|identity| Authenticated {
        user: identity.user.as_str().to_owned(),
        name: auth::display_name(&identity, &ctx.auth.display_name_claim),
    });
    let restored = match &ctx.common.recovery {
        Some(log) => log.claimed_data(&socket).await,
        None => None,
    };
    if let Some(data) = &restored
        && ChatSession::user_in_data(data).as_deref() != member.as_ref().map(|m| m.user.as_str())
    {
        return Err(auth::not_the_sessions_user(&socket, &ctx.common));
    }
    let session = restored
        .map_or_else(ChatSession::default, |data| ChatSession::from_data(&data))
        .with_member(member);
    socket.extensions.insert(Arc::new(session));
    event::on(&socket, "join", join::<A>);
    event::on(&socket, "leave", leave::<A>);
    event::on(&socket, "message", message::<A>);
    event::on(&socket, "typing", typing::<A>);
    event::on(&socket, "history", history::<A>);
    event::on(&socket, "members", list_members::<A>);
    socket.on_disconnect(on_disconnect::<A>);
    socket_opened(&socket, &ctx.common);
    Ok(())
}

/// The members of `room` on every node, leaving out `except`; with
/// recovery, those whose transport dropped still count.
async fn room_members<A: Adapter>(
    socket: &SocketRef<A>,
    ctx: &ChatContext,
    room: &RoomId,
    except: Option<&str>,
) -> Vec<Member> {
    let within = || socket.within(rooms::chat(room));
    presence::members(within, room, except, ctx.common.recovery.as_deref()).await
}

/// With recovery on a cluster: the socket's rooms and names are written
/// where every node reads them, so it recovers into them even if this node
/// dies.
async fn remember_session<A: Adapter>(
    socket: &SocketRef<A>,
    ctx: &ChatContext,
    session: &ChatSession,
) {
    if let Some(log) = &ctx.common.recovery {
        log.touch(socket, session.to_data()).await;
    }
}

/// The member this socket is in `room`, or `forbidden`.
fn member_of(socket_id: &str, session: &ChatSession, room: &RoomId) -> Result<Member, EventError> {
    session
        .name_in(room)
        .map(|name| Member {
            id: socket_id.to_owned(),
            name: name.as_str().to_owned(),
            user: session.user().map(str::to_owned),
        })
        .ok_or_else(|| EventError::forbidden(format!("not a member of room `{}`", room.as_str())))
}

/// Emits `event` to everyone else in `room` (on every node, through the
/// adapter), counting it when it went out. A volatile emit (typing) may be
/// dropped by design, so its failure is only worth a debug line.
async fn emit_to_others<A: Adapter, T: serde::Serialize + ?Sized>(
    socket: &SocketRef<A>,
    ctx: &ChatContext,
    room: &RoomId,
    event: &str,
    data: &T,
    volatile: bool,
) {
    let sent = if volatile {
        // Typing hints stay volatile and unrecorded.
        socket
            .to(rooms::chat(room))
            .volatile()
            .emit(event, data)
            .await
            .map_err(SendFailed::from)
    } else {
        let sender = Sender::Socket(socket);
        emit_recorded(
            sender,
            &ctx.common,
            NAMESPACE,
            rooms::chat(room),
            event,
            data,
        )
        .await
    };
    match sent {
        Ok(()) => ctx.common.metrics.event_out(NAMESPACE),
        Err(e) if volatile => tracing::debug!(room = room.as_str(), "{event} not broadcast: {e}"),
        Err(e) => tracing::warn!(room = room.as_str(), "{event} not broadcast: {e}"),
    }
}

/// `presence` to the others: who joined or left, and how many are in the
/// room now (O(1) bytes per member, so filling a room of N costs O(N²), not
/// the O(N³) a full list in every event cost).
async fn broadcast_presence<A: Adapter>(
    socket: &SocketRef<A>,
    ctx: &ChatContext,
    room: &RoomId,
    event: &'static str,
    member: &Member,
    count: usize,
) {
    let presence = Presence {
        room: room.as_str(),
        event,
        member,
        count,
    };
    emit_to_others(socket, ctx, room, "presence", &presence, false).await;
}

/// The refusal of a join to a full room, counted in `/metrics`.
fn room_full(ctx: &ChatContext, room: &RoomId) -> EventError {
    ctx.common.metrics.limit_hit("room_full");
    EventError::forbidden(format!(
        "room `{}` is full ({} members)",
        room.as_str(),
        ctx.room_limit
    ))
}

/// A page of the room's history in wire form; a store failure is logged and
/// answered `internal`.
async fn read_history(
    ctx: &ChatContext,
    room: &RoomId,
    before: Option<StreamId>,
    limit: u32,
) -> Result<Vec<Message>, EventError> {
    let messages = ctx
        .store
        .history(room.as_str(), before, limit)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "history read failed");
            EventError::internal()
        })?;
    Ok(messages.into_iter().map(Message::from).collect())
}

async fn join<A: Adapter>(req: JoinRequest, event: ChatEvent<A>) -> Reply<Joined> {
    let fixed = event.session.member.as_ref().map(|m| &m.name);
    let join = req.parse(fixed)?;
    // A member joining again (to change its name) does not grow the room.
    let newcomer = event.session.name_in(&join.room).is_none();
    if newcomer
        && room_members(&event.socket, &event.ctx, &join.room, None)
            .await
            .len()
            >= event.ctx.room_limit
    {
        return Err(room_full(&event.ctx, &join.room));
    }
    let previous = event
        .session
        .join(join.room.clone(), join.name.clone())
        .map_err(|()| EventError::bad_request("in too many rooms, leave one first"))?;
    // Join the room before reading history: a message sent meanwhile then
    // arrives live and may also be in the history (same id, clients
    // de-duplicate), but is never missed.
    let id = event.socket.id.to_string();
    let user = event.session.user();
    let marker = rooms::presence_marker(&join.room, &id, &join.name, user);
    if let Some(previous) = &previous {
        event
            .socket
            .leave(rooms::presence_marker(&join.room, &id, previous, user));
    }
    event.socket.join([rooms::chat(&join.room), marker.clone()]);
    let members = room_members(&event.socket, &event.ctx, &join.room, None).await;
    if newcomer && members.len() > event.ctx.room_limit {
        // Others took the last places meanwhile (on any node): undo before
        // anyone was told, so the room never grows past the limit.
        event.session.leave(&join.room);
        event.socket.leave([rooms::chat(&join.room), marker]);
        return Err(room_full(&event.ctx, &join.room));
    }
    remember_session(&event.socket, &event.ctx, &event.session).await;
    let history = read_history(&event.ctx, &join.room, None, bounds::DEFAULT_HISTORY).await?;
    if previous.as_ref() != Some(&join.name) {
        let member = Member {
            id: event.socket.id.to_string(),
            name: join.name.as_str().to_owned(),
            user: user.map(str::to_owned),
        };
        broadcast_presence(
            &event.socket,
            &event.ctx,
            &join.room,
            "join",
            &member,
            members.len(),
        )
        .await;
    }
    Ok(Joined {
        room: join.room.as_str().to_owned(),
        members,
        history,
    })
}

async fn leave<A: Adapter>(req: RoomRequest, event: ChatEvent<A>) -> Reply<()> {
    let room = req.parse()?;
    let member = member_of(&event.socket.id.to_string(), &event.session, &room)?;
    if let Some(name) = event.session.leave(&room) {
        event.socket.leave([
            rooms::chat(&room),
            rooms::presence_marker(&room, &member.id, &name, event.session.user()),
        ]);
        remember_session(&event.socket, &event.ctx, &event.session).await;
    }
    let count = room_members(&event.socket, &event.ctx, &room, Some(&member.id))
        .await
        .len();
    broadcast_presence(&event.socket, &event.ctx, &room, "leave", &member, count).await;
    Ok(())
}

async fn message<A: Adapter>(req: MessageRequest, event: ChatEvent<A>) -> Reply<Sent> {
    let send = req.parse()?;
    let member = member_of(&event.socket.id.to_string(), &event.session, &send.room)?;
    let stored = event
        .ctx
        .store
        .append(NewChatMessage {
            room: send.room.as_str().to_owned(),
            member_id: member.id,
            member_name: member.name,
            user: member.user,
            text: send.text,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "message not stored");
            store_write_refusal(&e)
        })?;
    let message = Message::from(stored);
    // Stored first: a message anyone saw is in the history.
    emit_to_others(
        &event.socket,
        &event.ctx,
        &send.room,
        "message",
        &message,
        false,
    )
    .await;
    Ok(Sent { message })
}

async fn typing<A: Adapter>(req: TypingRequest, event: ChatEvent<A>) -> Reply<()> {
    let typing = req.parse()?;
    let member = member_of(&event.socket.id.to_string(), &event.session, &typing.room)?;
    let notice = TypingNotice {
        room: typing.room.as_str(),
        member: &member,
        typing: typing.typing,
    };
    // Volatile: a typing hint that cannot be delivered now is worthless later.
    emit_to_others(
        &event.socket,
        &event.ctx,
        &typing.room,
        "typing",
        &notice,
        true,
    )
    .await;
    Ok(())
}

async fn history<A: Adapter>(req: HistoryRequest, event: ChatEvent<A>) -> Reply<HistoryPage> {
    let history = req.parse()?;
    member_of(&event.socket.id.to_string(), &event.session, &history.room)?;
    let messages = read_history(&event.ctx, &history.room, history.before, history.limit).await?;
    Ok(HistoryPage { messages })
}

/// The room's members on every node, for a member that needs the whole list
/// again (presence carries only changes). At most `--room-limit` of them.
async fn list_members<A: Adapter>(req: RoomRequest, event: ChatEvent<A>) -> Reply<Members> {
    let room = req.parse()?;
    member_of(&event.socket.id.to_string(), &event.session, &room)?;
    let members = room_members(&event.socket, &event.ctx, &room, None).await;
    let count = members.len();
    Ok(Members {
        room: room.as_str().to_owned(),
        members,
        count,
    })
}

/// After the CONNECT packet: `/chat` sends nothing, but a recovered socket
/// joins its rooms again and gets the events it missed (the others saw
/// nothing: it never left).
pub async fn on_connect<A: Adapter>(socket: SocketRef<A>, State(ctx): State<ChatContext>) {
    if let Some(log) = &ctx.common.recovery {
        log.resume(&socket).await;
    }
}

/// With recovery: a held session whose window passed (or that went past a
/// bound) leaves its rooms, and the others get the `presence` they would
/// have got when its transport dropped.
pub fn on_recovery_expired<A: Adapter>(io: &SocketIo<A>, ctx: &ChatContext) {
    let Some(log) = ctx.common.recovery.clone() else {
        return;
    };
    let (io, ctx) = (io.clone(), ctx.clone());
    log.on_expired(move |expired: Expired| {
        let (io, ctx) = (io.clone(), ctx.clone());
        ctx.common.tasks.clone().spawn(async move {
            let Some(all) = io.of(NAMESPACE) else {
                return;
            };
            let session = ChatSession::from_data(&expired.data);
            let user = ChatSession::user_in_data(&expired.data);
            let id = expired.sid.to_string();
            for (room, name) in session.leave_all() {
                let member = Member {
                    id: id.clone(),
                    name: name.as_str().to_owned(),
                    user: user.clone(),
                };
                let within = || all.clone().within(rooms::chat(&room));
                let count =
                    presence::members(within, &room, Some(&id), ctx.common.recovery.as_deref())
                        .await
                        .len();
                let presence = Presence {
                    room: room.as_str(),
                    event: "leave",
                    member: &member,
                    count,
                };
                let sender = Sender::Server(&io);
                let to = rooms::chat(&room);
                match emit_recorded(sender, &ctx.common, NAMESPACE, to, "presence", &presence).await
                {
                    Ok(()) => ctx.common.metrics.event_out(NAMESPACE),
                    Err(e) => tracing::warn!(room = room.as_str(), "presence not broadcast: {e}"),
                }
            }
        });
    });
}

/// Disconnecting leaves every room, with the same `presence` as `leave`;
/// with recovery, a transport that dropped leaves nothing yet (the member
/// stays present for the window, see [`on_recovery_expired`]).
async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    reason: DisconnectReason,
    State(ctx): State<ChatContext>,
) {
    let session = socket.extensions.get::<Arc<ChatSession>>();
    if let (Some(log), Some(session)) = (&ctx.common.recovery, &session)
        && log.hold(&socket, reason, session.to_data()).await
    {
        socket_closed(&socket, &ctx.common.metrics, reason);
        return;
    }
    if let Some(session) = session {
        let id = socket.id.to_string();
        let user = session.user().map(str::to_owned);
        for (room, name) in session.leave_all() {
            // Out of the room before the others hear it left: socketioxide
            // takes a closing socket out of its rooms only after this
            // handler, and a `members` answered in between (on any node)
            // would still list it.
            socket.leave([
                rooms::chat(&room),
                rooms::presence_marker(&room, &id, &name, user.as_deref()),
            ]);
            let member = Member {
                id: id.clone(),
                name: name.as_str().to_owned(),
                user: user.clone(),
            };
            let count = room_members(&socket, &ctx, &room, Some(&id)).await.len();
            broadcast_presence(&socket, &ctx, &room, "leave", &member, count).await;
        }
    }
    socket_closed(&socket, &ctx.common.metrics, reason);
}
