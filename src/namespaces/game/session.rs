//! Per-socket `/game` state, kept in the socket's extensions: the game and
//! player it is in, if any.

use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Default)]
pub struct GameSession {
    current: Mutex<Option<Seat>>,
}

/// Where a socket plays: one game and its player there.
#[derive(Clone)]
pub struct Seat {
    pub game: String,
    pub player: String,
}

impl GameSession {
    /// The session as kept while its socket is away (connection state
    /// recovery): `{game, player}`, or null when it is not in a game.
    pub fn to_data(&self) -> serde_json::Value {
        match &*self.current() {
            Some(seat) => serde_json::json!({ "game": seat.game, "player": seat.player }),
            None => serde_json::Value::Null,
        }
    }

    /// A session back from [`Self::to_data`].
    pub fn from_data(data: &serde_json::Value) -> Self {
        let field = |name: &str| data.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let seat = field("game")
            .zip(field("player"))
            .map(|(game, player)| Seat { game, player });
        Self {
            current: Mutex::new(seat),
        }
    }

    /// The seat, locked. Each use is one read or one replacement, so a
    /// poisoned lock cannot hold a half-made seat and is still usable.
    pub fn current(&self) -> MutexGuard<'_, Option<Seat>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
