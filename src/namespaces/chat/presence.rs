//! Who is in a room, on every node.
//!
//! Each member socket also joins a marker room that spells its room, id and
//! name. Asking the adapter for the rooms of the room's sockets then lists
//! every member with its name, whichever node holds the socket: the
//! in-memory adapter answers from this node, the Redis adapter asks every
//! node. No separate presence store can go stale: a socket's rooms go with it.

use socketioxide::{adapter::Adapter, extract::SocketRef};

use super::wire::Member;
use crate::namespaces::names::{DisplayName, RoomId};

/// Separates the parts of a marker. A control character: room ids, socket ids
/// and display names cannot contain it.
const SEPARATOR: char = '\u{1f}';
const PREFIX: &str = "presence";

/// The marker room of `id` named `name` in `room`.
pub fn marker(room: &RoomId, id: &str, name: &DisplayName) -> String {
    format!(
        "{PREFIX}{SEPARATOR}{}{SEPARATOR}{id}{SEPARATOR}{}",
        room.as_str(),
        name.as_str()
    )
}

/// The room's members, sorted by name then id, leaving out `except` (the
/// socket that is leaving).
pub async fn members<A: Adapter>(
    socket: &SocketRef<A>,
    room: &RoomId,
    except: Option<&str>,
) -> Vec<Member> {
    let rooms = match socket.within(room.as_str().to_owned()).rooms().await {
        Ok(rooms) => rooms,
        Err(e) => {
            tracing::warn!(room = room.as_str(), error = %e, "cannot list the room's members on every node");
            socket
                .within(room.as_str().to_owned())
                .local()
                .rooms()
                .await
                .unwrap_or_default()
        }
    };
    let prefix = format!("{PREFIX}{SEPARATOR}{}{SEPARATOR}", room.as_str());
    let mut members: Vec<Member> = rooms
        .iter()
        .filter_map(|r| r.strip_prefix(prefix.as_str()))
        .filter_map(|rest| rest.split_once(SEPARATOR))
        .filter(|(id, _)| except != Some(*id))
        .map(|(id, name)| Member {
            id: id.to_owned(),
            name: name.to_owned(),
        })
        .collect();
    members.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    members.dedup_by(|a, b| a.id == b.id && a.name == b.name);
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_spell_room_id_and_name() {
        let room = RoomId::parse("room", "lobby").unwrap();
        let name = DisplayName::parse("name", "Ada L. 🙂").unwrap();
        let m = marker(&room, "abc", &name);
        let rest = m.strip_prefix("presence\u{1f}lobby\u{1f}").unwrap();
        assert_eq!(rest.split_once(SEPARATOR), Some(("abc", "Ada L. 🙂")));
    }
}
