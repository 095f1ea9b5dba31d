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

/// Ready when every dependency answers in time and the store takes writes
/// (a test write, at most once a second, while no real write succeeded that
/// recently; see `store::health`); otherwise 503 naming the failing ones, so
/// a load balancer stops sending clients here.
pub async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let engine = state.store.engine();
    let mut checks = serde_json::Map::new();
    let mut failing = Vec::new();
    match answered(state.store.check_writable()).await {
        Ok(()) => {
            checks.insert("store".into(), json!({ "ok": true, "engine": engine }));
        }
        Err(error) => {
            tracing::warn!(%error, "readiness: the store cannot write");
            checks.insert(
                "store".into(),
                json!({ "ok": false, "engine": engine, "error": "the store cannot write or does not answer" }),
            );
            failing.push("store");
        }
    }
    if let Some(redis) = &state.redis {
        match answered(redis.ping()).await {
            Ok(()) => {
                checks.insert("redis".into(), json!({ "ok": true }));
            }
            Err(error) => {
                tracing::warn!(%error, "readiness: Redis does not answer");
                checks.insert(
                    "redis".into(),
                    json!({ "ok": false, "error": "Redis does not answer" }),
                );
                failing.push("redis");
            }
        }
    }
    if failing.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": checks })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "failing": failing, "checks": checks })),
        )
    }
}

/// A check's outcome within [`CHECK_TIMEOUT`].
async fn answered<E: std::fmt::Display>(
    check: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 2s".to_string()),
    }
}
