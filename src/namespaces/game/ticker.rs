//! A game's fixed-rate loop: one task per game, from its first player to its
//! last. Each tick steps the simulation (inputs are already in it) and emits
//! one snapshot to the game's room.
//!
//! Missed ticks are skipped, not burst: after a slow tick the loop waits for
//! the next slot. The emit is volatile: a client whose buffer is full misses
//! that state instead of holding up the loop or the other players.

use std::{sync::Arc, time::Duration};

use socketioxide::{adapter::Adapter, operators::BroadcastOperators};
use tokio::time::MissedTickBehavior;

use crate::{game::Game, metrics::Metrics, store::now_ms};

/// Counts a running loop in `switchboard_games_active` for as long as it lives.
struct ActiveGuard(Metrics);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.games_active.dec();
    }
}

/// Runs until the game's stop token fires (its last player left).
pub async fn run<A: Adapter>(
    game: Arc<Game>,
    room: BroadcastOperators<A>,
    tick_rate: u32,
    metrics: Metrics,
) {
    metrics.games_active.inc();
    let _active = ActiveGuard(metrics.clone());
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / tick_rate.max(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // The first tick of an interval fires at once; the join's ack already
    // carries the state of this moment.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = game.stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        // Step under the lock, serialize and send outside it.
        let snapshot = game.sim().step(now_ms());
        metrics.game_ticks.inc();
        if let Err(e) = room.clone().volatile().emit("state", &snapshot).await {
            tracing::debug!(game = %game.id, "state not sent to every player: {e}");
        }
    }
    tracing::debug!(game = %game.id, "game loop stopped");
}
