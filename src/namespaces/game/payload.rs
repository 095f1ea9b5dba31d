//! What clients send to `/game`, parsed into typed, checked values.

use serde::Deserialize;

use crate::{
    game::sim::Input,
    protocol::{DisplayName, EventError, RoomId, payload::object_payloads},
};

/// `join {game, name}`.
#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct JoinRequest {
    game: String,
    /// Any JSON: an authenticated player's `name` is ignored, whatever it is.
    #[serde(default)]
    name: Option<serde_json::Value>,
}

pub struct Join {
    pub game: RoomId,
    pub name: DisplayName,
}

impl JoinRequest {
    /// The join; `fixed` is an authenticated player's name (from its token),
    /// which the client's `name` cannot override.
    pub fn parse(self, fixed: Option<&DisplayName>) -> Result<Join, EventError> {
        let game = RoomId::parse("game", &self.game)?;
        let name = DisplayName::of_join(fixed, self.name)?;
        Ok(Join { game, name })
    }
}

/// `input {seq, dx, dy}`: `seq` an integer from 0 to [`MAX_SEQ`], `dx`/`dy`
/// numbers from -1 to 1 (PROTOCOL.md); anything else is `bad_request` and
/// moves nobody.
#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct InputRequest {
    seq: i64,
    dx: f64,
    dy: f64,
}

/// The largest `seq`: JavaScript's largest exact integer (2^53 - 1), which a
/// browser client's counter reaches long after anyone stops playing.
pub const MAX_SEQ: i64 = (1 << 53) - 1;

impl InputRequest {
    pub fn parse(self) -> Result<Input, EventError> {
        if !(0..=MAX_SEQ).contains(&self.seq) {
            return Err(EventError::bad_request(format!(
                "`seq` must be an integer from 0 to {MAX_SEQ}"
            )));
        }
        for (field, value) in [("dx", self.dx), ("dy", self.dy)] {
            // Also false for NaN and the infinities.
            if !(-1.0..=1.0).contains(&value) {
                return Err(EventError::bad_request(format!(
                    "`{field}` must be a number from -1 to 1"
                )));
            }
        }
        Ok(Input {
            seq: self.seq,
            dx: self.dx,
            dy: self.dy,
        })
    }
}

/// `leave {}`: an object with anything in it, or no payload at all.
#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct LeaveRequest {}

// Every payload is an object (an array is `bad_request`, not read in order).
object_payloads!(
    JoinRequest: "{game, name}",
    InputRequest: "{seq, dx, dy}",
    LeaveRequest: "{}",
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn input(value: Value) -> Result<Input, String> {
        serde_json::from_value::<InputRequest>(value)
            .map_err(|e| e.to_string())?
            .parse()
            .map_err(|e| e.message)
    }

    #[test]
    fn inputs_are_checked_not_clamped() {
        for good in [
            json!({"seq": 0, "dx": 1, "dy": -1}),
            json!({"seq": MAX_SEQ, "dx": -0.5, "dy": 0.0, "extra": true}),
        ] {
            assert!(input(good.clone()).is_ok(), "{good}");
        }
        for (bad, field) in [
            (json!({"seq": 1, "dx": 1.5, "dy": 0}), "dx"),
            (json!({"seq": 1, "dx": 0, "dy": -2}), "dy"),
            (json!({"seq": -1, "dx": 0, "dy": 0}), "seq"),
            (json!({"seq": MAX_SEQ + 1, "dx": 0, "dy": 0}), "seq"),
        ] {
            let message = input(bad.clone()).err().unwrap_or_else(|| panic!("{bad}"));
            assert!(message.contains(&format!("`{field}`")), "{bad}: {message}");
        }
        for bad in [
            json!({"seq": 1, "dx": "x", "dy": 0}),
            json!({"seq": 1.5, "dx": 0, "dy": 0}),
            json!({"seq": 1, "dx": 0}),
            json!([1, 0, 0]),
        ] {
            assert!(input(bad.clone()).is_err(), "{bad}");
        }
    }
}
