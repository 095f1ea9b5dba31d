//! `/healthz` (the process serves) and `/readyz` (its dependencies answer).

use axum::{Json, http::StatusCode, response::IntoResponse};
use serde_json::json;

pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// Ready when every dependency answers. The foundation has none yet (the store
/// and Redis add their checks here), so it is ready as soon as it serves.
pub async fn readyz() -> impl IntoResponse {
    (
        StatusCode::OK,
        Json(json!({ "status": "ready", "checks": {} })),
    )
}
