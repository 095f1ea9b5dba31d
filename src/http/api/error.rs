//! The HTTP API's errors: `{"error": {"code", "message"}}` with the status
//! that matches the contract's code.

use axum::{
    Json,
    extract::rejection::{BytesRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::protocol::{ErrorCode, EventError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// A store write failed: 503 when the store cannot write at all (disk
    /// full, read-only: nothing was stored, a retry later may succeed),
    /// otherwise as [`Self::internal`]. The details go to the log.
    pub fn store_write(error: &crate::store::StoreError) -> Self {
        if error.is_unwritable() {
            tracing::error!(%error, "HTTP API request refused: the store cannot write");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal,
                crate::store::UNWRITABLE_MESSAGE,
            );
        }
        Self::internal(error)
    }

    /// The details go to the log, not the caller.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "HTTP API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error, try again",
        )
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        Self::new(e.code.status(), e.code, e.message)
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                "the request body is larger than the server's limit (--max-payload)",
            );
        }
        Self::bad_request(format!("cannot read the request body: {rejection}"))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(format!("bad query string: {}", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}

/// Parses a JSON body into `T`, or a 400 naming the problem.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "the body is not valid JSON"
        } else {
            "the body does not match"
        };
        ApiError::bad_request(format!("{what}: {e}"))
    })
}
