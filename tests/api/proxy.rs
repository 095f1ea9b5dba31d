//! The connect proxy and the RPC proxy (PROTOCOL.md, "Connect proxy and RPC
//! proxy") against a real local backend: an axum server on a free port,
//! scripted per test, that records every request body.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::helpers::*;

/// An app whose connect proxy is `backend` (default namespaces).
async fn with_connect_proxy(backend: &Backend) -> TestApp {
    let url = backend.url.clone();
    spawn_configured(move |config| {
        config.connect_proxy_url = Some(url.parse().unwrap());
        config.connect_proxy_timeout = Duration::from_millis(300);
        config.echo_namespaces.push("/other".into());
        add_credentials(config);
    })
    .await
}

#[tokio::test]
async fn an_allowed_connect_joins_the_rooms_and_the_request_says_who() {
    let mut backend = Backend::always(json!({
        "allow": true, "user": "u-42", "data": {"plan": "pro"}, "rooms": ["vip", "team:7"]
    }))
    .await;
    let app = with_connect_proxy(&backend).await;
    let raw = RawSocket::connect_with_headers(
        app.addr,
        &[
            ("Cookie", "session=abc"),
            ("Authorization", "Bearer t0ken"),
            ("X-Secret", "not forwarded"),
        ],
    )
    .await;
    let auth = json!({"token": "t0ken", "n": 1});
    let mut member = SioClient::connect_over(raw, "/echo", Some(auth.clone()))
        .await
        .expect("allowed");
    let request = backend.next_request().await;
    assert_eq!(request["namespace"], "/echo");
    assert_eq!(request["auth"], auth);
    assert_eq!(request["transport"], "websocket");
    assert_eq!(request["remote_addr"], "127.0.0.1");
    let headers = request["headers"].as_object().unwrap();
    assert_eq!(headers["cookie"], "session=abc");
    assert_eq!(headers["authorization"], "Bearer t0ken");
    assert!(!headers.contains_key("x-secret"), "{request}");
    assert!(
        headers.keys().all(
            |name| ["cookie", "authorization", "user-agent", "x-forwarded-for"]
                .contains(&name.as_str())
        ),
        "{request}"
    );

    // The rooms were joined: a broadcast to one reaches the socket.
    let api = Api::new(&app);
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            "/emit",
            Some(
                &json!({"namespace": "/echo", "room": "team:7", "event": "news", "data": {"n": 1}}),
            ),
            &[],
        )
        .await;
    assert!((200..300).contains(&status), "{status}");
    assert_eq!(member.next_event("news").await, json!({"n": 1}));

    // Without auth, the request says `{}` (as the reference's
    // `handshake.auth`).
    let _ = SioClient::connect(app.addr, "/other").await;
    let request = backend.next_request().await;
    assert_eq!(request["namespace"], "/other");
    assert_eq!(request["auth"], json!({}));
}

#[tokio::test]
async fn a_polling_connect_says_polling() {
    let mut backend = Backend::always(json!({"allow": true})).await;
    let app = with_connect_proxy(&backend).await;
    let (sid, _) = polling_session(&app).await;
    let http = reqwest::Client::new();
    let url = app.polling_url(&sid);
    let sent = send_in_time(http.post(&url).body("40/echo,")).await;
    assert_eq!(sent.status(), 200);
    let request = backend.next_request().await;
    assert_eq!(request["transport"], "polling");
    assert_eq!(request["namespace"], "/echo");
    let reply = send_in_time(http.get(&url)).await.text().await.unwrap();
    assert!(reply.starts_with("40/echo,{\"sid\""), "{reply}");
}

#[tokio::test]
async fn a_denied_connect_gets_the_code_and_message() {
    let backend = Backend::always(json!({
        "allow": false, "code": "forbidden", "message": "banned until Monday"
    }))
    .await;
    let app = with_connect_proxy(&backend).await;
    let refusal = SioClient::connect_with_auth(app.addr, "/echo", None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refusal, "forbidden: banned until Monday");

    let backend = Backend::always(json!({"allow": false, "code": "unauthorized"})).await;
    let app = with_connect_proxy(&backend).await;
    let refusal = SioClient::connect_with_auth(app.addr, "/echo", None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refusal, "unauthorized");
    let refused = metric_sample(
        app.addr,
        r#"switchboard_connect_refusals_total{code="unauthorized",namespace="/echo"}"#,
    )
    .await;
    assert_eq!(refused, 1.0);
}

