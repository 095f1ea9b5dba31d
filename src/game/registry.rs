//! The games running on this node, by id. A game exists while it has players:
//! the first join creates it (the caller starts its loop), the last leave
//! removes it and stops its loop.
//!
//! Membership changes happen under the registry lock, so a join cannot slip
//! into a game that the last leave is tearing down.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio_util::sync::CancellationToken;

use super::sim::{Player, Simulation, Snapshot};
use crate::protocol::{bounds::MAX_PLAYERS, now_ms};

/// One running game: its simulation, and the token that stops its loop.
pub struct Game {
    pub id: String,
    sim: Mutex<Simulation>,
    pub stop: CancellationToken,
}

impl Game {
    /// The simulation, for one short step or change. A panic while holding it
    /// leaves a consistent simulation (each call is one method), so a
    /// poisoned lock is still usable.
    pub fn sim(&self) -> MutexGuard<'_, Simulation> {
        self.sim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a join did.
pub struct Joined {
    pub game: Arc<Game>,
    pub player: Player,
    pub snapshot: Snapshot,
    /// The game was created by this join: the caller starts its loop.
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("the game is full ({MAX_PLAYERS} players)")]
    Full,
}

/// The registry. Cheap to clone.
#[derive(Clone)]
pub struct Games {
    inner: Arc<Inner>,
}

struct Inner {
    games: Mutex<HashMap<String, Arc<Game>>>,
    tick_rate: u32,
    next_player: AtomicU64,
    next_seed: AtomicU64,
}

impl Games {
    pub fn new(tick_rate: u32) -> Self {
        let clock = u64::try_from(now_ms()).unwrap_or(0);
        Self {
            inner: Arc::new(Inner {
                games: Mutex::new(HashMap::new()),
                tick_rate,
                next_player: AtomicU64::new(1),
                next_seed: AtomicU64::new(clock),
            }),
        }
    }

    pub fn tick_rate(&self) -> u32 {
        self.inner.tick_rate
    }

    /// A player id unique on this node (`p` and digits).
    pub fn next_player_id(&self) -> String {
        format!(
            "p{}",
            self.inner.next_player.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn games(&self) -> MutexGuard<'_, HashMap<String, Arc<Game>>> {
        self.inner
            .games
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `player` to `game`, creating the game when it does not exist.
    /// Adding a player already in the game changes nothing.
    pub fn join(&self, game_id: &str, player_id: &str, name: &str) -> Result<Joined, JoinError> {
        self.join_as(game_id, player_id, name, None)
    }

    /// [`Self::join`] for an authenticated player (`user`, shown to all).
    pub fn join_as(
        &self,
        game_id: &str,
        player_id: &str,
        name: &str,
        user: Option<&str>,
    ) -> Result<Joined, JoinError> {
        let mut games = self.games();
        let (game, created) = match games.get(game_id) {
            Some(game) => (game.clone(), false),
            None => {
                let seed = self.inner.next_seed.fetch_add(1, Ordering::Relaxed);
                let game = Arc::new(Game {
                    id: game_id.to_owned(),
                    sim: Mutex::new(Simulation::new(game_id, seed, self.inner.tick_rate)),
                    stop: CancellationToken::new(),
                });
                games.insert(game_id.to_owned(), game.clone());
                (game, true)
            }
        };
        let mut sim = game.sim();
        if sim.player(player_id).is_none() && sim.player_count() >= MAX_PLAYERS {
            return Err(JoinError::Full);
        }
        let player = sim.add_player_for(player_id, name, user.map(str::to_owned));
        let snapshot = sim.snapshot(now_ms());
        drop(sim);
        Ok(Joined {
            game,
            player,
            snapshot,
            created,
        })
    }

    /// Removes `player` from `game`; the last one out removes the game and
    /// stops its loop. Returns whether the player was there.
    pub fn leave(&self, game_id: &str, player_id: &str) -> bool {
        let mut games = self.games();
        let Some(game) = games.get(game_id).cloned() else {
            return false;
        };
        let mut sim = game.sim();
        let removed = sim.remove_player(player_id);
        if sim.is_empty() {
            drop(sim);
            games.remove(game_id);
            game.stop.cancel();
        }
        removed
    }

    pub fn get(&self, game_id: &str) -> Option<Arc<Game>> {
        self.games().get(game_id).cloned()
    }

    /// Games with players now.
    pub fn active(&self) -> usize {
        self.games().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_join_creates_and_the_last_leave_removes() {
        let games = Games::new(20);
        let a = games.join("g", "p1", "Ann").unwrap();
        assert!(a.created);
        let b = games.join("g", "p2", "Bob").unwrap();
        assert!(!b.created);
        assert_eq!(b.snapshot.players.len(), 2);
        assert!(games.leave("g", "p1"));
        assert_eq!(games.active(), 1);
        assert!(!a.game.stop.is_cancelled());
        assert!(games.leave("g", "p2"));
        assert_eq!(games.active(), 0);
        assert!(a.game.stop.is_cancelled(), "the loop is told to stop");
        assert!(!games.leave("g", "p2"));
        // A new join after that is a new game.
        assert!(games.join("g", "p3", "Cy").unwrap().created);
    }

    #[test]
    fn a_full_game_refuses_newcomers_but_not_members() {
        let games = Games::new(20);
        for i in 0..MAX_PLAYERS {
            games.join("g", &format!("p{i}"), "x").unwrap();
        }
        assert!(matches!(
            games.join("g", "extra", "x"),
            Err(JoinError::Full)
        ));
        assert!(games.join("g", "p0", "x").is_ok());
    }
}
