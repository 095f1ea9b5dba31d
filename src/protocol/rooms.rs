//! The names of the adapter rooms, spelled here and nowhere else.
//!
//! A room of the Socket.IO adapter is a plain string, on one node or on every
//! node of a cluster (the Redis adapter carries them). Each namespace keeps
//! its rooms apart by a prefix, so no client-chosen id can name another
//! kind's room:
//!
//! | room | name |
//! | --- | --- |
//! | a `/chat` room (also `POST /api/v1/emit`'s `room`) | the room id itself |
//! | a `/chat` member's presence marker | `presence` US room US socket id US name |
//! | every `/notifications` socket of a user | `user:` and the user id |
//! | a `/notifications` topic | `topic:` and the topic |
//! | a `/game` game | `game:` and the game id |
//! | the sockets of a recovering namespace that get offsets / do not | US `recovery` US `offsets` / `plain` |
//!
//! (US is U+001F, a control character that room ids, socket ids and display
//! names cannot contain.)

use super::{DisplayName, RoomId, UserId};

/// In a namespace with connection state recovery, every socket that takes
/// offsets (it was given a pid) is in this room, every other socket in
/// [`RECOVERY_PLAIN`]: a recorded event goes to each group in its own form.
pub const RECOVERY_OFFSETS: &str = "\u{1f}recovery\u{1f}offsets";
/// See [`RECOVERY_OFFSETS`].
pub const RECOVERY_PLAIN: &str = "\u{1f}recovery\u{1f}plain";

/// Separates the parts of a presence marker.
pub const PRESENCE_SEPARATOR: char = '\u{1f}';
const PRESENCE: &str = "presence";

/// A `/chat` room, and the `room` of `POST /api/v1/emit`: the id as is.
pub fn chat(room: &RoomId) -> String {
    room.as_str().to_owned()
}

/// The presence marker room of socket `id` named `name` in `room` (then US
/// and its `user` when authenticated): each member socket joins it, so
/// listing the rooms of the room's sockets lists every member with its name
/// and user, on every node. Neither a name nor a user id holds a control
/// character, so the separator cannot occur inside them.
pub fn presence_marker(room: &RoomId, id: &str, name: &DisplayName, user: Option<&str>) -> String {
    let mut marker = format!(
        "{}{id}{PRESENCE_SEPARATOR}{}",
        presence_prefix(room),
        name.as_str()
    );
    if let Some(user) = user {
        marker.push(PRESENCE_SEPARATOR);
        marker.push_str(user);
    }
    marker
}

/// What every presence marker of `room` starts with (then `id` US `name`).
pub fn presence_prefix(room: &RoomId) -> String {
    format!(
        "{PRESENCE}{PRESENCE_SEPARATOR}{}{PRESENCE_SEPARATOR}",
        room.as_str()
    )
}

/// The room every socket of `user` is in (for `unread`, and anything else
/// sent to all of a user's sockets on every node).
pub fn user(user: &UserId) -> String {
    format!("user:{}", user.as_str())
}

/// The room of a `/notifications` topic.
pub fn topic(topic: &RoomId) -> String {
    format!("topic:{}", topic.as_str())
}

/// The room of a `/game` game, by its (checked) id.
pub fn game(game: &str) -> String {
    format!("game:{game}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_spell_room_id_and_name() {
        let room = RoomId::parse("room", "lobby").unwrap();
        let name = DisplayName::parse("name", "Ada L. 🙂").unwrap();
        let m = presence_marker(&room, "abc", &name, None);
        let rest = m.strip_prefix("presence\u{1f}lobby\u{1f}").unwrap();
        assert_eq!(
            rest.split_once(PRESENCE_SEPARATOR),
            Some(("abc", "Ada L. 🙂"))
        );
        let m = presence_marker(&room, "abc", &name, Some("u-1"));
        assert_eq!(m, "presence\u{1f}lobby\u{1f}abc\u{1f}Ada L. 🙂\u{1f}u-1");
    }

    #[test]
    fn user_rooms() {
        assert_eq!(user(&UserId::parse("élodie 42").unwrap()), "user:élodie 42");
    }
}
