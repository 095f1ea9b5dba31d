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

use crate::{
    game::{Game, sim::Snapshot},
    metrics::Metrics,
    protocol::now_ms,
};

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
    let id = game.id.clone();
    tick_loop(game, tick_rate, metrics, |snapshot| {
        let room = room.clone();
        let id = id.clone();
        async move {
            if let Err(e) = room.volatile().emit("state", &snapshot).await {
                tracing::debug!(game = %id, "state not sent to every player: {e}");
            }
        }
    })
    .await;
}

/// The loop itself, with the sending left to `send` (so it can be tested
/// without sockets).
async fn tick_loop<F, Fut>(game: Arc<Game>, tick_rate: u32, metrics: Metrics, mut send: F)
where
    F: FnMut(Snapshot) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
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
        send(snapshot).await;
    }
    tracing::debug!(game = %game.id, "game loop stopped");
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;
    use crate::game::Games;

    /// A tick that takes three and a half intervals is followed by the next
    /// regular slot, not by a burst of the missed ticks.
    #[tokio::test(start_paused = true)]
    async fn a_slow_tick_skips_instead_of_bursting() {
        let games = Games::new(20);
        let joined = games.join("g", "p1", "Ann").unwrap();
        let interval = Duration::from_millis(50);
        let sent: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let record = sent.clone();
        let metrics = Metrics::new();
        let game = joined.game.clone();
        let stop = game.stop.clone();
        let task = tokio::spawn(tick_loop(game, 20, metrics.clone(), move |snapshot| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push((snapshot.tick, Instant::now()));
                if snapshot.tick == 3 {
                    tokio::time::sleep(interval * 7 / 2).await;
                }
            }
        }));
        tokio::time::sleep(interval * 20).await;
        stop.cancel();
        task.await.unwrap();
        assert_eq!(metrics.games_active.get(), 0, "the loop counted itself out");

        let sent = sent.lock().unwrap();
        let ticks: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
        assert_eq!(ticks, (1..=ticks.len() as u64).collect::<Vec<_>>());
        for pair in sent.windows(2) {
            let gap = pair[1].1 - pair[0].1;
            assert!(
                gap >= interval / 2,
                "ticks {} and {} only {gap:?} apart",
                pair[0].0,
                pair[1].0
            );
        }
        // 20 intervals, 3 of them lost to the slow tick: never more ticks
        // than slots.
        assert!((14..=18).contains(&ticks.len()), "{} ticks", ticks.len());
    }
}
