//! The arena game's authoritative simulation: one [`Simulation`] per game.
//!
//! Players move on a fixed 2D field and collect coins. The server owns this
//! state; clients only send their wish to move ([`Input`]) and render the
//! [`Snapshot`]s the server emits.
//!
//! The module is plain and deterministic on purpose: no clock, no task, no I/O,
//! and its randomness comes from a seeded generator of its own. The game's loop
//! task feeds it inputs, calls [`Simulation::step`] at the tick rate and emits
//! the snapshots; everything that decides the game's outcome is here, where the
//! same seed and the same inputs always give the same snapshots, and tests can
//! drive it tick by tick.
//!
//! Units: positions are arena units with the origin at the top-left corner, `x`
//! to the right and `y` down; speeds are units per second.

use std::{collections::BTreeMap, fmt};

use serde::Serialize;

/// The loop's default rate, as the contract states.
pub const DEFAULT_TICK_RATE: u32 = 20;

/// The field every game is played on.
pub const ARENA: Arena = Arena {
    width: 800.0,
    height: 600.0,
};

/// How far a player at full input moves in one second, in any direction.
pub const PLAYER_SPEED: f64 = 200.0;

/// A player's body is a disc of this radius; it stays wholly inside the arena.
pub const PLAYER_RADIUS: f64 = 16.0;

/// A coin is a disc of this radius; a player collects it when their discs touch.
pub const COIN_RADIUS: f64 = 8.0;

/// How many coins lie on the field at any time (a collected coin respawns at
/// once, so the count never changes).
pub const COINS: usize = 8;

/// How many random places [`Simulation`] tries when looking for a free one
/// before it settles for the roomiest it saw (the field is then crowded).
const SPAWN_ATTEMPTS: usize = 64;

/// The gap a new player wants between its disc and every other player's.
/// The game page draws a name label above each disc, and on a phone-sized
/// canvas a long name's label spans some 380 by 33 field units, so a newcomer
/// placed nearer could hide a player under its label. On a field too full
/// for this gap, the free place farthest from the players is taken instead.
const PLAYER_SPAWN_GAP: f64 = 200.0;

/// The playing field: `0..=width` by `0..=height`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Arena {
    pub width: f64,
    pub height: f64,
}

/// A player as the contract shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Player {
    pub id: String,
    pub name: String,
    /// The user id of an authenticated player; absent for an anonymous one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub x: f64,
    pub y: f64,
    pub score: u64,
}

/// A coin as the contract shows it. A collected coin comes back under a new
/// id, so that a client can tell a pickup and respawn from a coin that moved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coin {
    pub id: u64,
    pub x: f64,
    pub y: f64,
}

/// The contract's `state`: the whole game after a tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub game: String,
    pub tick: u64,
    /// Milliseconds since the Unix epoch, given by the caller (the module reads
    /// no clock).
    pub ts: i64,
    /// In join order.
    pub players: Vec<Player>,
    pub coins: Vec<Coin>,
    /// Each player's last applied input `seq`; a player whose first input has
    /// not been applied yet is absent. Clients use it to reconcile their
    /// predicted position with the server's.
    pub acks: BTreeMap<String, i64>,
}

/// A player's wish to move, as the contract's `input` event carries it: a
/// direction whose components are meant to lie in `-1..=1`, and the client's
/// sequence number for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input {
    pub seq: i64,
    pub dx: f64,
    pub dy: f64,
}

/// Why [`Simulation::set_input`] did not take an input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputError {
    /// No player with that id is in this game.
    UnknownPlayer,
    /// `seq` is below zero.
    NegativeSeq(i64),
    /// `dx` or `dy` is NaN or infinite.
    NotFinite,
    /// An input with a higher `seq` was already received: this one arrived out
    /// of order and is dropped. Expected now and then, not a client fault.
    Stale { seq: i64, latest: i64 },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPlayer => f.write_str("the player is not in this game"),
            Self::NegativeSeq(seq) => write!(f, "`seq` must be 0 or more, got {seq}"),
            Self::NotFinite => f.write_str("`dx` and `dy` must be finite numbers"),
            Self::Stale { seq, latest } => {
                write!(f, "input {seq} is older than input {latest}")
            }
        }
    }
}

impl std::error::Error for InputError {}

