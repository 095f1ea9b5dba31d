//! The contract's own bounds (PROTOCOL.md states each): what one request or
//! one socket may ask for. They are part of the wire contract, the same on
//! every deployment, so they are constants here rather than settings; what an
//! operator tunes (rates, room sizes, buffers, timeouts) is in
//! [`crate::config`].

/// Longest chat message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Chat history page size when the client names none, and the largest allowed.
pub const DEFAULT_HISTORY: u32 = 50;
pub const MAX_HISTORY: u32 = 100;
/// Most chat rooms one socket may be in, so one client cannot grow the room
/// maps without bound.
pub const MAX_ROOMS_PER_SOCKET: usize = 100;

/// Inbox page size when the client names none, and the largest allowed
/// (`list` and the HTTP API).
pub const DEFAULT_LIST: u32 = 50;
pub const MAX_LIST: u32 = 100;
/// Most ids one `read` may name.
pub const MAX_READ_IDS: usize = 1000;
/// Most topics one `subscribe` / `unsubscribe` may name.
pub const MAX_TOPICS_PER_REQUEST: usize = 100;
/// Most topics one socket may hold, so one client cannot grow the room maps
/// without bound.
pub const MAX_TOPICS_PER_SOCKET: usize = 100;

/// Most players in one game.
pub const MAX_PLAYERS: usize = 64;
