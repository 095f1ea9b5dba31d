//! Rate limits that reconnecting cannot renew: DISCONNECT/CONNECT cycling on
//! one connection, many connections from one address, echo floods and rapid
//! namespace connects, each with a well-behaved client beside the attacker.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::helpers::*;

/// What an attacking client saw.
#[derive(Debug, Default)]
struct Tally {
    /// Messages acked `ok` (stored).
    ok: usize,
    /// Events answered `rate_limited`.
    rate_limited: usize,
    /// Events answered with another error (`forbidden` after a refused join).
    other: usize,
    /// Namespace connects accepted, and refused with `connect_error`.
    connects: usize,
    connect_refused: usize,
    /// Times the server disconnected the namespace socket (flooding).
    kicked: usize,
    /// For each namespace socket kicked while its acks were awaited: how many
    /// of its own messages it heard refused before its kick.
    refused_before_kick: Vec<usize>,
    /// The server closed the whole connection.
    closed: bool,
}

/// The next text frame within [`WAIT`] (pings answered); `None` once the
/// connection is closed.
async fn next_packet(ws: &mut RawSocket) -> Option<String> {
    tokio::time::timeout(WAIT, ws.next_text_or_close())
        .await
        .expect("a packet within the wait")
}

/// `43/chat,ID[{...}]` as (ID, the ack's payload).
fn chat_ack(packet: &str) -> Option<(u64, Value)> {
    let rest = packet.strip_prefix("43/chat,")?;
    let split = rest.find('[')?;
    let id = rest[..split].parse().ok()?;
    let mut args: Vec<Value> = serde_json::from_str(&rest[split..]).ok()?;
    Some((id, args.remove(0)))
}

/// A `/chat` packet the attacker got, as far as it matters.
enum Seen {
    Connected,
    Refused(String),
    Kicked,
    Other,
}

/// Files `packet` in `tally` (an ack of a message, not of a join, counts).
fn file(tally: &mut Tally, joins: &HashSet<u64>, packet: &str) -> Seen {
    if std::env::var_os("DBG").is_some() {
        eprintln!("DBG {packet}");
    }
    if packet.starts_with("40/chat,") {
        return Seen::Connected;
    }
    if let Some(error) = packet.strip_prefix("44/chat,") {
        let error: Value = serde_json::from_str(error).unwrap();
        return Seen::Refused(error["message"].as_str().unwrap().to_owned());
    }
    if packet == "41/chat," {
        tally.kicked += 1;
        return Seen::Kicked;
    }
    if let Some((id, ack)) = chat_ack(packet).filter(|(id, _)| !joins.contains(id)) {
        match ack["error"]["code"].as_str() {
            None => tally.ok += 1,
            Some("rate_limited") => tally.rate_limited += 1,
            Some(code) => {
                assert_eq!(code, "forbidden", "ack {id}: {ack}");
                tally.other += 1;
            }
        }
    }
    Seen::Other
}

