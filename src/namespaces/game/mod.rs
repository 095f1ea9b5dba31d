//! `/game`: the arena game's namespace (PROTOCOL.md, docs/game.md): join,
//! input, leave, and the state every tick from the game's loop
//! ([`ticker::run`]). The simulation itself is [`crate::game::sim`].

mod payload;
mod ticker;

use std::sync::{Arc, Mutex};

use serde_json::json;
use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{AckSender, SocketRef, State, TryData},
    handler::ConnectHandler,
    socket::DisconnectReason,
};
use socketioxide_core::adapter::DefinedAdapter;

use self::payload::{InputRequest, JoinRequest, LeaveRequest};
use super::{
    AckRequested,
    dispatch::{Context, Session, event_handler, handle},
    order::Turn,
    rate_limit::{RateLimit, SocketLimiter, admit_connect},
    reply::{EventResult, fields},
    socket_closed, socket_opened,
};
use crate::{
    game::Games,
    metrics::Metrics,
    protocol::{EventError, rooms},
    tasks::Tasks,
};

pub const NAMESPACE: &str = "/game";

/// What every `/game` handler needs (socketioxide state).
#[derive(Clone)]
pub struct GameContext {
    pub games: Games,
    pub metrics: Metrics,
    pub rate_limit: RateLimit,
    /// Where this namespace's tasks run; each socket counts as one.
    pub tasks: Tasks,
}

/// The game and player this socket is in, if any.
struct GameSession {
    limiter: SocketLimiter,
    current: Mutex<Option<Seat>>,
}

#[derive(Clone)]
struct Seat {
    game: String,
    player: String,
}

impl GameSession {
    fn current(&self) -> std::sync::MutexGuard<'_, Option<Seat>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Context for GameContext {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl Session for GameSession {
    fn limiter(&self) -> &SocketLimiter {
        &self.limiter
    }
}

pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, metrics: &Metrics) -> A::InitRes {
    metrics.register_namespace(NAMESPACE);
    io.ns(
        NAMESPACE,
        on_connect::<A>
            .with(prepare_socket::<A>)
            .with(admit_connect::<A>),
    )
}

/// Registers the handlers before the CONNECT packet goes out (see `/chat`).
async fn prepare_socket<A: Adapter>(
    socket: SocketRef<A>,
    State(ctx): State<GameContext>,
) -> Result<(), std::convert::Infallible> {
    socket.extensions.insert(Arc::new(GameSession {
        limiter: ctx.rate_limit.for_socket(&socket),
        current: Mutex::new(None),
    }));
    socket.on("join", on_join::<A>);
    socket.on("input", on_input::<A>);
    socket.on("leave", on_leave::<A>);
    socket.on_disconnect(on_disconnect::<A>);
    socket_opened(&socket, &ctx.metrics, &ctx.tasks);
    Ok(())
}

async fn on_connect<A: Adapter>(_: SocketRef<A>) {}

/// `join` also needs the `SocketIo` handle (a new game's loop emits through
/// it), so its handler is written out; the others use the shared macro.
async fn on_join<A: Adapter>(
    socket: SocketRef<A>,
    turn: Turn,
    io: SocketIo<A>,
    TryData(payload): TryData<JoinRequest>,
    asked: AckRequested,
    ack: AckSender<A>,
    State(ctx): State<GameContext>,
) {
    handle(
        socket,
        turn,
        payload,
        asked,
        ack,
        ctx,
        |socket, session, req, ctx| join(socket, io, session, req, ctx),
    )
    .await;
}

event_handler!(on_input, InputRequest, GameContext, input);
event_handler!(on_leave, Option<LeaveRequest>, GameContext, leave);

async fn leave<A: Adapter>(
    socket: SocketRef<A>,
    session: Arc<GameSession>,
    _: Option<LeaveRequest>,
    ctx: GameContext,
) -> EventResult {
    leave_current(&socket, &session, &ctx).await;
    Ok(fields(json!({})))
}

async fn join<A: Adapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    session: Arc<GameSession>,
    req: JoinRequest,
    ctx: GameContext,
) -> EventResult {
    let join = req.parse()?;
    let game_id = join.game.as_str();
    let seat = session.current().clone();
    let player_id = match seat {
        Some(seat) if seat.game == game_id => seat.player,
        Some(_) => {
            leave_current(&socket, &session, &ctx).await;
            ctx.games.next_player_id()
        }
        None => ctx.games.next_player_id(),
    };
    let joined = ctx
        .games
        .join(game_id, &player_id, join.name.as_str())
        .map_err(|e| EventError::bad_request(e.to_string()))?;
    *session.current() = Some(Seat {
        game: game_id.to_owned(),
        player: player_id.clone(),
    });
    let room = rooms::game(game_id);
    socket.join(room.clone());
    if joined.created {
        let ops = io
            .of(NAMESPACE)
            .expect("the /game namespace is registered")
            .within(room.clone());
        ctx.tasks.spawn(ticker::run(
            joined.game.clone(),
            ops,
            ctx.games.tick_rate(),
            ctx.metrics.clone(),
        ));
    }
    match socket.to(room).emit("player_joined", &joined.player).await {
        Ok(()) => ctx.metrics.event_out(NAMESPACE),
        Err(e) => tracing::debug!(game = game_id, "player_joined not sent: {e}"),
    }
    Ok(fields(json!({
        "you": player_id,
        "tick_rate": ctx.games.tick_rate(),
        "state": joined.snapshot,
    })))
}

async fn input<A: Adapter>(
    _: SocketRef<A>,
    session: Arc<GameSession>,
    req: InputRequest,
    ctx: GameContext,
) -> EventResult {
    let input = req.parse()?;
    let seat = session
        .current()
        .clone()
        .ok_or_else(|| EventError::forbidden("join a game before sending input"))?;
    let game = ctx
        .games
        .get(&seat.game)
        .ok_or_else(|| EventError::forbidden("join a game before sending input"))?;
    // A stale input (lower seq than the latest) is ignored, as the contract
    // says; only malformed ones are refused.
    let applied = game.sim().set_input(&seat.player, input).is_ok();
    Ok(fields(json!({ "applied": applied })))
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
        .emit("player_left", &json!({ "id": seat.player }))
        .await
    {
        Ok(()) => ctx.metrics.event_out(NAMESPACE),
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
    socket_closed(&socket, &ctx.metrics, reason);
}
