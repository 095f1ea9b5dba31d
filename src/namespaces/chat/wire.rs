//! What `/chat` sends: the contract's Member and Message shapes.

use serde::Serialize;

use crate::store::StoredChatMessage;

/// A member: its socket id and display name, and for an authenticated
/// member its user id (absent for an anonymous one), which tells two members
/// of one name apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: String,
    pub room: String,
    pub from: Member,
    pub text: String,
    pub ts: i64,
}

impl From<StoredChatMessage> for Message {
    fn from(m: StoredChatMessage) -> Self {
        Self {
            id: m.id.to_string(),
            room: m.room,
            from: Member {
                id: m.member_id,
                name: m.member_name,
                user: m.user,
            },
            text: m.text,
            ts: m.ts,
        }
    }
}

/// `presence` to the others in a room: the member who joined or left and the
/// room's member count after it, never the whole list (which made every join
/// cost O(N²) bytes in a room of N). Clients keep their own list from the
/// `join` ack and these deltas, or ask with `members`.
#[derive(Debug, Serialize)]
pub struct Presence<'a> {
    pub room: &'a str,
    pub event: &'static str,
    pub member: &'a Member,
    pub count: usize,
}

/// `typing` to the others in a room.
#[derive(Debug, Serialize)]
pub struct TypingNotice<'a> {
    pub room: &'a str,
    pub member: &'a Member,
    pub typing: bool,
}

/// The `join` ack: the room, its members on every node (the joiner
/// included), and the newest page of its history.
#[derive(Debug, Serialize)]
pub struct Joined {
    pub room: String,
    pub members: Vec<Member>,
    pub history: Vec<Message>,
}

/// The `message` ack: the message as stored, with its id.
#[derive(Debug, Serialize)]
pub struct Sent {
    pub message: Message,
}

/// The `history` ack: one page, oldest first.
#[derive(Debug, Serialize)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
}

/// The `members` ack: the whole list, for a member that needs it again.
#[derive(Debug, Serialize)]
pub struct Members {
    pub room: String,
    pub members: Vec<Member>,
    pub count: usize,
}
