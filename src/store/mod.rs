//! The durable store: chat history and the notification inbox.
//!
//! SQLite by default (one file, WAL, `synchronous=FULL`), PostgreSQL when the
//! database URL says so; migrations are embedded and applied at start for
//! either engine. Every write goes through a [`batch::BatchWriter`]: one task
//! that commits all waiting writes in one transaction, so a burst of messages
//! costs one fsync, not one each. A write's future resolves only after its
//! transaction committed: callers ack after that, never before.
//!
//! A write that fails leaves nothing behind: its transaction is rolled back
//! or its connection closed ([`db::WriteTx`]), so the next "committed" is a
//! real commit. A failure of the storage itself (disk full, read-only, I/O
//! error, database unreachable) is [`StoreError::Unwritable`], refused to
//! clients as such and tracked by [`health::Health`] for `/readyz` and
//! `/metrics`; a failure caused by one item fails that item alone.

pub mod batch;
pub mod chat;
mod db;
pub mod health;
pub mod notifications;

use std::sync::Arc;

pub use chat::{ChatStore, NewChatMessage, StoredChatMessage};
pub use db::Db;
pub use health::Health;
pub use notifications::{CommitListener, NotificationStore, StoredNotification};

use crate::{config::DatabaseUrl, tasks::Tasks};

/// What clients are told when the store cannot write (HTTP 503, or an
/// `internal` ack): nothing was stored, and a retry later may succeed.
pub const UNWRITABLE_MESSAGE: &str = "the store cannot write (storage full, read-only or failing): nothing was stored, try again later";

/// The store failed; clients see `internal`, the log gets the details. One
/// shape for reads and writes: it is cheap to clone (the engine's error is
/// shared), because one failed group commit answers every caller in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// The storage failed, not the data: disk full, read-only, I/O error,
    /// the database unreachable or locked. Nothing of the write was stored.
    #[error("the store cannot write: {0}")]
    Unwritable(#[source] Arc<sqlx::Error>),
    #[error("the store's writer has stopped")]
    WriterGone,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(Arc::new(error))
    }
}

impl StoreError {
    /// A failed write, classified: [`Self::Unwritable`] when the storage
    /// failed, [`Self::Database`] when the statement or its data did.
    pub(crate) fn from_write(error: sqlx::Error) -> Self {
        if db::is_storage_failure(&error) {
            Self::Unwritable(Arc::new(error))
        } else {
            Self::Database(Arc::new(error))
        }
    }

    /// The storage cannot write (clients get [`UNWRITABLE_MESSAGE`]).
    pub fn is_unwritable(&self) -> bool {
        matches!(self, Self::Unwritable(_))
    }

    /// Caused by the written item itself (a value the engine refuses, a
    /// constraint): the other items of its batch can still be stored.
    pub fn is_item_failure(&self) -> bool {
        matches!(self, Self::Database(_))
    }

    /// For tests: a storage failure (the disk is full).
    #[cfg(test)]
    pub(crate) fn disk_full() -> Self {
        Self::Unwritable(Arc::new(sqlx::Error::Protocol("disk full".into())))
    }

    /// For tests: an item the engine refuses.
    #[cfg(test)]
    pub(crate) fn bad_item() -> Self {
        Self::Database(Arc::new(sqlx::Error::Protocol(
            "this item cannot be stored".into(),
        )))
    }
}

/// Everything durable, opened once per process and shared (cheap to clone).
#[derive(Clone)]
pub struct Store {
    db: Db,
    health: Health,
    /// Where the writers and the test writes run.
    tasks: Tasks,
    chat: ChatStore,
    notifications: NotificationStore,
}

impl Store {
    /// Connects (creating a SQLite file and its directory when missing),
    /// applies the migrations, and starts the writers. Must run inside a
    /// tokio runtime. `listener` hears of every committed notification (the
    /// live fan-out); the writers are `tasks`' writers.
    pub async fn open(
        url: &DatabaseUrl,
        listener: Arc<dyn CommitListener>,
        tasks: &Tasks,
    ) -> anyhow::Result<Self> {
        let db = Db::connect(url).await?;
        let health = Health::new();
        let chat = ChatStore::new(db.clone(), health.clone(), tasks);
        let notifications = NotificationStore::new(db.clone(), listener, health.clone(), tasks);
        Ok(Self {
            db,
            health,
            tasks: tasks.clone(),
            chat,
            notifications,
        })
    }

    pub fn chat(&self) -> &ChatStore {
        &self.chat
    }

    pub fn notifications(&self) -> &NotificationStore {
        &self.notifications
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }

    /// Ready for `/readyz`: the database answers and takes writes. Fails
    /// from the moment a write fails for a storage reason until a write
    /// succeeds again. Cheap: the test write ([`Health::check`]) runs at
    /// most once per [`health::PROBE_INTERVAL`], and not at all while real
    /// writes are succeeding.
    pub async fn check_writable(&self) -> Result<(), health::NotWritable> {
        self.health.check(&self.db, &self.tasks).await
    }

    /// Write counters and state, for `/metrics` ([`Health::collectors`]).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// `sqlite` or `postgres`, for logs and readiness output.
    pub fn engine(&self) -> &'static str {
        self.db.engine()
    }
}

/// Fresh databases for the store's own tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::config::DatabaseUrl;

    pub struct TestDb {
        pub url: DatabaseUrl,
        _dir: Option<tempfile::TempDir>,
    }

    /// A SQLite file in a fresh directory (removed on drop).
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        TestDb {
            url: DatabaseUrl::Sqlite(dir.path().join("store.db")),
            _dir: Some(dir),
        }
    }

    /// A fresh database on the server `SWITCHBOARD_TEST_POSTGRES` names;
    /// `None` (a loud skip) when it is unset outside CI.
    pub async fn postgres() -> Option<TestDb> {
        use sqlx::Connection;
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let Ok(server) = std::env::var("SWITCHBOARD_TEST_POSTGRES") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "SWITCHBOARD_TEST_POSTGRES is not set; the README's test command starts PostgreSQL"
            );
            eprintln!("SKIPPED: PostgreSQL store tests (SWITCHBOARD_TEST_POSTGRES not set)");
            return None;
        };
        let server = server.trim_end_matches('/');
        let name = format!(
            "sb_unit_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("the test PostgreSQL server answers");
        // `name` is made here from digits and underscores only.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        Some(TestDb {
            url: DatabaseUrl::Postgres(format!("{server}/{name}")),
            _dir: None,
        })
    }
}
