//! What one Engine.IO session may hold on the server is bounded: a partial
//! binary packet completes in time or the connection closes, a client that
//! does not read is cut off past its outgoing byte budget, and a namespace
//! CONNECT right after a DISCONNECT is answered while the old socket is still
//! being torn down.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{RawSocket, WAIT, polling_session, spawn_app, test_config};

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
    other.send_text(r#"42["message","hi"]"#).await;
    assert_eq!(other.next_text().await, r#"42["message-back","hi"]"#);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_polling_client_that_never_polls_is_cut_off_at_its_byte_budget() {
    let mut config = test_config();
    config.max_buffered_bytes = 1 << 20;
    let app = spawn_app(config).await;
    let (sid, _) = polling_session(&app).await;
    let url = app.http_url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
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
    let metrics = reqwest::get(app.http_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"switchboard_disconnects_total{namespace="/",reason="slow_client"} 1"#),
        "{metrics}"
    );
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
    let server = crate::shutdown::ServerProcess::start(&[
        "--max-buffered-bytes",
        &BUDGET.to_string(),
        "--max-connections-per-ip",
        "100000",
        "--connect-rate-limit",
        "100000",
        "--echo-rate-limit",
        "100000",
    ]);
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
        assert_eq!(
            fresh.get(url).send().await.unwrap().status(),
            400,
            "session cut off"
        );
    }
    // Without the budget each session would hold its 128 buffered echoes
    // (12.8 MB): 256 MB. With it: its budget, plus request bodies in flight.
    assert!(
        grown < 100 << 20,
        "peak RSS grew {} MB for {SESSIONS} sessions of {} MB budget",
        grown >> 20,
        BUDGET >> 20
    );
}
