//! A socket as the Admin UI lists it (the reference's `serialize`): id,
//! client, transport, namespace, data, the handshake and the rooms.
//!
//! Nothing secret is shown: not the handshake's `auth` (tokens, the recovery
//! `pid` and `offset`; the reference leaves it out too), not the values of
//! the headers that carry credentials (`Authorization`, `Cookie`, ...), not
//! the values of query parameters named like one (`token`, `key`, ...), and
//! not the Engine.IO session id, which lets whoever knows it poll the
//! session: the client id is a digest of the session, salted per process,
//! the same for every socket of one connection.

use std::{collections::BTreeSet, net::IpAddr, sync::OnceLock};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use socketioxide::{
    TransportType,
    adapter::Adapter,
    socket::{DisconnectReason, Socket},
};

use crate::http::client_addr;

/// When a socket connected (ms since the epoch), in its extensions.
#[derive(Clone, Copy)]
pub struct Issued(pub i64);

/// The reference's `SerializedSocket`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Described {
    pub id: String,
    pub client_id: String,
    pub transport: String,
    pub nsp: String,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub handshake: Handshake,
    /// Its own id first (where the reference lists the socket's own room),
    /// then its shown rooms.
    pub rooms: Vec<String>,
}

/// The handshake request, as the reference's `socket.handshake` without
/// `auth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handshake {
    pub address: String,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub query: serde_json::Map<String, serde_json::Value>,
    /// When the socket connected (ms since the epoch).
    pub issued: i64,
    pub secure: bool,
    /// `issued` as text.
    pub time: String,
    pub url: String,
    pub xdomain: bool,
}

/// Headers whose values are credentials: shown as [`HIDDEN`].
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
];
/// Query parameters whose values may be credentials, by a part of the name.
const SECRET_QUERY_WORDS: &[&str] = &[
    "token", "key", "secret", "password", "auth", "jwt", "session",
];
/// What a hidden value is shown as.
pub const HIDDEN: &str = "(hidden)";

/// Whether `room` is one the Admin UI shows: not one of the server's own
/// (presence markers and recovery groups hold U+001F).
pub fn shown_room(room: &str) -> bool {
    !room.contains('\u{1f}')
}

/// The shown rooms of `socket`, sorted, without its own id.
pub fn rooms<A: Adapter>(socket: &Socket<A>) -> BTreeSet<String> {
    let own = socket.id.to_string();
    socket
        .rooms()
        .into_iter()
        .map(|room| room.to_string())
        .filter(|room| shown_room(room) && *room != own)
        .collect()
}

/// Which Engine.IO session `socket` is on, as a key that is the same for
/// every socket of the session while it lives (the address of the
/// handshake request socketioxide keeps for it).
pub fn session_key<A: Adapter>(socket: &Socket<A>) -> usize {
    std::ptr::from_ref(socket.req_parts()) as usize
}

