//! `switchboard` processes (the real binary) for tests of what only a process
//! shows: signals, exit codes, logs, `/proc`, SIGKILL.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use super::WAIT;

/// Starts `command` (a `switchboard`, perhaps behind a wrapper) with stdout
/// discarded and stderr read line by line on a thread.
pub fn spawn_reading_stderr(command: &mut Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = command
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
    (child, lines)
}

/// A `switchboard` process logging JSON lines; its stderr is read on a thread.
pub struct ServerProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub addr: std::net::SocketAddr,
    _data_dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// A server on a fresh temporary SQLite store.
    pub fn start(extra: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", data_dir.path().join("sb.db").display());
        let mut server = Self::start_on(&database_url, extra, &[]);
        server._data_dir = Some(data_dir);
        server
    }

    /// A server on the store at `database_url`, with extra flags and variables.
    pub fn start_on(database_url: &str, extra: &[&str], envs: &[(&str, &str)]) -> Self {
        let (child, lines) = spawn_reading_stderr(
            Command::new(env!("CARGO_BIN_EXE_switchboard"))
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
                .envs(envs.iter().copied()),
        );
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
    pub fn wait_for_log(&self, message: &str) -> serde_json::Value {
        self.wait_for_log_where(message, |logged| logged == message)
    }

    /// The next JSON log line whose message starts with `prefix` (messages
    /// that end with a reason).
    pub fn wait_for_log_starting(&self, prefix: &str) -> serde_json::Value {
        self.wait_for_log_where(&format!("{prefix}..."), |logged| logged.starts_with(prefix))
    }

    /// The next JSON log line whose message `matches`; `wanted` names it in
    /// the failure.
    fn wait_for_log_where(
        &self,
        wanted: &str,
        matches: impl Fn(&str) -> bool,
    ) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no log line `{wanted}` within {WAIT:?}"));
            let json: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
            if json["message"].as_str().is_some_and(&matches) {
                return json;
            }
        }
    }

    /// The log lines logged and not read yet, without waiting for more.
    pub fn lines_so_far(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Every log line not read yet (after the process exited: all of them).
    pub fn remaining_lines(&self) -> Vec<String> {
        // After the process exited the reader thread ends at EOF, closing the channel.
        self.lines.iter().collect()
    }

    /// The process id, to read the server's `/proc` entries.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
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
