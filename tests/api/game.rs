//! `/game` over raw Socket.IO frames: join, seeing each other move, acks of
//! inputs, leave and disconnect, bad input while the loop keeps ticking, and
//! no game or loop left behind.

use serde_json::{Value, json};
use switchboard::game::sim::ARENA;

use crate::helpers::*;

async fn join(client: &mut SioClient, game: &str, name: &str) -> Value {
    client
        .request_ok("join", json!({ "game": game, "name": name }))
        .await
}

/// The next `state` for which `pred` holds (states arrive every tick).
async fn state_where(client: &mut SioClient, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let state = client.next_event("state").await;
        if pred(&state) {
            return state;
        }
    }
    panic!("no matching state within 200 ticks");
}

fn player<'a>(state: &'a Value, id: &str) -> Option<&'a Value> {
    state["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
}

async fn metric(app: &TestApp, name: &str) -> i64 {
    metric_sample(app.addr, &format!("{name} ")).await as i64
}

#[tokio::test]
async fn two_players_see_each_other_move_and_acks_follow_inputs() {
    let app = spawn_app(test_config()).await;
    let mut ann = SioClient::connect(app.addr, "/game").await;
    let mut bob = SioClient::connect(app.addr, "/game").await;

    let joined = join(&mut ann, "g1", "Ann").await;
    let ann_id = joined["you"].as_str().unwrap().to_owned();
    assert_eq!(joined["tick_rate"], 20);
    let state = &joined["state"];
    assert_eq!(state["game"], "g1");
    assert!(state["tick"].is_u64() && state["ts"].is_i64());
    assert_eq!(state["coins"].as_array().unwrap().len(), 8);
    let me = player(state, &ann_id).expect("the joiner is in the state");
    assert_eq!(
        (me["name"].clone(), me["score"].clone()),
        (json!("Ann"), json!(0))
    );

    let joined = join(&mut bob, "g1", "Bob").await;
    let bob_id = joined["you"].as_str().unwrap().to_owned();
    assert_ne!(ann_id, bob_id);
    let seen = ann.next_event("player_joined").await;
    assert_eq!(seen["id"], bob_id.as_str());
    assert_eq!(seen["name"], "Bob");

    // Ann moves towards the far side (a spawn near a wall leaves no room
    // the other way); Bob sees it, and the acks say seq 3 was applied.
    let start = state_where(&mut bob, |s| player(s, &ann_id).is_some()).await;
    let x0 = player(&start, &ann_id).unwrap()["x"].as_f64().unwrap();
    let dx = if x0 < ARENA.width / 2.0 { 1.0 } else { -1.0 };
    ann.emit("input", &[json!({"seq": 3, "dx": dx, "dy": 0})])
        .await;
    let moved = state_where(&mut bob, |s| {
        s["acks"][&ann_id] == 3
            && (player(s, &ann_id).unwrap()["x"].as_f64().unwrap() - x0) * dx >= 20.0
    })
    .await;
    let y = player(&moved, &ann_id).unwrap()["y"].clone();
    assert_eq!(
        y,
        player(&start, &ann_id).unwrap()["y"],
        "moved along x only"
    );
    // A stale input (lower seq) is ignored: the ack stays at 3.
    let ack = ann
        .request("input", json!({"seq": 2, "dx": -1, "dy": 0}))
        .await;
    assert_eq!(ack, json!({"ok": true, "applied": false}));
    let later = state_where(&mut ann, |s| s["tick"].as_u64() > moved["tick"].as_u64()).await;
    assert_eq!(later["acks"][&ann_id], 3);
    assert!(player(&later, &bob_id).is_some(), "Ann sees Bob too");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn leave_and_disconnect_remove_the_player() {
    let app = spawn_app(test_config()).await;
    let mut ann = SioClient::connect(app.addr, "/game").await;
    let mut bob = SioClient::connect(app.addr, "/game").await;
    let mut cy = SioClient::connect(app.addr, "/game").await;
    let ann_id = join(&mut ann, "g2", "Ann").await["you"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_id = join(&mut bob, "g2", "Bob").await["you"]
        .as_str()
        .unwrap()
        .to_owned();
    join(&mut cy, "g2", "Cy").await;

    assert_eq!(ann.request("leave", json!({})).await, json!({"ok": true}));
    for other in [&mut bob, &mut cy] {
        assert_eq!(other.next_event("player_left").await, json!({"id": ann_id}));
    }
    let state = state_where(&mut cy, |s| player(s, &ann_id).is_none()).await;
    assert!(player(&state, &bob_id).is_some());

    bob.close().await;
    assert_eq!(cy.next_event("player_left").await, json!({"id": bob_id}));
    let state = state_where(&mut cy, |s| player(s, &bob_id).is_none()).await;
    assert_eq!(state["players"].as_array().unwrap().len(), 1);
    // Input after leaving is forbidden.
    let ack = ann
        .request("input", json!({"seq": 1, "dx": 0, "dy": 1}))
        .await;
    assert_eq!(ack["error"]["code"], "forbidden");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_and_the_loop_keeps_ticking() {
    let app = spawn_app(test_config()).await;
    let mut ann = SioClient::connect(app.addr, "/game").await;
    let before_join = ann
        .request("input", json!({"seq": 1, "dx": 1, "dy": 0}))
        .await;
    assert_eq!(before_join["error"]["code"], "forbidden");
    for bad in [
        json!({"game": "has space", "name": "Ann"}),
        json!({"game": "g3", "name": ""}),
        json!({"game": "g3"}),
        // The fields in order, as an array: an object or nothing.
        json!(["g3", "Ann"]),
    ] {
        let ack = ann.request("join", bad.clone()).await;
        assert_eq!(ack["error"]["code"], "bad_request", "{bad}");
    }
    let ann_id = join(&mut ann, "g3", "Ann").await["you"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = ann.next_event("state").await;
    for bad in [
        json!({"seq": -1, "dx": 1, "dy": 0}),
        json!({"seq": 1, "dx": "right", "dy": 0}),
        json!({"seq": 1.5, "dx": 1, "dy": 0}),
        json!({"dx": 1, "dy": 0}),
        json!("up"),
        // Outside -1..1 is refused, not clamped.
        json!({"seq": 1, "dx": 1.5, "dy": 0}),
        json!({"seq": 1, "dx": 0, "dy": -2}),
        json!({"seq": 1, "dx": -1.0001, "dy": 1}),
        json!({"seq": 1, "dx": "x", "dy": 0}),
        json!({"seq": 1, "dx": null, "dy": 0}),
        // `seq` within JavaScript's exact integers.
        json!({"seq": 9_007_199_254_740_992_u64, "dx": 1, "dy": 0}),
        json!({"seq": u64::MAX, "dx": 1, "dy": 0}),
        json!([1, 1, 0]),
        json!([{"seq": 1, "dx": 1, "dy": 0}]),
    ] {
        let ack = ann.request("input", bad.clone()).await;
        assert_eq!(ack["error"]["code"], "bad_request", "{bad}");
    }
    // Without an ack callback the refusal is an `error` event.
    ann.emit("input", &[json!({"seq": "x"})]).await;
    assert_eq!(ann.next_event("error").await["code"], "bad_request");
    for (bad, field) in [
        (json!({"seq": 1, "dx": 1.5, "dy": 0}), "`dx`"),
        (json!({"seq": 1, "dx": 0, "dy": -2}), "`dy`"),
        (
            json!({"seq": 9_007_199_254_740_992_u64, "dx": 0, "dy": 0}),
            "`seq`",
        ),
    ] {
        ann.emit("input", std::slice::from_ref(&bad)).await;
        let error = ann.next_event("error").await;
        assert_eq!(error["code"], "bad_request", "{bad}");
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{bad}: {error}"
        );
    }
    // The loop kept ticking and nothing moved the player.
    let later = state_where(&mut ann, |s| {
        s["tick"].as_u64() >= first["tick"].as_u64().map(|t| t + 3)
    })
    .await;
    assert_eq!(
        player(&later, &ann_id).unwrap()["x"],
        player(&first, &ann_id).unwrap()["x"]
    );
    assert!(later["acks"].get(&ann_id).is_none(), "no input was applied");
    // The edges of the range are fine.
    let ack = ann
        .request("input", json!({"seq": 1, "dx": -1, "dy": 1.0}))
        .await;
    assert_eq!(ack["applied"], true);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn no_game_or_loop_outlives_its_players() {
    let app = spawn_app(test_config()).await;
    let mut clients = Vec::new();
    for i in 0..6 {
        let mut client = SioClient::connect(app.addr, "/game").await;
        join(&mut client, &format!("leak-{}", i % 3), "P").await;
        clients.push(client);
    }
    assert_eq!(metric(&app, "switchboard_games_active").await, 3);
    // Half leave, half disconnect.
    for (i, mut client) in clients.into_iter().enumerate() {
        if i % 2 == 0 {
            client.request("leave", json!({})).await;
        } else {
            client.close().await;
        }
    }
    // The loops end asynchronously after the last leave; nothing signals a
    // client, so poll the gauge (bounded).
    let mut active = -1;
    for _ in 0..100 {
        active = metric(&app, "switchboard_games_active").await;
        if active == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(active, 0, "every game loop stopped");
    // A game with the same name starts afresh.
    let mut again = SioClient::connect(app.addr, "/game").await;
    let joined = join(&mut again, "leak-0", "Q").await;
    assert_eq!(joined["state"]["players"].as_array().unwrap().len(), 1);
    app.stop().await.unwrap();
}