/// One player's state inside the simulation.
#[derive(Debug, Clone)]
struct Slot {
    player: Player,
    /// The latest input received since the last tick; a newer one replaces it,
    /// so only the latest counts when the tick applies it.
    pending: Option<Input>,
    /// The applied input's direction, at most 1 long. It applies at every tick
    /// until a newer input replaces it: holding a key keeps the player moving
    /// without the client repeating itself.
    direction: (f64, f64),
    /// The applied input's `seq`, which `acks` reports.
    applied_seq: Option<i64>,
}

/// The authoritative state of one game, advanced one tick at a time.
#[derive(Debug, Clone)]
pub struct Simulation {
    game: String,
    tick_rate: u32,
    tick: u64,
    /// In join order, which keeps snapshots deterministic and gives ties (two
    /// players reaching a coin at the same distance) to the earlier joiner.
    players: Vec<Slot>,
    coins: Vec<Coin>,
    next_coin_id: u64,
    /// Picks spawn places; seeded, so a game replays exactly.
    rng: SplitMix64,
}

impl Simulation {
    /// A game with [`COINS`] coins on the field and no players, advanced
    /// `tick_rate` times a second by its loop.
    ///
    /// # Panics
    ///
    /// If `tick_rate` is 0: the configuration must refuse that first.
    pub fn new(game: impl Into<String>, seed: u64, tick_rate: u32) -> Self {
        assert!(tick_rate > 0, "the tick rate must be at least 1");
        let mut sim = Self {
            game: game.into(),
            tick_rate,
            tick: 0,
            players: Vec::new(),
            coins: Vec::with_capacity(COINS),
            next_coin_id: 0,
            rng: SplitMix64(seed),
        };
        for _ in 0..COINS {
            let (x, y) = free_place(
                &mut sim.rng,
                COIN_RADIUS,
                &sim.players,
                &sim.coins,
                None,
                0.0,
            );
            let id = sim.new_coin_id();
            sim.coins.push(Coin { id, x, y });
        }
        sim
    }

    pub fn game(&self) -> &str {
        &self.game
    }

    pub fn tick_rate(&self) -> u32 {
        self.tick_rate
    }

    /// The number of the last tick; 0 before the first.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Whether no player is left: the loop stops then.
    pub fn is_empty(&self) -> bool {
        self.players.is_empty()
    }

    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    pub fn player(&self, id: &str) -> Option<&Player> {
        self.players
            .iter()
            .find(|s| s.player.id == id)
            .map(|s| &s.player)
    }

    /// Adds a player standing still at a random free place, with no score.
    ///
    /// The id is the caller's (unique per game). Adding an id that is already
    /// in the game changes nothing and returns that player, so a repeated join
    /// cannot reset a score or duplicate a player.
    pub fn add_player(&mut self, id: impl Into<String>, name: impl Into<String>) -> Player {
        self.add_player_for(id, name, None)
    }

    /// [`Self::add_player`] for an authenticated player, shown with its `user`.
    pub fn add_player_for(
        &mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        user: Option<String>,
    ) -> Player {
        let id = id.into();
        if let Some(player) = self.player(&id) {
            return player.clone();
        }
        let (x, y) = free_place(
            &mut self.rng,
            PLAYER_RADIUS,
            &self.players,
            &self.coins,
            None,
            PLAYER_SPAWN_GAP,
        );
        let player = Player {
            id,
            name: name.into(),
            user,
            x,
            y,
            score: 0,
        };
        self.players.push(Slot {
            player: player.clone(),
            pending: None,
            direction: (0.0, 0.0),
            applied_seq: None,
        });
        player
    }

    /// Stops a player where they are (their connection dropped and they may
    /// come back): the next tick applies a standstill with the latest `seq`,
    /// so the client's next input still counts.
    pub fn halt_player(&mut self, id: &str) {
        if let Some(slot) = self.players.iter_mut().find(|s| s.player.id == id) {
            let seq = slot
                .pending
                .map(|p| p.seq)
                .or(slot.applied_seq)
                .unwrap_or(0);
            slot.pending = Some(Input {
                seq,
                dx: 0.0,
                dy: 0.0,
            });
        }
    }

    /// Removes a player with their input and ack; `false` if they were not in
    /// the game.
    pub fn remove_player(&mut self, id: &str) -> bool {
        let before = self.players.len();
        self.players.retain(|s| s.player.id != id);
        self.players.len() != before
    }

