//! What @socket.io/redis-emitter 5.x publishes, read back with bounds.
//!
//! The emitter (`dist/index.js` of the npm package) publishes two kinds of
//! message, on channels named after the namespace (prefix `socket.io`):
//!
//! - **Broadcasts** on `socket.io#<nsp>#`, or `socket.io#<nsp>#<room>#` when
//!   exactly one room is targeted: `[uid, packet, opts]` encoded with
//!   notepack.io (msgpack), where `uid` is `"emitter"`, `packet` is
//!   `{type: 2, data: [event, ...args], nsp}` and `opts` is
//!   `{rooms: [..], except: [..], flags: {volatile?, compress?}}`. notepack
//!   writes a Buffer (or any ArrayBuffer view) as msgpack `bin` and a Date as
//!   the msgpack timestamp extension (type -1).
//! - **Requests** on `socket.io-request#<nsp>#`, as JSON text:
//!   `{type: 2 | 3, opts: {rooms, except}, rooms: [..]}` (socketsJoin,
//!   socketsLeave), `{type: 4, opts, close}` (disconnectSockets) and
//!   `{uid, type: 6, data}` (serverSideEmit).
//!
//! The request channel is also socketioxide-redis's own request channel,
//! where it publishes msgpack (never starting with `{`, which is how Node's
//! adapter tells JSON requests apart too): see [`is_json`].
//!
//! Everything read here comes from whoever can publish on the Redis, so it is
//! bounded (size, depth, rooms, attachments, names) and a message that breaks
//! a bound or the format is [`Refused`], never a panic.

use std::{collections::HashSet, fmt};

use rmpv::Value;

use crate::protocol::{BadEventName, MAX_EVENT_CHARS, args::Args, check_event_name};

/// The channel prefix of the emitter and of the Node adapters (their `key`
/// option; socketioxide-redis uses the same default for its own channels).
pub const PREFIX: &str = "socket.io";
/// Most rooms one message may target, exclude, join or leave (each list).
pub const MAX_ROOMS: usize = 1000;
/// Longest room name, in bytes.
pub const MAX_ROOM_BYTES: usize = 256;
/// Most binary values (attachments) in one event.
pub const MAX_ATTACHMENTS: usize = 100;
/// Deepest nesting of arrays and maps in one event's arguments.
pub const MAX_NESTING: usize = 32;

/// socket.io-parser's packet types that carry an event.
const EVENT: u64 = 2;
const BINARY_EVENT: u64 = 5;
/// The request types of the emitter (socket.io-redis-adapter's numbering).
const REMOTE_JOIN: u64 = 2;
const REMOTE_LEAVE: u64 = 3;
const REMOTE_DISCONNECT: u64 = 4;
const SERVER_SIDE_EMIT: u64 = 6;
/// JavaScript's Date range: ±8.64e15 ms around the epoch.
const MAX_DATE_MS: i128 = 8_640_000_000_000_000;

/// Why a message was dropped, for the log line.
#[derive(Debug, PartialEq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

/// The Redis glob pattern of a namespace's broadcast channels.
pub fn broadcast_pattern(ns: &str) -> String {
    format!("{PREFIX}#{}#*", glob_escape(ns))
}

/// The Redis glob pattern matching exactly a namespace's request channel:
/// a pattern, not a channel subscription, so `PUBSUB NUMSUB` of that
/// channel (socketioxide-redis counts the nodes with it) stays the same.
pub fn request_pattern(ns: &str) -> String {
    format!("{PREFIX}-request#{}#", glob_escape(ns))
}

