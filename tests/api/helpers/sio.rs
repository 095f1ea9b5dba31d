//! A minimal Socket.IO v5 client over one raw WebSocket, for tests that need
//! exact control (acks or not, malformed payloads, floods): emit with or
//! without an ack, await an ack, await the next event of a name. Packets that
//! arrive while waiting for something else are kept, not dropped.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::{RawSocket, WAIT, ns_prefix};

pub struct SioClient {
    raw: RawSocket,
    prefix: String,
    /// This socket's id in the namespace (the connect packet's `sid`).
    pub id: String,
    next_ack_id: u64,
    /// Events not yet taken: name, arguments, and the server's ack id when it
    /// asked for one.
    events: VecDeque<(String, Vec<Value>, Option<u64>)>,
    acks: HashMap<u64, Vec<Value>>,
    /// Set once the server sent a disconnect packet or closed the transport.
    pub disconnected: bool,
}

impl SioClient {
    /// Connects to namespace `ns` and waits for the connect packet.
    pub async fn connect(addr: SocketAddr, ns: &str) -> Self {
        Self::connect_with_auth(addr, ns, None)
            .await
            .unwrap_or_else(|refusal| panic!("{ns} refused the connection: {refusal}"))
    }

    /// Connects with an auth payload; `Err` holds the `connect_error` message.
    pub async fn connect_with_auth(
        addr: SocketAddr,
        ns: &str,
        auth: Option<Value>,
    ) -> Result<Self, String> {
        Self::connect_full(addr, "", ns, auth).await
    }

    /// Connects to `ns` with extra handshake query parameters (`&game=g1`).
    pub async fn connect_with_query(addr: SocketAddr, query: &str, ns: &str) -> Self {
        Self::connect_full(addr, query, ns, None)
            .await
            .unwrap_or_else(|refusal| panic!("{ns} refused the connection: {refusal}"))
    }

    async fn connect_full(
        addr: SocketAddr,
        query: &str,
        ns: &str,
        auth: Option<Value>,
    ) -> Result<Self, String> {
        let raw = RawSocket::connect_with_query(addr, query).await;
        Self::connect_over(raw, ns, auth).await
    }

    /// Connects to `ns` from local address `from` (another client address).
    pub async fn connect_from(addr: SocketAddr, from: std::net::IpAddr, ns: &str) -> Self {
        let raw = RawSocket::connect_from(addr, from).await;
        Self::connect_over(raw, ns, None)
            .await
            .unwrap_or_else(|refusal| panic!("{ns} refused the connection: {refusal}"))
    }

    /// Connects to `ns` over an open Engine.IO WebSocket; `Err` holds the
    /// `connect_error` message.
    pub async fn connect_over(
        mut raw: RawSocket,
        ns: &str,
        auth: Option<Value>,
    ) -> Result<Self, String> {
        let prefix = ns_prefix(ns);
        let auth = auth.map(|a| a.to_string()).unwrap_or_default();
        raw.send_text(&format!("40{prefix}{auth}")).await;
        let connected = raw.next_text().await;
        if let Some(error) = connected.strip_prefix(&format!("44{prefix}")) {
            let error: Value = serde_json::from_str(error).unwrap();
            return Err(error["message"].as_str().unwrap_or_default().to_string());
        }
        let body = connected
            .strip_prefix(&format!("40{prefix}"))
            .unwrap_or_else(|| panic!("expected a connect packet for {ns}, got {connected}"));
        let id = serde_json::from_str::<Value>(body).unwrap()["sid"]
            .as_str()
            .unwrap()
            .to_string();
        Ok(Self {
            raw,
            prefix,
            id,
            next_ack_id: 0,
            events: VecDeque::new(),
            acks: HashMap::new(),
            disconnected: false,
        })
    }

    /// Emits `event` with `args` (each a JSON value), no ack asked.
    pub async fn emit(&mut self, event: &str, args: &[Value]) {
        let packet = self.packet(event, args, None);
        self.raw.send_text(&packet).await;
    }

    /// Sends a raw Socket.IO packet body after `42<ns>,` (for malformed payloads).
    pub async fn emit_raw(&mut self, body: &str) {
        let packet = format!("42{}{body}", self.prefix);
        self.raw.send_text(&packet).await;
    }

    /// Emits `event` with one payload and an ack id; returns the ack's first argument.
    pub async fn request(&mut self, event: &str, payload: Value) -> Value {
        let id = self.send_with_ack(event, &[payload]).await;
        self.ack(id).await.into_iter().next().unwrap_or(Value::Null)
    }

    /// Like [`Self::request`], asserting the ack says `ok: true`.
    pub async fn request_ok(&mut self, event: &str, payload: Value) -> Value {
        let ack = self.request(event, payload.clone()).await;
        assert_eq!(ack["ok"], true, "{event} {payload}: {ack}");
        ack
    }

