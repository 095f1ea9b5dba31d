//! `/game`: the arena game's namespace (PROTOCOL.md, docs/game.md): join,
//! input, leave, and the state every tick from the game's loop
//! ([`ticker::run`]). The simulation itself is [`crate::game::sim`].

mod payload;
mod session;
mod ticker;
mod wire;

use std::sync::Arc;

use socketioxide::{
    adapter::Adapter,
    extract::{SocketRef, State},
    socket::DisconnectReason,
};

use self::{
    payload::{InputRequest, JoinRequest, LeaveRequest},
    session::{GameSession, Seat},
    wire::{InputApplied, Joined, PlayerLeft},
};
use super::{
    Common,
    event::{self, Event, Reply},
    socket_closed, socket_opened,
};
use crate::{
    game::Games,
    protocol::{EventError, rooms},
};

pub const NAMESPACE: &str = "/game";

/// What every `/game` handler needs (socketioxide state).
#[derive(Clone)]
pub struct GameContext {
    pub games: Games,
    pub common: Common,
}

/// What a `/game` handler gets besides its request.
type GameEvent<A> = Event<A, GameSession, GameContext>;

/// The socket's session, limiter and handlers, before the CONNECT packet
/// goes out ([`mount`](super::mount)); `/game` sends nothing on connect.
pub async fn prepare_socket<A: Adapter>(
    socket: SocketRef<A>,
    State(ctx): State<GameContext>,
) -> Result<(), std::convert::Infallible> {
    socket.extensions.insert(Arc::new(GameSession::default()));
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
    let join = req.parse()?;
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
        .join(game_id, &player_id, join.name.as_str())
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
    match event
        .socket
        .to(room)
        .emit("player_joined", &joined.player)
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
    match socket
        .to(room)
        .emit("player_left", &PlayerLeft { id: &seat.player })
        .await
    {
        Ok(()) => ctx.common.metrics.event_out(NAMESPACE),
        Err(e) => tracing::debug!(game = %seat.game, "player_left not sent: {e}"),
    }
}

async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    reason: DisconnectReason,
    State(ctx): State<GameContext>,
) {
    if let Some(session) = socket.extensions.get::<Arc<GameSession>>() {
        leave_current(&socket, &session, &ctx).await;
    }
    socket_closed(&socket, &ctx.common.metrics, reason);
}
