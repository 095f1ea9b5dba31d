//! `/game`: the arena game's namespace (PROTOCOL.md, docs/game.md): join,
//! input, leave, and the state every tick from the game's loop
//! ([`ticker::run`]). The simulation itself is [`crate::game::sim`].
//!
//! With connection state recovery on `/game`, a player whose transport
//! dropped stays in its game, standing still, for the window: recovered, it
//! plays on with its player id and score, and the others saw nothing; when
//! the window passes, it leaves as on a disconnect. `player_joined` and
//! `player_left` are recorded (a recovered player gets those it missed); the
//! states are volatile and are not.

mod payload;
mod session;
mod ticker;
mod wire;

use std::sync::Arc;

use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{SocketRef, State, TryData},
    socket::DisconnectReason,
};

use self::{
    payload::{InputRequest, JoinRequest, LeaveRequest},
    session::{GameSession, Seat},
    wire::{InputApplied, Joined, PlayerLeft},
};
use super::{
    Common,
    auth::{self, NamespaceAuth, TokenAuth},
    emit_recorded,
    event::{self, Event, Reply},
    notifications::Refusal,
    socket_closed, socket_opened,
};
use crate::{
    game::Games,
    protocol::{EventError, rooms},
    recovery::{Expired, log::Sender},
};

pub const NAMESPACE: &str = "/game";

/// What every `/game` handler needs (socketioxide state).
#[derive(Clone)]
pub struct GameContext {
    pub games: Games,
    pub common: Common,
    /// Token authentication (`--game-auth`, `--display-name-claim`).
    pub auth: NamespaceAuth,
}

/// What a `/game` handler gets besides its request.
type GameEvent<A> = Event<A, GameSession, GameContext>;

/// The socket's identity ([`auth::admit`]: `unauthorized` when a token is
/// bad or a required one missing), then its session, limiter and handlers,
/// before the CONNECT packet goes out ([`mount`](super::mount)); `/game`
/// sends nothing on connect. A recovered socket gets its seat back if it is
/// still the same user (or still anonymous), else it is refused
/// `unauthorized`.
pub async fn prepare_socket<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Option<TokenAuth>>,
    State(ctx): State<GameContext>,
) -> Result<(), Refusal> {
    let identity = auth::admit(&socket, auth.ok().flatten(), &ctx.auth, &ctx.common).await?;
    let restored = match &ctx.common.recovery {
        Some(log) => log.claimed_data(&socket).await,
        None => None,
    };
    if let Some(data) = &restored
        && !GameSession::data_is_for(data, identity.as_ref().map(|i| i.user.as_str()))
    {
        return Err(auth::not_the_sessions_user(&socket, &ctx.common));
    }
    let mut session =
        restored.map_or_else(GameSession::default, |data| GameSession::from_data(&data));
    session.player = identity.map(|identity| {
        let name = auth::display_name(&identity, &ctx.auth.display_name_claim);
        (identity.user.as_str().to_owned(), name)
    });
    socket.extensions.insert(Arc::new(session));
    event::on(&socket, "join", join::<A>);
    event::on(&socket, "input", input::<A>);
    event::on(&socket, "leave", leave::<A>);
    socket.on_disconnect(on_disconnect::<A>);
    socket_opened(&socket, &ctx.common);
    Ok(())
}

/// Joins (or rejoins, keeping the player) a game; the first player's join
/// creates the game and starts its loop.
async fn join<A: Adapter>(req: JoinRequest, event: GameEvent<A>) -> Reply<Joined> {
    let fixed = event.session.player.as_ref().map(|(_, name)| name);
    let join = req.parse(fixed)?;
    let user = event.session.player.as_ref().map(|(user, _)| user.as_str());
    let game_id = join.game.as_str();
    let seat = event.session.current().clone();
    let player_id = match seat {
        Some(seat) if seat.game == game_id => seat.player,
        Some(_) => {
            leave_current(&event.socket, &event.session, &event.ctx).await;
            event.ctx.games.next_player_id()
        }
        None => event.ctx.games.next_player_id(),
    };
    let joined = event
        .ctx
        .games
        .join_as(game_id, &player_id, join.name.as_str(), user)
        .map_err(|e| EventError::bad_request(e.to_string()))?;
    *event.session.current() = Some(Seat {
        game: game_id.to_owned(),
        player: player_id.clone(),
    });
    let room = rooms::game(game_id);
    event.socket.join(room.clone());
    if joined.created {
        let ops = event
            .io
            .of(NAMESPACE)
            .expect("the /game namespace is registered")
            .within(room.clone());
        event.ctx.common.tasks.spawn(ticker::run(
            joined.game.clone(),
            ops,
            event.ctx.games.tick_rate(),
            event.ctx.common.metrics.clone(),
        ));
    }
    let sender = Sender::Socket(&event.socket);
    let common = &event.ctx.common;
    match emit_recorded(
        sender,
        common,
        NAMESPACE,
        room,
        "player_joined",
        &joined.player,
    )
    .await
    {
        Ok(()) => event.ctx.common.metrics.event_out(NAMESPACE),
        Err(e) => tracing::debug!(game = game_id, "player_joined not sent: {e}"),
    }
    Ok(Joined {
        you: player_id,
        tick_rate: event.ctx.games.tick_rate(),
        state: joined.snapshot,
    })
}

