//! `Authorization: Bearer KEY` on every `/api/v1` route but the OpenAPI
//! document, and the per-key request rate limit.

use std::{num::NonZeroU32, sync::Arc};

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use crate::{
    notifications::credentials::{ApiKeys, KeyId},
    protocol::ErrorCode,
};

/// Who may call the API, and how often.
#[derive(Clone)]
pub struct ApiGate {
    keys: ApiKeys,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl ApiGate {
    /// `per_second` requests per key, bursts of twice that.
    pub fn new(keys: ApiKeys, per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
        Self {
            keys,
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
        }
    }
}

/// Lets the request through with its [`KeyId`] in the extensions, or answers
/// 401 (no or unknown key) or 429 (over the key's rate).
pub async fn require_api_key(
    State(gate): State<ApiGate>,
    mut request: Request,
    next: Next,
) -> Result<Response, Response> {
    let key = authenticate(&gate.keys, &request).map_err(IntoResponse::into_response)?;
    if gate.limiter.check_key(&key.0).is_err() {
        let error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many requests for this API key, slow down",
        );
        return Err(([(header::RETRY_AFTER, "1")], error).into_response());
    }
    request.extensions_mut().insert(key);
    Ok(next.run(request).await)
}

fn authenticate(keys: &ApiKeys, request: &Request) -> Result<KeyId, ApiError> {
    if keys.is_empty() {
        return Err(ApiError::unauthorized(
            "this server has no API keys configured (SWITCHBOARD_API_KEYS)",
        ));
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer API_KEY`"))?;
    keys.check(presented.trim())
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))
}
