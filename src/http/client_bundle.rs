//! The socket.io client bundle where Node's socket.io server serves it:
//! `/socket.io/socket.io.js`, `/socket.io/socket.io.min.js` and their
//! source maps, which countless tutorials and pages load with
//! `<script src="/socket.io/socket.io.js">`.
//!
//! Those paths sit under the Engine.IO path, so this is a middleware in
//! front of the Socket.IO layer: it answers exactly these four `GET`s (and
//! `HEAD`s) and passes everything else on, the Engine.IO requests (always
//! `/socket.io/` with a query) included. As the reference does, the bundle is
//! revalidated on every use (`max-age=0`) against an `ETag` of the client's
//! version, so a page gets a `304` until the server ships another version.
//! The files are socket.io-client's own `dist/`, vendored with their license
//! (`clients/web/vendor/`).

use axum::{
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// The vendored client's version (its files' banner says the same).
pub const CLIENT_VERSION: &str = "4.8.4";

/// The quoted `ETag` of every file of this version.
const ETAG: &str = "\"4.8.4\"";

/// The files by name under `/socket.io/`.
const FILES: &[(&str, &[u8])] = &[
    (
        "socket.io.js",
        include_bytes!("../../clients/web/vendor/socket.io.js"),
    ),
    (
        "socket.io.js.map",
        include_bytes!("../../clients/web/vendor/socket.io.js.map"),
    ),
    (
        "socket.io.min.js",
        include_bytes!("../../clients/web/vendor/socket.io.min.js"),
    ),
    (
        "socket.io.min.js.map",
        include_bytes!("../../clients/web/vendor/socket.io.min.js.map"),
    ),
];

/// Answers a request for one of [`FILES`]; passes every other one on.
pub async fn serve(request: Request, next: Next) -> Response {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return next.run(request).await;
    }
    let Some(&(name, body)) = request
        .uri()
        .path()
        .strip_prefix("/socket.io/")
        .and_then(|name| FILES.iter().find(|(file, _)| *file == name))
    else {
        return next.run(request).await;
    };
    let revalidated = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(str::trim)
                .any(|tag| tag == ETAG || tag.strip_prefix("W/") == Some(ETAG) || tag == "*")
        });
    let etag = (header::ETAG, HeaderValue::from_static(ETAG));
    if revalidated {
        return (StatusCode::NOT_MODIFIED, [etag]).into_response();
    }
    let content_type = if name.ends_with(".map") {
        "application/json; charset=utf-8"
    } else {
        "application/javascript; charset=utf-8"
    };
    let headers = [
        etag,
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=0"),
        ),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_are_the_version_the_etag_names() {
        for (name, body) in FILES {
            let text = std::str::from_utf8(body).expect("UTF-8");
            if name.ends_with(".map") {
                let map: serde_json::Value = serde_json::from_str(text).expect("a JSON source map");
                assert_eq!(map["version"], 3, "{name}");
            } else {
                assert!(
                    text.starts_with(&format!("/*!\n * Socket.IO v{CLIENT_VERSION}\n")),
                    "{name} is socket.io-client {CLIENT_VERSION}"
                );
            }
        }
        assert_eq!(ETAG, format!("\"{CLIENT_VERSION}\""));
    }
}