#[tokio::test]
async fn backend_failures_fail_closed_with_internal() {
    let hanging = Backend::start(|_| Box::pin(std::future::pending())).await;
    let failing = Backend::start(|_| Box::pin(async { (503, "down".to_string()) })).await;
    let garbled = Backend::start(|_| Box::pin(async { (200, "<html>".to_string()) })).await;
    let unknown_code = Backend::always(json!({"allow": false, "code": "teapot"})).await;
    let bad_room = Backend::always(json!({"allow": true, "rooms": ["no spaces"]})).await;
    for backend in [&hanging, &failing, &garbled, &unknown_code, &bad_room] {
        let app = with_connect_proxy(backend).await;
        let refusal = SioClient::connect_with_auth(app.addr, "/echo", None)
            .await
            .err()
            .expect("refused");
        assert_eq!(refusal, "internal", "{}", backend.url);
    }
    // Nothing listens: refused the same way.
    let app = spawn_configured(|config| {
        config.connect_proxy_url = Some("http://127.0.0.1:1/hook".parse().unwrap());
    })
    .await;
    let refusal = SioClient::connect_with_auth(app.addr, "/echo", None).await;
    assert_eq!(refusal.err().as_deref(), Some("internal"));
}

#[tokio::test]
async fn only_the_listed_namespaces_ask_the_backend() {
    let mut backend = Backend::always(json!({"allow": false, "code": "forbidden"})).await;
    let url = backend.url.clone();
    let app = spawn_configured(move |config| {
        config.connect_proxy_url = Some(url.parse().unwrap());
        config.connect_proxy_namespaces = vec!["/other".into()];
        config.echo_namespaces.push("/other".into());
    })
    .await;
    let _free = SioClient::connect(app.addr, "/echo").await;
    let refused = SioClient::connect_with_auth(app.addr, "/other", None).await;
    assert_eq!(refused.err().as_deref(), Some("forbidden"));
    // The only request was /other's.
    assert_eq!(backend.next_request().await["namespace"], "/other");
    assert!(backend.requests.try_recv().is_err());
}

#[tokio::test]
async fn a_slow_backend_does_not_delay_another_socket() {
    let release = Arc::new(Notify::new());
    let held = release.clone();
    let mut backend = Backend::start(move |body| {
        let held = held.clone();
        Box::pin(async move {
            if body["auth"]["hold"] == true {
                held.notified().await;
            }
            (200, json!({"allow": true}).to_string())
        })
    })
    .await;
    let app = spawn_configured({
        let url = backend.url.clone();
        move |config| {
            config.connect_proxy_url = Some(url.parse().unwrap());
            config.connect_proxy_timeout = Duration::from_secs(10);
        }
    })
    .await;
    let addr = app.addr;
    let slow = tokio::spawn(async move {
        SioClient::connect_with_auth(addr, "/echo", Some(json!({"hold": true}))).await
    });
    // The held request reached the backend before the other connects.
    assert_eq!(backend.next_request().await["auth"]["hold"], true);
    let quick = SioClient::connect_with_auth(addr, "/echo", Some(json!({"hold": false}))).await;
    assert!(quick.is_ok());
    assert!(!slow.is_finished(), "the held connect is still waiting");
    release.notify_one();
    let slow = tokio::time::timeout(WAIT, slow).await.unwrap().unwrap();
    assert!(slow.is_ok());
}

#[tokio::test]
async fn past_the_in_flight_bound_a_connect_is_refused_at_once() {
    let release = Arc::new(Notify::new());
    let held = release.clone();
    let mut backend = Backend::start(move |_| {
        let held = held.clone();
        Box::pin(async move {
            held.notified().await;
            (200, json!({"allow": true}).to_string())
        })
    })
    .await;
    let app = spawn_configured({
        let url = backend.url.clone();
        move |config| {
            config.connect_proxy_url = Some(url.parse().unwrap());
            config.connect_proxy_timeout = Duration::from_secs(10);
            config.connect_proxy_max_in_flight = 1;
        }
    })
    .await;
    let addr = app.addr;
    let first =
        tokio::spawn(async move { SioClient::connect_with_auth(addr, "/echo", None).await });
    backend.next_request().await;
    let second = SioClient::connect_with_auth(addr, "/echo", None).await;
    assert_eq!(second.err().as_deref(), Some("rate_limited"));
    release.notify_one();
    assert!(
        tokio::time::timeout(WAIT, first)
            .await
            .unwrap()
            .unwrap()
            .is_ok()
    );
}

/// An app with RPC namespace `/rpc` answered by `backend` (300 ms timeout),
/// and the connect proxy `connect` when given; then `configure`.
async fn with_rpc(
    backend: &Backend,
    connect: Option<&Backend>,
    configure: impl FnOnce(&mut switchboard::ServeConfig) + Send + 'static,
) -> TestApp {
    let url = backend.url.clone();
    let connect = connect.map(|backend| backend.url.clone());
    spawn_configured(move |config| {
        config.rpc_namespaces = vec!["/rpc".into()];
        config.rpc_proxy_url = Some(url.parse().unwrap());
        config.rpc_timeout = Duration::from_millis(300);
        config.connect_proxy_url = connect.map(|url| url.parse().unwrap());
        configure(config);
    })
    .await
}

