//! The arena game: the simulation ([`sim`], plain and deterministic) and the
//! registry of running games ([`Games`]). The `/game` namespace drives them.

mod registry;
pub mod sim;

pub use registry::{Game, Games, JoinError, Joined};
