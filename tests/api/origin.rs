//! The origin policy against cross-site WebSocket hijacking: which browser
//! `Origin` may open a Socket.IO session or a `/ws` connection, with
//! `--cors-origins` set, `*`, and unset (the request's own host only).

use futures_util::{SinkExt, StreamExt};
use switchboard::{ServeConfig, config::CorsOrigin};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest},
};

use crate::helpers::*;

const ALLOWED: &str = "http://a.test";
const FOREIGN: &str = "http://evil.test";
const HANDSHAKE: &str = "/socket.io/?EIO=4&transport=polling";
const WS_HANDSHAKE: &str = "/socket.io/?EIO=4&transport=websocket";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn with_origins(origins: &[CorsOrigin]) -> ServeConfig {
    ServeConfig {
        cors_origins: origins.to_vec(),
        ..test_config()
    }
}

fn listed() -> ServeConfig {
    with_origins(&[CorsOrigin::Exact(ALLOWED.parse().unwrap())])
}

/// The origin of a page the test app itself served.
fn own_origin(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

async fn get(app: &TestApp, path: &str, origin: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.http_url(path));
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.expect("request answered")
}

async fn post(app: &TestApp, path: &str, origin: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(app.http_url(path))
        .header("Content-Type", "text/plain;charset=UTF-8")
        .body(body.to_owned());
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.expect("request answered")
}

/// A polling handshake that opened a session: 200, an open packet with a sid.
async fn assert_handshake_opens(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.starts_with('0'), "expected an open packet, got {body}");
    let handshake: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    handshake["sid"].as_str().expect("a sid").to_owned()
}

/// What a refused browser sees: 403, a JSON body that says why, no session
/// (no open packet, no sid) and no CORS header.
async fn assert_refused(response: reqwest::Response) {
    assert_eq!(response.status(), 403);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let body = response.text().await.unwrap();
    assert!(!body.contains("sid"), "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(
        body,
        serde_json::json!({ "error": { "code": "forbidden", "message": "origin not allowed" } })
    );
}

/// Opens a WebSocket on `path` with an optional `Origin`: the socket on 101,
/// or the HTTP status the server refused the upgrade with.
async fn ws_connect(app: &TestApp, path: &str, origin: Option<&str>) -> Result<Ws, u16> {
    let mut request = app.ws_url(path).into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            assert_eq!(response.status(), 101);
            Ok(ws)
        }
        Err(tungstenite::Error::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(body.contains("origin not allowed"), "{body}");
            Err(response.status().as_u16())
        }
        Err(e) => panic!("websocket to {path}: {e}"),
    }
}

/// A Socket.IO WebSocket that opened: its first frame is the open packet.
async fn assert_engine_io_opens(result: Result<Ws, u16>) {
    let mut ws = result.expect("upgraded (101)");
    let first = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame in time")
        .expect("a frame")
        .expect("a frame");
    assert!(
        first.to_text().unwrap().starts_with("0{\"sid\""),
        "{first:?}"
    );
    ws.close(None).await.ok();
}

/// A `/ws` connection that opened echoes a text message.
async fn assert_echoes(result: Result<Ws, u16>) {
    let mut ws = result.expect("upgraded (101)");
    ws.send(Message::Text("hi".into())).await.unwrap();
    let reply = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a reply in time")
        .expect("a reply")
        .expect("a reply");
    assert_eq!(reply, Message::Text("Server received: hi".into()));
    ws.close(None).await.ok();
}

