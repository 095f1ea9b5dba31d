//! The README's "Try it": the ten-line clients `clients/js/hello.mjs`
//! (socket.io-client) and `clients/python/hello.py` (python-socketio), shown
//! in the README as they are in their files, run against a server the way the
//! README says (one terminal each): Ada says hello, Bob joins later and sees
//! it in the room's history, then says hello, and Ada sees that. And
//! docs/integration.md's stand-in identity provider, `clients/js/jwks-demo.mjs`:
//! a server on its JWKS takes the tokens it signs.

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::json;

use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::helpers::*;

/// The longest wait for one line (a process start included).
const LINE_WAIT: Duration = Duration::from_secs(15);

#[test]
fn the_docs_show_the_examples_as_they_are() {
    let docs: [(&str, &[&str]); 2] = [
        (
            "README.md",
            &["clients/js/hello.mjs", "clients/python/hello.py"],
        ),
        (
            "docs/integration.md",
            &[
                "clients/js/push-hello.mjs",
                "clients/python/push_hello.py",
                "clients/js/rpc-hello.mjs",
            ],
        ),
    ];
    for (doc, files) in docs {
        let text = std::fs::read_to_string(project_path(doc)).unwrap();
        for file in files {
            let code = std::fs::read_to_string(project_path(file)).unwrap();
            assert!(
                text.contains(&code),
                "{doc} does not show {file} as it is; paste the file into it again"
            );
        }
    }
}

