//! The connect proxy (`--connect-proxy-url`): an existing backend decides
//! who may connect to a namespace, over one HTTP POST per socket connect,
//! and the HTTP client it shares with the RPC proxy ([`super::rpc`]).
//!
//! The contract (PROTOCOL.md, "Connect proxy and RPC proxy"): Switchboard
//! POSTs `{"namespace", "auth", "headers", "remote_addr", "transport"}`; the
//! backend answers `{"allow": true, "user"?, "data"?, "rooms"?}` (the socket
//! connects, with an [`Identity`] when `user` is given, in those rooms) or
//! `{"allow": false, "code", "message"?}` (the client's `connect_error`).
//! Anything else (a timeout, no connection, a status other than 2xx, a body
//! that is not such an answer) fails closed: `connect_error` `internal`, and
//! one warn line (namespace and reason, never the auth payload nor a header
//! value).
//!
//! Each call is the connecting socket's own future: a slow backend delays
//! that socket only. At most `--connect-proxy-max-in-flight` calls run at
//! once; a connect past it is refused at once with `rate_limited`.

use std::{fmt, net::IpAddr, sync::Arc, time::Duration};

use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Uri, body::Bytes, header::HeaderName};
use ipnet::IpNet;
use prometheus::{IntCounterVec, Opts};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use socketioxide::{
    adapter::Adapter,
    extract::{SocketRef, State, TryData},
};
use tokio::sync::Semaphore;

use super::transport_name;
use crate::{
    http::client_addr::{client_ip, peer},
    http_client::{self, OutboundClient},
    identity::Identity,
    metrics::Metrics,
    protocol::{ErrorCode, RoomId, UserId},
};

/// Most bytes of a connect proxy answer.
pub const MAX_CONNECT_ANSWER_BYTES: usize = 64 * 1024;
/// Most rooms one connect proxy answer may join.
pub const MAX_CONNECT_ROOMS: usize = 100;
/// Longest backend `message` passed to a client, in characters (longer ones
/// are cut).
pub const MAX_MESSAGE_CHARS: usize = 256;
/// Most header names `--connect-proxy-headers` may list.
pub const MAX_FORWARDED_HEADERS: usize = 32;
/// The namespace the connect proxy leaves alone unless it is listed.
const ADMIN_NAMESPACE: &str = "/admin";

/// Why a call to the backend gave no answer to read.
#[derive(Debug)]
pub enum CallError {
    Timeout(Duration),
    Unreachable(String),
    Status(hyper::StatusCode),
    Read(String),
}

impl CallError {
    /// The `outcome` label of `switchboard_proxy_calls_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Status(_) => "status",
            Self::Read(_) => "bad_answer",
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(after) => write!(f, "no answer within {after:?}"),
            Self::Unreachable(why) => write!(f, "request failed: {why}"),
            Self::Status(status) => write!(f, "HTTP status {status}"),
            Self::Read(why) => write!(f, "reading the answer: {why}"),
        }
    }
}

/// A backend URL and the client that POSTs JSON to it (rustls on the `ring`
/// provider and the system's trust roots, as the JWKS fetcher).
pub struct Backend {
    url: Uri,
    timeout: Duration,
    max_answer: usize,
    client: OutboundClient<Full<Bytes>>,
}

impl Backend {
    /// `setting` names the URL's flag in an error.
    pub fn new(
        url: Uri,
        timeout: Duration,
        max_answer: usize,
        setting: &str,
    ) -> anyhow::Result<Self> {
        let client = http_client::build(setting)?;
        Ok(Self {
            url,
            timeout,
            max_answer,
            client,
        })
    }

    /// One POST of `body` as JSON, the whole of it (connect, headers, body)
    /// within the timeout; the answer's body when the status is 2xx.
    pub async fn call<T: Serialize + ?Sized>(&self, body: &T) -> Result<Bytes, CallError> {
        let body = serde_json::to_vec(body).map_err(|e| CallError::Read(e.to_string()))?;
        tokio::time::timeout(self.timeout, self.post(body))
            .await
            .map_err(|_| CallError::Timeout(self.timeout))?
    }

