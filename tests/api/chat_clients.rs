//! The terminal chat clients, `clients/js/chat.mjs` (socket.io-client) and
//! `clients/python/chat.py` (python-socketio), talking to each other through an
//! in-process server: each runs as a child process with `--json`, the test
//! types lines into its stdin and waits for the JSON lines the other prints.
//!
//! Every wait is bounded ([`LINE_WAIT`]) and fails with the lines seen so far.
//! Lines are taken strictly in order, so a line nobody expected (a stray
//! message, an error) fails the test at the next wait. The assertions about
//! what each client printed are counted and recorded as that client's interop
//! summary for the test command.

use std::{
    fmt::Write as _,
    path::PathBuf,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use crate::helpers::*;

/// The longest wait for one line (a process start included).
const LINE_WAIT: Duration = Duration::from_secs(10);
const ROOM: &str = "lobby";

#[tokio::test]
async fn js_and_python_chat_over_websocket() {
    js_and_python_chat("websocket").await;
}

#[tokio::test]
async fn js_and_python_chat_over_polling() {
    js_and_python_chat("polling").await;
}

#[tokio::test]
async fn messages_typed_in_a_row_keep_their_order_in_both_clients() {
    let Some((app, mut js, mut py)) = start_pair("upgrade").await else {
        return;
    };
    typed_in_a_row(&mut js, &mut py, 15).await;
    let history = same_history(&mut js, &mut py, "/history").await;
    js.check(
        history.len() == 30,
        format!("30 messages in the history, got {}", history.len()),
    );
    ends_input_and_leaves(&mut js, &mut py).await;
    py.quit_and_wait().await;
    record(&js, &py, "order-upgrade", "upgrade");
    app.stop().await.unwrap();
}

/// With connection state recovery on `/chat`, both clients still work: the
/// JS client (socket.io-client) takes the offset argument, the Python client
/// opts out of it (`auth.recovery = false`).
#[tokio::test]
async fn both_clients_chat_with_recovery_on() {
    let Some((app, mut js, mut py)) = start_pair_with("websocket", true).await else {
        return;
    };
    typed_in_a_row(&mut js, &mut py, 5).await;
    let history = same_history(&mut js, &mut py, "/history").await;
    js.check(
        history.len() == 10,
        format!("10 messages in the history, got {}", history.len()),
    );
    // Quitting leaves on purpose: not held, the others see it at once.
    py.quit_and_wait().await;
    js.expect_presence("leave", py.member(), 1).await;
    js.quit_and_wait().await;
    record(&js, &py, "recovery-websocket", "websocket");
    app.stop().await.unwrap();
}

/// The whole `/chat` contract as the two clients show it to their users.
async fn js_and_python_chat(transport: &str) {
    let Some((app, mut js, mut py)) = start_pair(transport).await else {
        return;
    };

    // Leaving and joining again: the other sees both, with the count, and
    // keeps its member list from these changes.
    js.send("/leave").await;
    js.expect_line("left", json!({ "room": ROOM })).await;
    py.expect_presence("leave", js.member(), 1).await;
    py.expect_members("/members", json!([py.member()])).await;
    js.send("talking to a room I left").await;
    js.expect_error("forbidden", "message").await;
    js.send(&format!("/join {ROOM}")).await;
    let joined = js.expect("joined").await;
    js.check_eq(
        &joined["members"],
        json!([js.member(), py.member()]),
        "members",
    );
    py.expect_presence("join", js.member(), 2).await;
    // The list kept from the changes is the server's (`/who` asks it).
    for command in ["/members", "/who"] {
        py.expect_members(command, json!([js.member(), py.member()]))
            .await;
    }

    // Messages: the sender's ack and the other's copy are the same message.
    let mut all = Vec::new();
    all.push(say(&mut js, &mut py, "hello from chat.mjs").await);
    all.push(say(&mut py, &mut js, r#"hello from chat.py: "quoted" \ é ✓ 😀"#).await);
    // 4000 characters (8000 bytes) is the limit; one more is refused.
    all.push(say(&mut js, &mut py, &"é".repeat(4000)).await);
    all.push(refused_then_said(&mut js, &mut py).await);
    all.push(refused_then_said(&mut py, &mut js).await);

    // Typing on and off reaches the other, marked with who types.
    typing_on_and_off(&mut js, &mut py).await;
    typing_on_and_off(&mut py, &mut js).await;

    all.extend(typed_in_a_row(&mut js, &mut py, 5).await);

    // History: the same messages in both, oldest first, and exactly the ones
    // sent (none refused, none lost).
    let history = same_history(&mut js, &mut py, "/history").await;
    let ids =
        |messages: &[Value]| -> Vec<Value> { messages.iter().map(|m| m["id"].clone()).collect() };
    all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    js.check_eq(
        &json!(ids(&history)),
        json!(ids(&all)),
        "history ids = every id sent",
    );
    py.check_eq(&json!(history), json!(all), "history = every message sent");
    // A page before a message: the three just older, oldest first.
    let before = history[7]["id"].as_str().unwrap().to_owned();
    let page = same_history(&mut js, &mut py, &format!("/history 3 {before}")).await;
    js.check_eq(
        &json!(page),
        json!(history[4..7]),
        "history 3 before the 8th",
    );

    for command in ["/members", "/who"] {
        js.expect_members(command, json!([js.member(), py.member()]))
            .await;
    }

    // The Python side leaves and comes back; its join history is the history.
    py.send("/leave").await;
    py.expect_line("left", json!({ "room": ROOM })).await;
    js.expect_presence("leave", py.member(), 1).await;
    py.send(&format!("/join {ROOM}")).await;
    let joined = py.expect("joined").await;
    py.check_eq(&joined["history"], json!(history), "join history");
    js.expect_presence("join", py.member(), 2).await;

    // Ending a process leaves the room: end of input (a clean quit) ...
    ends_input_and_leaves(&mut py, &mut js).await;

    // ... and a kill (the connection just drops).
    let mut py2 = ChatProcess::python(&app.http_url(""), "Grace", transport);
    let joined = py2.expect_joined(&[js.member()]).await;
    py2.check_eq(&joined["history"], json!(history), "join history");
    js.expect_presence("join", py2.member(), 2).await;
    js.expect_members("/members", json!([js.member(), py2.member()]))
        .await;
    js.kill().await;
    py2.expect_presence("leave", js.member(), 1).await;
    py2.expect_members("/members", json!([py2.member()])).await;
    py2.quit_and_wait().await;

    py.checks += py2.checks;
    record(&js, &py, transport, transport);
    app.stop().await.unwrap();
}

/// Requests the server refuses print an error line naming the request and
/// send nothing: `receiver`'s next line is the message `sender` types after
/// them. Returns that message.
async fn refused_then_said(sender: &mut ChatProcess, receiver: &mut ChatProcess) -> Value {
    sender.send(&"x".repeat(4001)).await;
    sender.expect_error("bad_request", "message").await;
    sender.send("/history 0").await;
    sender.expect_error("bad_request", "history").await;
    sender.send("/history 101").await;
    sender.expect_error("bad_request", "history").await;
    say(
        sender,
        receiver,
        &format!("{} after the refusals", sender.program),
    )
    .await
}

/// Typing on and off reaches the other, marked with who types.
async fn typing_on_and_off(typist: &mut ChatProcess, watcher: &mut ChatProcess) {
    for (command, typing) in [("/typing on", true), ("/typing off", false)] {
        typist.send(command).await;
        typist
            .expect_line("typing_sent", json!({ "room": ROOM, "typing": typing }))
            .await;
        watcher
            .expect_line(
                "typing",
                json!({ "room": ROOM, "member": typist.member(), "typing": typing }),
            )
            .await;
    }
}

/// `quitter`'s input ends: `watcher` sees it leave the room, and it exits 0
/// with nothing more printed.
async fn ends_input_and_leaves(quitter: &mut ChatProcess, watcher: &mut ChatProcess) {
    quitter.close_stdin();
    watcher.expect_presence("leave", quitter.member(), 1).await;
    quitter.expect_end().await;
}

/// Starts the app, then chat.mjs as Ada and chat.py as Grace in [`ROOM`]: both
/// joined, each listed in the other's view. `None` (a loud skip) when a
/// client is not installed.
async fn start_pair(transport: &str) -> Option<(TestApp, ChatProcess, ChatProcess)> {
    start_pair_with(transport, false).await
}

/// [`start_pair`], with connection state recovery on `/chat` if `recovery`.
async fn start_pair_with(
    transport: &str,
    recovery: bool,
) -> Option<(TestApp, ChatProcess, ChatProcess)> {
    if !node_client_ready() {
        return None;
    }
    let python = python()?;
    let mut config = test_config();
    if recovery {
        config.recovery_namespaces = vec!["/chat".into()];
    }
    if transport == "polling" {
        // A killed long-polling client drops no connection the server waits
        // on: it is gone when a ping goes unanswered. Short heartbeats keep
        // that (at most interval + timeout) well within one wait, with room
        // for a loaded machine.
        config.ping_interval = Duration::from_secs(1);
        config.ping_timeout = Duration::from_secs(3);
    }
    let app = spawn_app(config).await;
    let url = app.http_url("");

    let mut js = ChatProcess::js(&url, "Ada", transport);
    let joined = js.expect_joined(&[]).await;
    js.check_eq(&joined["history"], json!([]), "history of a new room");

    let mut py = ChatProcess::start(python, "clients/python/chat.py", &url, "Grace", transport);
    py.expect_joined(&[js.member()]).await;
    js.expect_presence("join", py.member(), 2).await;
    Some((app, js, py))
}

/// `sender` types `text`; its ack and `receiver`'s copy are the same message,
/// from `sender`. Returns that message.
async fn say(sender: &mut ChatProcess, receiver: &mut ChatProcess, text: &str) -> Value {
    sender.send(text).await;
    let sent = sender.expect("sent").await["message"].clone();
    sender.check_eq(&sent["text"], json!(text), "sent text");
    sender.check_eq(&sent["from"], sender.member(), "sent from");
    sender.check_eq(&sent["room"], json!(ROOM), "sent room");
    let got = receiver.expect("message").await["message"].clone();
    receiver.check_eq(&got, sent.clone(), "the message as its sender's ack has it");
    sent
}

/// Both clients type `n` messages in a row at the same time. Each sees its own
/// acks in the order typed, with increasing ids, and the other's messages in
/// that order with the same ids. Returns every message.
async fn typed_in_a_row(js: &mut ChatProcess, py: &mut ChatProcess, n: usize) -> Vec<Value> {
    for i in 1..=n {
        js.send(&format!("chat.mjs #{i}")).await;
        py.send(&format!("chat.py #{i}")).await;
    }
    let (js_sent, js_got) = js.sent_and_received(n).await;
    let (py_sent, py_got) = py.sent_and_received(n).await;
    for (client, sent, prefix) in [
        (&mut *js, &js_sent, "chat.mjs"),
        (&mut *py, &py_sent, "chat.py"),
    ] {
        let texts: Vec<String> = (1..=n).map(|i| format!("{prefix} #{i}")).collect();
        client.check_eq(
            &json!(sent.iter().map(|m| &m["text"]).collect::<Vec<_>>()),
            json!(texts),
            "acks in the order typed",
        );
        client.check(increasing(sent), format!("increasing ids: {sent:?}"));
    }
    js.check_eq(
        &json!(js_got),
        json!(py_sent),
        "chat.py's messages, ids and order",
    );
    py.check_eq(
        &json!(py_got),
        json!(js_sent),
        "chat.mjs's messages, ids and order",
    );
    js_sent.into_iter().chain(py_sent).collect()
}

/// Both clients run the same `/history` command; both print the same
/// messages, oldest first. Returns them.
async fn same_history(js: &mut ChatProcess, py: &mut ChatProcess, command: &str) -> Vec<Value> {
    js.send(command).await;
    py.send(command).await;
    let from_js = js.expect("history").await;
    let from_py = py.expect("history").await;
    js.check_eq(&from_js["room"], json!(ROOM), "history room");
    py.check_eq(
        &from_py,
        from_js.clone(),
        "the same history line as chat.mjs",
    );
    let messages = from_js["messages"].as_array().unwrap().clone();
    js.check(increasing(&messages), format!("oldest first: {messages:?}"));
    messages
}

/// Ids strictly increasing (zero-padded decimals: text order is id order).
fn increasing(messages: &[Value]) -> bool {
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m["id"].as_str().unwrap_or(""))
        .collect();
    ids.windows(2)
        .all(|w| w[0].len() == w[1].len() && w[0] < w[1])
}

fn record(js: &ChatProcess, py: &ChatProcess, label: &str, transport: &str) {
    for (client, prefix) in [(js, "js"), (py, "python")] {
        let line = format!(
            "interop: {} {transport}: {} checks ok, 0 failed",
            client.program, client.checks
        );
        record_summary(&line, &format!("{prefix}-chat-{label}"));
    }
}

/// One chat client process with `--json`.
struct ChatProcess {
    /// `chat.mjs` or `chat.py`, for messages and the summary line.
    program: &'static str,
    name: String,
    /// Its socket id, from its `joined` line.
    you: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Everything it wrote to stderr so far, for failure messages.
    stderr: Arc<Mutex<String>>,
    /// Every stdout line so far, for failure messages.
    seen: Vec<String>,
    /// Assertions made about what it printed.
    checks: u32,
}

impl ChatProcess {
    fn js(url: &str, name: &str, transport: &str) -> Self {
        Self::start("node".into(), "clients/js/chat.mjs", url, name, transport)
    }

    fn python(url: &str, name: &str, transport: &str) -> Self {
        let python = project_path(PYTHON);
        Self::start(python, "clients/python/chat.py", url, name, transport)
    }

    fn start(
        program: PathBuf,
        script: &'static str,
        url: &str,
        name: &str,
        transport: &str,
    ) -> Self {
        let mut child = Command::new(&program)
            .args([script, "--url", url, "--name", name, "--room", ROOM])
            .args(["--transport", transport, "--json"])
            .current_dir(project_path(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program:?} {script} starts: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            program: script.rsplit('/').next().unwrap(),
            name: name.to_owned(),
            you: String::new(),
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
            child,
            stderr,
            seen: Vec::new(),
            checks: 0,
        }
    }

    /// This client as a room member.
    fn member(&self) -> Value {
        json!({ "id": self.you, "name": self.name })
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// What it printed so far, for a failure message.
    fn transcript(&self) -> String {
        let mut text = format!("{} ({}) printed:\n", self.program, self.name);
        for line in &self.seen {
            match line.char_indices().nth(300) {
                Some((cut, _)) => writeln!(text, "  {}... ({} bytes)", &line[..cut], line.len()),
                None => writeln!(text, "  {line}"),
            }
            .unwrap();
        }
        write!(text, "stderr:\n{}", self.stderr.lock().unwrap()).unwrap();
        text
    }

    /// The next stdout line, as JSON.
    async fn next(&mut self, waiting_for: &str) -> Value {
        let line = match tokio::time::timeout(LINE_WAIT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => panic!(
                "{} ended while waiting for {waiting_for}\n{}",
                self.program,
                self.transcript()
            ),
            Ok(Err(e)) => panic!("reading {}: {e}", self.program),
            Err(_) => panic!(
                "no {waiting_for} line from {} within {LINE_WAIT:?}\n{}",
                self.program,
                self.transcript()
            ),
        };
        self.seen.push(line.clone());
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{}", self.transcript()))
    }

    /// The next line, which must be of type `kind`.
    async fn expect(&mut self, kind: &str) -> Value {
        let item = self.next(&format!("{kind:?}")).await;
        self.check_eq(&item["type"], json!(kind), "the next line's type");
        item
    }

    /// The next line, which must be exactly `{"type": kind, ...fields}`.
    async fn expect_line(&mut self, kind: &str, fields: Value) -> Value {
        let item = self.next(&format!("{kind:?}")).await;
        let mut want = json!({ "type": kind });
        want.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.check_eq(&item, want, "the next line");
        item
    }

    /// The next line tells that `member` did `event` (join, leave) in
    /// [`ROOM`], which now holds `count`.
    async fn expect_presence(&mut self, event: &str, member: Value, count: u32) -> Value {
        let presence = json!({ "room": ROOM, "event": event, "member": member, "count": count });
        self.expect_line("presence", presence).await
    }

    /// Asks for [`ROOM`]'s members with `command` (`/members`, `/who`):
    /// exactly `members`.
    async fn expect_members(&mut self, command: &str, members: Value) -> Value {
        self.send(command).await;
        self.expect_line("members", json!({ "room": ROOM, "members": members }))
            .await
    }

    /// The next line is a refusal with `code` of a `request`.
    async fn expect_error(&mut self, code: &str, request: &str) {
        let item = self.expect("error").await;
        self.check_eq(&item["code"], json!(code), "error code");
        self.check_eq(&item["request"], json!(request), "refused request");
        self.check(
            item["message"].as_str().is_some_and(|m| !m.is_empty()),
            format!("a human message, got {item}"),
        );
    }

    /// The `joined` and `ready` lines of a fresh client; `others` are the
    /// members already in the room. Sets [`Self::you`].
    async fn expect_joined(&mut self, others: &[Value]) -> Value {
        let joined = self.expect("joined").await;
        self.you = joined["you"].as_str().unwrap_or_default().to_owned();
        self.check(
            !self.you.is_empty(),
            format!("a socket id in `you`: {joined}"),
        );
        self.check_eq(&joined["room"], json!(ROOM), "joined room");
        let mut members = others.to_vec();
        members.push(self.member());
        members.sort_by(|a, b| {
            (a["name"].as_str(), a["id"].as_str()).cmp(&(b["name"].as_str(), b["id"].as_str()))
        });
        self.check_eq(&joined["members"], json!(members), "members, by name");
        self.expect_line("ready", json!({})).await;
        joined
    }

    /// The next `2 * n` lines: `n` acks of its own messages and `n` messages
    /// of the other, in any interleaving. Returns both, each in arrival order.
    async fn sent_and_received(&mut self, n: usize) -> (Vec<Value>, Vec<Value>) {
        let (mut sent, mut received) = (Vec::new(), Vec::new());
        for _ in 0..2 * n {
            let item = self.next("\"sent\" or \"message\"").await;
            match item["type"].as_str() {
                Some("sent") => sent.push(item["message"].clone()),
                Some("message") => received.push(item["message"].clone()),
                _ => panic!(
                    "expected sent or message, got {item}\n{}",
                    self.transcript()
                ),
            }
        }
        self.check_eq(
            &json!([sent.len(), received.len()]),
            json!([n, n]),
            "sent and received",
        );
        (sent, received)
    }

    fn check(&mut self, ok: bool, what: impl std::fmt::Display) {
        assert!(
            ok,
            "{}: expected {what}\n{}",
            self.program,
            self.transcript()
        );
        self.checks += 1;
    }

    fn check_eq(&mut self, got: &Value, want: Value, what: &str) {
        assert!(
            *got == want,
            "{}: {what}: expected {want}\n got {got}\n{}",
            self.program,
            self.transcript()
        );
        self.checks += 1;
    }

    async fn wait(&mut self) -> ExitStatus {
        match tokio::time::timeout(LINE_WAIT, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "{} did not exit within {LINE_WAIT:?}\n{}",
                self.program,
                self.transcript()
            ),
        }
    }

    /// Ends its input; it must exit 0 without printing anything more.
    async fn quit_and_wait(&mut self) {
        self.close_stdin();
        self.expect_end().await;
    }

    /// It exits 0, printing nothing more.
    async fn expect_end(&mut self) {
        let status = self.wait().await;
        self.check(
            status.success(),
            format!("exit 0 after end of input, got {status}"),
        );
        let rest = tokio::time::timeout(LINE_WAIT, self.stdout.next_line()).await;
        let rest = rest.expect("stdout closes").unwrap();
        self.check(
            rest.is_none(),
            format!("nothing after the end, got {rest:?}"),
        );
    }

    async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.wait().await;
    }
}