/// `s` with Redis's glob characters escaped.
fn glob_escape(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Whether a request-channel payload is JSON (the emitter's), not msgpack
/// (socketioxide-redis's own requests between the nodes).
pub fn is_json(payload: &[u8]) -> bool {
    payload.first() == Some(&b'{')
}

/// Which sockets of a namespace: those in any of `rooms` (none: every
/// socket) and in none of `except`.
#[derive(Debug, Default, PartialEq)]
pub struct Targets {
    pub rooms: Vec<String>,
    pub except: Vec<String>,
}

/// One event for the sockets of [`Targets`].
#[derive(Debug, PartialEq)]
pub struct Broadcast {
    pub event: String,
    pub args: Args,
    pub targets: Targets,
    /// The emitter's `volatile`: may be dropped for a socket not ready for it.
    pub volatile: bool,
}

/// One request of the request channel.
#[derive(Debug, PartialEq)]
pub enum Request {
    /// socketsJoin: the targets join `rooms`.
    Join {
        targets: Targets,
        rooms: Vec<String>,
    },
    /// socketsLeave: the targets leave `rooms`.
    Leave {
        targets: Targets,
        rooms: Vec<String>,
    },
    /// disconnectSockets: the targets leave the namespace; with `close`,
    /// their whole connection is closed.
    Disconnect { targets: Targets, close: bool },
    /// serverSideEmit: for the servers' own listeners, which Switchboard has not.
    ServerSideEmit,
    /// A request of a Node server's adapter (socket queries, acks, requests
    /// by socket id): not the emitter's, not answered.
    Other(u64),
}

/// Reads a broadcast published on namespace `ns`'s channels.
pub fn decode_broadcast(ns: &str, payload: &[u8]) -> Result<Broadcast, Refused> {
    let mut reader = payload;
    let message = rmpv::decode::read_value_with_max_depth(&mut reader, 2 * MAX_NESTING + 8)
        .or_else(|e| refuse(format!("not msgpack: {e}")))?;
    if !reader.is_empty() {
        return refuse(format!("{} bytes after the message", reader.len()));
    }
    let Value::Array(parts) = message else {
        return refuse("not an array [uid, packet, opts]");
    };
    let mut parts = parts.into_iter();
    let (_uid, packet, opts) = (parts.next(), parts.next(), parts.next());
    if parts.next().is_some() {
        return refuse("more than [uid, packet, opts]");
    }
    let Some(Value::Map(packet)) = packet else {
        return refuse("no packet object");
    };
    match field(&packet, "type").and_then(Value::as_u64) {
        Some(EVENT | BINARY_EVENT) => {}
        other => return refuse(format!("packet type {other:?} is not an event")),
    }
    let packet_ns = match field(&packet, "nsp") {
        None | Some(Value::Nil) => "/",
        Some(value) => value
            .as_str()
            .ok_or(Refused("`nsp` is not a string".into()))?,
    };
    if packet_ns != ns {
        return refuse(format!(
            "packet of namespace `{packet_ns}` on the channel of `{ns}`"
        ));
    }
    let Some(Value::Array(data)) = take(packet, "data") else {
        return refuse("packet `data` is not an array");
    };
    let mut data = data.into_iter();
    let event = match data.next() {
        Some(Value::String(name)) => name
            .into_str()
            .ok_or(Refused("event name not UTF-8".into()))?,
        _ => return refuse("no event name"),
    };
    check_event(&event)?;
    let mut budget = Budget::default();
    let args = data
        .map(|arg| sanitize(arg, 0, &mut budget))
        .collect::<Result<Vec<_>, _>>()?;
    let (targets, volatile) = match opts {
        None | Some(Value::Nil) => (Targets::default(), false),
        Some(Value::Map(opts)) => {
            let volatile = match field(&opts, "flags") {
                Some(Value::Map(flags)) => field(flags, "volatile").is_some_and(truthy),
                _ => false,
            };
            let targets = Targets {
                rooms: msgpack_rooms(field(&opts, "rooms"), "rooms")?,
                except: msgpack_rooms(field(&opts, "except"), "except")?,
            };
            (targets, volatile)
        }
        Some(_) => return refuse("`opts` is not an object"),
    };
    Ok(Broadcast {
        event,
        args: Args(args),
        targets,
        volatile,
    })
}

/// Reads a JSON request of the request channel.
pub fn decode_request(payload: &[u8]) -> Result<Request, Refused> {
    let request: serde_json::Value =
        serde_json::from_slice(payload).or_else(|e| refuse(format!("not JSON: {e}")))?;
    let Some(kind) = request.get("type").and_then(serde_json::Value::as_u64) else {
        return refuse("no request `type`");
    };
    // A Node server's remoteJoin / remoteLeave / remoteDisconnect names one
    // socket (`sid`) and waits for an answer; the emitter's carry `opts`.
    let opts = request.get("opts").filter(|opts| !opts.is_null());
    let targets = |opts: &serde_json::Value| -> Result<Targets, Refused> {
        Ok(Targets {
            rooms: json_rooms(opts.get("rooms"), "opts.rooms")?,
            except: json_rooms(opts.get("except"), "opts.except")?,
        })
    };
    Ok(match (kind, opts) {
        (REMOTE_JOIN, Some(opts)) => Request::Join {
            targets: targets(opts)?,
            rooms: json_rooms(request.get("rooms"), "rooms")?,
        },
        (REMOTE_LEAVE, Some(opts)) => Request::Leave {
            targets: targets(opts)?,
            rooms: json_rooms(request.get("rooms"), "rooms")?,
        },
        (REMOTE_DISCONNECT, Some(opts)) => Request::Disconnect {
            targets: targets(opts)?,
            close: request
                .get("close")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        },
        (SERVER_SIDE_EMIT, _) => Request::ServerSideEmit,
        (other, _) => Request::Other(other),
    })
}

/// The event name as `POST /api/v1/emit` takes it ([`check_event_name`]).
fn check_event(event: &str) -> Result<(), Refused> {
    match check_event_name(event) {
        Ok(()) => Ok(()),
        Err(BadEventName::Shape) => refuse(format!(
            "event name must be 1 to {MAX_EVENT_CHARS} characters without control characters"
        )),
        Err(BadEventName::Reserved) => refuse(format!("`{event}` is reserved by Socket.IO")),
    }
}

/// A room name as Node's adapter would hold it (a string; a number is its
/// decimal text), within the bounds. Names with control characters are
/// refused: Switchboard's internal rooms (presence markers, recovery groups)
/// have them, and a backend must not move sockets in or out of those.
fn check_room(room: String) -> Result<String, Refused> {
    if room.is_empty() || room.len() > MAX_ROOM_BYTES {
        return refuse(format!("a room name must be 1 to {MAX_ROOM_BYTES} bytes"));
    }
    if room.chars().any(char::is_control) {
        return refuse("a room name has a control character");
    }
    Ok(room)
}

/// Rooms, deduplicated in order (the emitter sends sets).
fn dedup(rooms: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::with_capacity(rooms.len());
    rooms
        .into_iter()
        .filter(|r| seen.insert(r.clone()))
        .collect()
}

fn msgpack_rooms(value: Option<&Value>, what: &str) -> Result<Vec<String>, Refused> {
    let items = match value {
        None | Some(Value::Nil) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return refuse(format!("`{what}` is not an array")),
    };
    if items.len() > MAX_ROOMS {
        return refuse(format!("`{what}` names more than {MAX_ROOMS} rooms"));
    }
    let rooms = items
        .iter()
        .map(|item| match item {
            Value::String(s) => s
                .as_str()
                .map(str::to_owned)
                .ok_or(Refused(format!("a room of `{what}` is not UTF-8"))),
            Value::Integer(n) => Ok(n.to_string()),
            _ => refuse(format!("a room of `{what}` is not a string")),
        })
        .map(|room| room.and_then(check_room))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(dedup(rooms))
}

fn json_rooms(value: Option<&serde_json::Value>, what: &str) -> Result<Vec<String>, Refused> {
    let items = match value {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items,
        Some(_) => return refuse(format!("`{what}` is not an array")),
    };
    if items.len() > MAX_ROOMS {
        return refuse(format!("`{what}` names more than {MAX_ROOMS} rooms"));
    }
    let rooms = items
        .iter()
        .map(|item| match item {
            serde_json::Value::String(s) => check_room(s.clone()),
            serde_json::Value::Number(n) => check_room(n.to_string()),
            _ => refuse(format!("a room of `{what}` is not a string")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(dedup(rooms))
}

fn field<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .rev()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn take(map: Vec<(Value, Value)>, key: &str) -> Option<Value> {
    map.into_iter()
        .rev()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// JavaScript's truthiness of a flag value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Nil => false,
        Value::Boolean(b) => *b,
        Value::Integer(n) => n.as_i64() != Some(0),
        Value::F32(f) => *f != 0.0 && !f.is_nan(),
        Value::F64(f) => *f != 0.0 && !f.is_nan(),
        Value::String(s) => !s.as_bytes().is_empty(),
        _ => true,
    }
}

#[derive(Default)]
struct Budget {
    attachments: usize,
}

/// An argument as a Node server would send it on after notepack decoded it
/// (binary stays binary, a Date becomes its `toISOString()`, a number that
/// JSON cannot hold becomes null), within the bounds.
fn sanitize(value: Value, depth: usize, budget: &mut Budget) -> Result<Value, Refused> {
    if depth > MAX_NESTING {
        return refuse(format!("arguments nested deeper than {MAX_NESTING}"));
    }
    Ok(match value {
        Value::Nil | Value::Boolean(_) | Value::Integer(_) => value,
        Value::F32(f) if !f.is_finite() => Value::Nil,
        Value::F64(f) if !f.is_finite() => Value::Nil,
        Value::F32(_) | Value::F64(_) => value,
        Value::String(s) => match s.into_str() {
            Some(s) => Value::from(s),
            None => return refuse("a string is not UTF-8"),
        },
        Value::Binary(bytes) => {
            budget.attachments += 1;
            if budget.attachments > MAX_ATTACHMENTS {
                return refuse(format!("more than {MAX_ATTACHMENTS} binary values"));
            }
            Value::Binary(bytes)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| sanitize(item, depth + 1, budget))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => {
            if entries
                .iter()
                .any(|(k, v)| k.as_str() == Some("_placeholder") && v.as_bool() == Some(true))
            {
                // socket.io-client would take it for an attachment that is
                // not there and drop the connection.
                return refuse("an object is a binary placeholder");
            }
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| Ok((Value::from(map_key(k)?), sanitize(v, depth + 1, budget)?)))
                    .collect::<Result<_, Refused>>()?,
            )
        }
        Value::Ext(-1, bytes) => Value::from(iso_date(&bytes)?),
        // notepack.io reads any other extension as `[type, Buffer]`.
        Value::Ext(kind, bytes) => sanitize(
            Value::Array(vec![Value::from(kind), Value::Binary(bytes)]),
            depth,
            budget,
        )?,
    })
}

/// An object key as JavaScript spells it.
fn map_key(key: Value) -> Result<String, Refused> {
    match key {
        Value::String(s) => s
            .into_str()
            .ok_or(Refused("an object key is not UTF-8".into())),
        Value::Integer(n) => Ok(n.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        Value::Nil => Ok("null".into()),
        _ => refuse("an object key is not a string or a number"),
    }
}

/// A msgpack timestamp (extension -1, 4, 8 or 12 bytes) as JavaScript's
/// `Date.prototype.toISOString` writes it, which is what a Node server
/// sends for a Date.
fn iso_date(bytes: &[u8]) -> Result<String, Refused> {
    let (seconds, nanos): (i128, i128) = match bytes.len() {
        4 => (
            u32::from_be_bytes(bytes.try_into().expect("4 bytes")).into(),
            0,
        ),
        8 => {
            let n = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
            ((n & 0x3_ffff_ffff).into(), (n >> 34).into())
        }
        12 => (
            i64::from_be_bytes(bytes[4..].try_into().expect("8 bytes")).into(),
            u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")).into(),
        ),
        n => return refuse(format!("a timestamp of {n} bytes")),
    };
    let ms = (seconds * 1_000_000_000 + nanos) / 1_000_000;
    if ms.abs() > MAX_DATE_MS {
        return refuse("a date out of JavaScript's range");
    }
    let ms = i64::try_from(ms).expect("within the date range");
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    Ok(format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    ))
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect(),
        )
    }

    fn strings(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| Value::from(*s)).collect())
    }

    /// `[uid, packet, opts]` as the emitter builds it.
    fn message(
        nsp: &str,
        data: Vec<Value>,
        rooms: &[&str],
        except: &[&str],
        flags: Value,
    ) -> Vec<u8> {
        encode(&Value::Array(vec![
            Value::from("emitter"),
            map(vec![
                ("type", Value::from(2)),
                ("data", Value::Array(data)),
                ("nsp", Value::from(nsp)),
            ]),
            map(vec![
                ("rooms", strings(rooms)),
                ("flags", flags),
                ("except", strings(except)),
            ]),
        ]))
    }

    #[test]
    fn channels_are_the_emitters() {
        assert_eq!(broadcast_pattern("/chat"), "socket.io#/chat#*");
        assert_eq!(request_pattern("/"), "socket.io-request#/#");
        assert_eq!(broadcast_pattern("/a*b[c]"), r"socket.io#/a\*b\[c\]#*");
    }

    #[test]
    fn a_broadcast_with_rooms_except_flags_and_binary() {
        let payload = message(
            "/chat",
            vec![
                Value::from("news"),
                Value::from(1),
                Value::Binary(vec![0, 1, 255]),
                map(vec![("b", Value::Binary(vec![9]))]),
            ],
            &["lobby", "vip", "lobby"],
            &["muted"],
            map(vec![
                ("volatile", Value::from(true)),
                ("compress", Value::from(false)),
            ]),
        );
        let broadcast = decode_broadcast("/chat", &payload).unwrap();
        assert_eq!(broadcast.event, "news");
        assert_eq!(broadcast.targets.rooms, ["lobby", "vip"]);
        assert_eq!(broadcast.targets.except, ["muted"]);
        assert!(broadcast.volatile);
        assert_eq!(broadcast.args.0[1], Value::Binary(vec![0, 1, 255]));
        assert_eq!(broadcast.args.0.len(), 3);
    }

    #[test]
    fn a_namespace_wide_broadcast_without_flags() {
        let payload = message("/", vec![Value::from("hi")], &[], &[], map(vec![]));
        let broadcast = decode_broadcast("/", &payload).unwrap();
        assert_eq!(broadcast.targets, Targets::default());
        assert!(!broadcast.volatile);
        assert!(broadcast.args.0.is_empty());
    }

    #[test]
    fn bad_broadcasts_are_refused_with_a_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0xdc], "not msgpack"),             // array 16 without its length
            (vec![0x93, 0xa0, 0x80], "not msgpack"), // truncated
            (encode(&Value::from(1)), "not an array"),
            (
                message("/other", vec![Value::from("e")], &[], &[], Value::Nil),
                "namespace",
            ),
            (
                message("/", vec![Value::from("connect")], &[], &[], Value::Nil),
                "reserved",
            ),
            (
                message("/", vec![Value::from("")], &[], &[], Value::Nil),
                "event name",
            ),
            (
                message("/", vec![Value::from("a\nb")], &[], &[], Value::Nil),
                "event name",
            ),
            (
                message(
                    "/",
                    vec![Value::from(&*"e".repeat(65))],
                    &[],
                    &[],
                    Value::Nil,
                ),
                "event name",
            ),
            (
                message("/", vec![Value::from(3)], &[], &[], Value::Nil),
                "no event name",
            ),
            (message("/", vec![], &[], &[], Value::Nil), "no event name"),
            (
                message("/", vec![Value::from("e")], &["a\u{1f}b"], &[], Value::Nil),
                "control",
            ),
            (
                message("/", vec![Value::from("e")], &[""], &[], Value::Nil),
                "room name",
            ),
            (
                message(
                    "/",
                    vec![
                        Value::from("e"),
                        map(vec![
                            ("_placeholder", Value::from(true)),
                            ("num", Value::from(0)),
                        ]),
                    ],
                    &[],
                    &[],
                    Value::Nil,
                ),
                "placeholder",
            ),
        ];
        for (payload, why) in cases {
            let refused = decode_broadcast("/", &payload).unwrap_err();
            assert!(refused.0.contains(why), "{why}: {refused}");
        }
        let mut trailing = message("/", vec![Value::from("e")], &[], &[], Value::Nil);
        trailing.push(0);
        assert!(
            decode_broadcast("/", &trailing)
                .unwrap_err()
                .0
                .contains("after")
        );
    }

    #[test]
    fn bounds_on_rooms_attachments_and_nesting() {
        let many: Vec<String> = (0..=MAX_ROOMS).map(|i| format!("r{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let payload = message("/", vec![Value::from("e")], &many, &[], Value::Nil);
        assert!(
            decode_broadcast("/", &payload)
                .unwrap_err()
                .0
                .contains("more than")
        );

        let binaries = vec![Value::Binary(vec![1]); MAX_ATTACHMENTS + 1];
        let payload = message(
            "/",
            vec![Value::from("e"), Value::Array(binaries)],
            &[],
            &[],
            Value::Nil,
        );
        assert!(
            decode_broadcast("/", &payload)
                .unwrap_err()
                .0
                .contains("binary")
        );

        let mut deep = Value::from(1);
        for _ in 0..=MAX_NESTING {
            deep = Value::Array(vec![deep]);
        }
        let payload = message("/", vec![Value::from("e"), deep], &[], &[], Value::Nil);
        assert!(decode_broadcast("/", &payload).is_err());

        // Far deeper than the decoder allows: refused, no stack overflow.
        let mut bomb = vec![0x93, 0xa0, 0x83];
        bomb.extend(std::iter::repeat_n(0x91, 100_000));
        assert!(decode_broadcast("/", &bomb).is_err());
    }

    #[test]
    fn values_as_a_node_server_sends_them() {
        let ext = |kind: i8, bytes: Vec<u8>| Value::Ext(kind, bytes);
        let mut budget = Budget::default();
        let date = sanitize(
            ext(-1, 1_700_000_000u32.to_be_bytes().to_vec()),
            0,
            &mut budget,
        );
        assert_eq!(date.unwrap(), Value::from("2023-11-14T22:13:20.000Z"));
        // timestamp 64: 123 ms as nanoseconds in the upper 30 bits.
        let t64 = (123_000_000u64 << 34) | 1_700_000_000;
        let date = sanitize(ext(-1, t64.to_be_bytes().to_vec()), 0, &mut budget);
        assert_eq!(date.unwrap(), Value::from("2023-11-14T22:13:20.123Z"));
        // timestamp 96, before the epoch.
        let mut t96 = 0u32.to_be_bytes().to_vec();
        t96.extend((-86_400i64).to_be_bytes());
        assert_eq!(iso_date(&t96).unwrap(), "1969-12-31T00:00:00.000Z");
        let mut far = 0u32.to_be_bytes().to_vec();
        far.extend(253_402_300_800i64.to_be_bytes());
        assert_eq!(iso_date(&far).unwrap(), "+010000-01-01T00:00:00.000Z");
        assert!(iso_date(&[0; 3]).is_err());

        let value = sanitize(
            Value::Map(vec![
                (Value::from(1), Value::F64(f64::NAN)),
                (Value::from("x"), ext(5, vec![7])),
            ]),
            0,
            &mut budget,
        )
        .unwrap();
        assert_eq!(
            value,
            Value::Map(vec![
                (Value::from("1"), Value::Nil),
                (
                    Value::from("x"),
                    Value::Array(vec![Value::from(5), Value::Binary(vec![7])])
                ),
            ])
        );
    }

    #[test]
    fn requests_of_the_emitter() {
        let join = br#"{"type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["c",1]}"#;
        assert_eq!(
            decode_request(join).unwrap(),
            Request::Join {
                targets: Targets {
                    rooms: vec!["a".into()],
                    except: vec!["b".into()],
                },
                rooms: vec!["c".into(), "1".into()],
            }
        );
        let leave = br#"{"type":3,"opts":{"rooms":[],"except":[]},"rooms":["c"]}"#;
        assert!(matches!(
            decode_request(leave).unwrap(),
            Request::Leave { .. }
        ));
        let disconnect = br#"{"type":4,"opts":{"rooms":["a"],"except":[]},"close":true}"#;
        assert!(matches!(
            decode_request(disconnect).unwrap(),
            Request::Disconnect { close: true, .. }
        ));
        let emit = br#"{"uid":"emitter","type":6,"data":["x",1]}"#;
        assert_eq!(decode_request(emit).unwrap(), Request::ServerSideEmit);
        // A Node server's join of one socket, by id: not the emitter's.
        let by_id = br#"{"uid":"abc","requestId":"r","type":2,"sid":"s","room":"x"}"#;
        assert_eq!(decode_request(by_id).unwrap(), Request::Other(2));
        for bad in [
            &b"{"[..],
            br#"{"type":"2"}"#,
            br#"{"type":2,"opts":{"rooms":"a"}}"#,
        ] {
            assert!(decode_request(bad).is_err());
        }
        assert!(is_json(join));
        assert!(!is_json(&[0x93]));
    }
}