    /// Stores a player's input for the next tick, replacing any input stored
    /// since the last one (the latest input wins).
    ///
    /// `dx` and `dy` are clamped into `-1..=1`; a direction longer than 1 (a
    /// diagonal) is shortened when applied, so no direction is faster than
    /// [`PLAYER_SPEED`]. An input whose `seq` is lower than the latest received
    /// one arrived out of order and is refused as [`InputError::Stale`]; an
    /// equal `seq` replaces it.
    pub fn set_input(&mut self, id: &str, input: Input) -> Result<(), InputError> {
        if input.seq < 0 {
            return Err(InputError::NegativeSeq(input.seq));
        }
        if !input.dx.is_finite() || !input.dy.is_finite() {
            return Err(InputError::NotFinite);
        }
        let slot = self
            .players
            .iter_mut()
            .find(|s| s.player.id == id)
            .ok_or(InputError::UnknownPlayer)?;
        // A pending input is never older than the applied one, so it is the
        // latest when there is one.
        let latest = slot.pending.map(|p| p.seq).or(slot.applied_seq);
        if let Some(latest) = latest
            && input.seq < latest
        {
            return Err(InputError::Stale {
                seq: input.seq,
                latest,
            });
        }
        slot.pending = Some(Input {
            seq: input.seq,
            dx: input.dx.clamp(-1.0, 1.0),
            dy: input.dy.clamp(-1.0, 1.0),
        });
        Ok(())
    }

    /// Advances the game one tick and returns its state, stamped `ts`.
    ///
    /// In order: each player's pending input becomes their direction; every
    /// player moves `PLAYER_SPEED / tick_rate` along it (less for a partial
    /// input) and is held inside the arena; then each coin touched by a player
    /// goes to the nearest one (+1 score) and respawns at a free place.
    pub fn step(&mut self, ts: i64) -> Snapshot {
        const MAX_X: f64 = ARENA.width - PLAYER_RADIUS;
        const MAX_Y: f64 = ARENA.height - PLAYER_RADIUS;
        self.tick += 1;
        let distance = PLAYER_SPEED / f64::from(self.tick_rate);
        for slot in &mut self.players {
            if let Some(input) = slot.pending.take() {
                slot.direction = unit_at_most(input.dx, input.dy);
                slot.applied_seq = Some(input.seq);
            }
            let (dx, dy) = slot.direction;
            let player = &mut slot.player;
            player.x = (player.x + dx * distance).clamp(PLAYER_RADIUS, MAX_X);
            player.y = (player.y + dy * distance).clamp(PLAYER_RADIUS, MAX_Y);
        }
        self.collect_coins();
        self.snapshot(ts)
    }

    /// The current state, stamped `ts`, without advancing (for a join's ack).
    pub fn snapshot(&self, ts: i64) -> Snapshot {
        Snapshot {
            game: self.game.clone(),
            tick: self.tick,
            ts,
            players: self.players.iter().map(|s| s.player.clone()).collect(),
            coins: self.coins.clone(),
            acks: self
                .players
                .iter()
                .filter_map(|s| s.applied_seq.map(|seq| (s.player.id.clone(), seq)))
                .collect(),
        }
    }

    /// Gives each coin a player touches to the nearest such player, and puts a
    /// new coin at a free place instead. The new coin touches nobody, so it
    /// cannot be collected in the same tick.
    fn collect_coins(&mut self) {
        let reach = PLAYER_RADIUS + COIN_RADIUS;
        for index in 0..self.coins.len() {
            let coin = self.coins[index];
            // `min_by` keeps the first of equals: the earlier joiner wins a tie.
            let winner = self
                .players
                .iter()
                .enumerate()
                .map(|(i, s)| (i, distance_sq(s.player.x, s.player.y, coin.x, coin.y)))
                .filter(|&(_, d)| d <= reach * reach)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((winner, _)) = winner else {
                continue;
            };
            self.players[winner].player.score += 1;
            let (x, y) = free_place(
                &mut self.rng,
                COIN_RADIUS,
                &self.players,
                &self.coins,
                Some(index),
                0.0,
            );
            let id = self.new_coin_id();
            self.coins[index] = Coin { id, x, y };
        }
    }