/// An RPC backend that answers each event with its first argument, holding
/// every `hold` event until `release` gets a permit.
async fn holding_backend(release: &Arc<Semaphore>) -> Backend {
    let held = release.clone();
    Backend::start(move |body| {
        let held = held.clone();
        Box::pin(async move {
            if body["event"] == "hold" {
                held.acquire().await.unwrap().forget();
            }
            (200, json!({"reply": body["args"][0]}).to_string())
        })
    })
    .await
}

#[tokio::test]
async fn an_rpc_event_is_answered_by_the_backend_with_its_actions_in_order() {
    let mut backend = Backend::start(|body| {
        Box::pin(async move {
            let answer = match body["event"].as_str() {
                Some("enter") => json!({
                    "reply": {"entered": body["args"][0]["room"]},
                    "actions": [
                        {"join": "lobby"},
                        {"emit": {"room": "lobby", "event": "joined", "data": {"who": body["socket_id"]}}},
                        {"emit": {"event": "welcome", "data": "hi"}},
                    ]
                }),
                Some("exit") => json!({
                    "actions": [
                        {"emit": {"room": "lobby", "event": "left", "data": body["socket_id"]}},
                        {"leave": "lobby"},
                        {"emit": {"room": "lobby", "event": "after", "data": 1}},
                    ]
                }),
                _ => json!({"reply": body["args"]}),
            };
            (200, answer.to_string())
        })
    })
    .await;
    let connect = Backend::always(json!({"allow": true, "user": "ada"})).await;
    let app = with_rpc(&backend, Some(&connect), |_| {}).await;
    let mut alice = SioClient::connect(app.addr, "/rpc").await;
    let mut bob = SioClient::connect(app.addr, "/rpc").await;

    let ack = bob.request("enter", json!({"room": "lobby"})).await;
    assert_eq!(ack, json!({"ok": true, "reply": {"entered": "lobby"}}));
    let request = backend.next_request().await;
    assert_eq!(request["namespace"], "/rpc");
    assert_eq!(request["socket_id"], bob.id);
    assert_eq!(request["user"], "ada");
    assert_eq!(request["event"], "enter");
    assert_eq!(request["args"], json!([{"room": "lobby"}]));
    assert_eq!(bob.next_event("joined").await, json!({"who": bob.id}));
    assert_eq!(bob.next_event("welcome").await, "hi");

    let ack = alice.request("enter", json!({"room": "lobby"})).await;
    assert_eq!(ack["ok"], true);
    // Bob is in the room: Alice's arrival reaches him.
    assert_eq!(bob.next_event("joined").await, json!({"who": alice.id}));

    // Leaving: the emit before the leave reaches Bob too, the one after not.
    let ack = bob.request("exit", json!({})).await;
    assert_eq!(ack, json!({"ok": true, "reply": null}));
    assert_eq!(alice.next_event("left").await, bob.id);
    assert_eq!(alice.next_event("after").await, 1);
    assert_eq!(bob.next_event("left").await, bob.id);
    // Bob got no `after`: an echo he asks for now comes first.
    let ack = bob.request("echo", json!([1, 2])).await;
    assert_eq!(ack, json!({"ok": true, "reply": [[1, 2]]}));
    assert_eq!(bob.pending("after"), 0);

    // An event without an ack request is forwarded too.
    bob.emit("note", &[json!("x"), json!(2)]).await;
    let request = loop {
        let request = backend.next_request().await;
        if request["event"] == "note" {
            break request;
        }
    };
    assert_eq!(request["args"], json!(["x", 2]));
}

#[tokio::test]
async fn rpc_failures_map_to_the_contract_codes() {
    let backend = Backend::start(|body| {
        Box::pin(async move {
            match body["event"].as_str().unwrap_or_default() {
                "refuse" => (
                    200,
                    json!({"error": {"code": "forbidden", "message": "not yours"}}).to_string(),
                ),
                "odd_code" => (200, json!({"error": {"code": "teapot"}}).to_string()),
                "crash" => (500, "boom".to_string()),
                "garble" => (200, "{not json".to_string()),
                "bad_action" => (200, json!({"actions": [{"join": "bad room"}]}).to_string()),
                "hang" => std::future::pending().await,
                _ => (200, json!({"reply": 1}).to_string()),
            }
        })
    })
    .await;
    let app = with_rpc(&backend, None, |_| {}).await;
    let mut client = SioClient::connect(app.addr, "/rpc").await;
    let ack = client.request("refuse", json!({})).await;
    assert_eq!(
        ack,
        json!({"ok": false, "error": {"code": "forbidden", "message": "not yours"}})
    );
    for event in ["odd_code", "crash", "garble", "bad_action", "hang"] {
        let ack = client.request(event, json!({})).await;
        assert_eq!(error_code(&ack), "internal", "{event}: {ack}");
    }
    // Without an ack, a failure is an `error` event.
    client.emit("crash", &[]).await;
    assert_eq!(client.next_event("error").await["code"], "internal");
    // The socket still works, and the user is null without a connect proxy.
    let ack = client.request("fine", json!({})).await;
    assert_eq!(ack, json!({"ok": true, "reply": 1}));
}

