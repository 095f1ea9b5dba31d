//! Per-socket `/game` state, kept in the socket's extensions: the game and
//! player it is in, if any.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::protocol::DisplayName;

#[derive(Default)]
pub struct GameSession {
    current: Mutex<Option<Seat>>,
    /// Set when the socket is authenticated: its user id and the display
    /// name its token gave (the client's `name` is ignored).
    pub player: Option<(String, DisplayName)>,
}

/// Where a socket plays: one game and its player there.
#[derive(Clone)]
pub struct Seat {
    pub game: String,
    pub player: String,
}

impl GameSession {
    /// The session as kept while its socket is away (connection state
    /// recovery): `{game, player}` (and `user` when authenticated), or null
    /// when it is not in a game.
    pub fn to_data(&self) -> serde_json::Value {
        match &*self.current() {
            Some(seat) => {
                let mut data = serde_json::json!({ "game": seat.game, "player": seat.player });
                if let Some((user, _)) = &self.player {
                    data["user"] = user.as_str().into();
                }
                data
            }
            None => serde_json::Value::Null,
        }
    }

    /// Whether a session of [`Self::to_data`] may come back as `user`
    /// (`None`: anonymous): a seat only goes back to the user that held it.
    pub fn data_is_for(data: &serde_json::Value, user: Option<&str>) -> bool {
        data.is_null() || data.get("user").and_then(|u| u.as_str()) == user
    }

    /// A session back from [`Self::to_data`].
    pub fn from_data(data: &serde_json::Value) -> Self {
        let field = |name: &str| data.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let seat = field("game")
            .zip(field("player"))
            .map(|(game, player)| Seat { game, player });
        Self {
            current: Mutex::new(seat),
            player: None,
        }
    }

    /// The seat, locked. Each use is one read or one replacement, so a
    /// poisoned lock cannot hold a half-made seat and is still usable.
    pub fn current(&self) -> MutexGuard<'_, Option<Seat>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seat_goes_back_only_to_its_user() {
        let seat = || Seat {
            game: "g".into(),
            player: "p1".into(),
        };
        let anonymous = GameSession::default();
        *anonymous.current() = Some(seat());
        let data = anonymous.to_data();
        assert!(GameSession::data_is_for(&data, None));
        assert!(!GameSession::data_is_for(&data, Some("u-1")));
        let ada = GameSession {
            player: Some(("u-1".into(), DisplayName::parse("name", "Ada").unwrap())),
            ..GameSession::default()
        };
        *ada.current() = Some(seat());
        let data = ada.to_data();
        assert_eq!(data["user"], "u-1");
        assert!(GameSession::data_is_for(&data, Some("u-1")));
        assert!(!GameSession::data_is_for(&data, Some("u-2")));
        assert!(!GameSession::data_is_for(&data, None));
        // Not in a game: nothing to give back, anyone may come.
        assert!(GameSession::data_is_for(
            &GameSession::default().to_data(),
            Some("u-2")
        ));
        assert_eq!(
            GameSession::from_data(&data)
                .current()
                .as_ref()
                .unwrap()
                .player,
            "p1"
        );
    }
}