    async fn post(&self, body: Vec<u8>) -> Result<Bytes, CallError> {
        let request = Request::post(self.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| CallError::Unreachable(format!("bad request: {e}")))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| CallError::Unreachable(http_client::causes(&e)))?;
        if !response.status().is_success() {
            return Err(CallError::Status(response.status()));
        }
        let max = self.max_answer;
        Limited::new(response.into_body(), max)
            .collect()
            .await
            .map(|body| body.to_bytes())
            .map_err(|e| CallError::Read(format!("{e} (at most {max} bytes)")))
    }
}

/// `switchboard_proxy_calls_total{proxy, outcome}`: every call to a proxy
/// backend, by proxy (`connect`, `rpc`) and outcome (`allow`, `deny`, `ok`,
/// `error`, `timeout`, `unreachable`, `status`, `bad_answer`, `overloaded`).
#[derive(Clone)]
pub struct ProxyCalls(IntCounterVec);

impl ProxyCalls {
    pub fn new(metrics: &Metrics) -> Self {
        let calls = IntCounterVec::new(
            Opts::new(
                "switchboard_proxy_calls_total",
                "Calls to the connect and RPC proxy backends, by proxy and outcome",
            ),
            &["proxy", "outcome"],
        )
        .expect("a valid metric");
        metrics.register_collectors(vec![Box::new(calls.clone())]);
        Self(calls)
    }

    pub fn count(&self, proxy: &str, outcome: &str) {
        self.0.with_label_values(&[proxy, outcome]).inc();
    }
}

/// The connect proxy's settings, checked.
pub struct ConnectProxySettings {
    pub url: Uri,
    /// Empty: every namespace but `/admin`.
    pub namespaces: Vec<String>,
    pub timeout: Duration,
    /// Lower-cased header names.
    pub headers: Vec<String>,
    pub max_in_flight: usize,
    pub trusted_proxies: Vec<IpNet>,
}

/// The connect proxy, or none (socketioxide state). Cheap to clone.
#[derive(Clone, Default)]
pub struct ConnectProxy(Option<Arc<ConnectProxyInner>>);

struct ConnectProxyInner {
    backend: Backend,
    namespaces: Vec<String>,
    headers: Vec<HeaderName>,
    in_flight: Arc<Semaphore>,
    trusted: Vec<IpNet>,
    metrics: Metrics,
    calls: ProxyCalls,
}

impl ConnectProxy {
    pub fn new(
        settings: ConnectProxySettings,
        metrics: &Metrics,
        calls: &ProxyCalls,
    ) -> anyhow::Result<Self> {
        if settings.headers.len() > MAX_FORWARDED_HEADERS {
            anyhow::bail!(
                "--connect-proxy-headers names {} headers, at most {MAX_FORWARDED_HEADERS}",
                settings.headers.len()
            );
        }
        let headers = settings
            .headers
            .iter()
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    anyhow::anyhow!("--connect-proxy-headers: `{name}` is not a header name")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let backend = Backend::new(
            settings.url,
            settings.timeout,
            MAX_CONNECT_ANSWER_BYTES,
            "--connect-proxy-url",
        )?;
        Ok(Self(Some(Arc::new(ConnectProxyInner {
            backend,
            namespaces: settings.namespaces,
            headers,
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight)),
            trusted: settings.trusted_proxies,
            metrics: metrics.clone(),
            calls: calls.clone(),
        }))))
    }

    /// Whether connects to `ns` are asked to the backend.
    pub fn applies(&self, ns: &str) -> bool {
        self.0.as_ref().is_some_and(|inner| {
            if inner.namespaces.is_empty() {
                ns != ADMIN_NAMESPACE
            } else {
                inner.namespaces.iter().any(|listed| listed == ns)
            }
        })
    }
}

/// What Switchboard POSTs on a connect.
#[derive(Serialize)]
struct ConnectRequest<'a> {
    namespace: &'a str,
    auth: &'a Value,
    headers: Map<String, Value>,
    remote_addr: Option<String>,
    transport: &'static str,
}

