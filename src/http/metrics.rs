//! `/metrics`: the Prometheus text exposition.

use axum::{extract::State, http::header, response::IntoResponse};

use super::HttpState;

pub async fn render(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        state.metrics.render(),
    )
}
