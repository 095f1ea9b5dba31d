//! Store faults: nothing acknowledged is ever lost, and one bad item never
//! fails its neighbours.
//!
//! - A real small filesystem (a tmpfs of a few MB) fills up under a running
//!   server: writes are refused clearly (503 / `internal` saying the store
//!   cannot write), `/readyz` fails `store`; once space is back the server
//!   writes again by itself, and after a graceful restart every write that
//!   was acknowledged (before, during and after) is there, and none that
//!   was refused.
//! - A NUL in chat text, display names and notification data is
//!   `bad_request` on both engines, and the messages other members send
//!   around it all succeed.
//! - Invisible and bidi-control display names are refused naming the field.

use std::{
    collections::BTreeSet,
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::{Value, json};

use crate::helpers::*;

/// What every refusal for a store that cannot write says.
const CANNOT_WRITE: &str = "the store cannot write";

/// A refusal (an HTTP error body or an ack, `{error: {code, message}}`)
/// because the store cannot write.
fn assert_cannot_write(refusal: &Value) {
    assert_eq!(refusal["error"]["code"], "internal", "{refusal}");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(CANNOT_WRITE)),
        "a refusal says the store cannot write: {refusal}"
    );
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after a loud skip) when it cannot be mounted outside CI; a
    /// failure in CI, where the test must run.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let outcome = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match outcome {
            Ok(out) if out.status.success() => return Some(Self { dir }),
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        };
        let message = format!(
            "cannot mount a {size} tmpfs for the full-disk test ({why}); it needs root \
             (or CAP_SYS_ADMIN)"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a server that did not exit): detach it now, the
            // kernel frees it once the last file is closed.
            Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status()
                .ok();
        }
    }
}

/// Writes zeros to `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("filler file");
    let block = vec![0u8; 16 * 1024];
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // The last bytes that fit in a partial block.
    for size in [4096, 512, 1] {
        while file.write_all(&block[..size]).is_ok() {}
    }
    file.sync_all().ok();
}

/// Every write the test made, by outcome.
#[derive(Default)]
struct Ledger {
    notifications: BTreeSet<String>,
    messages: BTreeSet<String>,
    refused_pushes: usize,
    refused_messages: usize,
}

struct Server {
    process: ServerProcess,
    http: reqwest::Client,
}

const USER: &str = "disk-user";
const ROOM: &str = "disk-room";