    fn new_coin_id(&mut self) -> u64 {
        self.next_coin_id += 1;
        self.next_coin_id
    }
}

/// The direction `(dx, dy)`, shortened to length 1 if it is longer, so that a
/// diagonal is no faster than a straight line while a partial (analog) input
/// still moves slower.
fn unit_at_most(dx: f64, dy: f64) -> (f64, f64) {
    let length = dx.hypot(dy);
    if length > 1.0 {
        (dx / length, dy / length)
    } else {
        (dx, dy)
    }
}

fn distance_sq(ax: f64, ay: f64, bx: f64, by: f64) -> f64 {
    (ax - bx).powi(2) + (ay - by).powi(2)
}

/// A random place for a disc of `radius`, wholly inside the arena, touching
/// no player and no coin (except the coin at `skip`, which it replaces), and
/// at least `player_gap` away from every player's disc.
///
/// Tries [`SPAWN_ATTEMPTS`] places and takes the first that qualifies. If none
/// does (a crowded field), it settles rather than fail, since a spawn must
/// always happen: for the free place farthest from the players, or, when no
/// place was free, for the one whose closest neighbour is farthest away.
fn free_place(
    rng: &mut SplitMix64,
    radius: f64,
    players: &[Slot],
    coins: &[Coin],
    skip: Option<usize>,
    player_gap: f64,
) -> (f64, f64) {
    let player_discs = || {
        players
            .iter()
            .map(|s| (s.player.x, s.player.y, PLAYER_RADIUS))
    };
    let coin_discs = || {
        coins
            .iter()
            .enumerate()
            .filter(move |&(i, _)| Some(i) != skip)
            .map(|(_, c)| (c.x, c.y, COIN_RADIUS))
    };
    let mut best = (f64::NEG_INFINITY, (ARENA.width / 2.0, ARENA.height / 2.0));
    for _ in 0..SPAWN_ATTEMPTS {
        let x = rng.range(radius, ARENA.width - radius);
        let y = rng.range(radius, ARENA.height - radius);
        let to_players = closest_gap(x, y, radius, player_discs());
        let to_coins = closest_gap(x, y, radius, coin_discs());
        let free = to_players > 0.0 && to_coins > 0.0;
        if free && to_players >= player_gap {
            return (x, y);
        }
        // A free place scores its gap to the players (above 0), a crowded one
        // its overlap with the nearest disc (0 or below): any free place beats
        // any crowded one.
        let score = if free {
            to_players
        } else {
            to_players.min(to_coins)
        };
        if score > best.0 {
            best = (score, (x, y));
        }
    }
    best.1
}

/// The gap between a disc of `radius` at (x, y) and the closest of `discs`
/// (x, y, radius); negative when they overlap, infinite when there are none.
fn closest_gap(x: f64, y: f64, radius: f64, discs: impl Iterator<Item = (f64, f64, f64)>) -> f64 {
    discs
        .map(|(ox, oy, r)| distance_sq(x, y, ox, oy).sqrt() - radius - r)
        .fold(f64::INFINITY, f64::min)
}

