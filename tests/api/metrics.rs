//! `/metrics` as an operator reads it after real traffic: packets counted per
//! recipient (broadcasts included), the latency histograms' counts growing
//! by what was handled, the push, delivery, receipt and refusal counters,
//! `build_info`, and the Grafana dashboard in `deploy/` naming only families
//! the server exposes. No assertion on how long anything took.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::*;

/// The sum of the samples of metric `name` whose labels include `labels`
/// (label order does not matter); 0 when there is none.
fn value(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let has = |(key, wanted): &(&str, &str)| {
                rest.split(',')
                    .any(|pair| pair == format!("{key}=\"{wanted}\""))
            };
            labels.iter().all(has).then(|| number.parse::<f64>().ok())?
        })
        .sum()
}

/// A `/game` or `/notifications` client over a raw WebSocket that counts
/// every Socket.IO packet it receives (Engine.IO pings are answered, not
/// counted).
struct Counting {
    raw: RawSocket,
    prefix: String,
    next_ack: u64,
    /// Socket.IO packets received, the CONNECT reply included.
    packets: u64,
    /// `state` events received.
    states: u64,
    /// Every packet received, in order.
    log: Vec<String>,
}

impl Counting {
    async fn connect(addr: std::net::SocketAddr, ns: &str) -> Self {
        let mut raw = RawSocket::connect_at(addr).await;
        let prefix = ns_prefix(ns);
        raw.send_text(&format!("40{prefix}")).await;
        let connected = raw.next_text().await;
        assert!(connected.starts_with(&format!("40{prefix}")), "{connected}");
        Self {
            raw,
            prefix,
            next_ack: 0,
            packets: 1,
            states: 0,
            log: vec![connected],
        }
    }

    /// Reads one packet and counts it.
    async fn read(&mut self) -> String {
        let text = self.raw.next_text().await;
        assert!(text.starts_with('4'), "not a Socket.IO packet: {text}");
        self.packets += 1;
        if text.starts_with(&format!("42{}[\"state\"", self.prefix)) {
            self.states += 1;
        }
        self.log.push(text.clone());
        text
    }

    /// `name` events received so far.
    fn seen(&self, name: &str) -> usize {
        let start = format!("42{}[\"{name}\"", self.prefix);
        self.log.iter().filter(|t| t.starts_with(&start)).count()
    }

    /// Reads until `n` `name` events in all were received.
    async fn until_seen(&mut self, name: &str, n: usize) {
        while self.seen(name) < n {
            self.read().await;
        }
    }

    /// Emits `event` with `payload` asking for an ack, reads up to the ack
    /// and returns its first argument.
    async fn request(&mut self, event: &str, payload: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let args = json!([event, payload]);
        let prefix = self.prefix.clone();
        self.raw.send_text(&format!("42{prefix}{id}{args}")).await;
        let ack = format!("43{prefix}{id}");
        loop {
            let text = self.read().await;
            if let Some(args) = text.strip_prefix(&ack) {
                let args: Vec<Value> = serde_json::from_str(args).unwrap();
                return args.into_iter().next().unwrap_or(Value::Null);
            }
        }
    }

    /// Reads until `states` states in all were received.
    async fn until_states(&mut self, states: u64) {
        while self.states < states {
            self.read().await;
        }
    }
}