/// The client id of a session key: 12 hex digits of a digest salted per
/// process (the reference shows the first 12 characters of the Engine.IO
/// id, which is a credential here).
pub fn client_id(session: usize) -> String {
    static SALT: OnceLock<String> = OnceLock::new();
    let salt = SALT.get_or_init(|| socketioxide::socket::Sid::new().to_string());
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(session.to_le_bytes());
    let digest = hasher.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// `socket` as the Admin UI lists it; `issued` is when it connected.
pub fn describe<A: Adapter>(socket: &Socket<A>, issued: i64, trusted: &[IpNet]) -> Described {
    let id = socket.id.to_string();
    let mut rooms = vec![id.clone()];
    rooms.extend(self::rooms(socket));
    Described {
        id,
        client_id: client_id(session_key(socket)),
        transport: transport_name(socket.transport_type()).to_owned(),
        nsp: socket.ns().to_owned(),
        data: serde_json::Map::new(),
        handshake: handshake(socket, issued, trusted),
        rooms,
    }
}

fn handshake<A: Adapter>(socket: &Socket<A>, issued: i64, trusted: &[IpNet]) -> Handshake {
    let parts = socket.req_parts();
    let peer = client_addr::peer(parts);
    let address = peer.map_or_else(String::new, |peer| {
        show_ip(client_addr::client_ip(parts, peer.ip(), trusted))
    });
    let behind_trusted_proxy =
        peer.is_some_and(|peer| client_addr::is_trusted(peer.ip().to_canonical(), trusted));
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let name = name.as_str();
        let value = if SECRET_HEADERS.contains(&name) {
            HIDDEN.to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        // A repeated header: its values joined, as Node shows most of them.
        match headers.get_mut(name) {
            Some(serde_json::Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            _ => {
                headers.insert(name.to_owned(), value.into());
            }
        }
    }
    let secure = behind_trusted_proxy
        && parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    Handshake {
        address,
        xdomain: parts.headers.contains_key("origin"),
        headers,
        query: query(parts.uri.query().unwrap_or_default()),
        issued,
        secure,
        time: time_text(issued),
        url: shown_url(&parts.uri),
    }
}

/// A disconnect reason in the words of the reference server (Node's
/// `disconnect` reasons); a slow client's is Switchboard's own.
pub fn reason_text(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::MultipleHttpPollingError | DisconnectReason::TransportError => {
            "transport error"
        }
        DisconnectReason::PacketParsingError => "parse error",
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::ClientNSDisconnect => "client namespace disconnect",
        DisconnectReason::ServerNSDisconnect => "server namespace disconnect",
        DisconnectReason::ClosingServer => "server shutting down",
        DisconnectReason::SlowClient => "slow client",
    }
}

/// The transport's name as clients (and the UI) spell it.
pub fn transport_name(transport: TransportType) -> &'static str {
    match transport {
        TransportType::Polling => "polling",
        TransportType::Websocket => "websocket",
    }
}

fn show_ip(ip: IpAddr) -> String {
    ip.to_canonical().to_string()
}

/// The handshake's query, each value as a string (the last of a repeated
/// name), credentials hidden.
fn query(query: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (decode(name), decode(value));
        let value = if secret_query_name(&name) {
            HIDDEN.to_owned()
        } else {
            value
        };
        map.insert(name, value.into());
    }
    map
}

fn secret_query_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_QUERY_WORDS.iter().any(|word| name.contains(word))
}

/// The request's path and query, with the values of secret-looking query
/// parameters hidden.
fn shown_url(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let shown: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret_query_name(&decode(name)) => format!("{name}={HIDDEN}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), shown.join("&"))
}

/// Percent-decoding of a query component (`+` is a space), lossy; a `%`
/// not followed by two hex digits stays as it is.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && hex.iter().all(u8::is_ascii_hexdigit)
        {
            let hex = std::str::from_utf8(hex).expect("hex digits are ASCII");
            out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `ms` since the epoch as RFC 3339 (UTC, milliseconds).
pub fn time_text(ms: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_are_hidden() {
        let shown = query("EIO=4&transport=polling&token=abc&t=Pz1&api_key=x%20y&name=A+B%21");
        assert_eq!(shown["EIO"], "4");
        assert_eq!(shown["token"], HIDDEN);
        assert_eq!(shown["api_key"], HIDDEN);
        assert_eq!(shown["name"], "A B!");
        let uri: axum::http::Uri = "/socket.io/?EIO=4&token=abc&t=1".parse().unwrap();
        assert_eq!(
            shown_url(&uri),
            format!("/socket.io/?EIO=4&token={HIDDEN}&t=1")
        );
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(decode("a%2Fb"), "a/b");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
    }

    #[test]
    fn client_ids_are_stable_per_session_and_short() {
        assert_eq!(client_id(42), client_id(42));
        assert_ne!(client_id(42), client_id(43));
        assert_eq!(client_id(42).len(), 12);
        assert!(!shown_room("presence\u{1f}lobby\u{1f}id\u{1f}Ada"));
        assert!(shown_room("lobby"));
    }
}
