//! `/api/v1/openapi.json` describes the real API: every documented operation
//! answers its documented statuses with bodies that match the documented
//! schemas (checked by a small validator for the subset the document uses),
//! and nothing undocumented answers.

use serde_json::{Value, json};

use crate::helpers::{API_KEY, json_body, notifications_config, spawn_app, test_config};

/// Resolves a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local references only");
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {reference}")),
            )
        }
        None => node,
    }
}

/// Checks `value` against `schema` (type, enum, required, properties,
/// additionalProperties, items, min/max, pattern-free); panics naming the path.
fn check(doc: &Value, schema: &Value, value: &Value, path: &str) {
    let schema = resolve(doc, schema);
    if value.is_null() {
        assert!(
            schema["nullable"] == true || schema.get("type").is_none(),
            "{path}: null where the schema does not allow it"
        );
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        assert!(
            options.contains(value),
            "{path}: {value} not in {options:?}"
        );
    }
    match schema.get("type").and_then(Value::as_str) {
        None => {}
        Some("object") => {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{path}: not an object: {value}"));
            for field in schema["required"].as_array().into_iter().flatten() {
                let field = field.as_str().unwrap();
                assert!(
                    object.contains_key(field),
                    "{path}: missing `{field}` in {value}"
                );
            }
            let properties = schema["properties"].as_object();
            for (key, item) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => check(doc, property, item, &format!("{path}.{key}")),
                    None => assert!(
                        schema["additionalProperties"] != false,
                        "{path}: undocumented field `{key}`"
                    ),
                }
            }
        }
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{path}: not an array"));
            for (i, item) in items.iter().enumerate() {
                check(doc, &schema["items"], item, &format!("{path}[{i}]"));
            }
        }
        Some("string") => assert!(value.is_string(), "{path}: not a string: {value}"),
        Some("integer") => {
            let n = value
                .as_i64()
                .unwrap_or_else(|| panic!("{path}: not an integer: {value}"));
            if let Some(min) = schema["minimum"].as_i64() {
                assert!(n >= min, "{path}: {n} < {min}");
            }
        }
        Some("boolean") => assert!(value.is_boolean(), "{path}: not a boolean: {value}"),
        Some(other) => panic!("{path}: the validator does not know type {other}"),
    }
}

/// The documented response schema for `status` of an operation.
fn response_schema<'a>(doc: &'a Value, operation: &'a Value, status: u16) -> &'a Value {
    let response = operation["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| {
            panic!(
                "status {status} is not documented for {}",
                operation["operationId"]
            )
        });
    &resolve(doc, response)["content"]["application/json"]["schema"]
}

#[tokio::test]
async fn the_openapi_document_matches_the_api() {
    let app = spawn_app(notifications_config(test_config())).await;
    let http = reqwest::Client::new();
    let doc: Value = json_body(http.get(app.http_url("/api/v1/openapi.json"))).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let base = app.http_url("/api/v1");

    let mut exercised = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let url_path = path.replace("{user}", "openapi-user");
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let example = operation
                .pointer("/requestBody/content/application~1json/example")
                .cloned();
            let authenticated = operation.get("security") != Some(&json!([]));
            let send = |auth: bool, body: Option<Value>| {
                let mut request = http.request(method.clone(), format!("{base}{url_path}"));
                if auth {
                    request = request.bearer_auth(API_KEY);
                }
                if let Some(body) = body {
                    request = request.json(&body);
                }
                request.send()
            };

            // Every answer has the schema documented for its status.
            let check_answer = |status: u16, body: &Value, what: &str| {
                check(&doc, response_schema(&doc, operation, status), body, what);
            };

            // The documented success, with the documented example.
            if let Some(example) = &example {
                let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
                check(&doc, schema, example, &format!("{path} example"));
            }
            let response = send(true, example.clone()).await.unwrap();
            let status = response.status().as_u16();
            assert!((200..300).contains(&status), "{method} {path}: {status}");
            let body: Value = response.json().await.unwrap();
            if path != "/openapi.json" {
                check_answer(status, &body, &format!("{method} {path} {status}"));
            }

            if authenticated {
                let response = send(false, example.clone()).await.unwrap();
                let status = response.status().as_u16();
                assert_eq!(status, 401, "{method} {path} without a key");
                let body: Value = response.json().await.unwrap();
                check_answer(status, &body, &format!("{method} {path} 401"));
            }
            if example.is_some() {
                let response = send(true, Some(json!({"unexpected": true}))).await.unwrap();
                let status = response.status().as_u16();
                assert_eq!(status, 400, "{method} {path} with a bad body");
                let body: Value = response.json().await.unwrap();
                check_answer(status, &body, &format!("{method} {path} 400"));
            }
            exercised += 1;
        }
    }
    assert_eq!(exercised, 4, "every documented operation was exercised");

    // What is not documented does not exist.
    for (method, path) in [
        (reqwest::Method::GET, "/notifications"),
        (reqwest::Method::DELETE, "/emit"),
        (reqwest::Method::GET, "/users"),
        (reqwest::Method::POST, "/v2"),
    ] {
        let response = http
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert!(
            [404, 405].contains(&response.status().as_u16()),
            "{method} {path}: {}",
            response.status()
        );
    }
    app.stop().await.unwrap();
}