/// Polls the scrape (bounded) until `check` holds for it.
async fn scrape_until(app: &TestApp, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = metrics_text(app.addr).await;
        if check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {what}:\n{body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Three players in one game: `switchboard_packets_sent_total{namespace="/game"}`
/// grows by exactly the packets the three clients received (every state of
/// every tick to each of them, the joins' acks and `player_joined`s, ...),
/// while `switchboard_events_sent_total` counts a broadcast once.
#[tokio::test]
async fn broadcasts_count_one_packet_per_recipient() {
    let app = spawn_app(test_config()).await;
    let game = [("namespace", "/game")];
    let before = metrics_text(app.addr).await;

    let mut players = Vec::new();
    for name in ["Ann", "Bob", "Cid"] {
        let mut player = Counting::connect(app.addr, "/game").await;
        let ack = player
            .request("join", json!({"game": "metrics", "name": name}))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        players.push(player);
    }
    for player in &mut players {
        player.until_states(10).await;
    }
    for player in &mut players {
        let ack = player.request("leave", json!({})).await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    // The loop stops with the last player; then one more round trip each:
    // whatever was queued for a client came before that ack.
    scrape_until(&app, "stopped the game", |body| {
        value(body, "switchboard_games_active", &[]) == 0.0
    })
    .await;
    for player in &mut players {
        player.request("leave", json!({})).await;
    }
    let after = metrics_text(app.addr).await;

    let received: u64 = players.iter().map(|p| p.packets).sum();
    let states: u64 = players.iter().map(|p| p.states).sum();
    assert!(states >= 30, "{states} states");
    let packets = value(&after, "switchboard_packets_sent_total", &game)
        - value(&before, "switchboard_packets_sent_total", &game);
    assert_eq!(
        packets, received as f64,
        "packets counted, packets received"
    );
    let emitted = value(&after, "switchboard_events_sent_total", &game)
        - value(&before, "switchboard_events_sent_total", &game);
    assert!(
        emitted < packets - states as f64 / 2.0,
        "the emit counter counts a broadcast once: {emitted} emitted, {packets} packets"
    );
    app.stop().await.unwrap();
}

/// On a cluster each node counts the packets its own clients receive: a chat
/// room's messages sent on node 0 count on node 1 for its two members there.
/// Each node's counter, after every client's last round trip, is exactly
/// what that node's clients received.
#[tokio::test]
async fn each_node_counts_what_its_clients_receive() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let chat = [("namespace", "/chat")];
    let mut ada = Counting::connect(cluster.addr(0), "/chat").await;
    let mut bob = Counting::connect(cluster.addr(1), "/chat").await;
    let mut cy = Counting::connect(cluster.addr(1), "/chat").await;
    for (client, name) in [(&mut ada, "Ada"), (&mut bob, "Bob"), (&mut cy, "Cy")] {
        let ack = client
            .request("join", json!({"room": "ops", "name": name}))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    for n in 0..5 {
        let ack = ada
            .request("message", json!({"room": "ops", "text": format!("m{n}")}))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    // Everything the others send reached each client before its last ack.
    ada.until_seen("presence", 2).await;
    bob.until_seen("presence", 1).await;
    for client in [&mut bob, &mut cy] {
        client.until_seen("message", 5).await;
    }
    for client in [&mut ada, &mut bob, &mut cy] {
        client.request("members", json!({"room": "ops"})).await;
    }
    let node0 = metrics_text(cluster.addr(0)).await;
    let node1 = metrics_text(cluster.addr(1)).await;
    assert_eq!(
        value(&node0, "switchboard_packets_sent_total", &chat),
        ada.packets as f64
    );
    assert_eq!(
        value(&node1, "switchboard_packets_sent_total", &chat),
        (bob.packets + cy.packets) as f64,
        "node 1 counts the broadcasts that came from node 0"
    );
}

/// Events handled and refused: the latency histogram's `_count` grows by the
/// events handled (refused ones included), the refusals by their code; and
/// `build_info` says the version.
#[tokio::test]
async fn event_latency_and_refusals_count_what_was_handled() {
    let app = spawn_app(test_config()).await;
    let join = [("namespace", "/game"), ("event", "join")];
    let input = [("namespace", "/game"), ("event", "input")];
    let bad_request = [("namespace", "/game"), ("code", "bad_request")];
    let before = metrics_text(app.addr).await;
    assert_eq!(
        value(
            &before,
            "switchboard_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0,
        "{before}"
    );

    let mut player = Counting::connect(app.addr, "/game").await;
    let refused = player.request("join", json!({"game": 5})).await;
    assert_eq!(refused["error"]["code"], "bad_request", "{refused}");
    let ack = player
        .request("join", json!({"game": "latency", "name": "Ann"}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    for seq in 1..=3 {
        let ack = player
            .request("input", json!({"seq": seq, "dx": 1, "dy": 0}))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    // The histogram is observed right after the answer went out: poll
    // (bounded) for the last one.
    let after = scrape_until(&app, "counted the inputs", |body| {
        value(body, "switchboard_event_duration_seconds_count", &input) == 3.0
    })
    .await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(
        grew("switchboard_event_duration_seconds_count", &join),
        2.0,
        "a refused event is handled too"
    );
    assert_eq!(
        grew(
            "switchboard_event_duration_seconds_bucket",
            &[("le", "+Inf")]
        ) - grew("switchboard_event_duration_seconds_count", &[]),
        0.0,
        "the +Inf buckets hold every event"
    );
    assert!(grew("switchboard_event_duration_seconds_sum", &input) > 0.0);
    assert_eq!(grew("switchboard_event_refusals_total", &bad_request), 1.0);
    assert_eq!(
        grew(
            "switchboard_event_refusals_total",
            &[("namespace", "/game")]
        ),
        1.0,
        "only the bad join was refused"
    );
    assert_eq!(
        grew(
            "switchboard_events_received_total",
            &[("namespace", "/game")]
        ),
        5.0
    );
    app.stop().await.unwrap();
}

/// Pushes to a user online, a topic and everyone: the push counter by
/// target, the deliveries by kind, the receipt after the client's ack, the
/// push-to-delivery and store-commit histograms' counts.
async fn pushes_and_deliveries_are_counted(engine: Engine) {
    let Some(mut config) = engine.config().await else {
        return;
    };
    add_credentials(&mut config);
    let app = spawn_app(config).await;
    let api = Api::new(&app);
    let user = unique_user("ops");
    let mut socket = listening_socket(app.addr, &user, None).await;
    let ack = socket
        .request("subscribe", json!({ "topics": ["ops"] }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    // Once one push arrived, the socket's first read of the store (its
    // replay on connect, not timed) is surely over.
    let first = api.push_one(&user, "warm.up").await;
    receive(&mut socket).await;
    let before = scrape_until(&app, "counted the first receipt", |body| {
        value(body, "switchboard_notification_receipts_total", &[]) == 1.0
    })
    .await;

    for n in 0..2 {
        api.push(&[&user], "deploy.done", json!({ "n": n })).await;
        receive(&mut socket).await;
    }
    for body in [
        json!({"topic": "ops", "kind": "page"}),
        json!({"broadcast": true, "kind": "maintenance"}),
    ] {
        let (status, answer) = api
            .call(reqwest::Method::POST, "/notifications", Some(&body), &[])
            .await;
        assert_eq!((status, answer["online"].clone()), (201, json!(1)));
        receive(&mut socket).await;
    }
    // Receipts are counted when the ack reaches the delivery task: poll.
    let receipts = |body: &str| value(body, "switchboard_notification_receipts_total", &[]);
    let base = receipts(&before);
    let after = scrape_until(&app, "counted both receipts", |body| {
        receipts(body) - base == 2.0
    })
    .await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(
        grew("switchboard_pushes_total", &[("target", "users")]),
        2.0
    );
    assert_eq!(
        grew("switchboard_pushes_total", &[("target", "topic")]),
        1.0
    );
    assert_eq!(
        grew("switchboard_pushes_total", &[("target", "broadcast")]),
        1.0
    );
    let delivered = "switchboard_notifications_delivered_total";
    assert_eq!(grew(delivered, &[("delivery", "stored")]), 2.0);
    assert_eq!(grew(delivered, &[("delivery", "live")]), 2.0);
    assert_eq!(
        grew("switchboard_push_delivery_seconds_count", &[]),
        4.0,
        "each push reached a live socket once"
    );
    assert!(
        grew(
            "switchboard_store_commit_seconds_count",
            &[("stream", "notifications")]
        ) >= 2.0,
        "each user push committed (batches may hold more than one write)"
    );
    assert_eq!(
        grew("switchboard_http_requests_total", &[("status", "201")]),
        4.0
    );
    // Four notifications, each asking for an ack: four packets at least.
    assert!(
        grew(
            "switchboard_packets_sent_total",
            &[("namespace", "/notifications")]
        ) >= 4.0
    );

    // Connections refused, by the code the client reads.
    for (auth, code) in [
        (json!({"token": "nope"}), "unauthorized"),
        (json!({"token": token(&user), "since": "x"}), "bad_request"),
    ] {
        let refused = SioClient::connect_with_auth(app.addr, "/notifications", Some(auth)).await;
        assert_eq!(refused.err().as_deref(), Some(code));
    }
    let refusals = metrics_text(app.addr).await;
    for code in ["unauthorized", "bad_request"] {
        let labels = [("namespace", "/notifications"), ("code", code)];
        assert_eq!(
            value(&refusals, "switchboard_connect_refusals_total", &labels)
                - value(&after, "switchboard_connect_refusals_total", &labels),
            1.0,
            "{code}"
        );
    }

    // A replay on connect is delivered (and counted) but is not a
    // push-to-delivery latency: the user was away.
    let mut again = notifications_socket(app.addr, &user, Some(&first)).await;
    receive(&mut again).await;
    receive(&mut again).await;
    let replayed = metrics_text(app.addr).await;
    assert_eq!(
        value(&replayed, delivered, &[("delivery", "stored")])
            - value(&after, delivered, &[("delivery", "stored")]),
        2.0
    );
    assert_eq!(
        value(&replayed, "switchboard_push_delivery_seconds_count", &[])
            - value(&after, "switchboard_push_delivery_seconds_count", &[]),
        0.0
    );
    app.stop().await.unwrap();
}

on_both_engines!(pushes_and_deliveries_are_counted);

/// The metric names an expression of the dashboard uses: every
/// `switchboard_…` word, without the `_bucket`, `_sum` and `_count`
/// suffixes of a histogram's series.
fn dashboard_names(dashboard: &Value) -> BTreeSet<String> {
    fn exprs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr" | "query", Value::String(expr)) => out.push(expr),
                        _ => exprs(value, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| exprs(item, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    exprs(dashboard, &mut found);
    assert!(
        found.len() >= 10,
        "the dashboard has its queries: {found:?}"
    );
    let mut names = BTreeSet::new();
    for expr in found {
        let mut rest = expr;
        while let Some(at) = rest.find("switchboard_") {
            let word: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            rest = &rest[at + word.len()..];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(&word);
            names.insert(base.to_owned());
        }
    }
    names
}

/// The metric families a scrape holds (from its `# TYPE` lines).
fn exposed_names(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// `deploy/grafana-dashboard.json` parses, and every metric its queries name
/// is one a running server exposes (after traffic that creates every
/// family's series), so the dashboard cannot drift from the server.
#[tokio::test]
async fn the_grafana_dashboard_names_only_exposed_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("the JSON parses");
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    let used = dashboard_names(&dashboard);

    // Recovery on (its gauges are on the dashboard), and a stored-bytes
    // limit a push can reach.
    let mut config = notifications_config(test_config());
    config.recovery_namespaces = vec!["/chat".into()];
    config.api_max_stored_bytes = 1024;
    let app = spawn_app(config).await;
    let api = Api::new(&app);
    let user = unique_user("dash");
    let mut socket = listening_socket(app.addr, &user, None).await;
    api.push(&[&user], "hello", json!({})).await;
    receive(&mut socket).await;
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            "/notifications",
            Some(&json!({"users": [user], "kind": "big", "data": "x".repeat(2000)})),
            &[],
        )
        .await;
    assert_eq!(status, 413);
    let refused =
        SioClient::connect_with_auth(app.addr, "/notifications", Some(json!({"token": "nope"})))
            .await;
    assert!(refused.is_err());
    let mut player = Counting::connect(app.addr, "/game").await;
    player.request("join", json!({"game": 5})).await;
    player
        .request("join", json!({"game": "dash", "name": "Ann"}))
        .await;
    player.until_states(1).await;
    Counting::connect(app.addr, "/game").await.raw.close().await;
    let body = scrape_until(&app, "counted the receipt and the disconnect", |body| {
        value(body, "switchboard_notification_receipts_total", &[]) == 1.0
            && value(body, "switchboard_disconnects_total", &[]) == 1.0
    })
    .await;
    let exposed = exposed_names(&body);

    let missing: Vec<&String> = used.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "the dashboard uses metrics the server does not expose: {missing:?}\nexposed: {exposed:?}"
    );
    // And the dashboard shows the families an operator graphs first.
    for family in [
        "switchboard_build_info",
        "switchboard_sockets_connected",
        "switchboard_events_received_total",
        "switchboard_packets_sent_total",
        "switchboard_event_duration_seconds",
        "switchboard_event_refusals_total",
        "switchboard_connect_refusals_total",
        "switchboard_limit_hits_total",
        "switchboard_pushes_total",
        "switchboard_notifications_delivered_total",
        "switchboard_notification_receipts_total",
        "switchboard_push_delivery_seconds",
        "switchboard_store_commit_seconds",
        "switchboard_recovery_sessions_held",
    ] {
        assert!(used.contains(family), "the dashboard shows {family}");
    }
    app.stop().await.unwrap();
}
