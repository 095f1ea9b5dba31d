//! The credentials of the notification tests (a JWT secret and an API key,
//! not the development ones), the HTTP push API as a backend uses it, and
//! `/notifications` clients.

use std::{net::SocketAddr, time::Duration};

use serde_json::{Value, json};
use switchboard::{ServeConfig, config::Secret, notifications::sign_token, protocol::UserId};

use super::{SioClient, TestApp, WAIT};

pub const SECRET: &str = "test-secret-0123456789";
pub const API_KEY: &str = "test-api-key-0123456789";

/// [`SECRET`] and [`API_KEY`] as the environment of a `switchboard` process.
pub const CREDENTIAL_ENVS: [(&str, &str); 2] = [
    ("SWITCHBOARD_JWT_SECRET", SECRET),
    ("SWITCHBOARD_API_KEYS", API_KEY),
];

/// Settings with a real secret and key (not the development ones).
pub fn notifications_config(mut config: ServeConfig) -> ServeConfig {
    add_credentials(&mut config);
    config
}

/// Gives `config` a real secret and key, [`SECRET`] and [`API_KEY`] (for
/// [`Engine::spawn_with`](super::Engine::spawn_with)).
pub fn add_credentials(config: &mut ServeConfig) {
    config.jwt_secret = Some(Secret::from(SECRET));
    config.api_keys = vec![Secret::from(API_KEY)];
}

/// A token for `user`, signed with [`SECRET`], valid for ten minutes.
pub fn token(user: &str) -> String {
    sign_token(
        SECRET,
        &UserId::parse(user).unwrap(),
        Duration::from_secs(600),
    )
}

/// A user id no other test uses.
pub fn unique_user(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Connects to `/notifications` as `user` (with [`token`]), replaying from
/// `since` when given.
pub async fn notifications_socket(addr: SocketAddr, user: &str, since: Option<&str>) -> SioClient {
    let mut auth = json!({ "token": token(user) });
    if let Some(since) = since {
        auth["since"] = json!(since);
    }
    SioClient::connect_with_auth(addr, "/notifications", Some(auth))
        .await
        .unwrap_or_else(|e| panic!("{user} refused: {e}"))
}

/// [`notifications_socket`], once its subscription is open: a `list` round
/// trip answered.
pub async fn listening_socket(addr: SocketAddr, user: &str, since: Option<&str>) -> SioClient {
    let mut socket = notifications_socket(addr, user, since).await;
    socket.request("list", json!({})).await;
    socket
}

/// Takes the next `notification`, acks it, returns it.
pub async fn receive(client: &mut SioClient) -> Value {
    let (notification, ack) = client.next_event_with_ack("notification").await;
    let ack = ack.expect("notifications ask for an ack");
    client.answer(ack, &[json!(true)]).await;
    notification
}

/// The `id`s of a JSON array of objects (a page of notifications, a chat
/// history), in its order.
pub fn ids_in(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The HTTP push API as a backend uses it.
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: app.http_url("/api/v1"),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(API_KEY);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = send_in_time(request).await;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// `GET /api/v1{path}`; its status and body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None, &[]).await
    }

    /// Pushes to `users`; asserts 201 and returns the body.
    pub async fn push(&self, users: &[&str], kind: &str, data: Value) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/notifications",
                Some(&json!({ "users": users, "kind": kind, "data": data })),
                &[],
            )
            .await;
        assert_eq!(status, 201, "push: {body}");
        body
    }

    pub async fn push_one(&self, user: &str, kind: &str) -> String {
        let body = self.push(&[user], kind, json!({ "kind": kind })).await;
        body["notifications"][0]["id"].as_str().unwrap().to_owned()
    }
}

/// Sends `request`; its response, within [`WAIT`].
pub async fn send_in_time(request: reqwest::RequestBuilder) -> reqwest::Response {
    tokio::time::timeout(WAIT, request.send())
        .await
        .expect("answers in time")
        .expect("answers")
}

/// Sends `request` and returns its answer's body as JSON.
pub async fn json_body(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}
