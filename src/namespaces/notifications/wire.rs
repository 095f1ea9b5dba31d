//! What `/notifications` sends besides the notifications themselves (which
//! are the feature's [`NotificationView`](crate::notifications::NotificationView)):
//! the acks of `read`, `subscribe` and `unsubscribe`, and the `unread` event.

use serde::Serialize;

use crate::protocol::RoomId;

/// The `read` ack: the user's unread count after it.
#[derive(Debug, Serialize)]
pub struct Unread {
    pub unread: i64,
}

/// `unread` to every socket of the user, on every node.
#[derive(Debug, Serialize)]
pub struct UnreadCount {
    pub count: i64,
}

/// The `subscribe` and `unsubscribe` acks: every topic the socket holds now.
#[derive(Debug, Serialize)]
pub struct Topics {
    pub topics: Vec<String>,
}

impl Topics {
    pub fn held(topics: &[RoomId]) -> Self {
        Self {
            topics: topics.iter().map(|t| t.as_str().to_owned()).collect(),
        }
    }
}