/// What the backend answers.
#[derive(Deserialize)]
struct ConnectAnswer {
    allow: bool,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    rooms: Option<Vec<String>>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// What an answer tells the server to do.
#[derive(Debug, PartialEq)]
enum Decision {
    Allow {
        identity: Option<Identity>,
        rooms: Vec<String>,
    },
    Deny(ConnectRefusal),
}

/// A connect refused: the client's `connect_error` message is the code, or
/// the code, `: ` and the backend's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRefusal {
    pub code: ErrorCode,
    pub message: Option<String>,
}

impl ConnectRefusal {
    fn code(code: ErrorCode) -> Self {
        Self {
            code,
            message: None,
        }
    }
}

impl fmt::Display for ConnectRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => write!(f, "{}: {message}", self.code.as_str()),
            None => f.write_str(self.code.as_str()),
        }
    }
}

/// A backend's message as a client gets it: at most [`MAX_MESSAGE_CHARS`],
/// control characters replaced by spaces; `None` when nothing is left.
pub fn bounded_message(message: &str) -> Option<String> {
    let message: String = message
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let message = message.trim();
    (!message.is_empty()).then(|| message.to_owned())
}

/// A JSON object read as `T` (serde would also read a struct from an array).
pub fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match serde_json::from_slice(body).map_err(|e| e.to_string())? {
        value @ Value::Object(_) => serde_json::from_value(value).map_err(|e| e.to_string()),
        _ => Err("expected a JSON object".into()),
    }
}

/// Reads an answer; `Err` says why it is not one.
fn decide(body: &[u8]) -> Result<Decision, String> {
    let answer: ConnectAnswer =
        super::proxy::json_object(body).map_err(|e| format!("not a connect answer: {e}"))?;
    if !answer.allow {
        let code = answer.code.ok_or("`allow: false` without `code`")?;
        let code = ErrorCode::parse(&code).ok_or_else(|| format!("unknown code `{code}`"))?;
        let message = answer.message.as_deref().and_then(bounded_message);
        return Ok(Decision::Deny(ConnectRefusal { code, message }));
    }
    let identity = match answer.user {
        Some(user) => Some(Identity {
            user: UserId::parse(&user).map_err(|e| format!("`user`: {e}"))?,
            claims: answer.data.unwrap_or_default(),
        }),
        None => None,
    };
    let rooms = answer.rooms.unwrap_or_default();
    if rooms.len() > MAX_CONNECT_ROOMS {
        return Err(format!(
            "{} rooms, at most {MAX_CONNECT_ROOMS}",
            rooms.len()
        ));
    }
    for room in &rooms {
        RoomId::parse("rooms", room).map_err(|e| e.message)?;
    }
    Ok(Decision::Allow { identity, rooms })
}

/// Connect middleware of every namespace ([`super::mount`]), after the
/// connect rate limit and before the namespace's own: in a namespace the
/// proxy applies to, asks the backend, then attaches the identity and joins
/// the rooms it answered, or refuses.
pub async fn check_connect<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(proxy): State<ConnectProxy>,
) -> Result<(), ConnectRefusal> {
    if !proxy.applies(socket.ns()) {
        return Ok(());
    }
    let Some(inner) = proxy.0.as_deref() else {
        return Ok(());
    };
    let result = ask(&socket, auth.unwrap_or(Value::Null), inner).await;
    if let Err(refusal) = &result {
        inner
            .metrics
            .connect_refused(socket.ns(), refusal.code.as_str());
    }
    result
}