impl Server {
    fn start(database_url: &str) -> Self {
        let envs = CREDENTIAL_ENVS;
        // The test writes as fast as the store answers, and on a full disk
        // that is fast: the rate limits are not what it tests, so they must
        // not answer in the store's place.
        let unlimited = [
            "--rate-limit",
            "100000",
            "--rate-burst",
            "100000",
            "--api-rate-limit",
            "100000",
        ];
        Self {
            process: ServerProcess::start_on(database_url, &unlimited, &envs),
            http: reqwest::Client::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.process.addr
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = send_in_time(
            self.http
                .get(format!("http://{}{path}", self.addr()))
                .bearer_auth(API_KEY),
        )
        .await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// One push to [`USER`]: its id when answered 201, `None` when refused
    /// because the store cannot write (checked), a panic otherwise.
    async fn push(&self, i: usize) -> Option<String> {
        let body =
            json!({ "users": [USER], "kind": "disk", "data": { "i": i, "pad": "x".repeat(1500) } });
        // Answered in time, full disk or not.
        let response = send_in_time(
            self.http
                .post(format!("http://{}/api/v1/notifications", self.addr()))
                .bearer_auth(API_KEY)
                .json(&body),
        )
        .await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match status {
            201 => Some(body["notifications"][0]["id"].as_str().unwrap().to_owned()),
            503 => {
                assert_cannot_write(&body);
                None
            }
            other => panic!("push answered {other}: {body}"),
        }
    }

    /// `count` pushes at once (so that they share transactions), recorded.
    async fn pushes(&self, from: usize, count: usize, ledger: &mut Ledger) -> usize {
        let answers =
            futures_util::future::join_all((from..from + count).map(|i| self.push(i))).await;
        let mut refused = 0;
        for answer in answers {
            match answer {
                Some(id) => assert!(ledger.notifications.insert(id)),
                None => refused += 1,
            }
        }
        ledger.refused_pushes += refused;
        refused
    }

    async fn readyz(&self) -> (u16, Value) {
        let (status, body) = self.get("/readyz").await;
        (status, serde_json::from_str(&body).unwrap())
    }

    /// Every notification id of [`USER`] in the store.
    async fn stored_notifications(&self) -> BTreeSet<String> {
        let mut stored = BTreeSet::new();
        let mut before: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/users/{USER}/notifications?limit=100");
            if let Some(before) = &before {
                path.push_str(&format!("&before={before}"));
            }
            let (status, body) = self.get(&path).await;
            assert_eq!(status, 200, "{body}");
            let page: Value = serde_json::from_str(&body).unwrap();
            let ids = ids_in(&page["notifications"]);
            let Some(last) = ids.last().cloned() else {
                return stored;
            };
            stored.extend(ids);
            before = Some(last);
        }
    }
}

async fn chat_member(addr: SocketAddr) -> SioClient {
    let mut client = SioClient::connect(addr, "/chat").await;
    let ack = client
        .request("join", json!({ "room": ROOM, "name": "Disk" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    client
}

/// One chat message: recorded as acknowledged, or as refused (checked:
/// `internal`, saying the store cannot write). True when refused.
async fn say(client: &mut SioClient, i: usize, ledger: &mut Ledger) -> bool {
    let ack = client
        .request(
            "message",
            json!({ "room": ROOM, "text": format!("message {i} {}", "y".repeat(1500)) }),
        )
        .await;
    if ack["ok"] == true {
        assert!(
            ledger
                .messages
                .insert(ack["message"]["id"].as_str().unwrap().to_owned())
        );
        return false;
    }
    assert_cannot_write(&ack);
    ledger.refused_messages += 1;
    true
}

/// Every message id of [`ROOM`] in the store.
async fn stored_messages(client: &mut SioClient) -> BTreeSet<String> {
    let mut stored = BTreeSet::new();
    let mut request = json!({ "room": ROOM, "limit": 100 });
    loop {
        let ack = client.request("history", request.clone()).await;
        assert_eq!(ack["ok"], true, "{ack}");
        let ids = ids_in(&ack["messages"]);
        let Some(oldest) = ids.first().cloned() else {
            return stored;
        };
        stored.extend(ids);
        request["before"] = json!(oldest);
    }
}

/// The value of the first sample of `metric` whose labels include `labels`.
fn metric(text: &str, metric: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(metric) && line.contains(labels))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

/// A PostgreSQL database whose files are all on a [`Tmpfs`] (a tablespace
/// there), on the test server `SWITCHBOARD_TEST_POSTGRES` names, which must
/// run on this machine.
struct PgOnDisk {
    server: String,
    name: String,
}

impl PgOnDisk {
    /// The database and its URL; `None` after a loud skip outside CI.
    async fn create(disk: &Tmpfs) -> Option<(Self, String)> {
        use sqlx::Connection;
        use std::os::unix::fs::MetadataExt;
        let skip = |why: String| {
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {why} !!!!!!!!\n");
        };
        let Ok(server) = std::env::var("SWITCHBOARD_TEST_POSTGRES") else {
            skip("PostgreSQL full-disk test: SWITCHBOARD_TEST_POSTGRES not set".into());
            return None;
        };
        let server = server.trim_end_matches('/').to_owned();
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("the test PostgreSQL server answers");
        let data_dir: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
            .fetch_one(&mut admin)
            .await
            .expect("the test server's user is a superuser");
        // The tablespace directory must belong to the server's own user.
        let owner = match std::fs::metadata(&data_dir) {
            Ok(meta) => meta,
            Err(e) => {
                skip(format!(
                    "PostgreSQL full-disk test: the test server's data directory is not on \
                     this machine ({data_dir}: {e})"
                ));
                return None;
            }
        };
        let location = disk.path().join("pg");
        std::fs::create_dir(&location).unwrap();
        std::os::unix::fs::chown(&location, Some(owner.uid()), Some(owner.gid())).unwrap();
        let name = format!(
            "sb_full_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        // `name` is digits and underscores, `location` a temporary directory.
        for statement in [
            format!("CREATE TABLESPACE {name} LOCATION '{}'", location.display()),
            format!("CREATE DATABASE {name} TABLESPACE {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
                .expect("a database on the small disk");
        }
        let url = format!("{server}/{name}");
        Some((Self { server, name }, url))
    }

    /// Drops the database and its tablespace (before the disk goes away).
    async fn drop_all(self) {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", self.server))
            .await
            .expect("the test PostgreSQL server answers");
        for statement in [
            format!("DROP DATABASE {} WITH (FORCE)", self.name),
            format!("DROP TABLESPACE {}", self.name),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
                .expect("clean up the small disk's database");
        }
    }
}

on_both_engines!(full_disk_refuses_clearly_recovers_and_loses_nothing);

async fn full_disk_refuses_clearly_recovers_and_loses_nothing(engine: Engine) {
    // PostgreSQL copies its template database (about 8 MB) onto the disk.
    let size = match engine {
        Engine::Sqlite => "4m",
        Engine::Postgres => "32m",
    };
    let Some(disk) = Tmpfs::mount(size) else {
        return;
    };
    let (database_url, postgres) = match engine {
        Engine::Sqlite => (
            format!("sqlite://{}", disk.path().join("sb.db").display()),
            None,
        ),
        Engine::Postgres => {
            let Some((postgres, url)) = PgOnDisk::create(&disk).await else {
                return;
            };
            (url, Some(postgres))
        }
    };
    let filler: PathBuf = disk.path().join("filler");
    let mut ledger = Ledger::default();

    let mut server = Server::start(&database_url);
    let mut chat = chat_member(server.addr()).await;

    // Before: everything is acknowledged.
    for round in 0..5 {
        assert_eq!(server.pushes(round * 4, 4, &mut ledger).await, 0);
        assert!(!say(&mut chat, round, &mut ledger).await);
    }
    let (status, ready) = server.readyz().await;
    assert_eq!(status, 200, "{ready}");

    let acked_before = ledger.notifications.len() + ledger.messages.len();

    // The disk fills up: writes are refused, clearly, sooner or later.
    // Some room is kept back in small files, to give back bit by bit.
    let reserves: Vec<PathBuf> = (0..3)
        .map(|k| disk.path().join(format!("reserve-{k}")))
        .collect();
    for reserve in &reserves {
        std::fs::write(reserve, vec![1u8; 64 * 1024]).unwrap();
    }
    fill(&filler);
    let mut i = 100;
    while ledger.refused_pushes < 8 {
        server.pushes(i, 4, &mut ledger).await;
        i += 4;
        assert!(i < 2000, "the pushes never failed on a full disk");
    }
    // A little room comes and goes: some writes succeed between refusals
    // (a write acknowledged after a refused one is really committed).
    for reserve in &reserves {
        std::fs::remove_file(reserve).unwrap();
        let refused = ledger.refused_pushes;
        while ledger.refused_pushes < refused + 4 {
            server.pushes(i, 2, &mut ledger).await;
            say(&mut chat, i, &mut ledger).await;
            i += 2;
            assert!(i < 4000, "the pushes never failed again on a full disk");
        }
    }
    let acked_during = ledger.notifications.len() + ledger.messages.len() - acked_before;
    let mut refused_chat = false;
    for j in 0..200 {
        if say(&mut chat, 100 + j, &mut ledger).await {
            refused_chat = true;
            break;
        }
    }
    assert!(refused_chat, "chat messages never failed on a full disk");
    // Whatever a failed commit left in the WAL is not room for real writes.
    fill(&filler);

    // Not ready while the store cannot write, past the test write's
    // interval. (On PostgreSQL the test write updates one row in place and
    // may succeed while new rows cannot be stored: see docs/deployment.md.)
    let readiness_checks = match engine {
        Engine::Sqlite => 3,
        Engine::Postgres => 0,
    };
    for _ in 0..readiness_checks {
        let (status, ready) = server.readyz().await;
        assert_eq!(status, 503, "{ready}");
        assert_eq!(ready["failing"], json!(["store"]), "{ready}");
        assert_eq!(ready["checks"]["store"]["ok"], false, "{ready}");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metric(
            &metrics,
            "switchboard_store_write_errors_total",
            r#"reason="storage",stream="notifications""#
        )
        .is_some_and(|n| n >= 8.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "switchboard_store_writable", ""),
        Some(0.0),
        "{metrics}"
    );

    // Space comes back: the very next writes succeed, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let refused_before = ledger.refused_pushes;
    assert_eq!(server.pushes(5000, 1, &mut ledger).await, 0);
    assert!(!say(&mut chat, 5000, &mut ledger).await);
    let (status, ready) = server.readyz().await;
    assert_eq!(status, 200, "ready again once a write succeeded: {ready}");
    for round in 0..5 {
        assert_eq!(server.pushes(6000 + round * 4, 4, &mut ledger).await, 0);
        assert!(!say(&mut chat, 6000 + round, &mut ledger).await);
    }
    assert_eq!(ledger.refused_pushes, refused_before);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, ready) = server.readyz().await;
    assert_eq!(status, 200, "the test write succeeds too: {ready}");

    // A graceful restart: every acknowledged write is there, nothing refused.
    chat.close().await;
    server.process.signal("TERM");
    assert_eq!(server.process.wait_exit().code(), Some(0));
    let restarted = Server::start(&database_url);
    let stored = restarted.stored_notifications().await;
    let mut chat = chat_member(restarted.addr()).await;
    let messages = stored_messages(&mut chat).await;
    eprintln!(
        "full disk: {} pushes acknowledged, {} refused; {} messages acknowledged, {} refused; \
         {acked_during} writes acknowledged while the disk was full",
        ledger.notifications.len(),
        ledger.refused_pushes,
        ledger.messages.len(),
        ledger.refused_messages
    );
    assert!(
        acked_during > 0,
        "some writes fitted in the room given back while full"
    );
    let lost: Vec<_> = ledger.notifications.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged pushes lost: {lost:?}");
    assert_eq!(
        stored, ledger.notifications,
        "exactly the acknowledged pushes are stored"
    );
    let lost: Vec<_> = ledger.messages.difference(&messages).collect();
    assert!(lost.is_empty(), "acknowledged messages lost: {lost:?}");
    assert_eq!(
        messages, ledger.messages,
        "exactly the acknowledged messages are stored"
    );
    drop(chat);
    drop(restarted);
    if let Some(postgres) = postgres {
        postgres.drop_all().await;
    }
    drop(disk);
}

on_both_engines!(nul_is_refused_and_never_fails_the_neighbours);

fn refusal(ack: &Value) -> (&str, &str) {
    assert_eq!(ack["ok"], false, "expected a refusal, got {ack}");
    (
        ack["error"]["code"].as_str().unwrap(),
        ack["error"]["message"].as_str().unwrap(),
    )
}

async fn nul_is_refused_and_never_fails_the_neighbours(engine: Engine) {
    let Some(app) = engine.spawn_with(add_credentials).await else {
        return;
    };
    let room = "nul-room";

    let mut bad = SioClient::connect(app.addr, "/chat").await;
    let ack = bad
        .request("join", json!({ "room": room, "name": "Nul\u{0}Name" }))
        .await;
    let (code, message) = refusal(&ack);
    assert_eq!(code, "bad_request");
    assert!(message.contains("`name`"), "{message}");
    let ack = bad
        .request("join", json!({ "room": room, "name": "Bad" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");

    let mut others = futures_util::future::join_all((0..50).map(|i| async move {
        let mut client = SioClient::connect(app.addr, "/chat").await;
        client
            .request_ok(
                "join",
                json!({ "room": room, "name": format!("Member {i}") }),
            )
            .await;
        client
    }))
    .await;

    // The bad member's NUL messages go out between everybody else's, so
    // that on the old code they shared transactions.
    let mut bad_acks = Vec::new();
    for _ in 0..5 {
        bad_acks.push(
            bad.send_with_ack("message", &[json!({ "room": room, "text": "a\u{0}b" })])
                .await,
        );
    }
    let mut sent = Vec::new();
    for (i, client) in others.iter_mut().enumerate() {
        let text = format!("hello from {i}");
        sent.push((
            client
                .send_with_ack("message", &[json!({ "room": room, "text": text })])
                .await,
            text,
        ));
        if i % 10 == 0 {
            bad_acks.push(
                bad.send_with_ack("message", &[json!({ "room": room, "text": "\u{0}" })])
                    .await,
            );
        }
    }
    let answers = futures_util::future::join_all(
        others
            .iter_mut()
            .zip(&sent)
            .map(|(client, (id, _))| client.ack(*id)),
    )
    .await;
    let failed: Vec<&Value> = answers
        .iter()
        .map(|args| &args[0])
        .filter(|ack| ack["ok"] != true)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 50 neighbours failed: {failed:?}",
        failed.len()
    );
    for id in bad_acks {
        let ack = bad.ack(id).await.remove(0);
        let (code, message) = refusal(&ack);
        assert_eq!(code, "bad_request", "{ack}");
        assert!(
            message.contains("`text`") && message.contains("NUL"),
            "{message}"
        );
    }
    let history = bad
        .request("history", json!({ "room": room, "limit": 100 }))
        .await;
    let texts: BTreeSet<&str> = field_of_each(&history["messages"], "text")
        .into_iter()
        .collect();
    let expected: BTreeSet<&str> = sent.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(texts, expected, "every neighbour's message, and no NUL one");

    // The HTTP API: NUL in `kind`, `data` strings or keys, and user ids is
    // `bad_request` too, and the pushes beside them all succeed.
    let api = Api::new(&app);
    let bad_bodies = [
        json!({ "users": ["u"], "kind": "k\u{0}", "data": {} }),
        json!({ "users": ["u"], "kind": "k", "data": { "s": "a\u{0}b" } }),
        json!({ "users": ["u"], "kind": "k", "data": { "deep": [1, { "s": "\u{0}" }] } }),
        json!({ "users": ["u"], "kind": "k", "data": { "key\u{0}": 1 } }),
        json!({ "users": ["u\u{0}"], "kind": "k", "data": {} }),
    ];
    let good = (0..50).map(|i| {
        let api = &api;
        async move {
            api.call(
                reqwest::Method::POST,
                "/notifications",
                Some(&json!({ "users": [format!("nul-neighbour-{i}")], "kind": "k", "data": { "i": i } })),
                &[],
            )
            .await
        }
    });
    let bad_pushes = bad_bodies.iter().map(|body| {
        let api = &api;
        async move {
            api.call(reqwest::Method::POST, "/notifications", Some(body), &[])
                .await
        }
    });
    let (good, bad) = futures_util::future::join(
        futures_util::future::join_all(good),
        futures_util::future::join_all(bad_pushes),
    )
    .await;
    for (status, body) in good {
        assert_eq!(status, 201, "{body}");
    }
    for ((status, body), sent) in bad.iter().zip(&bad_bodies) {
        assert_eq!(*status, 400, "{sent}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn invisible_and_bidi_display_names_are_refused_naming_the_field() {
    let app = spawn_app(test_config()).await;
    let mut client = SioClient::connect(app.addr, "/chat").await;
    for name in [
        "\u{200B}",
        "\u{2060}\u{2060}",
        " \u{FEFF} ",
        "\u{200B}\u{00A0}\u{200D}",
        "Ada\u{202E}nimda",
        "\u{2066}Bob\u{2069}",
        "x\u{200F}",
        "x\u{061C}",
    ] {
        let ack = client
            .request("join", json!({ "room": "names", "name": name }))
            .await;
        let (code, message) = refusal(&ack);
        assert_eq!(code, "bad_request", "{name:?}: {ack}");
        assert!(message.contains("`name`"), "{name:?}: {message}");
    }
    // Joiners inside a visible name stay allowed.
    let ack = client
        .request(
            "join",
            json!({ "room": "names", "name": "👩\u{200D}💻 Ada" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    app.stop().await.unwrap();
}