/// SplitMix64 (Steele, Lea and Flood): a tiny, fast, well-mixed generator whose
/// whole state is one `u64`, so a game's randomness replays from its seed.
/// Good for spawn places; not for anything secret.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0.0..1.0`, from the top 53 bits (an `f64`'s precision).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `low..high`.
    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: f64 = PLAYER_SPEED / DEFAULT_TICK_RATE as f64;

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "expected {expected}, got {actual}"
        );
    }

    fn input(seq: i64, dx: f64, dy: f64) -> Input {
        Input { seq, dx, dy }
    }

    /// A game with one player `p` standing at `(x, y)` and every coin moved to
    /// the far corner, out of the way.
    fn with_player_at(x: f64, y: f64) -> Simulation {
        let mut sim = Simulation::new("g", 7, DEFAULT_TICK_RATE);
        sim.add_player("p", "Pat");
        place(&mut sim, "p", x, y);
        for coin in &mut sim.coins {
            coin.x = ARENA.width - COIN_RADIUS;
            coin.y = ARENA.height - COIN_RADIUS;
        }
        sim
    }

    fn place(sim: &mut Simulation, id: &str, x: f64, y: f64) {
        let slot = sim.players.iter_mut().find(|s| s.player.id == id).unwrap();
        slot.player.x = x;
        slot.player.y = y;
    }

    fn position(sim: &Simulation, id: &str) -> (f64, f64) {
        let player = sim.player(id).unwrap();
        (player.x, player.y)
    }

    fn assert_inside(sim: &Simulation) {
        for slot in &sim.players {
            let Player { x, y, .. } = slot.player;
            assert!(
                (PLAYER_RADIUS..=ARENA.width - PLAYER_RADIUS).contains(&x),
                "x {x}"
            );
            assert!(
                (PLAYER_RADIUS..=ARENA.height - PLAYER_RADIUS).contains(&y),
                "y {y}"
            );
        }
        for coin in &sim.coins {
            assert!((COIN_RADIUS..=ARENA.width - COIN_RADIUS).contains(&coin.x));
            assert!((COIN_RADIUS..=ARENA.height - COIN_RADIUS).contains(&coin.y));
        }
    }

    #[test]
    fn a_new_game_has_coins_apart_and_no_players() {
        let sim = Simulation::new("g", 1, DEFAULT_TICK_RATE);
        assert!(sim.is_empty());
        assert_eq!(sim.tick(), 0);
        assert_eq!(sim.coins.len(), COINS);
        for (i, a) in sim.coins.iter().enumerate() {
            for b in &sim.coins[i + 1..] {
                assert!(distance_sq(a.x, a.y, b.x, b.y).sqrt() > 2.0 * COIN_RADIUS);
                assert_ne!(a.id, b.id);
            }
        }
        assert_inside(&sim);
    }

    #[test]
    fn a_player_joins_at_a_free_place_and_a_repeated_join_changes_nothing() {
        let mut sim = Simulation::new("g", 2, DEFAULT_TICK_RATE);
        let joined = sim.add_player("p", "Pat");
        assert_eq!(
            (joined.id.as_str(), joined.name.as_str(), joined.score),
            ("p", "Pat", 0)
        );
        for coin in &sim.coins {
            let gap = distance_sq(joined.x, joined.y, coin.x, coin.y).sqrt();
            assert!(gap > PLAYER_RADIUS + COIN_RADIUS);
        }
        assert_inside(&sim);

        sim.players[0].player.score = 3;
        let again = sim.add_player("p", "Other");
        assert_eq!(again.score, 3);
        assert_eq!(again.name, "Pat");
        assert_eq!(sim.player_count(), 1);
    }

    #[test]
    fn players_spawn_apart_from_each_other_and_from_coins() {
        let mut sim = Simulation::new("g", 11, DEFAULT_TICK_RATE);
        for i in 0..100 {
            sim.add_player(format!("p{i}"), "many");
        }
        let players = sim.snapshot(0).players;
        for (i, a) in players.iter().enumerate() {
            for b in &players[i + 1..] {
                assert!(distance_sq(a.x, a.y, b.x, b.y).sqrt() > 2.0 * PLAYER_RADIUS);
            }
            for coin in &sim.coins {
                let gap = distance_sq(a.x, a.y, coin.x, coin.y).sqrt();
                assert!(gap > PLAYER_RADIUS + COIN_RADIUS);
            }
        }
        assert_inside(&sim);
    }

    #[test]
    fn a_player_moves_at_the_fixed_speed_per_tick() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.set_input("p", input(0, 1.0, 0.0)).unwrap();
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 + STEP, 300.0));
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 + 2.0 * STEP, 300.0));

        sim.set_input("p", input(1, 0.0, -1.0)).unwrap();
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 + 2.0 * STEP, 300.0 - STEP));
    }

    #[test]
    fn the_speed_follows_the_tick_rate() {
        let mut sim = Simulation::new("g", 7, 10);
        sim.add_player("p", "Pat");
        place(&mut sim, "p", 400.0, 300.0);
        sim.coins.clear();
        sim.set_input("p", input(0, -1.0, 0.0)).unwrap();
        sim.step(0);
        assert_close(position(&sim, "p").0, 400.0 - PLAYER_SPEED / 10.0);
    }

    #[test]
    fn a_diagonal_is_not_faster_and_a_partial_input_is_slower() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.set_input("p", input(0, 1.0, 1.0)).unwrap();
        sim.step(0);
        let (x, y) = position(&sim, "p");
        assert_close(x - 400.0, STEP / 2f64.sqrt());
        assert_close(y - 300.0, STEP / 2f64.sqrt());
        assert_close(distance_sq(x, y, 400.0, 300.0).sqrt(), STEP);

        let mut sim = with_player_at(400.0, 300.0);
        sim.set_input("p", input(0, 0.5, 0.0)).unwrap();
        sim.step(0);
        assert_close(position(&sim, "p").0, 400.0 + STEP / 2.0);
    }

    #[test]
    fn players_are_held_inside_the_arena() {
        let mut sim = with_player_at(ARENA.width - PLAYER_RADIUS - 1.0, PLAYER_RADIUS + 1.0);
        sim.set_input("p", input(0, 1.0, -1.0)).unwrap();
        sim.step(0);
        assert_eq!(
            position(&sim, "p"),
            (ARENA.width - PLAYER_RADIUS, PLAYER_RADIUS)
        );
        sim.step(0);
        assert_eq!(
            position(&sim, "p"),
            (ARENA.width - PLAYER_RADIUS, PLAYER_RADIUS)
        );

        let mut sim = with_player_at(PLAYER_RADIUS + 1.0, ARENA.height - PLAYER_RADIUS - 1.0);
        sim.set_input("p", input(0, -1.0, 1.0)).unwrap();
        sim.step(0);
        assert_eq!(
            position(&sim, "p"),
            (PLAYER_RADIUS, ARENA.height - PLAYER_RADIUS)
        );
    }

    #[test]
    fn inputs_are_clamped_and_non_finite_ones_refused() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.set_input("p", input(0, 5.0, 0.0)).unwrap();
        assert_eq!(sim.players[0].pending, Some(input(0, 1.0, 0.0)));
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 + STEP, 300.0));

        sim.set_input("p", input(1, -3.0, -0.25)).unwrap();
        assert_eq!(sim.players[0].pending, Some(input(1, -1.0, -0.25)));

        for (dx, dy) in [
            (f64::NAN, 0.0),
            (0.0, f64::NAN),
            (f64::INFINITY, 0.0),
            (0.0, f64::NEG_INFINITY),
        ] {
            assert_eq!(
                sim.set_input("p", input(9, dx, dy)),
                Err(InputError::NotFinite)
            );
        }
        assert_eq!(
            sim.set_input("p", input(-1, 0.0, 0.0)),
            Err(InputError::NegativeSeq(-1))
        );
        assert_eq!(
            sim.set_input("nobody", input(0, 0.0, 0.0)),
            Err(InputError::UnknownPlayer)
        );
        // The refused inputs left the stored one alone.
        assert_eq!(sim.players[0].pending, Some(input(1, -1.0, -0.25)));
    }

    #[test]
    fn a_stale_input_is_ignored() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.set_input("p", input(5, 1.0, 0.0)).unwrap();
        assert_eq!(
            sim.set_input("p", input(4, -1.0, 0.0)),
            Err(InputError::Stale { seq: 4, latest: 5 })
        );
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 + STEP, 300.0));

        // Once applied, an older one is still stale.
        assert_eq!(
            sim.set_input("p", input(3, 0.0, 1.0)),
            Err(InputError::Stale { seq: 3, latest: 5 })
        );
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 + 2.0 * STEP, 300.0));
        assert_eq!(sim.snapshot(0).acks["p"], 5);

        // An equal seq replaces it.
        sim.set_input("p", input(5, 0.0, 1.0)).unwrap();
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 + 2.0 * STEP, 300.0 + STEP));
    }

    #[test]
    fn the_latest_input_wins_and_persists_until_replaced() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.set_input("p", input(1, 1.0, 0.0)).unwrap();
        sim.set_input("p", input(2, 0.0, 1.0)).unwrap();
        sim.set_input("p", input(3, -1.0, 0.0)).unwrap();
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 - STEP, 300.0));
        for _ in 0..3 {
            sim.step(0);
        }
        assert_eq!(position(&sim, "p"), (400.0 - 4.0 * STEP, 300.0));

        sim.set_input("p", input(4, 0.0, 0.0)).unwrap();
        sim.step(0);
        sim.step(0);
        assert_eq!(position(&sim, "p"), (400.0 - 4.0 * STEP, 300.0));
    }

    #[test]
    fn acks_report_the_last_applied_seq() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.add_player("q", "Quinn");
        assert!(sim.step(0).acks.is_empty());

        sim.set_input("p", input(7, 1.0, 0.0)).unwrap();
        assert!(sim.snapshot(0).acks.is_empty(), "stored, not applied yet");
        let snapshot = sim.step(0);
        assert_eq!(snapshot.acks, BTreeMap::from([("p".to_string(), 7)]));

        sim.set_input("p", input(8, 0.0, 0.0)).unwrap();
        sim.set_input("q", input(0, 0.0, 1.0)).unwrap();
        let snapshot = sim.step(0);
        assert_eq!(
            snapshot.acks,
            BTreeMap::from([("p".to_string(), 8), ("q".to_string(), 0)])
        );
        // No new input: the acks stay.
        assert_eq!(sim.step(0).acks, snapshot.acks);
    }

    #[test]
    fn touching_a_coin_scores_and_respawns_it_elsewhere() {
        let mut sim = with_player_at(400.0, 300.0);
        let coin_id = sim.coins[0].id;
        sim.coins[0].x = 400.0 + STEP + PLAYER_RADIUS + COIN_RADIUS - 0.5;
        sim.coins[0].y = 300.0;
        sim.step(0);
        assert_eq!(sim.player("p").unwrap().score, 0, "not touching yet");

        sim.set_input("p", input(0, 1.0, 0.0)).unwrap();
        let snapshot = sim.step(0);
        assert_eq!(snapshot.players[0].score, 1);
        assert_eq!(snapshot.coins.len(), COINS);
        let respawned = snapshot.coins[0];
        assert_ne!(respawned.id, coin_id);
        assert!(snapshot.coins.iter().all(|c| c.id != coin_id));
        let (x, y) = position(&sim, "p");
        assert!(distance_sq(x, y, respawned.x, respawned.y).sqrt() > PLAYER_RADIUS + COIN_RADIUS);
        for other in &snapshot.coins[1..] {
            let gap = distance_sq(other.x, other.y, respawned.x, respawned.y).sqrt();
            assert!(gap > 2.0 * COIN_RADIUS);
        }
        assert_inside(&sim);
    }

    #[test]
    fn the_nearest_player_gets_a_contested_coin_and_ties_go_to_the_earlier_joiner() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.add_player("q", "Quinn");
        place(&mut sim, "q", 420.0, 300.0);
        sim.coins[0].x = 412.0;
        sim.coins[0].y = 300.0;
        sim.step(0);
        assert_eq!(sim.player("p").unwrap().score, 0);
        assert_eq!(sim.player("q").unwrap().score, 1);

        sim.coins[0].x = 410.0;
        sim.coins[0].y = 300.0;
        sim.step(0);
        assert_eq!(sim.player("p").unwrap().score, 1);
        assert_eq!(sim.player("q").unwrap().score, 1);
    }

    #[test]
    fn the_same_seed_and_inputs_give_the_same_snapshots() {
        fn play(seed: u64) -> Vec<Snapshot> {
            let mut sim = Simulation::new("g", seed, DEFAULT_TICK_RATE);
            let mut driver = SplitMix64(99);
            for id in ["a", "b", "c"] {
                sim.add_player(id, id.to_uppercase());
            }
            (0..400)
                .map(|tick| {
                    for id in ["a", "b", "c"] {
                        let dx = driver.range(-1.5, 1.5);
                        let dy = driver.range(-1.5, 1.5);
                        sim.set_input(id, input(tick, dx, dy)).unwrap();
                    }
                    sim.step(tick * 50)
                })
                .collect()
        }
        let first = play(42);
        assert_eq!(first, play(42));
        assert_ne!(first[0].coins, play(43)[0].coins);
        assert!(
            first.last().unwrap().players.iter().any(|p| p.score > 0),
            "400 ticks of wandering should collect something"
        );
    }

    #[test]
    fn a_removed_player_leaves_with_their_input_and_ack() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.add_player("q", "Quinn");
        sim.set_input("p", input(1, 1.0, 0.0)).unwrap();
        sim.step(0);
        assert!(sim.remove_player("p"));
        assert!(!sim.remove_player("p"));
        assert!(sim.player("p").is_none());
        assert_eq!(
            sim.set_input("p", input(2, 0.0, 0.0)),
            Err(InputError::UnknownPlayer)
        );
        let snapshot = sim.step(0);
        assert_eq!(snapshot.players.len(), 1);
        assert_eq!(snapshot.players[0].id, "q");
        assert!(snapshot.acks.is_empty());
        assert!(!sim.is_empty());

        assert!(sim.remove_player("q"));
        assert!(sim.is_empty());

        // Joining again starts afresh.
        let back = sim.add_player("p", "Pat");
        assert_eq!(back.score, 0);
        sim.set_input("p", input(0, 0.0, 0.0)).unwrap();
    }

    #[test]
    fn snapshots_carry_the_game_tick_and_time_in_join_order() {
        let mut sim = Simulation::new("arena-1", 3, DEFAULT_TICK_RATE);
        for id in ["z", "a", "m"] {
            sim.add_player(id, id);
        }
        let snapshot = sim.snapshot(1_000);
        assert_eq!(
            (snapshot.game.as_str(), snapshot.tick, snapshot.ts),
            ("arena-1", 0, 1_000)
        );
        let ids: Vec<_> = snapshot.players.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["z", "a", "m"]);

        let snapshot = sim.step(1_050);
        assert_eq!((snapshot.tick, snapshot.ts), (1, 1_050));
        assert_eq!(sim.snapshot(2_000).tick, 1, "a snapshot does not advance");
    }

    #[test]
    fn many_random_ticks_never_leave_the_arena() {
        let mut driver = SplitMix64(2024);
        for seed in 0..20 {
            let mut sim = Simulation::new("g", seed, DEFAULT_TICK_RATE);
            let ids: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
            for id in &ids {
                sim.add_player(id.clone(), id.clone());
            }
            let mut collected = 0;
            for tick in 0..500 {
                for id in &ids {
                    // Mostly full-speed pushes, often past the edges.
                    let dx = driver.range(-3.0, 3.0).round();
                    let dy = driver.range(-3.0, 3.0).round();
                    sim.set_input(id, input(tick, dx, dy)).unwrap();
                }
                let snapshot = sim.step(tick);
                assert_inside(&sim);
                assert_eq!(snapshot.coins.len(), COINS);
                collected = snapshot.players.iter().map(|p| p.score).sum::<u64>();
            }
            assert!(collected > 0, "seed {seed}");
        }
    }

    #[test]
    fn a_new_player_spawns_clear_of_the_others_labels_while_there_is_room() {
        for seed in 0..200 {
            let mut sim = Simulation::new("g", seed, DEFAULT_TICK_RATE);
            for i in 0..3 {
                sim.add_player(format!("p{i}"), "few");
            }
            let players = sim.snapshot(0).players;
            for (i, a) in players.iter().enumerate() {
                for b in &players[i + 1..] {
                    let gap = distance_sq(a.x, a.y, b.x, b.y).sqrt() - 2.0 * PLAYER_RADIUS;
                    // 200: what the page's labels need (see PLAYER_SPAWN_GAP).
                    assert!(
                        gap >= 200.0,
                        "seed {seed}: {} and {} {gap} apart",
                        a.id,
                        b.id
                    );
                }
            }
        }
    }

    #[test]
    fn a_crowded_field_still_spawns() {
        let mut sim = Simulation::new("g", 5, DEFAULT_TICK_RATE);
        for i in 0..600 {
            sim.add_player(format!("p{i}"), "crowd");
        }
        assert_eq!(sim.player_count(), 600);
        sim.step(0);
        assert_inside(&sim);
    }

    #[test]
    fn the_snapshot_serializes_as_the_contract_shows_it() {
        let mut sim = with_player_at(400.0, 300.0);
        sim.set_input("p", input(3, 0.0, 0.0)).unwrap();
        let snapshot = sim.step(123);
        let json = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(json["game"], "g");
        assert_eq!(json["tick"], 1);
        assert_eq!(json["ts"], 123);
        assert_eq!(
            json["players"][0],
            serde_json::json!({"id": "p", "name": "Pat", "x": 400.0, "y": 300.0, "score": 0})
        );
        assert_eq!(json["acks"], serde_json::json!({"p": 3}));
        let coin = &json["coins"][0];
        assert!(coin["id"].is_u64() && coin["x"].is_f64() && coin["y"].is_f64());
    }
}