/// The red-team attack on one WebSocket, again and again for `duration`:
/// CONNECT `/chat` (waiting for the answer), join `room`, send `per_cycle`
/// messages asking for acks, then DISCONNECT: at once (the attack), or once
/// every ack is in (`wait_for_acks`, to see each answer).
async fn cycle_chat(
    mut ws: RawSocket,
    room: &str,
    per_cycle: usize,
    duration: Duration,
    wait_for_acks: bool,
) -> Tally {
    let mut tally = Tally::default();
    let mut joins = HashSet::new();
    let started = Instant::now();
    let mut next_id = 0u64;
    'cycles: while started.elapsed() < duration {
        if !ws.try_send_text("40/chat,").await {
            break;
        }
        loop {
            let Some(packet) = next_packet(&mut ws).await else {
                break 'cycles;
            };
            match file(&mut tally, &joins, &packet) {
                Seen::Connected => break,
                Seen::Refused(message) => {
                    assert_eq!(message, "rate_limited");
                    tally.connect_refused += 1;
                    continue 'cycles;
                }
                Seen::Kicked | Seen::Other => {}
            }
        }
        tally.connects += 1;
        let first = next_id;
        joins.insert(first);
        let join = json!(["join", { "room": room, "name": "Mallory" }]);
        let mut packets = vec![format!("42/chat,{first}{join}")];
        for n in 1..=per_cycle as u64 {
            let text = format!("flood {n}");
            let message = json!(["message", { "room": room, "text": text }]);
            packets.push(format!("42/chat,{}{message}", first + n));
        }
        next_id = first + per_cycle as u64 + 1;
        for packet in packets {
            if !ws.try_send_text(&packet).await {
                break 'cycles;
            }
        }
        let mut kicked = false;
        if wait_for_acks {
            // Refusals of this socket's own messages (ids after its join's):
            // late answers to an earlier socket's events do not count.
            let own = first + 1..=first + per_cycle as u64;
            let mut refused_here = 0;
            let mut waiting = per_cycle + 1;
            while waiting > 0 {
                let Some(packet) = next_packet(&mut ws).await else {
                    break 'cycles;
                };
                let ack = chat_ack(&packet);
                if let Seen::Kicked = file(&mut tally, &joins, &packet) {
                    kicked = true;
                    break;
                }
                if let Some((id, ack)) = ack {
                    waiting -= 1;
                    if own.contains(&id) && ack["error"]["code"] == "rate_limited" {
                        refused_here += 1;
                    }
                }
            }
            // A socket disconnected for flooding hears so right after its
            // last answer.
            if !kicked
                && let Ok(Some(packet)) =
                    tokio::time::timeout(Duration::from_millis(100), ws.next_text_or_close()).await
            {
                kicked = matches!(file(&mut tally, &joins, &packet), Seen::Kicked);
            }
            if kicked {
                tally.refused_before_kick.push(refused_here);
            }
        }
        if !kicked && !ws.try_send_text("41/chat,").await {
            break;
        }
    }
    tally.closed = started.elapsed() < duration;
    tally
}

