//! Several `switchboard` processes on one PostgreSQL database and one Redis
//! of the test's own.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{CREDENTIAL_ENVS, ServerProcess, WAIT, available, fresh_postgres_database};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A redis-server of the test's own, on a free loopback port, no persistence.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// `None` outside CI when redis-server is not installed (a loud skip).
    pub fn start() -> Option<Self> {
        if !available(
            "redis-server (apt-get install redis-server)",
            Path::new(REDIS_SERVER).exists(),
        ) {
            return None;
        }
        let port = free_port();
        let mut server = Self {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn resume(&mut self) {
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (SIGKILL: an outage, not a maintenance).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A cluster: one Redis, one fresh PostgreSQL database, `n` nodes.
pub struct Cluster {
    pub redis: RedisServer,
    pub database_url: String,
    pub nodes: Vec<ServerProcess>,
}

impl Cluster {
    pub async fn start(n: usize) -> Option<Self> {
        Self::start_with(n, &[]).await
    }

    /// `n` nodes, each with the `extra` flags.
    pub async fn start_with(n: usize, extra: &[&str]) -> Option<Self> {
        let redis = RedisServer::start()?;
        let database_url = fresh_postgres_database().await?;
        let mut cluster = Self {
            redis,
            database_url,
            nodes: Vec::new(),
        };
        for _ in 0..n {
            cluster.add_node_with(extra);
        }
        Some(cluster)
    }

    pub fn add_node_with(&mut self, extra: &[&str]) -> SocketAddr {
        let redis_url = self.redis.url();
        let args: Vec<&str> = ["--redis-url", redis_url.as_str()]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let node = ServerProcess::start_on(&self.database_url, &args, &CREDENTIAL_ENVS);
        let addr = node.addr;
        self.nodes.push(node);
        addr
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }
}
