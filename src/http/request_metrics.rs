//! Counts every HTTP request by route and status for `/metrics`.

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use super::HttpState;

/// The Engine.IO endpoint, which the Socket.IO layer answers before routing.
const SOCKET_IO_ROUTE: &str = "/socket.io/";

/// Middleware: labels a request with its matched route (never the raw path, so
/// a scanner cannot create unbounded series) and counts it once answered.
pub async fn track_requests(
    State(state): State<HttpState>,
    request: Request,
    next: Next,
) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        None if request.uri().path().starts_with(SOCKET_IO_ROUTE) => SOCKET_IO_ROUTE.to_owned(),
        None => "unmatched".to_owned(),
    };
    let response = next.run(request).await;
    state
        .metrics
        .http_requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .inc();
    response
}
