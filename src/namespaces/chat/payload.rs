//! What clients send to `/chat`, parsed into typed, checked values at the
//! boundary. Each `parse` returns the first problem as `bad_request`, naming
//! the field; nothing past the boundary sees unchecked input.

use serde::Deserialize;

use crate::protocol::bounds::{DEFAULT_HISTORY, MAX_HISTORY, MAX_TEXT_CHARS};
use crate::protocol::{
    DisplayName, EventError, RoomId, StreamId, check_no_nul,
    payload::{object_payloads, page_limit},
};

object_payloads!(
    JoinRequest: "{room, name}",
    RoomRequest: "{room}",
    MessageRequest: "{room, text}",
    TypingRequest: "{room, typing}",
    HistoryRequest: "{room, before?, limit?}",
);

#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct JoinRequest {
    room: String,
    /// Any JSON: an authenticated member's `name` is ignored, whatever it is.
    #[serde(default)]
    name: Option<serde_json::Value>,
}

pub struct Join {
    pub room: RoomId,
    pub name: DisplayName,
}

impl JoinRequest {
    /// The join; `fixed` is an authenticated member's name (from its token),
    /// which the client's `name` cannot override.
    pub fn parse(self, fixed: Option<&DisplayName>) -> Result<Join, EventError> {
        let room = RoomId::parse("room", &self.room)?;
        let name = DisplayName::of_join(fixed, self.name)?;
        Ok(Join { room, name })
    }
}

/// `leave {room}`.
#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct RoomRequest {
    room: String,
}

impl RoomRequest {
    pub fn parse(self) -> Result<RoomId, EventError> {
        RoomId::parse("room", &self.room)
    }
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct MessageRequest {
    room: String,
    text: String,
}

pub struct SendMessage {
    pub room: RoomId,
    pub text: String,
}

impl MessageRequest {
    pub fn parse(self) -> Result<SendMessage, EventError> {
        let room = RoomId::parse("room", &self.room)?;
        let length = self.text.chars().count();
        if length > MAX_TEXT_CHARS || self.text.trim().is_empty() {
            return Err(EventError::bad_request(format!(
                "`text` must be 1 to {MAX_TEXT_CHARS} characters and not only spaces"
            )));
        }
        check_no_nul("text", &self.text)?;
        Ok(SendMessage {
            room,
            text: self.text,
        })
    }
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct TypingRequest {
    room: String,
    typing: bool,
}

pub struct Typing {
    pub room: RoomId,
    pub typing: bool,
}

impl TypingRequest {
    pub fn parse(self) -> Result<Typing, EventError> {
        Ok(Typing {
            room: RoomId::parse("room", &self.room)?,
            typing: self.typing,
        })
    }
}

#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct HistoryRequest {
    room: String,
    before: Option<String>,
    limit: Option<i64>,
}

pub struct History {
    pub room: RoomId,
    pub before: Option<StreamId>,
    pub limit: u32,
}

impl HistoryRequest {
    pub fn parse(self) -> Result<History, EventError> {
        let room = RoomId::parse("room", &self.room)?;
        let before = match self.before {
            None => None,
            Some(id) => Some(
                id.parse::<StreamId>()
                    .map_err(|()| EventError::bad_request("`before` must be a message id"))?,
            ),
        };
        let limit = page_limit(self.limit, DEFAULT_HISTORY, MAX_HISTORY)?;
        Ok(History {
            room,
            before,
            limit,
        })
    }
}
