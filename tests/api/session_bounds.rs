//! What one Engine.IO session may hold on the server is bounded: a partial
//! binary packet completes in time or the connection closes (and what the
//! stalled packets cost is measured on a real process), a client that does
//! not read is cut off past its outgoing byte budget or when a room
//! broadcast finds its packet buffer full, a session that keeps sending
//! CONNECTs it is refused is closed, and a namespace CONNECT right after a
//! DISCONNECT is answered while the old socket is still being torn down.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt, future::join_all};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    RawSocket, ServerProcess, SioClient, TestApp, WAIT, metrics_text, polling_session, spawn_app,
    spawn_configured, test_config,
};

#[tokio::test]
async fn a_binary_packet_whose_attachment_never_comes_closes_the_connection() {
    let mut config = test_config();
    config.attachment_timeout = Duration::from_millis(500);
    let app = spawn_app(config).await;
    let mut attacker = RawSocket::connect_ns(&app, "/", None).await;
    // Declares one attachment and never sends it.
    attacker
        .send_text(r#"451-["message",{"_placeholder":true,"num":0}]"#)
        .await;
    let closed = tokio::time::timeout(WAIT * 2, attacker.until_closed())
        .await
        .expect("the server closes the connection once the attachment is late");
    assert!(
        closed
            .iter()
            .all(|m| !m.to_string().contains("message-back")),
        "{closed:?}"
    );

    // Others are unaffected.
    let mut other = RawSocket::connect_ns(&app, "/", None).await;
    other
        .expect_reply(r#"42["message","hi"]"#, r#"42["message-back","hi"]"#)
        .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_polling_client_that_never_polls_is_cut_off_at_its_byte_budget() {
    let app = spawn_configured(|config| config.max_buffered_bytes = 1 << 20).await;
    let (sid, _) = polling_session(&app).await;
    let url = app.polling_url(&sid);
    let http = reqwest::Client::new();
    let post = |body: String| http.post(&url).body(body).send();
    assert_eq!(post("40".into()).await.unwrap().status(), 200);

    // Each event is echoed back (100 KB each) into a buffer nobody drains:
    // 30 of them are 3 MB, three times the budget.
    let blob = "x".repeat(100_000);
    let event = json!(["message", blob]).to_string();
    let mut refused = false;
    for _ in 0..10 {
        let body = [event.as_str(), event.as_str(), event.as_str()]
            .map(|e| format!("42{e}"))
            .join("\u{1e}");
        // The session is already gone (400), or the server closed the
        // connection while this POST was still being read.
        if !post(body).await.is_ok_and(|r| r.status() == 200) {
            refused = true;
            break;
        }
    }
    // The session is gone: its client sees a 400 on its next request.
    let poll = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    assert!(refused || poll.status() == 400, "status {}", poll.status());
    let metrics = metrics_text(app.addr).await;
    assert!(
        metrics.contains(r#"switchboard_disconnects_total{namespace="/",reason="slow_client"} 1"#),
        "{metrics}"
    );
    app.stop().await.unwrap();
}

/// The value of series `series` (`name{labels}`) in `/metrics` once it is at
/// least `at_least`, or what it is after [`WAIT`]: disconnect handlers run in
/// tasks of their own, after the transport closed.
async fn metric_reaches(app: &TestApp, series: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = metrics_text(app.addr).await;
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0);
        if value >= at_least || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A room broadcast to a member whose outgoing buffer is full by packet
/// count (small messages, far below the byte budget) closes that member's
/// session instead of skipping it: the client reconnects and catches up from
/// history rather than silently miss messages. The others get every message,
/// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_to_a_member_whose_buffer_is_full_closes_its_session() {
    const BUFFER: u32 = 64;
    const MESSAGES: usize = 100;
    const ROOM: &str = "busy";
    let mut config = test_config();
    config.max_buffered_packets = BUFFER;
    (config.rate_limit, config.rate_burst) = (100_000, 100_000);
    let app = spawn_app(config).await;

    // The slow member: a polling session that joins, then never polls.
    let (sid, _) = polling_session(&app).await;
    let url = app.polling_url(&sid);
    let http = reqwest::Client::new();
    let post = |body: String| http.post(&url).body(body).send();
    assert_eq!(post("40/chat,".into()).await.unwrap().status(), 200);
    let connected = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(connected.contains("40/chat,{"), "{connected}");
    let join = json!(["join", { "room": ROOM, "name": "Slow" }]);
    assert_eq!(
        post(format!("42/chat,0{join}")).await.unwrap().status(),
        200
    );

    // A member that reads, joined once the slow one is in the room.
    let mut reader = SioClient::connect(app.addr, "/chat").await;
    let joined = reader
        .request("join", json!({ "room": ROOM, "name": "Reader" }))
        .await;
    assert_eq!(joined["ok"], true, "{joined}");
    let lists_slow = |members: &Value| {
        members
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["name"] == "Slow"))
    };
    if !lists_slow(&joined["members"]) {
        while reader.next_event("presence").await["member"]["name"] != "Slow" {}
    }
    let mut sender = SioClient::connect(app.addr, "/chat").await;
    let joined = sender
        .request("join", json!({ "room": ROOM, "name": "Sender" }))
        .await;
    assert_eq!(joined["ok"], true, "{joined}");

    let reading = tokio::spawn(async move {
        let mut texts = Vec::new();
        while texts.len() < MESSAGES {
            let message = reader.next_event("message").await;
            texts.push(message["text"].as_str().unwrap_or_default().to_owned());
        }
        texts
    });
    // One at a time: each is stored and broadcast before its ack.
    let texts: Vec<String> = (0..MESSAGES).map(|i| format!("m{i:03}")).collect();
    for text in &texts {
        let sent = sender
            .request("message", json!({ "room": ROOM, "text": text }))
            .await;
        assert_eq!(sent["ok"], true, "{text}: {sent}");
    }
    assert_eq!(
        reading.await.unwrap(),
        texts,
        "the reader got every message in order"
    );

    // The slow member's session is gone: its client sees a 400 on its next
    // request (a fresh connection: the server may have closed pooled ones).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let poll = fresh.get(&url).send().await.unwrap();
    assert_eq!(poll.status(), 400, "the slow session is closed");
    let series = r#"switchboard_disconnects_total{namespace="/chat",reason="slow_client"}"#;
    assert_eq!(metric_reaches(&app, series, 1).await, 1, "{series}");
    app.stop().await.unwrap();
}

/// A session that does nothing but send namespace CONNECTs past the connect
/// rate is closed once its refused connects exceed that rate and burst
/// again, instead of being refused for as long as it likes on a connection
/// that stays open. The address's other sessions, and other addresses, are
/// not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_spams_refused_connects_is_closed() {
    const FLOOD: usize = 200;
    let mut config = test_config();
    config.connect_rate_limit = 1; // bursts of 2, for the address and for the session's refusals
    let app = spawn_app(config).await;
    let mut spammer = RawSocket::connect(&app).await;
    // Another session of the address takes its burst, so the spammer is
    // refused from its first CONNECT (once one got through, the rest would
    // be duplicates, which socketioxide ignores unanswered).
    let mut neighbour = RawSocket::connect(&app).await;
    for ns in ["/chat", "/echo"] {
        neighbour.send_text(&format!("40{ns},")).await;
        let connected = neighbour.next_text().await;
        assert!(connected.starts_with(&format!("40{ns},{{")), "{connected}");
    }

    // The flood, as fast as the connection takes it, answers unread.
    let started = Instant::now();
    let mut sent = 0;
    while sent < FLOOD && spammer.try_send_text("40/chat,").await {
        sent += 1;
    }
    let frames = spammer.until_closed().await;
    let closed_after = started.elapsed();
    let texts: Vec<&str> = frames.iter().filter_map(|f| f.to_text().ok()).collect();
    let refused = texts.iter().filter(|t| t.starts_with("44/chat,")).count();
    eprintln!(
        "connect flood: {sent} CONNECTs sent, {refused} refusals read, closed after {closed_after:?}"
    );
    // (The refusals read are fewer than the server sent when it reset the
    // connection with CONNECTs still unread.)
    assert!(
        texts.iter().all(|t| !t.starts_with("40/chat,")),
        "no connect got through: {texts:?}"
    );
    let series = r#"switchboard_limit_hits_total{limit="connect_flood"}"#;
    assert_eq!(metric_reaches(&app, series, 1).await, 1, "{series}");
    // Each refusal counts: the session's burst of 2, then the one that closed it.
    let series = r#"switchboard_limit_hits_total{limit="connect_rate"}"#;
    assert!(metric_reaches(&app, series, 3).await >= 3, "{series}");

    // Its address's other session still works...
    neighbour.send_text(r#"42/echo,["message","hi"]"#).await;
    while neighbour.next_text().await != r#"42/echo,["message-back","hi"]"# {}
    // ...and a client of another address connects and chats.
    let mut calm = SioClient::connect_from(app.addr, "127.0.0.2".parse().unwrap(), "/chat").await;
    let joined = calm
        .request("join", json!({ "room": "r", "name": "Calm" }))
        .await;
    assert_eq!(joined["ok"], true, "{joined}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_connect_right_after_a_disconnect_is_answered() {
    let app = spawn_app(test_config()).await;
    let mut client = RawSocket::connect(&app).await;
    for round in 0..20 {
        client.send_text("40/chat,").await;
        let connected = client.next_text().await;
        assert!(
            connected.starts_with("40/chat,{"),
            "round {round}: {connected}"
        );
        // A member, so the disconnect handler has work to do (presence).
        client
            .send_text(&format!(
                r#"42/chat,0["join",{{"room":"cycle","name":"Ada{round}"}}]"#
            ))
            .await;
        let joined = client.next_text().await;
        assert!(joined.starts_with("43/chat,0"), "round {round}: {joined}");
        client.send_text("41/chat,").await;
    }
    client.send_text("40/chat,").await;
    assert!(client.next_text().await.starts_with("40/chat,{"));
    app.stop().await.unwrap();
}

/// Flags for a server process that every test client reaches from one
/// address: no per-address connection or connect-rate limit in the way.
const ONE_ADDRESS_UNLIMITED: [&str; 4] = [
    "--max-connections-per-ip",
    "100000",
    "--connect-rate-limit",
    "100000",
];

/// A `VmHWM`/`VmRSS`-style field of `/proc/PID/status`, in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The red-team attack on outgoing queues, on a real server process: sessions
/// that make the server echo large events and never poll for them. The peak
/// memory of the process grows by about the sessions' byte budgets, not by
/// what they asked the server to send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_that_never_poll_cost_the_server_their_budget_not_their_echoes() {
    const SESSIONS: usize = 20;
    const POSTS: usize = 15; // 9 events of 100 KB each: 13.5 MB echoed per session
    const BUDGET: u64 = 1 << 20;
    let budget = BUDGET.to_string();
    let server = ServerProcess::start(
        &[
            &["--max-buffered-bytes", &budget][..],
            &ONE_ADDRESS_UNLIMITED,
            &["--echo-rate-limit", "100000"],
        ]
        .concat(),
    );
    let base = format!("http://{}/socket.io/?EIO=4&transport=polling", server.addr);
    let http = reqwest::Client::new();
    let event = format!("42{}", json!(["message", "x".repeat(100_000)]));
    let body = [event.as_str(); 9].join("\u{1e}");

    let mut sids = Vec::new();
    for _ in 0..SESSIONS {
        let open = http.get(&base).send().await.unwrap().text().await.unwrap();
        let handshake: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
        let sid = handshake["sid"].as_str().unwrap().to_owned();
        let url = format!("{base}&sid={sid}");
        assert_eq!(
            http.post(&url).body("40").send().await.unwrap().status(),
            200
        );
        sids.push(url);
    }
    let before = proc_status_bytes(server.pid(), "VmHWM");

    let mut tasks = Vec::new();
    for url in sids.clone() {
        let (http, body) = (http.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0;
            for _ in 0..POSTS {
                // Cut off: the session is gone (400), or the server closed the
                // connection while this POST was still being read.
                match http.post(&url).body(body.clone()).send().await {
                    Ok(response) if response.status() == 200 => {}
                    _ => break,
                }
                accepted += 1;
            }
            accepted
        }));
    }
    let mut cut_off = 0;
    for task in tasks {
        if task.await.unwrap() < POSTS {
            cut_off += 1;
        }
    }
    let grown = proc_status_bytes(server.pid(), "VmHWM").saturating_sub(before);
    let asked = (SESSIONS * POSTS * 9 * 100_000) as u64;
    println!(
        "{SESSIONS} sessions asked for {} MB of echoes; peak RSS grew {} MB (budget {} MB each)",
        asked >> 20,
        grown >> 20,
        BUDGET >> 20
    );
    assert_eq!(
        cut_off, SESSIONS,
        "every session was cut off before its last POST"
    );
    // On fresh connections: the server closed some of the pooled ones.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for url in &sids {
        // The close that cut a session off may still be under way: a poll
        // then gets its last packets (the close among them), the next 400.
        let closed = async {
            loop {
                let res = fresh.get(url).send().await.unwrap();
                if res.status() == 400 {
                    break;
                }
                assert_eq!(res.status(), 200, "a poll of a closing session");
            }
        };
        tokio::time::timeout(WAIT, closed)
            .await
            .expect("session cut off: its polls get 400");
    }
    // Without the budget each session would hold every echo it asked for
    // (135 of 100 KB fit its buffer of 1024 packets): 270 MB. With it: its
    // budget, plus request bodies in flight.
    assert!(
        grown < 100 << 20,
        "peak RSS grew {} MB for {SESSIONS} sessions of {} MB budget",
        grown >> 20,
        BUDGET >> 20
    );
}

