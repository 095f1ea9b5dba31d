//! Who is in a room. The one place that answers it, so the cluster issue can
//! swap the source: today the adapter's listing of local sockets in the room,
//! each with the name from its [`ChatSession`].

use std::sync::Arc;

use socketioxide::{adapter::Adapter, extract::SocketRef};

use super::{session::ChatSession, wire::Member};
use crate::namespaces::names::RoomId;

/// The room's members, sorted by name then id, leaving out `except` (the
/// socket that is leaving).
pub fn members<A: Adapter>(
    socket: &SocketRef<A>,
    room: &RoomId,
    except: Option<&str>,
) -> Vec<Member> {
    let mut members: Vec<Member> = socket
        .within(room.as_str().to_owned())
        .sockets()
        .into_iter()
        .filter_map(|s| {
            let id = s.id.to_string();
            if except == Some(id.as_str()) {
                return None;
            }
            let name = s.extensions.get::<Arc<ChatSession>>()?.name_in(room)?;
            Some(Member {
                id,
                name: name.as_str().to_owned(),
            })
        })
        .collect();
    members.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    members
}
