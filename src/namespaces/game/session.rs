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
    /// The seat, locked. Each use is one read or one replacement, so a
    /// poisoned lock cannot hold a half-made seat and is still usable.
    pub fn current(&self) -> MutexGuard<'_, Option<Seat>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