/// docs/integration.md's pushes, from Node and from Python: each reaches a
/// signed-in user as a stored notification.
#[tokio::test]
async fn the_push_examples_reach_a_signed_in_user() {
    let Some((python, app, url)) = clients_and_server().await else {
        return;
    };
    let token = switchboard::notifications::sign_token(
        switchboard::notifications::credentials::DEVELOPMENT_SECRET,
        &switchboard::protocol::UserId::parse("ada").unwrap(),
        Duration::from_secs(60),
    );
    let mut ada =
        SioClient::connect_with_auth(app.addr, "/notifications", Some(json!({ "token": token })))
            .await
            .expect("ada signs in with a development token");
    for (program, script, text) in [
        (
            PathBuf::from("node"),
            "clients/js/push-hello.mjs",
            "hello from Node",
        ),
        (
            python.clone(),
            "clients/python/push_hello.py",
            "hello from Python",
        ),
    ] {
        let printed = run_client(&program, &[script, &url, "ada"], &[]).await;
        let answer: serde_json::Value = serde_json::from_str(printed.trim())
            .unwrap_or_else(|e| panic!("{script} prints the 201's body: {e}: {printed}"));
        assert_eq!(
            answer["notifications"][0]["user"], "ada",
            "{script}: {answer}"
        );
        let got = ada.next_event("notification").await;
        assert_eq!(got["kind"], "welcome", "{script}: {got}");
        assert_eq!(got["data"]["text"], text, "{script}: {got}");
        assert_eq!(got["id"], answer["notifications"][0]["id"], "{script}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_hello_clients_greet_each_other() {
    let Some((python, app, url)) = clients_and_server().await else {
        return;
    };

    let mut ada = Hello::start("node".into(), "clients/js/hello.mjs", &[&url, "Ada"], "Ada");
    ada.expect("sent: hello from Ada").await;

    let mut bob = Hello::start(python, "clients/python/hello.py", &[&url, "Bob"], "Bob");
    bob.expect("(earlier) Ada: hello from Ada").await;
    bob.expect("sent: hello from Bob").await;
    ada.expect("Bob: hello from Bob").await;

    ada.stop().await;
    bob.stop().await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_server_on_the_demo_jwks_takes_its_tokens() {
    if !node_client_ready() {
        return;
    }
    let mut idp = Hello::start(
        "node".into(),
        "clients/js/jwks-demo.mjs",
        &["--port", "0"],
        "jwks-demo.mjs",
    );
    let jwks_url = idp.next().await;
    let base = jwks_url
        .strip_suffix("/.well-known/jwks.json")
        .unwrap_or_else(|| panic!("the first line is the JWKS URL: {jwks_url}"))
        .to_owned();
    idp.next().await;
    let app = spawn_configured(|config| {
        config.jwks_url = Some(jwks_url.parse().unwrap());
        config.jwt_issuer = Some(base.clone());
        config.jwt_audience = Some("switchboard".into());
        config.api_keys = vec![switchboard::config::Secret::new(API_KEY)];
    })
    .await;
    let token = reqwest::get(format!("{base}/token?sub=ada&name=Ada"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut ada =
        SioClient::connect_with_auth(app.addr, "/notifications", Some(json!({ "token": token })))
            .await
            .expect("a token of the demo provider signs ada in");
    let pushed = Api::new(&app).push(&["ada"], "hello", json!({})).await;
    assert_eq!(pushed["online"], 1, "{pushed}");
    let notification = ada.next_event("notification").await;
    assert_eq!(notification["user"], "ada", "{notification}");

    // A token it did not sign (the development secret's) is refused.
    let other = switchboard::notifications::sign_token(
        switchboard::notifications::credentials::DEVELOPMENT_SECRET,
        &switchboard::protocol::UserId::parse("ada").unwrap(),
        Duration::from_secs(60),
    );
    let refused =
        SioClient::connect_with_auth(app.addr, "/notifications", Some(json!({ "token": other })))
            .await;
    assert!(refused.is_err(), "a token the provider did not sign");
    idp.stop().await;
    app.stop().await.unwrap();
}

/// docs/integration.md's backend: it lets in the right password as that
/// user, in room `team`; it answers `add`, and `shout` reaches the team.
#[tokio::test]
async fn the_demo_backend_decides_who_connects_and_answers_events() {
    let Some((backend, url)) = demo_backend().await else {
        return;
    };
    let app = spawn_configured(|config| {
        config.connect_proxy_url = Some(format!("{url}/connect").parse().unwrap());
        config.connect_proxy_namespaces = vec!["/rpc".into()];
        config.rpc_namespaces = vec!["/rpc".into()];
        config.rpc_proxy_url = Some(format!("{url}/rpc").parse().unwrap());
    })
    .await;
    let sign_in = |user: &str, password: &str| {
        SioClient::connect_with_auth(
            app.addr,
            "/rpc",
            Some(json!({ "user": user, "password": password })),
        )
    };
    let refused = sign_in("mallory", "guess").await.err();
    assert_eq!(refused.as_deref(), Some("forbidden: wrong password"));

    let mut ada = sign_in("ada", "open sesame").await.expect("ada gets in");
    let mut grace = sign_in("grace", "open sesame")
        .await
        .expect("grace gets in");
    let id = ada.send_with_ack("add", &[json!(2), json!(3)]).await;
    assert_eq!(ada.ack(id).await, vec![json!({ "ok": true, "reply": 5 })]);
    let id = ada.send_with_ack("shout", &[json!("hello, team")]).await;
    assert_eq!(
        ada.ack(id).await,
        vec![json!({ "ok": true, "reply": "shouted" })]
    );
    let shouted = json!({ "from": "ada", "text": "hello, team" });
    assert_eq!(grace.next_event("shouted").await, shouted);
    assert_eq!(ada.next_event("shouted").await, shouted);
    let id = grace.send_with_ack("dance", &[]).await;
    let answer = grace.ack(id).await;
    assert_eq!(answer[0]["ok"], false, "{answer:?}");
    assert_eq!(answer[0]["error"]["code"], "bad_request", "{answer:?}");

    // The guide's client: its three lines (the shout's copy comes before
    // the shout's ack: the backend's actions run first), and the refusal.
    let app_url = app.http_url("");
    let mut rpc = Hello::start(
        "node".into(),
        "clients/js/rpc-hello.mjs",
        &[&app_url, "ada"],
        "rpc-hello.mjs",
    );
    rpc.expect(r#"add: {"ok":true,"reply":5}"#).await;
    rpc.expect("shouted: ada: hello from ada").await;
    rpc.expect(r#"shout: {"ok":true,"reply":"shouted"}"#).await;
    assert_eq!(
        grace.next_event("shouted").await,
        json!({ "from": "ada", "text": "hello from ada" })
    );
    rpc.stop().await;
    let printed = run_client(
        &"node".into(),
        &["clients/js/rpc-hello.mjs", &app_url, "ada", "guess"],
        &[],
    )
    .await;
    assert_eq!(printed, "refused: forbidden: wrong password\n");
    backend.stop().await;
    app.stop().await.unwrap();
}

/// The demo backend in front of `/chat` with `--chat-auth required`: the
/// user it lets in is the member (its id as `user` and, with no `name` in
/// its data, as the name), whatever name the client asks for.
#[tokio::test]
async fn a_user_the_connect_proxy_lets_in_is_the_chat_member() {
    let Some((backend, url)) = demo_backend().await else {
        return;
    };
    let app = spawn_configured(|config| {
        config.connect_proxy_url = Some(format!("{url}/connect").parse().unwrap());
        config.connect_proxy_namespaces = vec!["/chat".into()];
        config.chat_auth = switchboard::namespaces::auth::AuthMode::Required;
    })
    .await;
    let auth = json!({ "user": "ada", "password": "open sesame" });
    let mut ada = SioClient::connect_with_auth(app.addr, "/chat", Some(auth))
        .await
        .expect("the backend lets ada in, no token needed");
    let joined = ada
        .request_ok("join", json!({ "room": "lobby", "name": "Mallory" }))
        .await;
    assert_eq!(joined["members"][0]["user"], "ada", "{joined}");
    assert_eq!(joined["members"][0]["name"], "ada", "{joined}");
    let refused = SioClient::connect_with_auth(
        app.addr,
        "/chat",
        Some(json!({ "user": "ada", "password": "guess" })),
    )
    .await
    .err();
    assert_eq!(refused.as_deref(), Some("forbidden: wrong password"));
    backend.stop().await;
    app.stop().await.unwrap();
}

/// `clients/js/backend-demo.mjs` on a free port, and its URL; `None` (a loud
/// skip, a failure in CI) without Node's packages.
async fn demo_backend() -> Option<(Hello, String)> {
    if !node_client_ready() {
        return None;
    }
    let mut backend = Hello::start(
        "node".into(),
        "clients/js/backend-demo.mjs",
        &["--port", "0"],
        "backend-demo.mjs",
    );
    let url = backend.next().await;
    Some((backend, url))
}

/// The Python interpreter, a development-mode server and its URL; `None` (a
/// loud skip, a failure in CI) when Node's or Python's packages are missing.
async fn clients_and_server() -> Option<(PathBuf, TestApp, String)> {
    if !node_client_ready() {
        return None;
    }
    let python = python()?;
    let app = spawn_app(test_config()).await;
    let url = app.http_url("");
    Some((python, app, url))
}

/// One hello client, its stdout read line by line.
struct Hello {
    name: &'static str,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Hello {
    /// `program script ARGS...`, as the README runs it (a hello client: the
    /// URL and the name, room `lobby`); `name` labels its failures.
    fn start(program: PathBuf, script: &'static str, args: &[&str], name: &'static str) -> Self {
        let mut child = Command::new(&program)
            .arg(script)
            .args(args)
            .current_dir(project_path(""))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program:?} {script} starts: {e}"));
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            name,
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line is `want` (in order: anything else first fails).
    async fn expect(&mut self, want: &str) {
        let line = self.next_waiting_for(want).await;
        assert_eq!(line, want, "{}: lines so far {:?}", self.name, self.seen);
        self.seen.push(line);
    }

    /// The next line, whatever it is.
    async fn next(&mut self) -> String {
        let line = self.next_waiting_for("any line").await;
        self.seen.push(line.clone());
        line
    }

    async fn next_waiting_for(&mut self, want: &str) -> String {
        tokio::time::timeout(LINE_WAIT, self.lines.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} printed no line within {LINE_WAIT:?} (waiting for {want:?}; so far {:?})",
                    self.name, self.seen
                )
            })
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "{} ended (waiting for {want:?}; so far {:?})",
                    self.name, self.seen
                )
            })
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}
