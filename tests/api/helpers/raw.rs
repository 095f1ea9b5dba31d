//! Raw Engine.IO / Socket.IO frames, for what real clients hide.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use super::{TestApp, WAIT};

/// A raw Engine.IO v4 WebSocket connection.
pub struct RawSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The Engine.IO handshake (`0{...}`) as JSON.
    pub handshake: serde_json::Value,
}

impl RawSocket {
    /// Opens `/socket.io/?EIO=4&transport=websocket` and reads the handshake.
    pub async fn connect(app: &TestApp) -> Self {
        Self::connect_at(app.addr).await
    }

    pub async fn connect_at(addr: SocketAddr) -> Self {
        Self::connect_with_query(addr, "").await
    }

    /// Like [`Self::connect_at`] with extra query parameters (`&game=g1`).
    pub async fn connect_with_query(addr: SocketAddr, query: &str) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket{query}");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket opens");
        Self::opened(ws).await
    }

    /// Like [`Self::connect_at`] with extra request headers
    /// (`X-Forwarded-For`).
    pub async fn connect_with_headers(addr: SocketAddr, headers: &[(&str, &str)]) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let mut request = url.into_client_request().expect("a WebSocket request");
        for (name, value) in headers {
            request.headers_mut().append(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .expect("a header name"),
                value.parse().expect("a header value"),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket opens");
        Self::opened(ws).await
    }

    /// Like [`Self::connect_at`], from local address `from`: every
    /// `127.x.y.z` reaches a loopback server, so tests can be several client
    /// addresses.
    pub async fn connect_from(addr: SocketAddr, from: std::net::IpAddr) -> Self {
        let tcp = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        tcp.bind(SocketAddr::new(from, 0))
            .expect("bind the client address");
        let stream = tcp.connect(addr).await.expect("TCP connects");
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .expect("websocket opens");
        Self::opened(ws).await
    }

    /// Reads the handshake of a just opened WebSocket.
    async fn opened(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        let mut socket = Self {
            ws,
            handshake: serde_json::Value::Null,
        };
        let open = socket.next_text().await;
        assert!(open.starts_with('0'), "expected an open packet, got {open}");
        socket.handshake = serde_json::from_str(&open[1..]).expect("handshake is JSON");
        socket
    }

    /// Connects and joins namespace `ns` (`/` or `/name`) with an optional auth
    /// payload, consuming the connect ack and the `auth` event.
    pub async fn connect_ns(app: &TestApp, ns: &str, auth: Option<&str>) -> Self {
        Self::connect_ns_at(app.addr, ns, auth).await
    }

    pub async fn connect_ns_at(addr: SocketAddr, ns: &str, auth: Option<&str>) -> Self {
        let mut socket = Self::connect_at(addr).await;
        let prefix = ns_prefix(ns);
        socket
            .send_text(&format!("40{prefix}{}", auth.unwrap_or("")))
            .await;
        let connected = socket.next_text().await;
        assert!(
            connected.starts_with(&format!("40{prefix}{{\"sid\":")),
            "got {connected}"
        );
        let auth_event = socket.next_text().await;
        assert!(
            auth_event.starts_with(&format!("42{prefix}[\"auth\"")),
            "got {auth_event}"
        );
        socket
    }

    /// Closes the WebSocket (a client going away without a Socket.IO disconnect).
    pub async fn close(&mut self) {
        self.ws.close(None).await.ok();
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send text");
    }

    /// Sends `text` and asserts the next text frame (pings answered) is
    /// exactly `reply`.
    pub async fn expect_reply(&mut self, text: &str, reply: impl AsRef<str>) {
        self.send_text(text).await;
        assert_eq!(
            self.next_text().await,
            reply.as_ref(),
            "the reply to {text}"
        );
    }

    /// Sends a text frame; `false` once the connection is closed.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::Text(text.into())).await.is_ok()
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .expect("send binary");
    }

    /// The next frame, pings (`2`) included.
    pub async fn next_frame(&mut self) -> Message {
        match tokio::time::timeout(WAIT, self.ws.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(other) => panic!("connection ended while waiting for a frame: {other:?}"),
            Err(_) => panic!("no frame within {WAIT:?}"),
        }
    }

    /// The next text frame that is not a ping; pings are answered.
    pub async fn next_text(&mut self) -> String {
        loop {
            match self.next_frame().await {
                Message::Text(text) if text.as_str() == "2" => self.send_text("3").await,
                Message::Text(text) => return text.to_string(),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next text frame that is not a ping (pings are answered), or `None`
    /// once the connection is closed.
    pub async fn next_text_or_close(&mut self) -> Option<String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                    self.send_text("3").await;
                }
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn next_binary(&mut self) -> Vec<u8> {
        match self.next_frame().await {
            Message::Binary(bytes) => bytes.to_vec(),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Waits until the server closes the connection; returns the frames it sent
    /// meanwhile (pings left unanswered).
    pub async fn until_closed(&mut self) -> Vec<Message> {
        let mut seen = Vec::new();
        let closed = tokio::time::timeout(WAIT, async {
            while let Some(frame) = self.ws.next().await {
                match frame {
                    Ok(Message::Close(_)) | Err(_) => return,
                    Ok(other) => seen.push(other),
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "server did not close within {WAIT:?}; frames: {seen:?}"
        );
        seen
    }
}

/// The packet prefix of a namespace: empty for `/`, `/name,` otherwise.
pub fn ns_prefix(ns: &str) -> String {
    if ns == "/" {
        String::new()
    } else {
        format!("{ns},")
    }
}

/// Opens an Engine.IO long-polling session; returns its sid and handshake.
pub async fn polling_session(app: &TestApp) -> (String, serde_json::Value) {
    let body = reqwest::get(app.http_url("/socket.io/?EIO=4&transport=polling"))
        .await
        .expect("handshake request")
        .text()
        .await
        .unwrap();
    assert!(body.starts_with('0'), "expected an open packet, got {body}");
    let handshake: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    (handshake["sid"].as_str().unwrap().to_string(), handshake)
}