    /// Emits `event` asking for an ack; returns the ack id to await later.
    pub async fn send_with_ack(&mut self, event: &str, args: &[Value]) -> u64 {
        let id = self.next_ack_id;
        self.next_ack_id += 1;
        let packet = self.packet(event, args, Some(id));
        self.raw.send_text(&packet).await;
        id
    }

    /// Waits for the ack with id `id`.
    pub async fn ack(&mut self, id: u64) -> Vec<Value> {
        loop {
            if let Some(args) = self.acks.remove(&id) {
                return args;
            }
            self.read_one(&format!("ack {id}")).await;
        }
    }

    /// Waits for the next event named `name`; returns its first argument.
    pub async fn next_event(&mut self, name: &str) -> Value {
        self.next_event_with_ack(name).await.0
    }

    /// Waits for the next event named `name`; returns its first argument and
    /// the server's ack id, when it asked for an ack.
    pub async fn next_event_with_ack(&mut self, name: &str) -> (Value, Option<u64>) {
        loop {
            if let Some(at) = self.events.iter().position(|(e, _, _)| e == name) {
                let (_, args, ack) = self.events.remove(at).unwrap();
                return (args.into_iter().next().unwrap_or(Value::Null), ack);
            }
            self.read_one(&format!("event `{name}`")).await;
        }
    }

    /// Answers the server's ack request `id` with `args`.
    pub async fn answer(&mut self, id: u64, args: &[Value]) {
        let packet = format!("43{}{id}{}", self.prefix, Value::Array(args.to_vec()));
        self.raw.send_text(&packet).await;
    }

    /// Events received so far and not yet taken, by name.
    pub fn pending(&self, name: &str) -> usize {
        self.events.iter().filter(|(e, _, _)| e == name).count()
    }

    /// Closes the WebSocket without a Socket.IO disconnect (a client going away).
    pub async fn close(mut self) {
        self.raw.close().await;
    }

    /// Waits until the server ends this socket (disconnect packet or close).
    pub async fn until_disconnected(&mut self) {
        while !self.disconnected {
            self.read_one("a disconnect").await;
        }
    }

    /// Reads one packet and files it; bounded by [`WAIT`] per frame.
    async fn read_one(&mut self, waiting_for: &str) {
        let text = tokio::time::timeout(WAIT * 2, self.raw.next_text_or_close())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {waiting_for} within {:?}; pending events: {:?}",
                    WAIT * 2,
                    self.events
                )
            });
        let Some(text) = text else {
            self.disconnected = true;
            assert!(
                waiting_for == "a disconnect",
                "connection closed while waiting for {waiting_for}"
            );
            return;
        };
        let Some(rest) = text.strip_prefix('4') else {
            return; // another Engine.IO packet (noop, close...)
        };
        let kind = rest.chars().next().unwrap_or(' ');
        let rest = rest[1..].strip_prefix(&self.prefix).unwrap_or(&rest[1..]);
        match kind {
            '1' => self.disconnected = true,
            '2' | '3' => {
                let split = rest
                    .find('[')
                    .unwrap_or_else(|| panic!("bad packet {text}"));
                let ack_id: Option<u64> = rest[..split].parse().ok();
                let mut args: Vec<Value> = serde_json::from_str(&rest[split..]).unwrap();
                if kind == '2' {
                    let name = args.remove(0).as_str().unwrap().to_string();
                    self.events.push_back((name, args, ack_id));
                } else {
                    self.acks
                        .insert(ack_id.expect("ack packet has an id"), args);
                }
            }
            _ => panic!("unexpected packet {text}"),
        }
    }

    fn packet(&self, event: &str, args: &[Value], ack_id: Option<u64>) -> String {
        let mut array = vec![json!(event)];
        array.extend_from_slice(args);
        let ack = ack_id.map(|id| id.to_string()).unwrap_or_default();
        format!("42{}{ack}{}", self.prefix, Value::Array(array))
    }
}

/// The `field` string of every object of the JSON array `list`, in its order
/// (the names of a member list, the texts of a history page).
pub fn field_of_each<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {list}"))
        .iter()
        .map(|item| item[field].as_str().unwrap())
        .collect()
}

/// The `error.code` of a refusal ack (`{ok: false, error: {code, message}}`);
/// asserts it is a refusal that explains itself.
pub fn error_code(ack: &Value) -> &str {
    assert_eq!(ack["ok"], false, "expected a refusal, got {ack}");
    assert!(
        ack["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a refusal explains itself: {ack}"
    );
    ack["error"]["code"].as_str().unwrap()
}
