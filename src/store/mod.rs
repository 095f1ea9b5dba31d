//! The durable store: chat history and the notification inbox.
//!
//! SQLite by default (one file, WAL, `synchronous=FULL`), PostgreSQL when the
//! database URL says so; migrations are embedded and applied at start for
//! either engine. Every write goes through a [`batch::BatchWriter`]: one task
//! that commits all waiting writes in one transaction, so a burst of messages
//! costs one fsync, not one each. A write's future resolves only after its
//! transaction committed: callers ack after that, never before.

pub mod batch;
pub mod chat;
mod db;
mod id;
pub mod notifications;

use std::sync::Arc;

pub use chat::{ChatStore, MessageId, NewChatMessage, StoredChatMessage};
pub use db::Db;
pub use id::StreamId;
pub use notifications::{CommitListener, NotificationStore, StoredNotification};

use crate::config::DatabaseUrl;

/// The store failed; clients see `internal`, the log gets the details.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the store's writer has stopped")]
    WriterGone,
}

/// Everything durable, opened once per process and shared (cheap to clone).
#[derive(Clone)]
pub struct Store {
    db: Db,
    chat: ChatStore,
    notifications: NotificationStore,
}

impl Store {
    /// Connects (creating a SQLite file and its directory when missing),
    /// applies the migrations, and starts the writers. Must run inside a
    /// tokio runtime. `listener` hears of every committed notification (the
    /// live fan-out).
    pub async fn open(
        url: &DatabaseUrl,
        listener: Arc<dyn CommitListener>,
    ) -> anyhow::Result<Self> {
        let db = Db::connect(url).await?;
        let chat = ChatStore::new(db.clone());
        let notifications = NotificationStore::new(db.clone(), listener);
        Ok(Self {
            db,
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

    /// Answers when the database does (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }

    /// `sqlite` or `postgres`, for logs and readiness output.
    pub fn engine(&self) -> &'static str {
        self.db.engine()
    }
}

/// Milliseconds since the Unix epoch, the contract's `ts`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
