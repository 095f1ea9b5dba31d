//! The demo pages and their assets, compiled into the binary so the server
//! needs no files beside it and pages need no CDN: the socket.io browser client
//! is served from here too (vendored from socket.io-client's `dist/`, the same
//! version as `clients/js/package-lock.json`).
//!
//! A page is markup only: its script and styles are assets under `/assets/`
//! (`common.js` holds what the pages share), so the pages go out with a
//! Content-Security-Policy that allows no inline script or style.

use axum::{
    http::header,
    response::{Html, IntoResponse},
};

/// Scripts, styles and connections from this origin only; nothing inline,
/// no plugins, no framing. `data:` images: the pages' empty favicon.
/// `'unsafe-eval'`: the pages never evaluate strings, but the browser checks
/// (`tests/interop/browser/`) wait with Playwright's `waitForFunction`, whose
/// in-page poller runs the predicate through `eval` (under `script-src
/// 'self'` a page still "connecting" at the first check never passed in CI);
/// inline and foreign scripts stay refused.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn page(html: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)],
        Html(html),
    )
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The pages' own scripts and styles change with the binary: cached briefly.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}

pub async fn index() -> impl IntoResponse {
    page(include_str!("../../clients/web/index.html"))
}

pub async fn chat() -> impl IntoResponse {
    page(include_str!("../../clients/web/chat.html"))
}

pub async fn notifications() -> impl IntoResponse {
    page(include_str!("../../clients/web/notifications.html"))
}

pub async fn game() -> impl IntoResponse {
    page(include_str!("../../clients/web/game.html"))
}

pub async fn socket_io_client() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, JAVASCRIPT),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../clients/web/vendor/socket.io.min.js"),
    )
}

pub async fn demo_css() -> impl IntoResponse {
    asset(CSS, include_str!("../../clients/web/assets/demo.css"))
}

pub async fn common_js() -> impl IntoResponse {
    asset(
        JAVASCRIPT,
        include_str!("../../clients/web/assets/common.js"),
    )
}

pub async fn index_css() -> impl IntoResponse {
    asset(CSS, include_str!("../../clients/web/assets/index.css"))
}

pub async fn chat_js() -> impl IntoResponse {
    asset(JAVASCRIPT, include_str!("../../clients/web/assets/chat.js"))
}

pub async fn chat_css() -> impl IntoResponse {
    asset(CSS, include_str!("../../clients/web/assets/chat.css"))
}

pub async fn notifications_js() -> impl IntoResponse {
    asset(
        JAVASCRIPT,
        include_str!("../../clients/web/assets/notifications.js"),
    )
}

pub async fn notifications_css() -> impl IntoResponse {
    asset(
        CSS,
        include_str!("../../clients/web/assets/notifications.css"),
    )
}

pub async fn game_js() -> impl IntoResponse {
    asset(JAVASCRIPT, include_str!("../../clients/web/assets/game.js"))
}

pub async fn game_css() -> impl IntoResponse {
    asset(CSS, include_str!("../../clients/web/assets/game.css"))
}