/// Sends one message every 50 ms for `duration`; every one must be stored.
async fn well_behaved(mut client: SioClient, room: &str, duration: Duration) -> usize {
    let ack = client
        .request("join", json!({ "room": room, "name": "Ann" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < duration {
        let ack = client
            .request(
                "message",
                json!({ "room": room, "text": format!("calm {sent}") }),
            )
            .await;
        assert_eq!(ack["ok"], true, "the well-behaved client is refused: {ack}");
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sent
}

/// How many messages `room` holds, paging its history backwards (by a reader
/// from an address of its own), once the count holds still: the events of a
/// disconnected socket are still handled after it is gone.
async fn stored(app: &TestApp, room: &str) -> usize {
    let mut reader = SioClient::connect_from(app.addr, elsewhere(99), "/chat").await;
    let ack = reader
        .request("join", json!({ "room": room, "name": "Reader" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let mut last = None;
    loop {
        let (mut count, mut before) = (0, None::<String>);
        loop {
            let mut request = json!({ "room": room, "limit": 100 });
            if let Some(before) = &before {
                request["before"] = json!(before);
            }
            let page = reader.request("history", request).await;
            let messages = page["messages"].as_array().expect("a history page");
            count += messages.len();
            if messages.len() < 100 {
                break;
            }
            before = Some(messages[0]["id"].as_str().unwrap().to_owned());
        }
        if last == Some(count) {
            return count;
        }
        last = Some(count);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A client address of its own (any 127.x.y.z reaches the server).
fn elsewhere(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// The value of `switchboard_limit_hits_total{limit}`.
async fn limit_hits(app: &TestApp, limit: &str) -> u64 {
    let metrics = metrics_text(app.addr).await;
    let series = limit_hits_series(limit);
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.parse().ok())
        .unwrap_or_else(|| panic!("no {series}in\n{metrics}"))
}

/// The red-team finding: DISCONNECT then CONNECT on one WebSocket, again and
/// again, each new socket sending a burst. Each used to get a fresh bucket
/// (about 130 messages stored per second here, against 20/s).
#[tokio::test]
async fn disconnect_connect_cycling_does_not_renew_the_rate() {
    let config = test_config();
    let (rate, burst) = (f64::from(config.rate_limit), f64::from(config.rate_burst));
    let app = spawn_app(config).await;
    let duration = Duration::from_secs(2);
    // Beside the attacker, on the same address.
    let calm = SioClient::connect_from(app.addr, LOCALHOST, "/chat").await;
    let attacker = RawSocket::connect_from(app.addr, LOCALHOST).await;
    let started = Instant::now();
    let (tally, calm_sent) = tokio::join!(
        cycle_chat(attacker, "attack", 50, duration, true),
        well_behaved(calm, "calm", duration),
    );
    let elapsed = started.elapsed().as_secs_f64();
    let stored = stored(&app, "attack").await;
    eprintln!(
        "cycling attack: {tally:?}; {stored} stored in {elapsed:.2} s = {:.0}/s against a limit of {rate}/s",
        stored as f64 / elapsed
    );
    assert!(tally.connects >= 2, "the attacker did cycle: {tally:?}");
    assert_eq!(stored, tally.ok, "every ok ack is a stored message");
    // Joins take tokens too.
    let bound = (burst + rate * elapsed).ceil() as usize;
    assert!(
        stored <= bound,
        "{stored} stored, at most {bound} allowed: {tally:?}"
    );
    assert!(tally.rate_limited > 0, "the excess is refused: {tally:?}");
    assert!(limit_hits(&app, "rate").await >= tally.rate_limited as u64);
    assert_eq!(stored_in(&app, "calm").await, calm_sent, "the calm client");
    app.stop().await.unwrap();
}

/// A socket disconnected for flooding that connects again on its session
/// gets its (empty) buckets back.
#[tokio::test]
async fn a_socket_kicked_for_flooding_gets_no_fresh_bucket_by_reconnecting() {
    let mut config = test_config();
    (config.rate_limit, config.rate_burst) = (5, 10);
    let app = spawn_app(config).await;
    let duration = Duration::from_secs(2);
    let attacker = RawSocket::connect_from(app.addr, LOCALHOST).await;
    let started = Instant::now();
    let tally = cycle_chat(attacker, "attack", 20, duration, true).await;
    let elapsed = started.elapsed().as_secs_f64();
    let stored = stored(&app, "attack").await;
    eprintln!("cycling past flooding: {tally:?}; {stored} stored in {elapsed:.2} s");
    assert_eq!(stored, tally.ok, "every ok ack is a stored message");
    assert!(
        stored <= (10.0 + 5.0 * elapsed).ceil() as usize,
        "{stored}: {tally:?}"
    );
    assert!(tally.rate_limited >= 10, "{tally:?}");
    // Disconnected for flooding, connected again, and disconnected again at
    // its first refused event: its refusal bucket was still empty. (The
    // events a socket had already sent are still answered, refused, after
    // its kick, and how many of them the server had read by then depends on
    // the machine's load, so only what came before each kick is bounded.)
    assert!(tally.kicked >= 2, "{tally:?}");
    assert!(tally.refused_before_kick.len() >= 2, "{tally:?}");
    assert!(
        tally.refused_before_kick[1..].iter().all(|&n| n <= 1),
        "a socket after the first is kicked at its first refusal: {tally:?}"
    );
    app.stop().await.unwrap();
}

/// `stored`, for a room of the well-behaved client.
async fn stored_in(app: &TestApp, room: &str) -> usize {
    stored(app, room).await
}

#[tokio::test]
async fn connections_from_one_address_share_its_budget() {
    let mut config = test_config();
    (config.rate_limit, config.rate_burst) = (5, 10);
    config.address_rate_multiplier = 2; // 10/s, bursts of 20 per address
    let app = spawn_app(config).await;
    let duration = Duration::from_secs(2);
    // Well-behaved, at one message per 50 ms: faster than the rate of 5/s,
    // so from an address of its own it is refused too; see below for one
    // beside the attackers.
    let mut calm = SioClient::connect_from(app.addr, elsewhere(2), "/chat").await;
    let ack = calm
        .request("join", json!({ "room": "calm", "name": "Ann" }))
        .await;
    assert_eq!(ack["ok"], true);
    let mut attackers = Vec::new();
    for _ in 0..8 {
        let ws = RawSocket::connect_from(app.addr, LOCALHOST).await;
        attackers.push(tokio::spawn(cycle_chat(ws, "crowd", 10, duration, true)));
    }
    let started = Instant::now();
    let mut calm_sent = 0;
    while started.elapsed() < duration {
        let ack = calm
            .request("message", json!({ "room": "calm", "text": "hi" }))
            .await;
        assert_eq!(ack["ok"], true, "the other address is unaffected: {ack}");
        calm_sent += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut total = Tally::default();
    for attacker in attackers {
        let tally = attacker.await.unwrap();
        total.ok += tally.ok;
        total.rate_limited += tally.rate_limited;
        total.connects += tally.connects;
        total.kicked += tally.kicked;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stored = stored(&app, "crowd").await;
    eprintln!(
        "8 connections from one address: {total:?}; {stored} stored in {elapsed:.2} s, against 10/s (bursts of 20) per address"
    );
    assert_eq!(stored, total.ok);
    // Eight sockets of their own could store 8 × (10 + 5/s).
    let bound = (20.0 + 10.0 * elapsed).ceil() as usize;
    assert!(
        stored <= bound,
        "{stored} stored, at most {bound}: {total:?}"
    );
    assert!(total.rate_limited > 0, "{total:?}");
    assert!(limit_hits(&app, "address_rate").await > 0);
    assert_eq!(stored_in(&app, "calm").await, calm_sent, "the calm client");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_echo_flood_is_cut_while_a_calm_echo_client_keeps_working() {
    let mut config = test_config();
    config.echo_rate_limit = 100; // bursts of 200
    let echo_burst = (config.echo_rate_limit * 2) as usize;
    let app = spawn_app(config).await;
    let mut calm = SioClient::connect_from(app.addr, LOCALHOST, "/echo").await;
    let mut flood = RawSocket::connect_ns_at(app.addr, "/echo", None).await;
    const FLOOD: usize = 3000;
    let calm_task = tokio::spawn(async move {
        let started = Instant::now();
        let mut answered = 0;
        while started.elapsed() < Duration::from_secs(1) {
            let id = calm
                .send_with_ack("message-with-ack", &[json!(answered)])
                .await;
            assert_eq!(calm.ack(id).await, vec![json!(answered)]);
            answered += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        answered
    });
    // In slices, so the flood stays under the event queue's bound (which
    // disconnects too).
    'flood: for slice in 0..FLOOD / 50 {
        for n in slice * 50..(slice + 1) * 50 {
            let packet = format!("42/echo,[\"message\",{n}]");
            if !flood.try_send_text(&packet).await {
                break 'flood;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut echoed, mut kicked) = (0, false);
    while let Some(packet) = next_packet(&mut flood).await {
        if packet.starts_with("42/echo,[\"message-back\"") {
            echoed += 1;
        } else if packet == "41/echo," {
            kicked = true;
            break;
        }
    }
    eprintln!("echo flood of {FLOOD}: {echoed} echoed, disconnected: {kicked}");
    assert!(kicked, "a flooding echo socket is disconnected");
    assert!(
        (echo_burst..FLOOD / 2).contains(&echoed),
        "the burst is echoed, then the flood is dropped: {echoed}"
    );
    let answered = calm_task.await.unwrap();
    assert!(answered >= 20, "the calm client kept working: {answered}");
    // Disconnected by the rate limit (its refusals), not the event queue.
    let refused = limit_hits(&app, "echo_rate").await as usize;
    assert!(refused >= echo_burst, "{refused} refused");
    app.stop().await.unwrap();
}

/// Sends `40/echo,` on `ws` until it is refused; returns how many connects
/// went through (each disconnected again with `41/echo,`).
async fn connect_until_refused(ws: &mut RawSocket) -> usize {
    for accepted in 0.. {
        if connect_echo(ws).await.is_err() {
            return accepted;
        }
        ws.send_text("41/echo,").await;
    }
    unreachable!()
}

/// One `/echo` connect on `ws`: `Err` when refused (always `rate_limited`).
async fn connect_echo(ws: &mut RawSocket) -> Result<(), ()> {
    ws.send_text("40/echo,").await;
    let packet = next_packet(ws).await.expect("the connection stays open");
    if packet.starts_with("44/echo,") {
        assert_eq!(packet, r#"44/echo,{"message":"rate_limited"}"#);
        return Err(());
    }
    assert!(packet.starts_with("40/echo,"), "{packet}");
    let auth = next_packet(ws).await.unwrap();
    assert!(auth.starts_with("42/echo,[\"auth\""), "{auth}");
    Ok(())
}

#[tokio::test]
async fn rapid_namespace_connects_get_connect_error_rate_limited() {
    let mut config = test_config();
    config.connect_rate_limit = 2; // bursts of 4
    let app = spawn_app(config).await;
    let mut attacker = RawSocket::connect_from(app.addr, LOCALHOST).await;
    let started = Instant::now();
    let accepted = connect_until_refused(&mut attacker).await;
    let allowed = |since: Instant| 4 + (2.0 * since.elapsed().as_secs_f64()).ceil() as usize;
    assert!(
        (4..=allowed(started)).contains(&accepted),
        "{accepted} connects"
    );

    // The address's other connections share its budget; a client of another
    // address is not affected.
    let mut others = 0;
    for _ in 0..10 {
        let raw = RawSocket::connect_from(app.addr, LOCALHOST).await;
        others += usize::from(SioClient::connect_over(raw, "/chat", None).await.is_ok());
    }
    assert!(
        accepted + others <= allowed(started),
        "{accepted} + {others} connects"
    );
    SioClient::connect_from(app.addr, elsewhere(2), "/chat").await;

    // A session that keeps connecting past the refusals (its own burst of 4
    // refused connects, and 2 a second) is closed (`session_bounds` tests it
    // further).
    let mut refused = 0;
    while attacker.try_send_text("40/echo,").await {
        match next_packet(&mut attacker).await {
            Some(packet) if packet.starts_with("44/echo,") => refused += 1,
            Some(packet) if packet.starts_with("40/echo,") => {
                // The address's bucket refilled meanwhile.
                next_packet(&mut attacker).await;
                attacker.send_text("41/echo,").await;
            }
            // The Engine.IO close, then the end of the connection.
            Some(packet) if packet == "1" => break,
            Some(packet) => panic!("unexpected {packet}"),
            None => break,
        }
        assert!(refused <= 30, "still open after {refused} refused connects");
    }
    attacker.until_closed().await;
    // The address may connect again once its bucket refilled.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    SioClient::connect_from(app.addr, LOCALHOST, "/echo").await;
    // Every refusal is counted: the attacker's first, the other
    // connections', and those before the close.
    let refusals = 1 + (10 - others) + refused;
    assert!(limit_hits(&app, "connect_rate").await >= refusals as u64);
    app.stop().await.unwrap();
}

/// After a refused connect, the attacker's next DISCONNECT (or event) names
/// a namespace the session is not in: socketioxide closes the connection.
#[tokio::test]
async fn a_connection_that_keeps_cycling_is_closed() {
    let mut config = test_config();
    config.connect_rate_limit = 5;
    let app = spawn_app(config).await;
    let mut attacker = RawSocket::connect_from(app.addr, LOCALHOST).await;
    connect_until_refused(&mut attacker).await;
    attacker.send_text("41/echo,").await;
    attacker.send_text("40/echo,").await;
    attacker.until_closed().await;
    // The well-behaved client beside it.
    let mut calm = SioClient::connect_from(app.addr, elsewhere(2), "/echo").await;
    let id = calm.send_with_ack("message-with-ack", &[json!("hi")]).await;
    assert_eq!(calm.ack(id).await, vec![json!("hi")]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    async fn connect_as(app: &TestApp, forwarded_for: &str) -> Result<(), String> {
        let headers = [("x-forwarded-for", forwarded_for)];
        let raw = RawSocket::connect_with_headers(app.addr, &headers).await;
        SioClient::connect_over(raw, "/echo", None)
            .await
            .map(|_| ())
    }
    for trusted in [false, true] {
        let mut config = test_config();
        config.connect_rate_limit = 1; // bursts of 2
        if trusted {
            config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
        let app = spawn_app(config).await;
        let mut accepted = 0;
        for _ in 0..6 {
            accepted += usize::from(connect_as(&app, "203.0.113.1").await.is_ok());
        }
        assert!((2..=3).contains(&accepted), "{accepted}");
        // Another forwarded client: a budget of its own behind a trusted
        // proxy; otherwise the header is the client's word, and ignored.
        let mut other = 0;
        for _ in 0..2 {
            other += usize::from(connect_as(&app, "6.6.6.6, 203.0.113.2").await.is_ok());
        }
        if trusted {
            assert_eq!(other, 2, "203.0.113.2 has its own budget");
        } else {
            assert!(other <= 1, "the header is ignored: {other}");
        }
        app.stop().await.unwrap();
    }
}

/// One long-polling request of session `sid`: a POST of `packets`, or a GET
/// (`packets` empty) returning the packets it got.
async fn polling(app: &TestApp, sid: &str, packets: &[String]) -> Vec<String> {
    let url = app.polling_url(sid);
    let http = reqwest::Client::new();
    let request = if packets.is_empty() {
        http.get(url)
    } else {
        http.post(url).body(packets.join("\u{1e}"))
    };
    let response = tokio::time::timeout(WAIT, request.send())
        .await
        .expect("polling answers in time")
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    if packets.is_empty() {
        body.split('\u{1e}').map(str::to_owned).collect()
    } else {
        Vec::new()
    }
}

/// Polls until `count` `/chat` acks arrived; returns their error codes
/// (`ok` for a success).
async fn polled_acks(app: &TestApp, sid: &str, count: usize) -> Vec<String> {
    let mut codes = Vec::new();
    while codes.len() < count {
        for packet in polling(app, sid, &[]).await {
            if let Some((_, ack)) = chat_ack(&packet) {
                codes.push(ack["error"]["code"].as_str().unwrap_or("ok").to_owned());
            }
        }
    }
    codes
}

/// Over long-polling every request is an HTTP request of its own; the
/// buckets belong to the session all the same.
#[tokio::test]
async fn a_polling_session_keeps_its_buckets_across_reconnects() {
    let mut config = test_config();
    (config.rate_limit, config.rate_burst) = (1, 10);
    let app = spawn_app(config).await;
    let (sid, _) = polling_session(&app).await;
    let typing = |ids: std::ops::Range<usize>| -> Vec<String> {
        ids.map(|i| format!(r#"42/chat,{i}["typing",{{"room":"r","typing":true}}]"#))
            .collect()
    };
    for cycle in 0..2 {
        let connect = if cycle == 0 {
            vec!["40/chat,".to_owned()]
        } else {
            vec!["41/chat,".to_owned(), "40/chat,".to_owned()]
        };
        polling(&app, &sid, &connect).await;
        while !polling(&app, &sid, &[])
            .await
            .iter()
            .any(|p| p.starts_with("40/chat,{"))
        {}
        polling(&app, &sid, &typing(cycle * 10..cycle * 10 + 10)).await;
        let codes = polled_acks(&app, &sid, 10).await;
        let refused = codes.iter().filter(|c| *c == "rate_limited").count();
        if cycle == 0 {
            // Allowed (and `forbidden`: not a member).
            assert_eq!(refused, 0, "{codes:?}");
        } else {
            assert!(refused >= 8, "a reconnect renews nothing: {codes:?}");
        }
    }
    app.stop().await.unwrap();
}
