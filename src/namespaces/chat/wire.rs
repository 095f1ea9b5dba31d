//! What `/chat` sends: the contract's Member and Message shapes.

use serde::Serialize;

use crate::store::StoredChatMessage;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Member {
    pub id: String,
    pub name: String,
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
            },
            text: m.text,
            ts: m.ts,
        }
    }
}

/// `presence` to the others in a room.
#[derive(Debug, Serialize)]
pub struct Presence<'a> {
    pub room: &'a str,
    pub event: &'static str,
    pub member: &'a Member,
    pub members: &'a [Member],
}

/// `typing` to the others in a room.
#[derive(Debug, Serialize)]
pub struct TypingNotice<'a> {
    pub room: &'a str,
    pub member: &'a Member,
    pub typing: bool,
}
