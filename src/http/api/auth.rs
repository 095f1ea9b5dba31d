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

/// The credentials of an `Authorization: Bearer ...` value. The scheme is
/// case-insensitive (RFC 7235: `bearer`, `BEARER` are the same) and one or
/// more spaces or tabs may follow it.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("bearer") || !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim_start_matches([' ', '\t']))
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
        .and_then(bearer_credentials)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer API_KEY`"))?;
    keys.check(presented.trim())
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))
}

#[cfg(test)]
mod tests {
    use super::bearer_credentials;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer k", "bearer k", "BEARER k", "bEaReR \t  k"] {
            assert_eq!(bearer_credentials(value), Some("k"), "{value}");
        }
        for value in ["Bearerk", "Basic k", "Bear k", "", "Bearer"] {
            assert_eq!(bearer_credentials(value), None, "{value}");
        }
    }
}
