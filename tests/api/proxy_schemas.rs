//! The JSON Schemas of the proxy contracts (`docs/schemas/`, linked from
//! PROTOCOL.md and docs/integration.md) against the server itself: every
//! request it sends a real local backend matches its schema, and for a table
//! of answers, the server takes an answer exactly when the answer's schema
//! says it is valid (within the size bound, and JSON the server reads: see
//! the schemas' descriptions). A backend written against the schemas is thus
//! written against what the server does.

use std::time::Duration;

use jsonschema::Validator;
use serde_json::{Value, json};

use crate::helpers::*;

/// `docs/schemas/<name>.schema.json`, compiled.
fn schema(name: &str) -> Validator {
    let path = project_path(&format!("docs/schemas/{name}.schema.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("a schema is JSON");
    jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()))
}

/// Asserts that `instance` matches `validator`, naming every mismatch.
fn assert_matches(validator: &Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what} {instance}: {errors:?}");
}

/// An app with the connect proxy on every namespace and RPC namespace `/rpc`,
/// both answered by `backend`, and no event rate limit in the way of a table.
async fn with_both_proxies(backend: &Backend) -> TestApp {
    let url = backend.url.clone();
    spawn_configured(move |config| {
        config.connect_proxy_url = Some(url.parse().unwrap());
        config.connect_proxy_timeout = Duration::from_secs(3);
        config.rpc_namespaces = vec!["/rpc".into()];
        config.rpc_proxy_url = Some(url.parse().unwrap());
        config.rpc_timeout = Duration::from_secs(3);
        config.rate_limit = 1_000_000;
        config.rate_burst = 1_000_000;
    })
    .await
}

/// Answers a connect with the auth payload's `answer` (else
/// `{"allow": true}`, as `ada` when the auth names her), an RPC event with
/// its first argument.
async fn echoing_backend() -> Backend {
    Backend::start(|body| {
        Box::pin(async move {
            let answer = if body.get("event").is_some() {
                body["args"][0].clone()
            } else if let Some(answer) = body["auth"].get("answer") {
                answer.clone()
            } else if body["auth"]["user"] == "ada" {
                json!({"allow": true, "user": "ada", "data": {"plan": "pro"}})
            } else {
                json!({"allow": true})
            };
            (200, answer.to_string())
        })
    })
    .await
}

#[tokio::test]
async fn the_requests_the_server_sends_match_their_schemas() {
    let connect_request = schema("connect-proxy-request");
    let rpc_request = schema("rpc-proxy-request");
    let mut backend = echoing_backend().await;
    let app = with_both_proxies(&backend).await;

    // A WebSocket connect with headers and an auth payload, signed in as ada.
    let raw = RawSocket::connect_with_headers(
        app.addr,
        &[("Cookie", "session=abc"), ("User-Agent", "schema-test/1")],
    )
    .await;
    let mut ada = SioClient::connect_over(raw, "/rpc", Some(json!({"user": "ada", "n": [1]})))
        .await
        .expect("allowed");
    let request = backend.next_request().await;
    assert_eq!(request["transport"], "websocket", "{request}");
    assert_matches(&connect_request, &request, "the websocket connect request");

    // A polling connect without auth.
    let (sid, _) = polling_session(&app).await;
    let http = reqwest::Client::new();
    let sent = send_in_time(http.post(app.polling_url(&sid)).body("40/echo,")).await;
    assert_eq!(sent.status(), 200);
    let request = backend.next_request().await;
    assert_eq!(request["transport"], "polling", "{request}");
    assert_matches(&connect_request, &request, "the polling connect request");

    // RPC events: with the user, with and without an ack, with no argument.
    let ack = ada.request("move", json!({"reply": {"x": 1}})).await;
    assert_eq!(ack, json!({"ok": true, "reply": {"x": 1}}));
    let request = backend.next_request().await;
    assert_eq!(request["user"], "ada", "{request}");
    assert_matches(&rpc_request, &request, "an RPC request with a user");
    ada.emit("note", &[]).await;
    let request = backend.next_request().await;
    assert_eq!(request["args"], json!([]), "{request}");
    assert_matches(&rpc_request, &request, "an RPC request without arguments");
    ada.emit("note", &[json!(null), json!("two"), json!(3)])
        .await;
    let request = backend.next_request().await;
    assert_eq!(request["args"], json!([null, "two", 3]), "{request}");
    assert_matches(
        &rpc_request,
        &request,
        "an RPC request with three arguments",
    );
    // Without a user from the connect proxy.
    let mut anonymous = SioClient::connect(app.addr, "/rpc").await;
    let _ = backend.next_request().await;
    let ack = anonymous
        .request("ping ping", json!({"reply": "pong"}))
        .await;
    assert_eq!(ack, json!({"ok": true, "reply": "pong"}));
    let request = backend.next_request().await;
    assert_eq!(request["user"], Value::Null, "{request}");
    assert_matches(&rpc_request, &request, "an RPC request without a user");

    // The request schemas are not vacuous: what the server never sends fails.
    let mut odd = request.clone();
    odd["transport"] = json!("websocket");
    assert!(!rpc_request.is_valid(&odd), "an unknown member: {odd}");
    assert!(!rpc_request.is_valid(&json!({"namespace": "/rpc"})));
    assert!(!connect_request.is_valid(&json!({
        "namespace": "/rpc", "auth": {}, "headers": {"Cookie": "x"},
        "remote_addr": null, "transport": "carrier-pigeon"
    })));
    app.stop().await.unwrap();
}

