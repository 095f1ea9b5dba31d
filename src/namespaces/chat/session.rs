//! Per-socket chat state, kept in the socket's extensions: the rooms it joined
//! (with the name it chose in each).

use std::{collections::BTreeMap, sync::Mutex};

use crate::protocol::bounds::MAX_ROOMS_PER_SOCKET;
use crate::protocol::{DisplayName, RoomId};

#[derive(Default)]
pub struct ChatSession {
    rooms: Mutex<BTreeMap<RoomId, DisplayName>>,
}

impl ChatSession {
    fn rooms(&self) -> std::sync::MutexGuard<'_, BTreeMap<RoomId, DisplayName>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (each operation is one map call), so a poisoned lock is still usable.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name this socket uses in `room`, if it is a member.
    pub fn name_in(&self, room: &RoomId) -> Option<DisplayName> {
        self.rooms().get(room).cloned()
    }

    /// Records a join; returns the previous name when it was already a member,
    /// or `Err` when the socket is in too many rooms already.
    pub fn join(&self, room: RoomId, name: DisplayName) -> Result<Option<DisplayName>, ()> {
        let mut rooms = self.rooms();
        if !rooms.contains_key(&room) && rooms.len() >= MAX_ROOMS_PER_SOCKET {
            return Err(());
        }
        Ok(rooms.insert(room, name))
    }

    /// Records a leave; returns the name it had, `None` when not a member.
    pub fn leave(&self, room: &RoomId) -> Option<DisplayName> {
        self.rooms().remove(room)
    }

    /// Every room with its name, emptying the session (on disconnect).
    pub fn leave_all(&self) -> Vec<(RoomId, DisplayName)> {
        std::mem::take(&mut *self.rooms()).into_iter().collect()
    }
}

impl ChatSession {
    /// The session as kept while its socket is away (connection state
    /// recovery): `{room: name}`.
    pub fn to_data(&self) -> serde_json::Value {
        self.rooms()
            .iter()
            .map(|(room, name)| (room.as_str().to_owned(), name.as_str().into()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// A session back from [`Self::to_data`]; entries that no longer parse
    /// are left out.
    pub fn from_data(data: &serde_json::Value) -> Self {
        let rooms = data
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(room, name)| {
                let room = RoomId::parse("room", room).ok()?;
                let name = DisplayName::parse("name", name.as_str()?).ok()?;
                Some((room, name))
            })
            .take(MAX_ROOMS_PER_SOCKET)
            .collect();
        Self {
            rooms: Mutex::new(rooms),
        }
    }
}