#[tokio::test]
async fn rpc_calls_in_flight_are_bounded_per_socket() {
    let release = Arc::new(Semaphore::new(0));
    let mut backend = holding_backend(&release).await;
    let app = with_rpc(&backend, None, |config| {
        config.rpc_timeout = Duration::from_secs(10);
        config.rpc_max_in_flight_per_socket = 2;
    })
    .await;
    let mut client = SioClient::connect(app.addr, "/rpc").await;
    let first = client.send_with_ack("hold", &[json!(1)]).await;
    let second = client.send_with_ack("hold", &[json!(2)]).await;
    let third = client.send_with_ack("hold", &[json!(3)]).await;
    assert_eq!(error_code(&client.ack(third).await[0]), "rate_limited");
    // Both held calls reached the backend; another socket is not bounded by
    // this one's calls.
    assert_eq!(backend.next_request().await["args"][0], 1);
    assert_eq!(backend.next_request().await["args"][0], 2);
    let mut other = SioClient::connect(app.addr, "/rpc").await;
    assert_eq!(other.request("quick", json!(9)).await["reply"], 9);
    release.add_permits(2);
    assert_eq!(client.ack(first).await[0], json!({"ok": true, "reply": 1}));
    assert_eq!(client.ack(second).await[0], json!({"ok": true, "reply": 2}));
}

#[tokio::test]
async fn rpc_calls_in_flight_are_bounded_overall() {
    let release = Arc::new(Semaphore::new(0));
    let mut backend = holding_backend(&release).await;
    let app = with_rpc(&backend, None, |config| {
        config.rpc_timeout = Duration::from_secs(10);
        config.rpc_max_in_flight = 1;
    })
    .await;
    let mut first = SioClient::connect(app.addr, "/rpc").await;
    let mut second = SioClient::connect(app.addr, "/rpc").await;
    let held_call = first.send_with_ack("hold", &[json!(1)]).await;
    backend.next_request().await;
    let refused = second.request("hold", json!(2)).await;
    assert_eq!(error_code(&refused), "rate_limited");
    release.add_permits(1);
    assert_eq!(
        first.ack(held_call).await[0],
        json!({"ok": true, "reply": 1})
    );
}

#[tokio::test]
async fn rpc_namespaces_must_be_new_and_have_a_backend() {
    for (namespaces, url) in [
        (vec!["/chat"], Some("http://127.0.0.1:1/hook")),
        (vec!["/echo"], Some("http://127.0.0.1:1/hook")),
        (vec!["/rpc", "/rpc"], Some("http://127.0.0.1:1/hook")),
        (vec!["/rpc"], None),
    ] {
        let mut config = test_config();
        config.rpc_namespaces = namespaces.iter().map(|ns| ns.to_string()).collect();
        config.rpc_proxy_url = url.map(|url| url.parse().unwrap());
        let dir = tempfile::tempdir().unwrap();
        config.database_url = switchboard::config::DatabaseUrl::Sqlite(dir.path().join("db"));
        assert!(
            switchboard::App::build(config).await.is_err(),
            "{namespaces:?} {url:?}"
        );
    }
}

/// A backend that cannot be reached: the client gets `internal`, and the
/// server's log says so in one warning that names the namespace and the
/// reason, and shows neither the auth payload nor a header value.
#[tokio::test]
async fn a_failed_call_is_one_clear_warning_without_the_secrets() {
    let server = ServerProcess::start(&[
        "--connect-proxy-url",
        "http://127.0.0.1:1/connect",
        "--connect-proxy-namespaces",
        "/echo",
    ]);
    let refused = SioClient::connect_with_auth(
        server.addr,
        "/echo",
        Some(json!({ "token": "s3cret-token-in-auth" })),
    )
    .await
    .err();
    assert_eq!(refused.as_deref(), Some("internal"));
    let warning = server.wait_for_log_starting("connect proxy failed");
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(warning["namespace"], "/echo", "{warning}");
    let message = warning["message"].as_str().unwrap();
    assert!(message.contains("request failed"), "{message}");
    let everything = format!("{warning}{}", server.lines_so_far().join("\n"));
    assert!(
        !everything.contains("s3cret-token-in-auth"),
        "the auth payload reached the log: {everything}"
    );
}
