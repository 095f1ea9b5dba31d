//! Graceful shutdown, in-process and as a real process receiving signals.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn shutdown_disconnects_sockets_and_returns() {
    let app = spawn_app(test_config()).await;
    let mut root = RawSocket::connect_ns(&app, "/", None).await;
    let addr = app.addr;
    app.stop().await.expect("clean shutdown");
    // An Engine.IO close, not a Socket.IO disconnect: clients see a transport
    // close and reconnect (to this node when it is back, or to another).
    let frames = root.until_closed().await;
    assert_eq!(frames, vec![Message::Text("1".into())]);
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A `switchboard` process logging JSON lines; its stderr is read on a thread.
pub(crate) struct ServerProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub(crate) addr: std::net::SocketAddr,
    _data_dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// A server on a fresh temporary SQLite store.
    pub(crate) fn start(extra: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", data_dir.path().join("sb.db").display());
        let mut server = Self::start_on(&database_url, extra, &[]);
        server._data_dir = Some(data_dir);
        server
    }

    /// A server on the store at `database_url`, with extra flags and variables.
    pub(crate) fn start_on(database_url: &str, extra: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--database-url", database_url])
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--log-level",
                "info",
            ])
            .args(extra)
            .envs(envs.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("switchboard starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            lines,
            addr: "0.0.0.0:0".parse().unwrap(),
            _data_dir: None,
        };
        let listening = server.wait_for_log("switchboard listening");
        server.addr = listening["address"].as_str().unwrap().parse().unwrap();
        server
    }

    /// The next JSON log line whose message is `message`.
    fn wait_for_log(&self, message: &str) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no log line `{message}` within {WAIT:?}"));
            let json: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
            if json["message"] == message {
                return json;
            }
        }
    }

    /// Every log line not read yet (after the process exited: all of them).
    pub(crate) fn remaining_lines(&self) -> Vec<String> {
        // After the process exited the reader thread ends at EOF, closing the channel.
        self.lines.iter().collect()
    }

    /// The process id, to read the server's `/proc` entries.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process did not exit within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

async fn signal_stops_cleanly(signal: &str) {
    let mut server = ServerProcess::start(&[]);
    let app_addr = server.addr;
    let mut socket =
        RawSocket::connect_ns_at(app_addr, "/echo", Some(r#"{"token":"very-secret-token"}"#)).await;

    let connected = server.wait_for_log("socket connected");
    assert_eq!(connected["namespace"], "/echo");
    assert_eq!(connected["transport"], "websocket");
    assert!(
        connected["socket_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );

    server.signal(signal);
    let frames = socket.until_closed().await;
    assert_eq!(
        frames,
        vec![Message::Text("1".into())],
        "the close packet is flushed before exit"
    );
    let disconnected = server.wait_for_log("socket disconnected");
    assert_eq!(disconnected["namespace"], "/echo");
    assert!(
        disconnected["reason"]
            .as_str()
            .is_some_and(|r| r.contains("server"))
    );
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "exit status after {signal}");

    // Logs never carry payloads or secrets at info level.
    while let Ok(line) = server.lines.try_recv() {
        assert!(!line.contains("very-secret-token"), "secret in log: {line}");
    }
}

#[tokio::test]
async fn sigterm_disconnects_clients_and_exits_zero() {
    signal_stops_cleanly("TERM").await;
}

#[tokio::test]
async fn sigint_disconnects_clients_and_exits_zero() {
    signal_stops_cleanly("INT").await;
}
