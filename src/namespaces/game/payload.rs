//! What clients send to `/game`, parsed into typed, checked values.

use serde::Deserialize;

use crate::{
    game::sim::Input,
    namespaces::{
        names::{DisplayName, RoomId},
        reply::EventError,
    },
};

/// `join {game, name}`.
#[derive(Deserialize)]
pub struct JoinRequest {
    game: String,
    name: String,
}

pub struct Join {
    pub game: RoomId,
    pub name: DisplayName,
}

impl JoinRequest {
    pub fn parse(self) -> Result<Join, EventError> {
        Ok(Join {
            game: RoomId::parse("game", &self.game)?,
            name: DisplayName::parse("name", &self.name)?,
        })
    }
}

/// `input {seq, dx, dy}`: `seq` a non-negative integer, `dx`/`dy` numbers
/// (the simulation clamps them to -1..1).
#[derive(Deserialize)]
pub struct InputRequest {
    seq: i64,
    dx: f64,
    dy: f64,
}

impl InputRequest {
    pub fn parse(self) -> Result<Input, EventError> {
        if self.seq < 0 {
            return Err(EventError::bad_request("`seq` must be 0 or more"));
        }
        if !self.dx.is_finite() || !self.dy.is_finite() {
            return Err(EventError::bad_request("`dx` and `dy` must be numbers"));
        }
        Ok(Input {
            seq: self.seq,
            dx: self.dx,
            dy: self.dy,
        })
    }
}

/// `leave {}` takes anything (or nothing).
#[derive(Deserialize)]
pub struct LeaveRequest {}