/// A WebSocket of the partial-attachment attack, on the root (echo)
/// namespace.
type AttackSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame of `ws` (WebSocket pings and pongs skipped).
async fn next_text(ws: &mut AttackSocket) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return text.to_string(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// One attacker: connects to `/`, declares a binary packet of three
/// attachments, sends two that add up to just under `cap` bytes, and
/// stalls. Returns once the server has read them: a WebSocket ping sent after
/// them is answered when the server reads its next frame, which it does
/// only after handing the ones before to the parser.
async fn stall_partial_packet(addr: std::net::SocketAddr, cap: usize) -> AttackSocket {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket opens");
    assert!(next_text(&mut ws).await.starts_with('0'), "the handshake");
    ws.send(Message::Text("40".into())).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("40{"), "connected");
    assert!(next_text(&mut ws).await.starts_with(r#"42["auth""#), "auth");
    let placeholders: Vec<String> = (0..3)
        .map(|num| json!({ "_placeholder": true, "num": num }).to_string())
        .collect();
    let header = format!(r#"453-["message",{}]"#, placeholders.join(","));
    ws.send(Message::Text(header.into())).await.unwrap();
    for _ in 0..2 {
        let attachment = vec![0x5a_u8; cap / 2 - 1000];
        ws.send(Message::Binary(attachment.into())).await.unwrap();
    }
    ws.send(Message::Ping(b"read?".to_vec().into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(WAIT * 2, ws.next()).await {
            Ok(Some(Ok(Message::Pong(_)))) => return ws,
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == "2" => {}
            other => panic!("expected the pong, got {other:?}"),
        }
    }
}

/// Waits until the server closes `ws`.
async fn until_server_closes(mut ws: AttackSocket, within: Duration) {
    tokio::time::timeout(within, async {
        while let Some(Ok(frame)) = ws.next().await {
            if let Message::Close(_) = frame {
                return;
            }
        }
    })
    .await
    .expect("the server closes a stalled packet's connection at the attachment timeout");
}

/// The partial-attachment attack on a real server process: sessions that
/// send attachments up to just under the per-packet cap and stall. While
/// they stall the server holds about the cap per session (the attachments
/// are copied out of the WebSocket buffers), not more; at
/// `--attachment-timeout` they are closed, and the memory is not held on to.
/// A well-behaved client echoes all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_partial_packets_cost_the_server_their_cap_until_the_timeout() {
    const ATTACKERS: usize = 20;
    const CAP: usize = 1_000_000; // the default --max-attachment-bytes
    const TIMEOUT: Duration = Duration::from_secs(10); // the default --attachment-timeout
    const MIB: u64 = 1 << 20;
    let cap = CAP.to_string();
    let server = ServerProcess::start(
        &[
            &[
                "--max-attachment-bytes",
                &cap,
                "--attachment-timeout",
                "10s",
            ][..],
            &ONE_ADDRESS_UNLIMITED,
        ]
        .concat(),
    );
    let rss = || proc_status_bytes(server.pid(), "VmRSS");
    let mut calm = RawSocket::connect_ns_at(server.addr, "/", None).await;
    let echoes = async |calm: &mut RawSocket| {
        calm.expect_reply(r#"42["message","hi"]"#, r#"42["message-back","hi"]"#)
            .await;
    };
    echoes(&mut calm).await;
    let before = rss();

    let started = Instant::now();
    let attackers = join_all((0..ATTACKERS).map(|_| stall_partial_packet(server.addr, CAP))).await;
    let stalled = rss();
    let set_up_in = started.elapsed();
    // Every packet is still pending: none is older than the timeout.
    assert!(
        set_up_in < TIMEOUT,
        "the attack took {set_up_in:?} to set up, longer than the attachment timeout"
    );
    echoes(&mut calm).await;

    join_all(
        attackers
            .into_iter()
            .map(|ws| until_server_closes(ws, TIMEOUT + WAIT)),
    )
    .await;
    let closed_after = started.elapsed();
    echoes(&mut calm).await;
    let after = rss();

    let grown = stalled.saturating_sub(before);
    let mb = |bytes: u64| bytes as f64 / MIB as f64;
    eprintln!(
        "{ATTACKERS} stalled packets of {:.2} MiB each ({:.2} MiB cap): RSS {:.1} MiB before, \
         {:.1} MiB while stalled (+{:.1} MiB, {:.2} MiB per session; set up in {set_up_in:?}), \
         {:.1} MiB after they were closed ({closed_after:?} after the start)",
        mb(2 * (CAP as u64 / 2 - 1000)),
        mb(CAP as u64),
        mb(before),
        mb(stalled),
        mb(grown),
        mb(grown) / ATTACKERS as f64,
        mb(after),
    );
    // About the cap per session, with room for each connection's buffers
    // and tasks; without the cap a session could hold --max-attachments
    // WebSocket messages of --max-payload bytes (10 MB by default).
    let bound = (ATTACKERS * CAP) as u64 * 3 / 2 + 16 * MIB;
    assert!(
        grown <= bound,
        "RSS grew {:.1} MiB for {ATTACKERS} stalled packets (bound {:.1} MiB)",
        mb(grown),
        mb(bound)
    );
    // Released, or at least not growing, once they are closed.
    assert!(
        after <= stalled + 4 * MIB,
        "RSS {:.1} MiB after the close, {:.1} MiB while stalled",
        mb(after),
        mb(stalled)
    );
}