async fn input<A: Adapter>(req: InputRequest, event: GameEvent<A>) -> Reply<InputApplied> {
    let input = req.parse()?;
    let seat = event
        .session
        .current()
        .clone()
        .ok_or_else(|| EventError::forbidden("join a game before sending input"))?;
    let game = event
        .ctx
        .games
        .get(&seat.game)
        .ok_or_else(|| EventError::forbidden("join a game before sending input"))?;
    // A stale input (lower seq than the latest) is ignored, as the contract
    // says; only malformed ones are refused.
    let applied = game.sim().set_input(&seat.player, input).is_ok();
    Ok(InputApplied { applied })
}

async fn leave<A: Adapter>(_: Option<LeaveRequest>, event: GameEvent<A>) -> Reply<()> {
    leave_current(&event.socket, &event.session, &event.ctx).await;
    Ok(())
}

/// Leaves the socket's game, if any, telling the others.
async fn leave_current<A: Adapter>(
    socket: &SocketRef<A>,
    session: &GameSession,
    ctx: &GameContext,
) {
    let Some(seat) = session.current().take() else {
        return;
    };
    ctx.games.leave(&seat.game, &seat.player);
    let room = rooms::game(&seat.game);
    socket.leave(room.clone());
    let left = PlayerLeft { id: &seat.player };
    let sender = Sender::Socket(socket);
    match emit_recorded(sender, &ctx.common, NAMESPACE, room, "player_left", &left).await {
        Ok(()) => ctx.common.metrics.event_out(NAMESPACE),
        Err(e) => tracing::debug!(game = %seat.game, "player_left not sent: {e}"),
    }
}

/// After the CONNECT packet: `/game` sends nothing, but a recovered socket
/// joins its game's room again and gets the events it missed.
pub async fn on_connect<A: Adapter>(socket: SocketRef<A>, State(ctx): State<GameContext>) {
    if let Some(log) = &ctx.common.recovery {
        log.resume(&socket).await;
    }
}

/// Disconnecting leaves the game; with recovery, a transport that dropped
/// only stops the player where it is (see [`on_recovery_expired`]).
async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    reason: DisconnectReason,
    State(ctx): State<GameContext>,
) {
    if let Some(session) = socket.extensions.get::<Arc<GameSession>>() {
        let seat = session.current().clone();
        if let (Some(log), Some(seat)) = (&ctx.common.recovery, seat)
            && log.hold(&socket, reason, session.to_data()).await
        {
            if let Some(game) = ctx.games.get(&seat.game) {
                game.sim().halt_player(&seat.player);
            }
            socket_closed(&socket, &ctx.common.metrics, reason);
            return;
        }
        leave_current(&socket, &session, &ctx).await;
    }
    socket_closed(&socket, &ctx.common.metrics, reason);
}

/// With recovery: a held player whose window passed (or whose session went
/// past a bound) leaves its game, and the others get its `player_left`.
pub fn on_recovery_expired<A: Adapter>(io: &SocketIo<A>, ctx: &GameContext) {
    let Some(log) = ctx.common.recovery.clone() else {
        return;
    };
    let (io, ctx) = (io.clone(), ctx.clone());
    log.on_expired(move |expired: Expired| {
        let Some(seat) = GameSession::from_data(&expired.data).current().clone() else {
            return;
        };
        let (io, ctx) = (io.clone(), ctx.clone());
        ctx.common.tasks.clone().spawn(async move {
            if !ctx.games.leave(&seat.game, &seat.player) {
                return;
            }
            let left = PlayerLeft { id: &seat.player };
            let (sender, room) = (Sender::Server(&io), rooms::game(&seat.game));
            match emit_recorded(sender, &ctx.common, NAMESPACE, room, "player_left", &left).await {
                Ok(()) => ctx.common.metrics.event_out(NAMESPACE),
                Err(e) => tracing::debug!(game = %seat.game, "player_left not sent: {e}"),
            }
        });
    });
}
