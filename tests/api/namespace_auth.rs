//! Token authentication on `/chat` and `/game` (`--chat-auth`,
//! `--game-auth`: `off`, `optional`, `required`) with real Socket.IO clients:
//! what each mode admits and refuses (`connect_error` `unauthorized`), the
//! display name taken from a claim (`--display-name-claim`, the user id when
//! the claim is absent or not a name) which the client's `name` cannot
//! override, and the `user` others see next to an authenticated member.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use switchboard::namespaces::auth::AuthMode;

use crate::helpers::*;

/// A token for `sub` with the extra `claims`, signed with the test secret.
fn token_with(sub: &str, claims: Value) -> String {
    let now = u64::try_from(switchboard::protocol::now_ms() / 1000).unwrap();
    let mut body = json!({ "sub": sub, "exp": now + 600, "iat": now });
    body.as_object_mut()
        .unwrap()
        .extend(claims.as_object().unwrap().clone());
    jsonwebtoken::encode(
        &Header::default(),
        &body,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// A token signed with another secret: it never verifies.
fn forged(sub: &str) -> String {
    let now = u64::try_from(switchboard::protocol::now_ms() / 1000).unwrap();
    jsonwebtoken::encode(
        &Header::default(),
        &json!({ "sub": sub, "exp": now + 600 }),
        &EncodingKey::from_secret(b"another-secret-0123456789"),
    )
    .unwrap()
}

async fn spawn(chat: AuthMode, game: AuthMode) -> TestApp {
    spawn_configured(|config| {
        add_credentials(config);
        config.chat_auth = chat;
        config.game_auth = game;
    })
    .await
}

/// Connects to `ns` with `auth.token = token` (no auth payload for `None`).
async fn connect(app: &TestApp, ns: &str, token: Option<&str>) -> Result<SioClient, String> {
    let auth = token.map(|token| json!({ "token": token }));
    SioClient::connect_with_auth(app.addr, ns, auth).await
}

async fn refused(app: &TestApp, ns: &str, token: Option<&str>) -> String {
    match connect(app, ns, token).await {
        Ok(_) => panic!("{ns} admitted token {token:?}"),
        Err(message) => message,
    }
}

#[tokio::test]
async fn the_modes_admit_and_refuse_as_documented() {
    let app = spawn(AuthMode::Optional, AuthMode::Required).await;
    let good = token_with("ada", json!({ "name": "Ada" }));
    let bad = forged("ada");
    for ns in ["/chat", "/game"] {
        // A present token must verify, in both modes that read it.
        assert_eq!(refused(&app, ns, Some(&bad)).await, "unauthorized", "{ns}");
        assert_eq!(refused(&app, ns, Some("")).await, "unauthorized", "{ns}");
        let huge = "a".repeat(9 * 1024);
        assert_eq!(refused(&app, ns, Some(&huge)).await, "unauthorized");
        assert!(connect(&app, ns, Some(&good)).await.is_ok(), "{ns}");
    }
    // A token that is not a string is a bad token, not no token.
    let not_a_string = SioClient::connect_with_auth(app.addr, "/chat", Some(json!({"token": 42})));
    assert_eq!(not_a_string.await.err().as_deref(), Some("unauthorized"));
    // Optional /chat: no token (no auth payload, or one without a token) is anonymous.
    let mut anonymous = connect(&app, "/chat", None).await.unwrap();
    let ack = anonymous
        .request_ok("join", json!({ "room": "lobby", "name": "Anon" }))
        .await;
    assert_eq!(
        ack["members"],
        json!([{ "id": anonymous.id, "name": "Anon" }])
    );
    let other = SioClient::connect_with_auth(app.addr, "/chat", Some(json!({"recovery": true})));
    assert!(other.await.is_ok());
    // Required /game: no token is refused.
    assert_eq!(refused(&app, "/game", None).await, "unauthorized");
    let no_token = SioClient::connect_with_auth(app.addr, "/game", Some(json!({"token": null})));
    assert_eq!(no_token.await.err().as_deref(), Some("unauthorized"));
    let text = metrics_text(app.addr).await;
    let refusals = text
        .lines()
        .filter(|line| line.starts_with("switchboard_connect_refusals_total{"))
        .filter(|line| {
            line.contains("code=\"unauthorized\"") && line.contains("namespace=\"/game\"")
        })
        .find_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok());
    assert_eq!(refusals, Some(5.0), "counted by namespace and code");
    app.stop().await.unwrap();

    // Required /chat, optional /game.
    let app = spawn(AuthMode::Required, AuthMode::Optional).await;
    assert_eq!(refused(&app, "/chat", None).await, "unauthorized");
    assert_eq!(refused(&app, "/chat", Some(&bad)).await, "unauthorized");
    assert!(connect(&app, "/chat", Some(&good)).await.is_ok());
    let mut anonymous = connect(&app, "/game", None).await.unwrap();
    let joined = anonymous
        .request_ok("join", json!({ "game": "g", "name": "Anon" }))
        .await;
    let me = &joined["state"]["players"][0];
    assert_eq!((&me["name"], me.get("user")), (&json!("Anon"), None));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn off_ignores_tokens_even_bad_ones() {
    let app = spawn(AuthMode::Off, AuthMode::Off).await;
    let good = token_with("ada", json!({ "name": "Ada" }));
    let mut bad = connect(&app, "/chat", Some(&forged("eve"))).await.unwrap();
    let ack = bad
        .request_ok("join", json!({ "room": "lobby", "name": "Eve" }))
        .await;
    assert_eq!(ack["members"], json!([{ "id": bad.id, "name": "Eve" }]));
    // A good token is ignored too: the member is anonymous, named by the client.
    let mut ada = connect(&app, "/chat", Some(&good)).await.unwrap();
    let ack = ada
        .request_ok("join", json!({ "room": "lobby", "name": "Someone" }))
        .await;
    assert!(
        ack["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.get("user").is_none()),
        "{ack}"
    );
    let mut player = connect(&app, "/game", Some(&forged("eve"))).await.unwrap();
    let joined = player
        .request_ok("join", json!({ "game": "g", "name": "Eve" }))
        .await;
    assert_eq!(joined["state"]["players"][0]["name"], "Eve");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn chat_members_are_named_by_the_claim_and_told_apart_by_user() {
    let app = spawn(AuthMode::Optional, AuthMode::Optional).await;
    let mut ada = connect(
        &app,
        "/chat",
        Some(&token_with("u-ada", json!({"name": "Ada"}))),
    )
    .await
    .unwrap();
    let mut other_ada = connect(
        &app,
        "/chat",
        Some(&token_with("u-ada2", json!({"name": "Ada"}))),
    )
    .await
    .unwrap();
    let mut anonymous = connect(&app, "/chat", None).await.unwrap();

    // The client's name is ignored (even an invalid one), and may be left out.
    let ack = ada
        .request_ok("join", json!({ "room": "lobby", "name": "Bob" }))
        .await;
    let ada_member = json!({ "id": ada.id, "name": "Ada", "user": "u-ada" });
    assert_eq!(ack["members"], json!([ada_member]));
    let ack = other_ada
        .request_ok("join", json!({ "room": "lobby", "name": 42 }))
        .await;
    let other_member = json!({ "id": other_ada.id, "name": "Ada", "user": "u-ada2" });
    let presence = ada.next_event("presence").await;
    assert_eq!(presence["member"], other_member);
    assert_eq!(
        (&presence["event"], &presence["count"]),
        (&json!("join"), &json!(2))
    );
    let ack2 = anonymous
        .request_ok("join", json!({ "room": "lobby", "name": "Ada" }))
        .await;
    let anonymous_member = json!({ "id": anonymous.id, "name": "Ada" });
    for members in [&ack2["members"]] {
        let members = members.as_array().unwrap();
        assert_eq!(members.len(), 3, "{members:?}");
        for m in [&ada_member, &other_member, &anonymous_member] {
            assert!(members.contains(m), "{m} in {members:?}");
        }
    }
    assert_eq!(ack["members"].as_array().unwrap().len(), 2);
    assert_eq!(ada.next_event("presence").await["member"], anonymous_member);

    // The list on request, a live message and a rejoin keep the claim's name.
    let listed = anonymous
        .request_ok("members", json!({ "room": "lobby" }))
        .await;
    assert!(
        listed["members"]
            .as_array()
            .unwrap()
            .contains(&other_member)
    );
    let sent = other_ada
        .request_ok("message", json!({ "room": "lobby", "text": "hi" }))
        .await;
    assert_eq!(sent["message"]["from"], other_member);
    assert_eq!(ada.next_event("message").await["from"], other_member);
    other_ada
        .request_ok("join", json!({ "room": "lobby", "name": "Mallory" }))
        .await;
    let listed = ada.request_ok("members", json!({ "room": "lobby" })).await;
    assert!(
        listed["members"]
            .as_array()
            .unwrap()
            .contains(&other_member)
    );
    assert!(!listed.to_string().contains("Mallory"), "{listed}");

    // Leaving tells the others who left, with the user.
    other_ada
        .request_ok("leave", json!({ "room": "lobby" }))
        .await;
    let left = ada.next_event("presence").await;
    assert_eq!(
        (&left["event"], &left["member"]),
        (&json!("leave"), &other_member)
    );
    anonymous
        .request_ok("message", json!({ "room": "lobby", "text": "me too" }))
        .await;
    // History keeps who sent what: a member who joins later tells the two
    // Adas apart in it too, and the anonymous one carries no user.
    let mut later = connect(&app, "/chat", None).await.unwrap();
    let history = later
        .request_ok("join", json!({ "room": "lobby", "name": "Later" }))
        .await["history"]
        .clone();
    assert_eq!(
        history
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (&m["text"], &m["from"]))
            .collect::<Vec<_>>(),
        [
            (&json!("hi"), &other_member),
            (&json!("me too"), &anonymous_member)
        ],
        "{history}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_name_claim_is_configurable_and_falls_back_to_the_user_id() {
    let app = spawn_configured(|config| {
        add_credentials(config);
        config.display_name_claim = "nickname".into();
    })
    .await;
    let mut ada = connect(
        &app,
        "/chat",
        Some(&token_with(
            "u-1",
            json!({ "name": "Ada", "nickname": "Countess" }),
        )),
    )
    .await
    .unwrap();
    let ack = ada.request_ok("join", json!({ "room": "r" })).await;
    assert_eq!(
        ack["members"],
        json!([{ "id": ada.id, "name": "Countess", "user": "u-1" }])
    );
    // No such claim, or one that is not a valid display name: the user id.
    for (sub, claims) in [
        ("u-2", json!({ "name": "Grace" })),
        ("u-3", json!({ "nickname": "  " })),
        ("u-4", json!({ "nickname": 7 })),
        ("u-5", json!({ "nickname": "x".repeat(40) })),
    ] {
        let mut member = connect(&app, "/chat", Some(&token_with(sub, claims)))
            .await
            .unwrap();
        let ack = member
            .request_ok("join", json!({ "room": sub, "name": "Chosen" }))
            .await;
        assert_eq!(
            ack["members"],
            json!([{ "id": member.id, "name": sub, "user": sub }])
        );
    }

    // `/game` players the same way: named by the claim, with their user.
    let mut ann = connect(
        &app,
        "/game",
        Some(&token_with("u-ann", json!({"nickname": "Annie"}))),
    )
    .await
    .unwrap();
    let mut bob = connect(&app, "/game", Some(&token_with("u-bob", json!({}))))
        .await
        .unwrap();
    let joined = ann
        .request_ok("join", json!({ "game": "g", "name": "Not me" }))
        .await;
    let me = &joined["state"]["players"][0];
    assert_eq!(
        (&me["name"], &me["user"]),
        (&json!("Annie"), &json!("u-ann"))
    );
    let joined = bob.request_ok("join", json!({ "game": "g" })).await;
    let bob_id = joined["you"].clone();
    let seen = ann.next_event("player_joined").await;
    assert_eq!(
        (&seen["id"], &seen["name"], &seen["user"]),
        (&bob_id, &json!("u-bob"), &json!("u-bob"))
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn anonymous_joins_still_need_a_name() {
    let app = spawn(AuthMode::Optional, AuthMode::Optional).await;
    let mut chat = connect(&app, "/chat", None).await.unwrap();
    let ack = chat.request("join", json!({ "room": "lobby" })).await;
    assert_eq!(error_code(&ack), "bad_request");
    let ack = chat
        .request("join", json!({ "room": "lobby", "name": 42 }))
        .await;
    assert_eq!(error_code(&ack), "bad_request");
    let mut game = connect(&app, "/game", None).await.unwrap();
    let ack = game.request("join", json!({ "game": "g" })).await;
    assert_eq!(error_code(&ack), "bad_request");
    app.stop().await.unwrap();
}

/// The sessions `/chat` holds for recovery now, from `/metrics`.
async fn held_sessions(app: &TestApp) -> f64 {
    let text = metrics_text(app.addr).await;
    text.lines()
        .filter(|line| line.starts_with("switchboard_recovery_sessions_held{"))
        .filter(|line| line.contains("namespace=\"/chat\""))
        .find_map(|line| line.rsplit_once(' ')?.1.parse().ok())
        .unwrap_or(0.0)
}

/// Connects `/chat` over a raw socket with `token`, joins `room`, waits for
/// a recorded event (another member's `presence`) to learn an offset, then
/// drops the transport and waits until the server holds the session.
/// Returns the socket id, pid and offset.
async fn join_then_drop(
    app: &TestApp,
    token: &str,
    other: &mut SioClient,
) -> (String, String, String) {
    let mut raw = RawSocket::connect_at(app.addr).await;
    raw.send_text(&format!("40/chat,{}", json!({ "token": token })))
        .await;
    let connected = raw.next_text().await;
    let body: Value = serde_json::from_str(connected.strip_prefix("40/chat,").unwrap()).unwrap();
    let (sid, pid) = (
        body["sid"].as_str().unwrap().to_owned(),
        body["pid"].as_str().unwrap().to_owned(),
    );
    raw.send_text(r#"42/chat,0["join",{"room":"back"}]"#).await;
    while !raw.next_text().await.starts_with("43/chat,0") {}
    // Another member renaming itself is a recorded event: it carries an offset.
    let name = unique_user("Other");
    other
        .request_ok("join", json!({ "room": "back", "name": name }))
        .await;
    let offset = loop {
        let text = raw.next_text().await;
        if let Some(args) = text.strip_prefix("42/chat,") {
            let args: Vec<Value> = serde_json::from_str(args).unwrap();
            if args[0] == "presence" {
                break args.last().unwrap().as_str().unwrap().to_owned();
            }
        }
    };
    let before = held_sessions(app).await;
    raw.close().await;
    // No event tells a held session: the gauge does, soon.
    for _ in 0..500 {
        if held_sessions(app).await > before {
            return (sid, pid, offset);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the session was not held");
}

#[tokio::test]
async fn a_recovering_chat_member_comes_back_only_as_its_user() {
    let app = spawn_configured(|config| {
        add_credentials(config);
        config.recovery_namespaces = vec!["/chat".into()];
    })
    .await;
    let ada = token_with("u-ada", json!({ "name": "Ada" }));
    let mut other = connect(&app, "/chat", None).await.unwrap();
    other
        .request_ok("join", json!({ "room": "back", "name": "Other" }))
        .await;

    // The same user recovers its socket (same sid, still in the room).
    let (sid, pid, offset) = join_then_drop(&app, &ada, &mut other).await;
    let auth = json!({ "token": ada, "pid": pid, "offset": offset });
    let back = SioClient::connect_with_auth(app.addr, "/chat", Some(auth))
        .await
        .unwrap();
    assert_eq!(back.id, sid, "recovered");
    let listed = other.request_ok("members", json!({ "room": "back" })).await;
    let ada_member = json!({ "id": sid, "name": "Ada", "user": "u-ada" });
    assert!(
        listed["members"].as_array().unwrap().contains(&ada_member),
        "{listed}"
    );
    back.close().await;

    // Another user's token, or none, with the pid is refused.
    let mut other = connect(&app, "/chat", None).await.unwrap();
    let (_, pid, offset) = join_then_drop(&app, &ada, &mut other).await;
    let eve = token_with("u-eve", json!({ "name": "Eve" }));
    let auth = json!({ "token": eve, "pid": pid, "offset": offset });
    let refused = SioClient::connect_with_auth(app.addr, "/chat", Some(auth)).await;
    assert_eq!(refused.err().as_deref(), Some("unauthorized"));
    let (_, pid, offset) = join_then_drop(&app, &ada, &mut other).await;
    let auth = json!({ "pid": pid, "offset": offset });
    let refused = SioClient::connect_with_auth(app.addr, "/chat", Some(auth)).await;
    assert_eq!(refused.err().as_deref(), Some("unauthorized"));
    app.stop().await.unwrap();
}
