//! The server a benchmark runs against: one in this process, a separate
//! server binary it starts, or one already running.

use std::{
    future::Future,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use switchboard::{App, ServeConfig, ShutdownHandle, config::DatabaseUrl};
use tempfile::TempDir;

/// Runs a benchmark's `main` future on a multi-threaded tokio runtime.
pub fn block_on<F: Future<Output = anyhow::Result<()>>>(run: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run)
}

/// `HOST:PORT` of a `--url` such as `http://HOST:PORT/`.
pub fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// The store of an in-process server: `--database-url` (`postgres...`, or a
/// SQLite path with or without `sqlite://`), or else `bench.db` in a new
/// temporary directory, which the caller keeps until the server is stopped.
pub fn store(database_url: Option<&str>) -> anyhow::Result<(DatabaseUrl, Option<TempDir>)> {
    Ok(match database_url {
        Some(url) if url.starts_with("postgres") => (DatabaseUrl::Postgres(url.to_owned()), None),
        Some(url) => (
            DatabaseUrl::Sqlite(url.trim_start_matches("sqlite://").into()),
            None,
        ),
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("bench.db");
            (DatabaseUrl::Sqlite(path), Some(dir))
        }
    })
}

/// `postgres` or `sqlite`, as the benchmarks print it.
pub fn store_name(url: &DatabaseUrl) -> &'static str {
    if matches!(url, DatabaseUrl::Postgres(_)) {
        "postgres"
    } else {
        "sqlite"
    }
}

/// Settings of an in-process server: the defaults, on a free loopback port,
/// log level `warn`, on `store`.
pub fn config(store: DatabaseUrl) -> ServeConfig {
    let mut config = ServeConfig::defaults();
    config.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    config.log_level = "warn".into();
    config.database_url = store;
    config
}

/// A benchmark measures throughput, not the per-socket and per-address
/// limits: lift them (all its clients share one address, 127.0.0.1).
pub fn lift_rate_limits(config: &mut ServeConfig) {
    config.rate_limit = 100_000;
    config.rate_burst = 100_000;
    config.connect_rate_limit = 100_000;
    config.max_connections_per_ip = 1_000_000;
}

/// The server in this process (same tokio runtime and cores as the clients).
pub struct InProcess {
    /// `HOST:PORT` it listens on.
    pub addr: String,
    stop: ShutdownHandle,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    pub async fn start(config: ServeConfig) -> anyhow::Result<Self> {
        let app = App::build(config).await?;
        let addr = app.local_addr().to_string();
        let stop = app.shutdown_handle();
        let task = tokio::spawn(app.run_until_stopped());
        Ok(Self { addr, stop, task })
    }

    /// Shuts it down gracefully and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.shutdown();
        self.task.await??;
        Ok(())
    }
}

/// The server binary as a child process, stopped (SIGTERM, then SIGKILL) at the end.
pub struct SpawnedServer {
    child: Child,
    /// `HOST:PORT` it listens on.
    pub addr: String,
}

impl SpawnedServer {
    /// Starts `path` on a free loopback port with `db` as its SQLite store,
    /// log level `warn` and `extra` arguments, and waits until `/readyz`
    /// answers 200 (at most 30 s).
    pub async fn start(path: &str, db: &Path, extra: &[String]) -> anyhow::Result<Self> {
        // A free loopback port: bind port 0, note it, let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = Command::new(path);
        command
            .arg("--listen")
            .arg(&addr)
            .arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .arg("--log-level")
            .arg("warn")
            // All the bots share one address: lift the per-address limits.
            .args(["--connect-rate-limit", "100000"])
            .args(["--max-connections-per-ip", "1000000"])
            .args(extra)
            .stdin(Stdio::null());
        let child = command.spawn().with_context(|| format!("start {path}"))?;
        let mut server = Self { child, addr };
        // Ready when /readyz answers 200.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("{path} exited at start: {status}");
            }
            let ready = reqwest::get(format!("http://{}/readyz", server.addr)).await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                server.stop()?;
                bail!("{path} not ready after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        terminate(&mut self.child, Duration::from_secs(10))
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        kill_if_running(&mut self.child);
    }
}

/// Stops a child the bench started: SIGTERM to its pid, then SIGKILL if it
/// is still there after `grace`.
pub fn terminate(child: &mut Child, grace: Duration) -> anyhow::Result<()> {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().ok();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// On an early return (a `Drop`): kills a child still running; one already
/// stopped with [`terminate`] is found reaped.
pub fn kill_if_running(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        child.kill().ok();
        child.wait().ok();
    }
}

/// Where the server is, and what to stop at the end.
pub enum Server {
    /// Already running (`--url`), with its pid when given.
    External {
        pid: Option<u32>,
    },
    Spawned(SpawnedServer),
    InProcess(InProcess),
}

impl Server {
    /// The server's process: this one for an in-process server.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Server::External { pid } => *pid,
            Server::Spawned(s) => Some(s.pid()),
            Server::InProcess(_) => Some(std::process::id()),
        }
    }

    pub fn is_in_process(&self) -> bool {
        matches!(self, Server::InProcess(_))
    }

    /// Stops a spawned or in-process server; leaves an external one running.
    pub async fn stop(self) -> anyhow::Result<()> {
        match self {
            Server::External { .. } => Ok(()),
            Server::Spawned(spawned) => spawned.stop(),
            Server::InProcess(server) => server.stop().await,
        }
    }
}

/// A sample's value from the server's `/metrics` (`NAME VALUE` lines), if it answers.
pub async fn metric(addr: &str, name: &str) -> Option<f64> {
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("{name} ");
    body.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
}
