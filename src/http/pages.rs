//! The demo pages and their assets, compiled into the binary so the server
//! needs no files beside it and pages need no CDN: the socket.io browser client
//! is served from here too (vendored from socket.io-client's `dist/`, the same
//! version as `clients/js/package-lock.json`).

use axum::{
    http::header,
    response::{Html, IntoResponse},
};

pub async fn index() -> Html<&'static str> {
    Html(include_str!("../../clients/web/index.html"))
}

pub async fn chat() -> Html<&'static str> {
    Html(include_str!("../../clients/web/chat.html"))
}

pub async fn notifications() -> Html<&'static str> {
    Html(include_str!("../../clients/web/notifications.html"))
}

pub async fn game() -> Html<&'static str> {
    Html(include_str!("../../clients/web/game.html"))
}

pub async fn socket_io_client() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../clients/web/vendor/socket.io.min.js"),
    )
}

pub async fn demo_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../clients/web/assets/demo.css"),
    )
}
