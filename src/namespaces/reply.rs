//! The contract's answer to a client event: `{"ok": true, ...}` or
//! `{"ok": false, "error": {"code", "message"}}` as the ack when the client
//! asked for one; otherwise nothing on success and an `error` event on failure.

use serde_json::{Map, Value, json};
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, SocketRef},
};

use crate::{
    metrics::Metrics,
    protocol::{ErrorCode, EventError},
    store::{StoreError, UNWRITABLE_MESSAGE},
};

/// A store write failed: `internal`, saying so when the store cannot
/// write at all (disk full, read-only), so clients know to retry later.
/// The caller logs the details.
pub fn store_write_refusal(error: &StoreError) -> EventError {
    if error.is_unwritable() {
        EventError::new(ErrorCode::Internal, UNWRITABLE_MESSAGE)
    } else {
        EventError::internal()
    }
}

/// What a handler produced: the success body's fields (besides `ok`) or an error.
pub type EventResult = Result<Map<String, Value>, EventError>;

/// The fields of a success body, from a `json!({...})` object.
pub fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Sends `result` to the client the way the contract says.
pub fn respond<A: Adapter>(
    socket: &SocketRef<A>,
    ack: AckSender<A>,
    ack_requested: bool,
    metrics: &Metrics,
    result: EventResult,
) {
    let sent = match (result, ack_requested) {
        (Ok(body), true) => {
            // `ok` first, then the fields in the handler's order.
            let mut answer = Map::with_capacity(body.len() + 1);
            answer.insert("ok".into(), Value::Bool(true));
            answer.extend(body);
            ack.send(&answer).is_ok()
        }
        (Ok(_), false) => false,
        (Err(error), true) => ack.send(&json!({ "ok": false, "error": error })).is_ok(),
        (Err(error), false) => socket.emit("error", &error).is_ok(),
    };
    if sent {
        metrics.event_out(socket.ns());
    }
}