async fn ask<A: Adapter>(
    socket: &SocketRef<A>,
    auth: Value,
    inner: &ConnectProxyInner,
) -> Result<(), ConnectRefusal> {
    let ns = socket.ns();
    let Ok(_permit) = inner.in_flight.clone().try_acquire_owned() else {
        inner.calls.count("connect", "overloaded");
        inner.metrics.limit_hit("connect_proxy_in_flight");
        tracing::warn!(
            namespace = ns,
            "connect proxy: refused a connect, --connect-proxy-max-in-flight calls are running"
        );
        return Err(ConnectRefusal::code(ErrorCode::RateLimited));
    };
    let parts = socket.req_parts();
    let mut headers = Map::new();
    for name in &inner.headers {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        if !values.is_empty() {
            headers.insert(name.as_str().to_owned(), Value::from(values.join(", ")));
        }
    }
    let remote: Option<IpAddr> =
        peer(parts).map(|peer| client_ip(parts, peer.ip(), &inner.trusted));
    let request = ConnectRequest {
        namespace: ns,
        auth: &auth,
        headers,
        remote_addr: remote.map(|ip| ip.to_string()),
        transport: transport_name(socket.transport_type()),
    };
    let decision = match inner.backend.call(&request).await {
        Ok(body) => decide(&body).map_err(|why| ("bad_answer", why)),
        Err(e) => Err((e.outcome(), e.to_string())),
    };
    match decision {
        Ok(Decision::Allow { identity, rooms }) => {
            inner.calls.count("connect", "allow");
            if let Some(identity) = identity {
                socket.extensions.insert(Arc::new(identity));
            }
            if !rooms.is_empty() {
                socket.join(rooms);
            }
            Ok(())
        }
        Ok(Decision::Deny(refusal)) => {
            inner.calls.count("connect", "deny");
            tracing::info!(namespace = ns, socket_id = %socket.id, code = refusal.code.as_str(), "connect proxy: the backend refused a connect");
            Err(refusal)
        }
        Err((outcome, why)) => {
            inner.calls.count("connect", outcome);
            tracing::warn!(namespace = ns, socket_id = %socket.id, "connect proxy failed, refusing the connect (internal): {why}");
            Err(ConnectRefusal::code(ErrorCode::Internal))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly() {
        let allow =
            decide(br#"{"allow":true,"user":"u1","data":{"plan":"pro"},"rooms":["a","b"]}"#)
                .unwrap();
        let Decision::Allow { identity, rooms } = allow else {
            panic!("expected allow");
        };
        let identity = identity.unwrap();
        assert_eq!(identity.user.as_str(), "u1");
        assert_eq!(identity.claims["plan"], "pro");
        assert_eq!(rooms, ["a", "b"]);
        assert_eq!(
            decide(br#"{"allow":true}"#).unwrap(),
            Decision::Allow {
                identity: None,
                rooms: vec![]
            }
        );
        assert_eq!(
            decide(br#"{"allow":false,"code":"forbidden","message":"banned"}"#).unwrap(),
            Decision::Deny(ConnectRefusal {
                code: ErrorCode::Forbidden,
                message: Some("banned".into())
            })
        );
        for bad in [
            &br#"{"allow":false}"#[..],
            br#"{"allow":false,"code":"nope"}"#,
            br#"{"allow":"yes"}"#,
            br#"{"user":"u"}"#,
            br#"{"allow":true,"user":""}"#,
            br#"{"allow":true,"data":[1]}"#,
            br#"{"allow":true,"rooms":["has space"]}"#,
            br#"[true]"#,
            b"not json",
        ] {
            assert!(decide(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let many = serde_json::json!({"allow": true, "rooms": vec!["r"; MAX_CONNECT_ROOMS + 1]});
        assert!(decide(many.to_string().as_bytes()).is_err());
    }

    #[test]
    fn refusals_and_messages() {
        let refusal = ConnectRefusal::code(ErrorCode::Unauthorized);
        assert_eq!(refusal.to_string(), "unauthorized");
        let refusal = ConnectRefusal {
            code: ErrorCode::Forbidden,
            message: Some("banned".into()),
        };
        assert_eq!(refusal.to_string(), "forbidden: banned");
        assert_eq!(bounded_message("  "), None);
        assert_eq!(bounded_message("a\nb").as_deref(), Some("a b"));
        assert_eq!(
            bounded_message(&"é".repeat(300)).unwrap().chars().count(),
            MAX_MESSAGE_CHARS
        );
        for code in ["unauthorized", "forbidden", "rate_limited", "internal"] {
            assert_eq!(ErrorCode::parse(code).unwrap().as_str(), code);
        }
        assert_eq!(ErrorCode::parse("unavailable"), None);
    }
}
