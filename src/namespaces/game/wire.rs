//! What `/game` sends besides the state (the simulation's [`Snapshot`]): the acks of `join` and `input`,
//! and `player_left`.

use serde::Serialize;

use crate::game::sim::Snapshot;

/// The `join` ack: the socket's player id, the tick rate, and the state now.
#[derive(Debug, Serialize)]
pub struct Joined {
    pub you: String,
    pub tick_rate: u32,
    pub state: Snapshot,
}

/// The `input` ack: whether the input was applied (a stale `seq` is not).
#[derive(Debug, Serialize)]
pub struct InputApplied {
    pub applied: bool,
}

/// `player_left` to the others in the game.
#[derive(Debug, Serialize)]
pub struct PlayerLeft<'a> {
    pub id: &'a str,
}
