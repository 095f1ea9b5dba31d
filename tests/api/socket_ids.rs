//! Socket ids are public and grant nothing (PROTOCOL.md, Conventions): each
//! namespace socket has its own random id, distinct from the Engine.IO session
//! id, and a request naming anything but a live session id is refused with 400
//! and changes nothing.

use std::collections::HashSet;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{
    SioClient, TestApp, WAIT, field_of_each, polling_session, spawn_app, test_config,
};

/// An Engine.IO long-polling session driven by hand.
struct Polling<'a> {
    app: &'a TestApp,
    sid: String,
    http: reqwest::Client,
}

impl<'a> Polling<'a> {
    async fn open(app: &'a TestApp) -> Self {
        let (sid, _) = polling_session(app).await;
        Self {
            app,
            sid,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        polling_url(self.app, &self.sid)
    }

    /// POSTs `packets` (joined as one payload); returns the status.
    async fn post(&self, packets: &[&str]) -> u16 {
        post_as(self.app, &self.sid, &packets.join("\u{1e}"))
            .await
            .0
    }

    /// GETs the next batch of packets.
    async fn get(&self) -> Vec<String> {
        let response = tokio::time::timeout(WAIT, self.http.get(self.url()).send())
            .await
            .expect("poll answers in time")
            .expect("poll request");
        assert_eq!(response.status(), 200, "poll of a live session");
        let body = response.text().await.unwrap();
        body.split('\u{1e}').map(str::to_owned).collect()
    }

    /// Polls until a packet starting with `prefix` arrives; returns it.
    async fn until(&self, prefix: &str) -> String {
        loop {
            for packet in self.get().await {
                if packet.starts_with(prefix) {
                    return packet;
                }
            }
        }
    }

    /// Joins namespace `ns` (`/chat`) and returns the socket id it was given.
    async fn connect(&self, ns: &str) -> String {
        let prefix = if ns.is_empty() {
            "40".to_owned()
        } else {
            format!("40{ns},")
        };
        assert_eq!(self.post(&[&prefix]).await, 200);
        let connected = self.until(&format!("{prefix}{{")).await;
        let body: Value = serde_json::from_str(&connected[prefix.len()..]).unwrap();
        body["sid"].as_str().expect("a socket id").to_owned()
    }
}

fn polling_url(app: &TestApp, sid: &str) -> String {
    app.polling_url(sid)
}

/// POSTs `body` to the polling session `sid`; returns status and body.
async fn post_as(app: &TestApp, sid: &str, body: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(polling_url(app, sid))
        .body(body.to_owned())
        .send()
        .await
        .expect("post request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Is `id` a random id of at least 120 bits, in URL-safe characters?
fn assert_strong_id(id: &str) {
    assert!(id.len() >= 20, "{id} is shorter than 120 bits of base64");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{id} is not URL-safe"
    );
}

#[tokio::test]
async fn every_namespace_socket_has_its_own_id_distinct_from_the_session_id() {
    let app = spawn_app(test_config()).await;
    let session = Polling::open(&app).await;
    let root = session.connect("").await;
    let echo = session.connect("/echo").await;
    let chat = session.connect("/chat").await;
    let ids: HashSet<_> = [&session.sid, &root, &echo, &chat].into_iter().collect();
    assert_eq!(
        ids.len(),
        4,
        "session {} and sockets {root} {echo} {chat}",
        session.sid
    );
    for id in [&session.sid, &root, &echo, &chat] {
        assert_strong_id(id);
    }

    // Over WebSocket too, and never the same twice.
    let mut seen = HashSet::new();
    for _ in 0..50 {
        let client = SioClient::connect(app.addr, "/echo").await;
        assert_strong_id(&client.id);
        assert!(
            seen.insert(client.id.clone()),
            "socket id {} reused",
            client.id
        );
        client.close().await;
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_member_id_seen_in_chat_opens_no_session() {
    let app = spawn_app(test_config()).await;
    // The victim chats over long-polling, as socket.io-client starts.
    let victim = Polling::open(&app).await;
    let victim_id = victim.connect("/chat").await;
    let join = r#"42/chat,0["join",{"room":"lobby","name":"Victim"}]"#;
    assert_eq!(victim.post(&[join]).await, 200);
    victim.until("43/chat,0").await;

    // The attacker joins and learns the victim's id from the member list.
    let mut attacker = SioClient::connect(app.addr, "/chat").await;
    let ack = attacker
        .request("join", json!({ "room": "lobby", "name": "Mallory" }))
        .await;
    let members = field_of_each(&ack["members"], "id");
    assert!(members.contains(&victim_id.as_str()), "{members:?}");
    assert!(
        !members.contains(&victim.sid.as_str()),
        "the session id leaked: {members:?}"
    );

    // Posting as the victim, polling as the victim, closing the victim's
    // session, and upgrading the victim's session: all refused.
    let forged = r#"42/chat,["message",{"room":"lobby","text":"forged"}]"#;
    for body in [forged, "1"] {
        let (status, _) = post_as(&app, &victim_id, body).await;
        assert_eq!(status, 400, "POST {body} naming a socket id");
    }
    let get = reqwest::get(polling_url(&app, &victim_id)).await.unwrap();
    assert_eq!(get.status(), 400, "GET naming a socket id");
    let upgrade = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid={victim_id}",
        app.addr
    );
    match tokio_tungstenite::connect_async(upgrade).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        Ok(_) => panic!("a WebSocket upgrade naming a socket id was accepted"),
        Err(e) => panic!("unexpected upgrade error: {e}"),
    }

    // Nothing changed: no forged message, and the victim's session still works.
    let history = attacker
        .request("history", json!({ "room": "lobby" }))
        .await;
    assert_eq!(history["messages"], json!([]));
    assert_eq!(attacker.pending("message"), 0);
    let own = r#"42/chat,1["message",{"room":"lobby","text":"mine"}]"#;
    assert_eq!(victim.post(&[own]).await, 200);
    let acked = victim.until("43/chat,1").await;
    assert!(acked.contains(r#""ok":true"#), "{acked}");
    let message = attacker.next_event("message").await;
    assert_eq!(message["text"], "mine");
    assert_eq!(message["from"]["id"], victim_id.as_str());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_session_that_upgraded_refuses_polling() {
    let app = spawn_app(test_config()).await;
    // Many times: the refusal must not depend on which request the server
    // happens to read first.
    for _ in 0..25 {
        let (sid, _) = polling_session(&app).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(app.upgrade_url(&sid))
            .await
            .unwrap();
        ws.send(Message::text("2probe")).await.unwrap();
        let probe = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
        assert_eq!(probe.unwrap().unwrap(), Message::text("3probe"));
        ws.send(Message::text("5")).await.unwrap();
        let poll = reqwest::get(polling_url(&app, &sid)).await.unwrap();
        assert_eq!(poll.status(), 400, "GET after the upgrade");
        let (status, _) = post_as(&app, &sid, "40").await;
        assert_eq!(status, 400, "POST after the upgrade");
        // The upgraded session itself still works.
        ws.send(Message::text("40")).await.unwrap();
        let connected = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
        let connected = connected.unwrap().unwrap().into_text().unwrap();
        assert!(connected.starts_with("40{\"sid\""), "{connected}");
        ws.close(None).await.ok();
    }
    app.stop().await.unwrap();
}
