//! The origin policy of the Socket.IO endpoint and `/ws`, against cross-site
//! WebSocket hijacking (CSWSH).
//!
//! Browsers apply no same-origin policy to WebSocket: any page, on any site,
//! can open `ws://this-server/socket.io/` or `/ws`, and CORS headers change
//! nothing about that (they only decide whether a page may *read* an HTTP
//! answer, and an Engine.IO polling handshake is a side effect even when its
//! answer is unreadable). What a browser does send is an `Origin` header it
//! does not let the page forge, so the server refuses, with 403 and before any
//! session exists, a request whose `Origin` is not allowed:
//!
//! - `--cors-origins` set: the origin must be on the list (exactly,
//!   `scheme://host[:port]`), or the list holds `*`.
//! - unset: the origin must be the request's own host: its `host[:port]` (scheme
//!   `http` or `https`) equals the `Host` header (a default port, `:80` for
//!   `http` and `:443` for `https`, may be written or left out). Behind a proxy
//!   that means the proxy must pass the client's `Host` on (nginx:
//!   `proxy_set_header Host $http_host`).
//!
//! A request without `Origin` is allowed: it comes from a non-browser client
//! (python-socketio, Node's socket.io-client, curl), which could send any
//! header anyway, and a browser cannot be made to leave it out of a
//! cross-origin request.
//!
//! Checked: every request to the Socket.IO path that carries `Origin` (the
//! polling handshake, the WebSocket upgrade with or without `sid`, and the
//! polling GET / POST of an existing session, which a page that passed the
//! check sends from the same origin again), and every request to `/ws` that
//! carries it. Other routes (pages, health, metrics, the HTTP API with its
//! keys) are untouched.
//!
//! CORS preflights (`OPTIONS` with `Access-Control-Request-Method`), on any
//! path, are answered only for an origin `--cors-origins` lists (or for every
//! origin with `*`): [`check_preflight`] refuses the others with the same 403
//! before the CORS layer answers, so no page elsewhere is told which methods
//! and headers the server takes. With the setting unset there is no CORS and
//! every preflight is refused (a page of the server's own host sends none).

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus::IntCounterVec;
use serde_json::json;

use crate::{config::CorsOrigin, metrics::Metrics};

/// The Engine.IO path, as socketioxide serves it (`/socket.io` and below).
const SOCKET_IO_PATH: &str = "/socket.io";
/// The bare WebSocket echo route.
const WS_PATH: &str = "/ws";

/// Which browser origins may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPolicy {
    /// `--cors-origins` unset: only the request's own host.
    SameHost,
    /// `*`: any origin.
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<HeaderValue>),
}

impl OriginPolicy {
    /// The policy `--cors-origins` asks for.
    pub fn from_config(origins: &[CorsOrigin]) -> Self {
        if origins.is_empty() {
            return Self::SameHost;
        }
        if origins.contains(&CorsOrigin::Any) {
            return Self::Any;
        }
        Self::List(
            origins
                .iter()
                .filter_map(|origin| match origin {
                    CorsOrigin::Exact(value) => Some(value.clone()),
                    CorsOrigin::Any => None,
                })
                .collect(),
        )
    }

    /// Whether a request carrying `Origin: origin` (and `Host: host`, when it
    /// has one) may go on. Requests without `Origin` are not asked about: they
    /// are always allowed.
    pub fn allows(&self, origin: &HeaderValue, host: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::List(allowed) => allowed.iter().any(|a| a.as_bytes() == origin.as_bytes()),
            Self::SameHost => {
                let (Ok(origin), Some(host)) = (origin.to_str(), host) else {
                    return false;
                };
                same_host(origin, host)
            }
        }
    }
}

