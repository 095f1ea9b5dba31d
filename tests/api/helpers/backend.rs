//! A real local HTTP backend for the connect and RPC proxies: an axum server
//! on a free loopback port, scripted per test, that records every request
//! body.

use std::sync::Arc;

use axum::{Router, extract::State, http::StatusCode, routing::post};
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;

use super::WAIT;

/// How the backend answers one request body: a status and a body.
type Script = Arc<dyn Fn(Value) -> BoxFuture<'static, (u16, String)> + Send + Sync>;

/// A scripted local HTTP backend on a free loopback port (`POST /hook`).
pub struct Backend {
    pub url: String,
    /// Every request body, in arrival order.
    pub requests: mpsc::UnboundedReceiver<Value>,
}

impl Backend {
    /// Starts a backend answering with `script`.
    pub async fn start<F>(script: F) -> Self
    where
        F: Fn(Value) -> BoxFuture<'static, (u16, String)> + Send + Sync + 'static,
    {
        let (tx, requests) = mpsc::unbounded_channel();
        let script: Script = Arc::new(script);
        let router = Router::new()
            .route("/hook", post(answer))
            .with_state((script, tx));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, requests }
    }

    /// A backend that always answers `body` with 200.
    pub async fn always(body: Value) -> Self {
        Self::start(move |_| {
            let body = body.to_string();
            Box::pin(async move { (200, body) })
        })
        .await
    }

    /// The next request body it got.
    pub async fn next_request(&mut self) -> Value {
        tokio::time::timeout(WAIT, self.requests.recv())
            .await
            .expect("a request within the wait")
            .expect("the backend runs")
    }
}

async fn answer(
    State((script, tx)): State<(Script, mpsc::UnboundedSender<Value>)>,
    body: String,
) -> (StatusCode, String) {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    tx.send(body.clone()).ok();
    let (status, text) = script(body).await;
    (StatusCode::from_u16(status).unwrap(), text)
}