/// Connect answers: the server lets the socket in or passes a deny on
/// exactly when the answer schema says valid; any other answer is
/// `internal`. (A valid deny with code `internal` looks like a bad answer to
/// the client, so the table has none.)
#[tokio::test]
async fn a_connect_answer_is_taken_exactly_when_its_schema_says_valid() {
    let answer_schema = schema("connect-proxy-answer");
    let backend = echoing_backend().await;
    let app = with_both_proxies(&backend).await;
    let rooms = |n: usize| (0..n).map(|i| format!("room-{i}")).collect::<Vec<_>>();
    let cases = [
        (json!({"allow": true}), true),
        (
            json!({"allow": true, "user": "ada", "data": {"plan": "pro"}, "rooms": ["a", "b:1"]}),
            true,
        ),
        (
            json!({"allow": true, "user": null, "data": null, "rooms": null, "extra": 1}),
            true,
        ),
        (json!({"allow": true, "rooms": rooms(100)}), true),
        (
            json!({"allow": true, "code": "teapot", "message": "ignored"}),
            true,
        ),
        (json!({"allow": false, "code": "forbidden"}), true),
        (
            json!({"allow": false, "code": "rate_limited", "message": "slow down"}),
            true,
        ),
        (
            json!({"allow": false, "code": "forbidden", "user": "", "rooms": ["bad room"]}),
            true,
        ),
        (json!([]), false),
        (json!({}), false),
        (json!({"allow": "yes"}), false),
        (json!({"allow": false}), false),
        (json!({"allow": false, "code": null}), false),
        (json!({"allow": false, "code": "teapot"}), false),
        (
            json!({"allow": false, "code": "forbidden", "message": 5}),
            false,
        ),
        (json!({"allow": true, "user": ""}), false),
        (json!({"allow": true, "user": "a\u{7}b"}), false),
        (json!({"allow": true, "user": "u".repeat(129)}), false),
        (json!({"allow": true, "data": [1]}), false),
        (json!({"allow": true, "rooms": "a"}), false),
        (json!({"allow": true, "rooms": ["bad room"]}), false),
        (json!({"allow": true, "rooms": rooms(101)}), false),
        // Regex engines where `$` also matches before a final newline.
        (json!({"allow": true, "rooms": ["lobby\n"]}), false),
        (json!({"allow": true, "user": "ada\n"}), false),
    ];
    for (answer, valid) in cases {
        assert_eq!(
            answer_schema.is_valid(&answer),
            valid,
            "the schema on {answer}"
        );
        let outcome =
            SioClient::connect_with_auth(app.addr, "/echo", Some(json!({"answer": answer}))).await;
        let taken = match &outcome {
            Ok(_) => answer["allow"] == true,
            Err(message) => message != "internal" && answer["allow"] == false,
        };
        assert_eq!(
            taken,
            valid,
            "the server on {answer}: {outcome:?}",
            outcome = outcome.as_ref().map(|_| "connected")
        );
    }
    app.stop().await.unwrap();
}