/// Whether `origin` (`http://host[:port]` or `https://host[:port]`) names the
/// authority `host` (a `Host` header), ignoring ASCII case and a default port.
fn same_host(origin: &str, host: &str) -> bool {
    let (authority, default_port) = if let Some(rest) = origin.strip_prefix("http://") {
        (rest, ":80")
    } else if let Some(rest) = origin.strip_prefix("https://") {
        (rest, ":443")
    } else {
        // `null` (sandboxed frames, `file:` pages) and any other scheme.
        return false;
    };
    let bare = |value: &str| -> String {
        let lower = value.to_ascii_lowercase();
        match lower.strip_suffix(default_port) {
            Some(stripped) => stripped.to_owned(),
            None => lower,
        }
    };
    let valid = |value: &str| {
        !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"/?#@\\".contains(&b))
    };
    valid(authority) && valid(host) && bare(authority) == bare(host)
}

/// What the middleware needs: the policy and the refusal counter.
#[derive(Clone)]
pub struct OriginGuard {
    policy: Arc<OriginPolicy>,
    refused: IntCounterVec,
}

impl OriginGuard {
    pub fn new(origins: &[CorsOrigin], metrics: &Metrics) -> Self {
        Self {
            policy: Arc::new(OriginPolicy::from_config(origins)),
            refused: metrics.origin_refused.clone(),
        }
    }
}

/// The route label of a checked path, `None` for paths the policy leaves alone.
fn checked_route(path: &str) -> Option<&'static str> {
    let socket_io = path
        .strip_prefix(SOCKET_IO_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if socket_io {
        Some("/socket.io/")
    } else if path == WS_PATH {
        Some(WS_PATH)
    } else {
        None
    }
}

/// The request's own authority: its `Host` header, or the URI's authority
/// (HTTP/2 carries it there).
fn request_host(headers: &HeaderMap, request: &Request) -> Option<String> {
    match headers.get(header::HOST) {
        Some(host) => host.to_str().ok().map(str::to_owned),
        None => request.uri().authority().map(|a| a.as_str().to_owned()),
    }
}

/// Middleware: refuses a Socket.IO or `/ws` request whose `Origin` the policy
/// does not allow, with 403, before the Socket.IO layer or the route sees it.
pub async fn check(State(guard): State<OriginGuard>, request: Request, next: Next) -> Response {
    let Some(route) = checked_route(request.uri().path()) else {
        return next.run(request).await;
    };
    let headers = request.headers();
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let Some(origin) = origins.next() else {
        return next.run(request).await;
    };
    // Two `Origin` headers: no browser sends that; refuse rather than pick one.
    let allowed = origins.next().is_none()
        && guard
            .policy
            .allows(origin, request_host(headers, &request).as_deref());
    if allowed {
        return next.run(request).await;
    }
    refuse(&guard, origin, &request, route, "a request")
}

/// Middleware, outside the CORS layer: a CORS preflight from an origin the
/// policy does not list gets 403 instead of the CORS layer's answer.
pub async fn check_preflight(
    State(guard): State<OriginGuard>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let is_preflight = request.method() == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let (true, Some(origin)) = (is_preflight, origins.next()) else {
        return next.run(request).await;
    };
    // Only a configured list (or `*`) answers preflights; the same-host rule
    // needs none.
    let allowed = origins.next().is_none()
        && !matches!(*guard.policy, OriginPolicy::SameHost)
        && guard.policy.allows(origin, None);
    if allowed {
        return next.run(request).await;
    }
    refuse(&guard, origin, &request, "preflight", "a CORS preflight")
}

/// Logs and counts a refused `what` (under `route`), and answers it.
fn refuse(
    guard: &OriginGuard,
    origin: &HeaderValue,
    request: &Request,
    route: &str,
    what: &str,
) -> Response {
    tracing::info!(
        origin = %String::from_utf8_lossy(origin.as_bytes()),
        path = request.uri().path(),
        "refused {what} from a browser origin that is not allowed (--cors-origins)"
    );
    guard.refused.with_label_values(&[route]).inc();
    forbidden()
}

