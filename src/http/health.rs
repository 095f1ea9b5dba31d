//! `/healthz` (the process serves) and `/readyz` (its dependencies answer).

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use super::HttpState;

/// How long a dependency may take to answer a readiness check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// Ready when every dependency answers in time; otherwise 503 naming the
/// failing one, so a load balancer stops sending clients here.
pub async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let store = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 2s".to_string()),
    };
    let engine = state.store.engine();
    match store {
        Ok(()) => (
            StatusCode::OK,
            Json(
                json!({ "status": "ready", "checks": { "store": { "ok": true, "engine": engine } } }),
            ),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "failing": ["store"],
                    "checks": { "store": { "ok": false, "engine": engine, "error": "the store does not answer" } }
                })),
            )
        }
    }
}
