//! `GET /demo/token?user=NAME`: signs a token for the demo page, only while
//! the server runs on the public development secret (loopback, no secret
//! configured). Anywhere else it is 404: handing out tokens would let anyone
//! read anyone's notifications.

use std::time::Duration;

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::error::ApiError;
use crate::{
    config::Secret,
    notifications::{Credentials, credentials::DEVELOPMENT_API_KEY, sign_token_with},
    protocol::UserId,
};

/// How long a demo token is valid.
const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 60 * 60);

#[derive(Deserialize)]
pub struct DemoTokenQuery {
    user: String,
}

pub async fn token(
    State(credentials): State<Credentials>,
    query: Result<Query<DemoTokenQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let secret = credentials
        .jwt_secret
        .as_ref()
        .filter(|_| credentials.development_secret)
        .ok_or_else(|| {
            ApiError::not_found(
                "demo tokens exist only in development mode; use `switchboard token USER`",
            )
        })?;
    let Query(query) = query?;
    let user = UserId::parse(query.user.trim())
        .map_err(|e| ApiError::bad_request(format!("`user`: {e}")))?;
    let api_key = credentials
        .api_keys
        .is_development()
        .then_some(DEVELOPMENT_API_KEY);
    Ok(Json(json!({
        "user": user.as_str(),
        "token": sign_token_with(
            Secret::expose(secret),
            credentials.signing_algorithm,
            &user,
            DEMO_TOKEN_TTL,
        ),
        "api_key": api_key,
    })))
}
