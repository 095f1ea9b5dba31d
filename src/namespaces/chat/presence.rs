//! Who is in a room, on every node.
//!
//! Each member socket also joins a marker room that spells its room, id and
//! name, and user when authenticated ([`rooms::presence_marker`]). Asking the adapter for the rooms of the
//! room's sockets then lists every member with its name, whichever node holds
//! the socket: the in-memory adapter answers from this node, the Redis
//! adapter asks every node. No separate presence store can go stale: a socket's rooms go with it.

use socketioxide::{adapter::Adapter, operators::BroadcastOperators};

use super::wire::Member;
use crate::{
    protocol::{RoomId, rooms},
    recovery::NamespaceLog,
};

/// The room's members, sorted by name then id, leaving out `except` (the
/// socket that is leaving). `within` gives the room's operators (from a
/// socket, or from the server once a held session expired). With connection
/// state recovery, members whose transport dropped still count until they
/// recover or their window passes (`absent`: the rooms of their sessions).
pub async fn members<A: Adapter>(
    within: impl Fn() -> BroadcastOperators<A>,
    room: &RoomId,
    except: Option<&str>,
    absent: Option<&NamespaceLog>,
) -> Vec<Member> {
    let mut held = match within().rooms().await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(room = room.as_str(), error = %e, "cannot list the room's members on every node");
            within().local().rooms().await.unwrap_or_default()
        }
    };
    if let Some(log) = absent {
        held.extend(log.absent_rooms().await.into_iter().map(Into::into));
    }
    let prefix = rooms::presence_prefix(room);
    let mut members: Vec<Member> = held
        .iter()
        .filter_map(|r| r.strip_prefix(prefix.as_str()))
        .filter_map(|rest| rest.split_once(rooms::PRESENCE_SEPARATOR))
        .filter(|(id, _)| except != Some(*id))
        .map(|(id, rest)| {
            let (name, user) = match rest.split_once(rooms::PRESENCE_SEPARATOR) {
                Some((name, user)) => (name, Some(user.to_owned())),
                None => (rest, None),
            };
            Member {
                id: id.to_owned(),
                name: name.to_owned(),
                user,
            }
        })
        .collect();
    members.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    members.dedup_by(|a, b| a.id == b.id && a.name == b.name && a.user == b.user);
    members
}
