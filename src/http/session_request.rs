//! The handshake request a session keeps, detached from the connection's
//! read buffer.
//!
//! hyper parses a request without copying: its URI and header values are
//! slices of the connection's read buffer (8 KiB or more). socketioxide keeps
//! the handshake request's parts for the session's whole life
//! (`Socket::req_parts`), so each open session would pin that whole buffer,
//! about 8 KiB per idle WebSocket (measured with heaptrack: the largest item
//! of an idle connection's memory; see docs/benchmarks.md). Copying the few
//! hundred bytes the session keeps lets the buffer go when the request is
//! done.

use axum::{
    extract::{OriginalUri, Request},
    http::{HeaderMap, HeaderValue, Uri},
    middleware::Next,
    response::Response,
};

/// Whether `uri` can open an Engine.IO session: it names no `sid`. Requests
/// of an existing session (polls, posts, the upgrade) carry their `sid`.
pub fn opens_session(uri: &Uri) -> bool {
    !uri.query()
        .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("sid=")))
}

/// Tower middleware before the Socket.IO layer: a request that can open a
/// session goes on with its URI and headers in allocations of their own.
pub async fn detach(mut request: Request, next: Next) -> Response {
    if opens_session(request.uri()) {
        detach_parts(&mut request);
    }
    next.run(request).await
}

fn detach_parts(request: &mut Request) {
    *request.uri_mut() = owned(request.uri());
    // axum keeps the URI as it came in, too.
    if let Some(OriginalUri(original)) = request.extensions_mut().get_mut::<OriginalUri>() {
        *original = owned(original);
    }
    let mut headers = HeaderMap::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        // Header names are copied by hyper already; values are the slices.
        let Ok(mut owned) = HeaderValue::from_bytes(value.as_bytes()) else {
            // Unreachable: the bytes came from a valid value.
            return;
        };
        owned.set_sensitive(value.is_sensitive());
        headers.append(name, owned);
    }
    *request.headers_mut() = headers;
}

/// `uri` in an allocation of its own: parsed again from an owned `String`.
fn owned(uri: &Uri) -> Uri {
    Uri::try_from(uri.to_string()).unwrap_or_else(|_| uri.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_without_a_sid_open_a_session() {
        let opens = |uri: &str| opens_session(&uri.parse().unwrap());
        assert!(opens("/socket.io/?EIO=4&transport=polling"));
        assert!(opens("/socket.io/?EIO=4&transport=websocket"));
        assert!(opens("/socket.io/"));
        assert!(!opens("/socket.io/?EIO=4&transport=polling&sid=abc"));
        assert!(!opens("/socket.io/?sid=abc&EIO=4&transport=websocket"));
    }

    #[test]
    fn detached_parts_keep_every_header_and_the_uri() {
        let mut request = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket")
            .header("x-forwarded-for", "10.0.0.1")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(axum::body::Body::empty())
            .unwrap();
        let before = request.headers().clone();
        detach_parts(&mut request);
        assert_eq!(request.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(request.headers(), &before);
        assert_eq!(request.headers().get_all("cookie").iter().count(), 2);
    }
}