/// The contract's answer to a refused origin.
fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({ "error": { "code": "forbidden", "message": "origin not allowed" } })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(origins: &[&str]) -> OriginPolicy {
        OriginPolicy::List(origins.iter().map(|o| o.parse().unwrap()).collect())
    }

    fn allows(policy: &OriginPolicy, origin: &str, host: Option<&str>) -> bool {
        policy.allows(&HeaderValue::from_str(origin).unwrap(), host)
    }

    #[test]
    fn the_setting_maps_to_a_policy() {
        assert_eq!(OriginPolicy::from_config(&[]), OriginPolicy::SameHost);
        let a = CorsOrigin::Exact("https://a.test".parse().unwrap());
        assert_eq!(
            OriginPolicy::from_config(&[a.clone(), CorsOrigin::Any]),
            OriginPolicy::Any
        );
        assert_eq!(OriginPolicy::from_config(&[a]), exact(&["https://a.test"]));
    }

    #[test]
    fn a_list_allows_exactly_its_origins() {
        let policy = exact(&["https://app.example.com", "http://localhost:8080"]);
        for origin in ["https://app.example.com", "http://localhost:8080"] {
            assert!(
                allows(&policy, origin, Some("switchboard.test")),
                "{origin}"
            );
        }
        for origin in [
            "https://evil.example",
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com.evil.example",
            "http://localhost:8081",
            "null",
        ] {
            assert!(
                !allows(&policy, origin, Some("switchboard.test")),
                "{origin}"
            );
        }
        // The list is the whole rule: the server's own host is not added.
        assert!(!allows(
            &policy,
            "http://switchboard.test",
            Some("switchboard.test")
        ));
    }

    #[test]
    fn any_allows_every_origin() {
        for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
            assert!(allows(&OriginPolicy::Any, origin, None), "{origin}");
        }
    }

    #[test]
    fn by_default_only_the_requests_own_host_is_allowed() {
        let policy = OriginPolicy::SameHost;
        for (origin, host) in [
            ("http://127.0.0.1:3000", "127.0.0.1:3000"),
            ("https://chat.example.com", "chat.example.com"),
            ("https://Chat.Example.com", "chat.example.com"),
            ("http://[::1]:3000", "[::1]:3000"),
            // A default port written on one side only.
            ("https://chat.example.com", "chat.example.com:443"),
            ("http://chat.example.com:80", "chat.example.com"),
        ] {
            assert!(allows(&policy, origin, Some(host)), "{origin} / {host}");
        }
        for (origin, host) in [
            ("https://evil.example", "chat.example.com"),
            ("http://127.0.0.1:3001", "127.0.0.1:3000"),
            // nginx's `$host` drops the port: the page's origin has it.
            ("http://127.0.0.1:8080", "127.0.0.1"),
            ("http://chat.example.com:443", "chat.example.com"),
            ("https://chat.example.com:80", "chat.example.com"),
            ("ws://chat.example.com", "chat.example.com"),
            ("null", "chat.example.com"),
            ("http://", ""),
            ("http://chat.example.com/", "chat.example.com"),
            ("http://user@chat.example.com", "chat.example.com"),
        ] {
            assert!(!allows(&policy, origin, Some(host)), "{origin} / {host}");
        }
        assert!(!allows(&policy, "http://chat.example.com", None));
    }

    #[test]
    fn only_the_socket_io_path_and_ws_are_checked() {
        for (path, route) in [
            ("/socket.io/", Some("/socket.io/")),
            ("/socket.io", Some("/socket.io/")),
            ("/socket.io/x", Some("/socket.io/")),
            ("/ws", Some("/ws")),
            ("/socket.io-admin", None),
            ("/ws/", None),
            ("/wss", None),
            ("/", None),
            ("/api/v1/emit", None),
            ("/chat", None),
        ] {
            assert_eq!(checked_route(path), route, "{path}");
        }
    }
}
