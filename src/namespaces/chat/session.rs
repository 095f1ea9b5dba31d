//! Per-socket chat state, kept in the socket's extensions: the rooms it joined
//! (with the name it chose in each), and who it is when authenticated.

use std::{collections::BTreeMap, sync::Mutex};

use crate::protocol::bounds::MAX_ROOMS_PER_SOCKET;
use crate::protocol::{DisplayName, RoomId};

/// The key of the user in [`ChatSession::to_data`]: not a room id (`@` is
/// not allowed in one), so older readers skip it.
const USER_KEY: &str = "@user";

#[derive(Default)]
pub struct ChatSession {
    rooms: Mutex<BTreeMap<RoomId, DisplayName>>,
    /// Set when the socket is authenticated: its name in every room comes
    /// from its token, not from `join`.
    pub member: Option<Authenticated>,
}

/// An authenticated member: its user id and the display name its token gave.
#[derive(Clone)]
pub struct Authenticated {
    pub user: String,
    pub name: DisplayName,
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
    /// recovery): `{room: name}`, and `"@user": user` when authenticated.
    pub fn to_data(&self) -> serde_json::Value {
        let mut data = self
            .rooms()
            .iter()
            .map(|(room, name)| (room.as_str().to_owned(), name.as_str().into()))
            .collect::<serde_json::Map<_, _>>();
        if let Some(member) = &self.member {
            data.insert(USER_KEY.to_owned(), member.user.clone().into());
        }
        data.into()
    }

    /// The user a session of [`Self::to_data`] was for (`None`: anonymous).
    pub fn user_in_data(data: &serde_json::Value) -> Option<String> {
        data.get(USER_KEY)?.as_str().map(str::to_owned)
    }

    /// This session, now for `member` (`None`: anonymous).
    pub fn with_member(mut self, member: Option<Authenticated>) -> Self {
        self.member = member;
        self
    }

    /// The user id of an authenticated socket.
    pub fn user(&self) -> Option<&str> {
        self.member.as_ref().map(|m| m.user.as_str())
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
            member: None,
        }
    }
}
