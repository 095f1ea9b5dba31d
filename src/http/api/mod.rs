//! The HTTP push API under `/api/v1` (PROTOCOL.md, "HTTP push API"): Bearer
//! API keys, JSON in and out, the contract's error codes with matching
//! statuses, and its OpenAPI 3 document at `/api/v1/openapi.json`.

mod auth;
mod emit;
pub mod error;
mod push;

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{StatusCode, header},
    middleware,
    response::IntoResponse,
    routing::{get, post},
};
use socketioxide::{SocketIo, adapter::Adapter};

use self::error::ApiError;
use crate::{
    metrics::Metrics,
    notifications::{LiveIds, credentials::ApiKeys},
    store::NotificationStore,
    tasks::Tasks,
};

/// The OpenAPI 3 document, kept beside the code it describes; a test checks
/// that the two agree.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the API handlers share.
pub struct ApiState<A: Adapter> {
    pub io: SocketIo<A>,
    pub store: NotificationStore,
    pub keys: ApiKeys,
    /// Requests per second per API key.
    pub rate_limit: u32,
    pub metrics: Metrics,
    pub live_ids: Arc<LiveIds>,
    /// Largest request body (413 above).
    pub max_body: usize,
    /// Most bytes one user push may store, payload times users
    /// (`--api-max-stored-bytes`; 413 above).
    pub max_stored_bytes: u64,
    /// Several nodes: counts of reached sockets ask every node.
    pub clustered: bool,
    /// Where the acks of live pushes are awaited.
    pub tasks: Tasks,
}

impl<A: Adapter> Clone for ApiState<A> {
    fn clone(&self) -> Self {
        Self {
            io: self.io.clone(),
            store: self.store.clone(),
            keys: self.keys.clone(),
            rate_limit: self.rate_limit,
            metrics: self.metrics.clone(),
            live_ids: self.live_ids.clone(),
            max_body: self.max_body,
            max_stored_bytes: self.max_stored_bytes,
            clustered: self.clustered,
            tasks: self.tasks.clone(),
        }
    }
}

/// The `/api/v1` routes, to be nested under that prefix.
pub fn router<A: Adapter>(state: ApiState<A>) -> Router {
    let authenticated = Router::new()
        .route("/notifications", post(push::create::<A>))
        .route("/users/{user}/notifications", get(push::list::<A>))
        .route("/emit", post(emit::emit::<A>))
        .route_layer(middleware::from_fn_with_state(
            auth::ApiGate::new(state.keys.clone(), state.rate_limit),
            auth::require_api_key,
        ));
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(authenticated)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.max_body))
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API endpoint; see /api/v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        crate::namespaces::reply::ErrorCode::BadRequest,
        "method not allowed on this endpoint; see /api/v1/openapi.json",
    )
}
