//! The vocabulary every layer speaks, from `docs/PROTOCOL.md`: the error
//! codes (with their HTTP statuses), the validated names and ids, the names
//! of the adapter rooms, and the clock of every `ts`.
//!
//! Everything here is checked once, at the boundary, so the layers above
//! never re-check. This module imports nothing else of the crate: the store,
//! the notifications feature, the namespaces and the HTTP routes all import
//! it, never the other way round.

pub mod args;
pub mod bounds;
mod clock;
mod error;
mod ids;
mod names;
pub mod payload;
pub mod rooms;
mod user;

pub use clock::now_ms;
pub use error::{ErrorCode, EventError};
pub use ids::StreamId;
pub use names::{
    BadEventName, DisplayName, MAX_EVENT_CHARS, RESERVED_EVENTS, RoomId, check_event_name,
    check_no_nul,
};
pub use user::{MAX_USER_ID_CHARS, UserId, UserIdError};
