//! Plain HTTP: health, readiness, metrics, CORS, the demo pages and their
//! assets, the socket.io client bundle where Node serves it, and the bare
//! WebSocket `/ws`.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app(test_config()).await;
    let health = reqwest::get(app.http_url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(app.http_url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(
        reqwest::get(app.http_url("/nope")).await.unwrap().status(),
        404
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_count_sockets_events_and_requests() {
    let app = spawn_app(test_config()).await;
    let metrics = || metrics_text(app.addr);

    let before = metrics().await;
    assert_eq!(
        sample(
            &before,
            r#"switchboard_sockets_connected{namespace="/echo"}"#
        ),
        0.0
    );

    let mut socket = RawSocket::connect_ns(&app, "/echo", None).await;
    socket.send_text(r#"42/echo,["message","a"]"#).await;
    socket.next_text().await;
    socket
        .send_text(r#"42/echo,1["message-with-ack","b"]"#)
        .await;
    socket.next_text().await;
    reqwest::get(app.http_url("/healthz")).await.unwrap();

    let during = metrics().await;
    assert_eq!(
        sample(
            &during,
            r#"switchboard_sockets_connected{namespace="/echo"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&during, r#"switchboard_sockets_connected{namespace="/"}"#),
        0.0
    );
    assert_eq!(
        sample(
            &during,
            r#"switchboard_events_received_total{namespace="/echo"}"#
        ),
        2.0
    );
    // auth + message-back + the ack
    assert_eq!(
        sample(
            &during,
            r#"switchboard_events_sent_total{namespace="/echo"}"#
        ),
        3.0
    );
    // What the client received: those three and the CONNECT reply.
    assert_eq!(
        sample(
            &during,
            r#"switchboard_packets_sent_total{namespace="/echo"}"#
        ),
        4.0
    );
    assert!(
        sample(
            &during,
            r#"switchboard_http_requests_total{route="/healthz",status="200"}"#
        ) >= 1.0
    );
    assert!(
        sample(
            &during,
            r#"switchboard_http_requests_total{route="/socket.io/",status="101"}"#
        ) >= 1.0
    );

    socket.send_text("41/echo,").await;
    // The gauge drops once the server has processed the disconnect; poll the
    // scrape (bounded) since no event tells the test when that happened.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let after = metrics().await;
        if sample(
            &after,
            r#"switchboard_sockets_connected{namespace="/echo"}"#,
        ) == 0.0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gauge never dropped:\n{after}"
        );
        tokio::task::yield_now().await;
    }
    app.stop().await.unwrap();
}

/// The `Access-Control-Allow-Origin` answered to a polling handshake sent
/// from `origin`, if any.
async fn allowed_origin(app: &TestApp, origin: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .get(app.http_url("/socket.io/?EIO=4&transport=polling"))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    let allowed = response.headers().get("access-control-allow-origin")?;
    Some(allowed.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn cors_is_off_by_default_and_allows_only_configured_origins() {
    let app = spawn_app(test_config()).await;
    assert_eq!(allowed_origin(&app, "http://a.test").await, None);
    app.stop().await.unwrap();

    let app = spawn_configured(|config| {
        config.cors_origins = vec![switchboard::config::CorsOrigin::Exact(
            "http://a.test".parse().unwrap(),
        )]
    })
    .await;
    assert_eq!(
        allowed_origin(&app, "http://a.test").await.as_deref(),
        Some("http://a.test")
    );
    assert_eq!(allowed_origin(&app, "http://evil.test").await, None);
    app.stop().await.unwrap();
}

/// A server allowing pages on `http://app.test` (and its real key).
async fn api_for_app_test() -> TestApp {
    spawn_configured(|config| {
        add_credentials(config);
        config.cors_origins = vec![switchboard::config::CorsOrigin::Exact(
            "http://app.test".parse().unwrap(),
        )];
    })
    .await
}

/// The preflight a browser sends before a page's `POST /api/v1/notifications`
/// with its key and an `Idempotency-Key`.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            app.http_url("/api/v1/notifications"),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type,idempotency-key",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_listed_origin_may_call_the_api_with_its_key() {
    let app = api_for_app_test().await;
    let answer = preflight(&app, "http://app.test").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some("http://app.test")
    );
    let allowed = header(&answer, "access-control-allow-headers")
        .expect("allowed headers")
        .to_ascii_lowercase();
    for name in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    assert_eq!(header(&answer, "access-control-max-age"), Some("600"));

    // The request itself: the page can read the answer.
    let pushed = reqwest::Client::new()
        .post(app.http_url("/api/v1/notifications"))
        .header("Origin", "http://app.test")
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({"users": ["ada"], "kind": "cors"}))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201);
    assert_eq!(
        header(&pushed, "access-control-allow-origin"),
        Some("http://app.test")
    );
    assert!(
        header(&pushed, "access-control-expose-headers")
            .is_some_and(|v| v.eq_ignore_ascii_case("retry-after")),
        "{:?}",
        pushed.headers()
    );
    // And the OpenAPI document (Swagger UI on another origin loads it).
    let openapi = reqwest::Client::new()
        .get(app.http_url("/api/v1/openapi.json"))
        .header("Origin", "http://app.test")
        .send()
        .await
        .unwrap();
    assert_eq!(openapi.status(), 200);
    assert_eq!(
        header(&openapi, "access-control-allow-origin"),
        Some("http://app.test")
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn preflights_are_answered_only_for_listed_origins() {
    let app = api_for_app_test().await;
    let refused = || async {
        sample(
            &metrics_text(app.addr).await,
            r#"switchboard_origin_refused_total{route="preflight"}"#,
        )
    };
    assert_eq!(refused().await, 0.0);
    for origin in ["http://evil.test", "http://app.test.evil.test", "null"] {
        let answer = preflight(&app, origin).await;
        assert_eq!(answer.status(), 403, "{origin}");
        assert!(
            !answer
                .headers()
                .keys()
                .any(|name| name.as_str().starts_with("access-control-")),
            "{origin}: {:?}",
            answer.headers()
        );
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden", "{origin}");
    }
    assert_eq!(refused().await, 3.0);
    app.stop().await.unwrap();

    // No --cors-origins: no CORS, so no preflight is answered either.
    let app = spawn_app(test_config()).await;
    let answer = preflight(&app, "http://app.test").await;
    assert_eq!(answer.status(), 403);
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    app.stop().await.unwrap();
}

/// A page server on loopback for the CORS check: its URL (the page's origin).
async fn serve_page(title: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let page = format!(
        "<!doctype html><title>{title}</title><h1>{title}</h1><p>{url}</p><pre id=\"out\"></pre>"
    );
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test]
async fn a_page_on_a_listed_origin_calls_the_api_in_chromium() {
    let listed = serve_page("a listed origin").await;
    let other = serve_page("an origin not listed").await;
    let mut config = test_config();
    add_credentials(&mut config);
    config.cors_origins = vec![switchboard::config::CorsOrigin::Exact(
        listed.parse().unwrap(),
    )];
    run_configured_page_check(
        config,
        "api_cors.check.mjs",
        &[API_KEY, &listed, &other],
        "js-browser-api-cors",
        "api-cors",
    )
    .await;
}

/// The `/assets/...` paths a page loads (`src="..."`, `href="..."`), in order.
fn asset_paths(html: &str) -> Vec<&str> {
    html.match_indices("\"/assets/")
        .map(|(at, _)| {
            let path = &html[at + 1..];
            &path[..path.find('"').expect("a closing quote")]
        })
        .collect()
}

#[tokio::test]
async fn pages_load_their_scripts_and_styles_from_assets_under_a_csp() {
    let app = spawn_app(test_config()).await;
    let mut loaded = Vec::new();
    for (page, script) in [
        ("/", None),
        ("/chat", Some("chat")),
        ("/notifications", Some("notifications")),
        ("/game", Some("game")),
    ] {
        let response = reqwest::get(app.http_url(page)).await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8",
            "{page}"
        );
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        for directive in ["script-src 'self'", "style-src 'self'", "object-src 'none'"] {
            assert!(csp.contains(directive), "{page}: no {directive} in {csp}");
        }
        assert!(!csp.contains("'unsafe-inline'"), "{page}: {csp}");
        let html = response.text().await.unwrap();
        // Nothing inline: the policy would block it.
        assert!(!html.contains("<script>"), "{page} has an inline script");
        assert!(!html.contains("<style"), "{page} has an inline style");
        let paths = asset_paths(&html);
        if let Some(script) = script {
            // The shared script after the socket.io client, before the page's own.
            let scripts: Vec<&str> = paths
                .iter()
                .copied()
                .filter(|p| p.ends_with(".js"))
                .collect();
            let own = format!("/assets/{script}.js");
            assert_eq!(
                scripts,
                [
                    "/assets/socket.io.min.js",
                    "/assets/common.js",
                    own.as_str()
                ],
                "{page}"
            );
        }
        for path in paths {
            let asset = reqwest::get(app.http_url(path)).await.unwrap();
            assert_eq!(asset.status(), 200, "{page} loads {path}");
            let content_type = match path.rsplit_once('.') {
                Some((_, "js")) => "text/javascript; charset=utf-8",
                Some((_, "css")) => "text/css; charset=utf-8",
                _ => panic!("{page} loads {path}: neither a script nor a style"),
            };
            assert_eq!(asset.headers()["content-type"], content_type, "{path}");
            let cache = asset.headers()["cache-control"].to_str().unwrap();
            assert!(cache.starts_with("public, max-age="), "{path}: {cache}");
            assert!(!asset.text().await.unwrap().is_empty(), "{path}");
            loaded.push(path.to_owned());
        }
    }
    for path in [
        "/assets/demo.css",
        "/assets/common.js",
        "/assets/index.css",
        "/assets/chat.js",
        "/assets/chat.css",
        "/assets/notifications.js",
        "/assets/notifications.css",
        "/assets/game.js",
        "/assets/game.css",
    ] {
        assert!(loaded.iter().any(|p| p == path), "no page loads {path}");
    }
    let missing = reqwest::get(app.http_url("/assets/nope.js")).await.unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn plain_websocket_echo() {
    let app = spawn_configured(|config| config.max_payload = 4096).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url("/ws"))
        .await
        .unwrap();
    async fn round_trip<S>(ws: &mut S, message: Message) -> Message
    where
        S: SinkExt<Message>
            + StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + Unpin,
        S::Error: std::fmt::Debug,
    {
        ws.send(message).await.unwrap();
        tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    }

    for text in ["hello", "", "é ✓ 🎉"] {
        let reply = round_trip(&mut ws, Message::Text(text.into())).await;
        assert_eq!(
            reply,
            Message::Text(format!("Server received: {text}").into())
        );
    }
    let bytes = Message::Binary(vec![0, 1, 254, 255].into());
    assert_eq!(round_trip(&mut ws, bytes.clone()).await, bytes);

    // Over the payload limit: closed with 1009 (message too big).
    match round_trip(&mut ws, Message::Text("x".repeat(5000).into())).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close frame, got {other:?}"),
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_client_bundle_is_served_where_node_serves_it() {
    let app = spawn_app(test_config()).await;
    let http = reqwest::Client::new();
    for (file, content_type) in [
        ("socket.io.js", "application/javascript; charset=utf-8"),
        ("socket.io.min.js", "application/javascript; charset=utf-8"),
        ("socket.io.js.map", "application/json; charset=utf-8"),
        ("socket.io.min.js.map", "application/json; charset=utf-8"),
    ] {
        let url = app.http_url(&format!("/socket.io/{file}"));
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{file}");
        let header =
            |res: &reqwest::Response, name: &str| res.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header(&res, "content-type"), content_type, "{file}");
        assert_eq!(header(&res, "cache-control"), "public, max-age=0", "{file}");
        assert_eq!(header(&res, "etag"), "\"4.8.4\"", "{file}");
        let body = res.text().await.unwrap();
        if file.ends_with(".map") {
            let map: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(map["version"], 3, "{file} is a source map");
        } else {
            assert!(body.starts_with("/*!\n * Socket.IO v4.8.4\n"), "{file}");
        }
        // Revalidation, as a browser does with the ETag it kept.
        for tag in ["\"4.8.4\"", "W/\"4.8.4\""] {
            let again = http
                .get(&url)
                .header("if-none-match", tag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304, "{file} with If-None-Match {tag}");
            assert!(again.text().await.unwrap().is_empty());
        }
        let other = http
            .get(&url)
            .header("if-none-match", "\"4.7.0\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "{file} after another version");
    }
    // Not a bundle: the Engine.IO path answers as before.
    let other = http
        .get(app.http_url("/socket.io/socket.io.esm.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        400,
        "other names under /socket.io/ are Engine.IO's"
    );
    let handshake = http
        .get(app.http_url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), 200);
    assert!(handshake.text().await.unwrap().starts_with("0{\"sid\":"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_client_bundle_connects_from_a_script_tag_in_chromium() {
    run_page_check("bundle.check.mjs", "js-browser-bundle", "bundle").await;
}
