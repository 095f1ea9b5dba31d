//! `POST /api/v1/emit`: one event to a namespace or a room, from the server side.

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;

use super::{
    ApiState,
    error::{ApiError, parse_json},
};
use crate::protocol::{BadEventName, MAX_EVENT_CHARS, RoomId, check_event_name, rooms};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmitRequest {
    namespace: String,
    #[serde(default)]
    room: Option<String>,
    event: String,
    #[serde(default)]
    data: Value,
}

pub async fn emit<A: Adapter>(
    State(state): State<ApiState<A>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: EmitRequest = parse_json(&body?)?;
    match check_event_name(&request.event) {
        Ok(()) => {}
        Err(BadEventName::Shape) => {
            return Err(ApiError::bad_request(format!(
                "`event` must be 1 to {MAX_EVENT_CHARS} characters without control characters"
            )));
        }
        Err(BadEventName::Reserved) => {
            return Err(ApiError::bad_request(format!(
                "`{}` is reserved by Socket.IO and cannot be emitted",
                request.event
            )));
        }
    }
    let room = request
        .room
        .as_deref()
        .map(|room| RoomId::parse("room", room))
        .transpose()?;
    let namespace = state.io.of(&request.namespace).ok_or_else(|| {
        ApiError::not_found(format!(
            "this server has no namespace `{}`",
            request.namespace
        ))
    })?;
    let recipients = match room {
        Some(room) => namespace.within(rooms::chat(&room)),
        None => namespace,
    };
    recipients
        .emit(&request.event, &request.data)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    state.metrics.event_out(&request.namespace);
    Ok((StatusCode::ACCEPTED, Json(json!({ "ok": true }))))
}