#[tokio::test]
async fn listed_origins_only_may_open_a_polling_session() {
    let app = spawn_app(listed()).await;
    assert_refused(get(&app, HANDSHAKE, Some(FOREIGN)).await).await;
    // The list is the whole rule: a page of the server's own host is not on it.
    assert_refused(get(&app, HANDSHAKE, Some(&own_origin(&app))).await).await;

    let allowed = get(&app, HANDSHAKE, Some(ALLOWED)).await;
    assert_eq!(allowed.headers()["access-control-allow-origin"], ALLOWED);
    assert_handshake_opens(allowed).await;
    assert_handshake_opens(get(&app, HANDSHAKE, None).await).await;

    assert_eq!(
        metric_sample(
            app.addr,
            r#"switchboard_origin_refused_total{route="/socket.io/"}"#
        )
        .await,
        2.0
    );
    assert_eq!(
        metric_sample(
            app.addr,
            r#"switchboard_http_requests_total{route="/socket.io/",status="403"}"#
        )
        .await,
        2.0
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn listed_origins_only_may_open_a_socket_io_websocket() {
    let app = spawn_app(listed()).await;
    assert_eq!(
        ws_connect(&app, WS_HANDSHAKE, Some(FOREIGN)).await.err(),
        Some(403)
    );
    assert_engine_io_opens(ws_connect(&app, WS_HANDSHAKE, Some(ALLOWED)).await).await;
    assert_engine_io_opens(ws_connect(&app, WS_HANDSHAKE, None).await).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn requests_of_an_existing_session_are_checked_too() {
    let app = spawn_app(listed()).await;
    let sid = assert_handshake_opens(get(&app, HANDSHAKE, Some(ALLOWED)).await).await;
    let session = format!("{HANDSHAKE}&sid={sid}");
    let upgrade = format!("{WS_HANDSHAKE}&sid={sid}");

    // A foreign page that somehow had the sid gets nowhere: not the upgrade,
    // not a poll, not a packet.
    assert_eq!(
        ws_connect(&app, &upgrade, Some(FOREIGN)).await.err(),
        Some(403)
    );
    assert_refused(post(&app, &session, Some(FOREIGN), "40").await).await;
    assert_refused(get(&app, &session, Some(FOREIGN)).await).await;

    // The session is untouched: its own page joins `/` and reads the ack.
    let sent = post(&app, &session, Some(ALLOWED), "40").await;
    assert_eq!(sent.status(), 200);
    assert_eq!(sent.text().await.unwrap(), "ok");
    let polled = get(&app, &session, Some(ALLOWED)).await;
    assert_eq!(polled.status(), 200);
    let packets = polled.text().await.unwrap();
    assert!(packets.starts_with("40{\"sid\""), "{packets}");

    // And it may upgrade from the allowed origin.
    let mut ws = ws_connect(&app, &upgrade, Some(ALLOWED))
        .await
        .expect("upgraded (101)");
    ws.close(None).await.ok();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn listed_origins_only_may_open_the_plain_websocket() {
    let app = spawn_app(listed()).await;
    assert_eq!(
        ws_connect(&app, "/ws", Some(FOREIGN)).await.err(),
        Some(403)
    );
    assert_echoes(ws_connect(&app, "/ws", Some(ALLOWED)).await).await;
    assert_echoes(ws_connect(&app, "/ws", None).await).await;
    assert_eq!(
        metric_sample(app.addr, r#"switchboard_origin_refused_total{route="/ws"}"#).await,
        1.0
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_star_allows_every_origin() {
    let app = spawn_app(with_origins(&[CorsOrigin::Any])).await;
    let polling = get(&app, HANDSHAKE, Some(FOREIGN)).await;
    assert_eq!(polling.headers()["access-control-allow-origin"], "*");
    assert_handshake_opens(polling).await;
    assert_engine_io_opens(ws_connect(&app, WS_HANDSHAKE, Some(FOREIGN)).await).await;
    assert_echoes(ws_connect(&app, "/ws", Some("null")).await).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn by_default_only_pages_of_the_requests_own_host_may_connect() {
    let app = spawn_app(test_config()).await;
    let own = own_origin(&app);
    // Another host, the same host on another port, or by another name
    // (`localhost` while the request says 127.0.0.1) is another origin.
    let others = [
        FOREIGN.to_owned(),
        format!("http://127.0.0.1:{}", app.addr.port() + 1),
        format!("http://localhost:{}", app.addr.port()),
        "null".to_owned(),
    ];

    let same = get(&app, HANDSHAKE, Some(&own)).await;
    assert!(same.headers().get("access-control-allow-origin").is_none());
    assert_handshake_opens(same).await;
    assert_handshake_opens(get(&app, HANDSHAKE, Some(&own.replace("http", "https"))).await).await;
    assert_handshake_opens(get(&app, HANDSHAKE, None).await).await;
    for other in &others {
        assert_refused(get(&app, HANDSHAKE, Some(other)).await).await;
    }

    assert_engine_io_opens(ws_connect(&app, WS_HANDSHAKE, Some(&own)).await).await;
    assert_engine_io_opens(ws_connect(&app, WS_HANDSHAKE, None).await).await;
    assert_eq!(
        ws_connect(&app, WS_HANDSHAKE, Some(FOREIGN)).await.err(),
        Some(403)
    );

    assert_echoes(ws_connect(&app, "/ws", Some(&own)).await).await;
    assert_echoes(ws_connect(&app, "/ws", None).await).await;
    assert_eq!(
        ws_connect(&app, "/ws", Some(FOREIGN)).await.err(),
        Some(403)
    );

    // Other routes are not the policy's business.
    assert_eq!(get(&app, "/healthz", Some(FOREIGN)).await.status(), 200);
    app.stop().await.unwrap();
}

/// Behind a proxy the server compares with the `Host` the proxy passes on
/// (nginx: `proxy_set_header Host $http_host`), port included.
#[tokio::test]
async fn by_default_the_host_header_decides_behind_a_proxy() {
    let app = spawn_app(test_config()).await;
    let through_proxy = async |origin: &str, host: &str| {
        reqwest::Client::new()
            .get(app.http_url(HANDSHAKE))
            .header("Origin", origin)
            .header("Host", host)
            .send()
            .await
            .unwrap()
    };
    assert_handshake_opens(through_proxy("https://chat.example.com", "chat.example.com").await)
        .await;
    let port_kept = through_proxy("http://chat.example.com:8080", "chat.example.com:8080").await;
    assert_handshake_opens(port_kept).await;
    // A proxy that drops the port (nginx's `$host`) makes the page foreign.
    assert_refused(through_proxy("http://chat.example.com:8080", "chat.example.com").await).await;
    assert_refused(through_proxy("https://evil.example", "chat.example.com").await).await;
    app.stop().await.unwrap();
}
