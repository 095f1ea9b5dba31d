//! The connection pool for either engine, and migrations.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::StoreError;
use crate::config::DatabaseUrl;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A pool on one of the two engines. Queries that differ by dialect match on it.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Connections of each pool: one at a time for the group-commit writer, the rest for reads.
const SQLITE_CONNECTIONS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 8;

impl Db {
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("cannot create the data directory {}", dir.display())
                    })?;
                }
                // WAL lets readers run beside the writer; FULL makes every
                // commit durable (NORMAL may lose the last commits on power loss,
                // and an acked message must not be lost).
                let options = SqliteConnectOptions::from_str("sqlite://")?
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(SQLITE_CONNECTIONS)
                    .connect_with(options)
                    .await
                    .with_context(|| format!("cannot open the SQLite store {}", path.display()))?;
                SQLITE_MIGRATIONS
                    .run(&pool)
                    .await
                    .context("cannot apply the SQLite migrations")?;
                Ok(Self::Sqlite(pool))
            }
            DatabaseUrl::Postgres(url) => {
                let pool = PgPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await
                    // The URL may hold a password: never print it.
                    .context("cannot connect to the PostgreSQL store (--database-url)")?;
                POSTGRES_MIGRATIONS
                    .run(&pool)
                    .await
                    .context("cannot apply the PostgreSQL migrations")?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Self::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}
