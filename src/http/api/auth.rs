//! `Authorization: Bearer KEY` on every `/api/v1` route but the OpenAPI
//! document.

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::Response,
};

use super::error::ApiError;
use crate::notifications::credentials::ApiKeys;

/// Lets the request through with its [`KeyId`](crate::notifications::credentials::KeyId)
/// in the extensions, or answers 401.
pub async fn require_api_key(
    State(keys): State<ApiKeys>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
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
    let key = keys
        .check(presented.trim())
        .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
    request.extensions_mut().insert(key);
    Ok(next.run(request).await)
}
