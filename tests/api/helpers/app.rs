//! An isolated in-process app per test (its own port 0, its own store) and
//! the settings tests start it with.

use std::{net::SocketAddr, time::Duration};

use switchboard::{App, ServeConfig, ShutdownHandle, config::DatabaseUrl};
use tokio::task::JoinHandle;

pub struct TestApp {
    pub addr: SocketAddr,
    /// The store it really uses (a temporary file unless the test chose one).
    pub database_url: DatabaseUrl,
    shutdown: ShutdownHandle,
    task: JoinHandle<anyhow::Result<()>>,
    /// The SQLite store of a test that did not choose its own; removed on drop.
    _data_dir: Option<tempfile::TempDir>,
}

/// Namespace connects per second from one address in the test settings:
/// every test client connects from 127.0.0.1, some hundreds within a second
/// (the default, 20 with bursts of 40, is for one client address, and
/// `rate_limits` tests it).
pub const TEST_CONNECT_RATE: u32 = 100_000;

/// Connections one address may hold in the test settings: every test client
/// is 127.0.0.1, some tests open hundreds (`connection_limits` tests the
/// default).
pub const TEST_CONNECTIONS_PER_IP: u32 = 100_000;

/// Default settings on a free loopback port (but [`TEST_CONNECT_RATE`] and
/// [`TEST_CONNECTIONS_PER_IP`]).
pub fn test_config() -> ServeConfig {
    on_test_port(ServeConfig::defaults())
}

/// The official protocol test-suite settings on a free loopback port (but
/// [`TEST_CONNECT_RATE`]).
pub fn conformance_config() -> ServeConfig {
    on_test_port(ServeConfig::conformance_profile())
}

/// `base` on a free loopback port, with the test limits per address.
fn on_test_port(base: ServeConfig) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        connect_rate_limit: TEST_CONNECT_RATE,
        max_connections_per_ip: TEST_CONNECTIONS_PER_IP,
        ..base
    }
}

/// Starts the app on [`test_config`] changed by `configure`.
pub async fn spawn_configured(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let mut config = test_config();
    configure(&mut config);
    spawn_app(config).await
}

/// Builds and starts the app. With the default database URL, the store goes
/// into a fresh temporary directory owned by the returned [`TestApp`], so tests
/// never share data nor write into the project.
pub async fn spawn_app(mut config: ServeConfig) -> TestApp {
    let mut data_dir = None;
    if config.database_url == ServeConfig::defaults().database_url {
        let dir = tempfile::tempdir().expect("temporary directory");
        config.database_url = DatabaseUrl::Sqlite(dir.path().join("switchboard.db"));
        data_dir = Some(dir);
    }
    let database_url = config.database_url.clone();
    let app = App::build(config).await.expect("app builds");
    let addr = app.local_addr();
    let shutdown = app.shutdown_handle();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        database_url,
        shutdown,
        task,
        _data_dir: data_dir,
    }
}

impl TestApp {
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The long-polling URL of Engine.IO session `sid`.
    pub fn polling_url(&self, sid: &str) -> String {
        self.http_url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"))
    }

    /// The WebSocket URL that upgrades Engine.IO session `sid`.
    pub fn upgrade_url(&self, sid: &str) -> String {
        self.ws_url(&format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"))
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Asks for a graceful shutdown and waits for the server task to return.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.shutdown();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops in time")
            .expect("server task does not panic")
    }
}

/// The store engine a test runs on. Chat and notification tests run on both.
#[derive(Debug, Clone, Copy)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// Settings on this engine: a fresh temporary SQLite file (made by
    /// [`spawn_app`]) or a fresh database on the test PostgreSQL server.
    /// `None` when PostgreSQL is not there outside CI (a loud skip).
    pub async fn config(self) -> Option<ServeConfig> {
        let mut config = test_config();
        if let Engine::Postgres = self {
            config.database_url = DatabaseUrl::Postgres(fresh_postgres_database().await?);
        }
        Some(config)
    }

    pub async fn spawn(self) -> Option<TestApp> {
        Some(spawn_app(self.config().await?).await)
    }

    /// Like [`Self::spawn`], with the settings changed by `configure` first.
    pub async fn spawn_with(self, configure: impl FnOnce(&mut ServeConfig)) -> Option<TestApp> {
        let mut config = self.config().await?;
        configure(&mut config);
        Some(spawn_app(config).await)
    }
}

/// Creates an empty database on the PostgreSQL server named by
/// `SWITCHBOARD_TEST_POSTGRES` (`postgres://USER@HOST:PORT`, no database;
/// the README's test command starts one) and returns its URL.
pub async fn fresh_postgres_database() -> Option<String> {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);

    let Ok(server) = std::env::var("SWITCHBOARD_TEST_POSTGRES") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "SWITCHBOARD_TEST_POSTGRES is not set; the README's test command starts PostgreSQL"
            );
        }
        eprintln!(
            "SKIPPED: PostgreSQL tests (SWITCHBOARD_TEST_POSTGRES not set; run ./scripts/test.sh)"
        );
        return None;
    };
    let server = server.trim_end_matches('/');
    let name = format!(
        "sb_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("the test PostgreSQL server answers");
    // `name` is made here from digits and underscores only.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    Some(format!("{server}/{name}"))
}