/// RPC answers: the client's ack is the backend's reply or its refusal
/// exactly when the answer schema says valid; any other answer is
/// `internal`.
#[tokio::test]
async fn an_rpc_answer_is_taken_exactly_when_its_schema_says_valid() {
    let answer_schema = schema("rpc-proxy-answer");
    let backend = echoing_backend().await;
    let app = with_both_proxies(&backend).await;
    let joins = |n: usize| (0..n).map(|_| json!({"join": "r"})).collect::<Vec<_>>();
    let cases = [
        (json!({}), true),
        (json!({"reply": 1, "other": true}), true),
        (json!({"reply": null, "actions": [], "error": null}), true),
        (
            json!({"actions": [
                {"join": "r"}, {"leave": "r"}, {"emit": {"event": "e"}},
                {"emit": {"room": "r", "event": "e", "data": [1]}}, {"emit": {"room": null, "event": "e"}}
            ]}),
            true,
        ),
        (json!({"actions": joins(32)}), true),
        (json!({"error": {"code": "forbidden"}}), true),
        (
            json!({"error": {"code": "not_found", "message": null}, "actions": [{"join": "bad room"}]}),
            true,
        ),
        (
            json!({"error": {"code": "too_large", "message": "big"}, "actions": joins(33)}),
            true,
        ),
        (json!([]), false),
        (json!("text"), false),
        (json!({"actions": null}), false),
        (json!({"actions": {}}), false),
        (json!({"actions": [{}]}), false),
        (json!({"actions": [{"join": "a", "leave": "b"}]}), false),
        (json!({"actions": [{"Join": "a"}]}), false),
        (json!({"actions": [{"join": 5}]}), false),
        (json!({"actions": [{"join": "bad room"}]}), false),
        (json!({"actions": [{"emit": {"event": "connect"}}]}), false),
        (json!({"actions": [{"emit": {"event": ""}}]}), false),
        (json!({"actions": [{"emit": {"room": "r"}}]}), false),
        (
            json!({"actions": [{"emit": {"event": "e", "extra": 1}}]}),
            false,
        ),
        (
            json!({"actions": [{"emit": {"event": "e", "room": "bad room"}}]}),
            false,
        ),
        (json!({"actions": joins(33)}), false),
        (json!({"error": {"code": "teapot"}}), false),
        (json!({"error": {"message": "no code"}}), false),
        (json!({"error": {"code": 5}}), false),
        (json!({"error": "forbidden"}), false),
        // serde would build its structs from arrays too; the contract does not.
        (json!({"error": ["forbidden", "no"]}), false),
        (json!({"actions": [{"emit": ["r", "hi"]}]}), false),
        (
            json!({"actions": [{"emit": [null, "hi", {"x": 1}]}]}),
            false,
        ),
        (
            json!({"error": {"code": "forbidden"}, "actions": [{"emit": {"event": 5}}]}),
            false,
        ),
        // Regex engines where `$` also matches before a final newline.
        (json!({"actions": [{"join": "r\n"}]}), false),
        (json!({"actions": [{"emit": {"event": "hi\n"}}]}), false),
    ];
    let mut client = SioClient::connect(app.addr, "/rpc").await;
    for (answer, valid) in cases {
        assert_eq!(
            answer_schema.is_valid(&answer),
            valid,
            "the schema on {answer}"
        );
        let ack = client.request("try", answer.clone()).await;
        let taken = if ack["ok"] == true {
            ack["reply"] == answer.get("reply").cloned().unwrap_or(Value::Null)
        } else {
            error_code(&ack) != "internal"
                && answer["error"]["code"].as_str() == Some(error_code(&ack))
        };
        assert_eq!(taken, valid, "the server on {answer}: {ack}");
    }
    app.stop().await.unwrap();
}
