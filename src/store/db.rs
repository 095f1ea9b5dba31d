//! The connection pool for either engine, and migrations.

use std::{
    ops::{Deref, DerefMut},
    str::FromStr,
    time::Duration,
};

use anyhow::Context;
use sqlx::{
    Database, Executor, PgPool, Pool, SqlitePool,
    pool::PoolConnection,
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

/// How long a SQLite statement waits for another connection's write lock
/// before failing with "database is locked" (then [`StoreError::Unwritable`]).
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the readiness test write stores on SQLite besides its timestamp, so
/// that it needs real room in the WAL (about ten pages), not just the last
/// free page a failed commit left behind.
const PROBE_PAD_BYTES: i64 = 32 * 1024;

impl Db {
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!(
                            "cannot create the data directory {} (--database-url)",
                            dir.display()
                        )
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
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(SQLITE_CONNECTIONS)
                    .connect_with(options)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot open the SQLite store {} (--database-url)",
                            path.display()
                        )
                    })?;
                SQLITE_MIGRATIONS.run(&pool).await.with_context(|| {
                    format!(
                        "cannot apply the SQLite migrations to {} (--database-url)",
                        path.display()
                    )
                })?;
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
                    .context("cannot apply the PostgreSQL migrations (--database-url)")?;
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

    /// The readiness test write: one row upserted in its own transaction.
    pub(super) async fn probe_write(&self, at: i64) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => {
                let mut tx = WriteTx::begin(pool).await.map_err(StoreError::from_write)?;
                let done = sqlx::query(
                    "INSERT INTO store_probe (id, at, pad) VALUES (1, ?1, zeroblob(?2)) \
                     ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad",
                )
                .bind(at)
                .bind(PROBE_PAD_BYTES)
                .execute(&mut *tx)
                .await;
                tx.finish(done).await.map_err(StoreError::from_write)?;
            }
            Self::Postgres(pool) => {
                let mut tx = WriteTx::begin(pool).await.map_err(StoreError::from_write)?;
                let done = sqlx::query(
                    "INSERT INTO store_probe (id, at) VALUES (1, $1) \
                     ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                )
                .bind(at)
                .execute(&mut *tx)
                .await;
                tx.finish(done).await.map_err(StoreError::from_write)?;
            }
        }
        Ok(())
    }
}

/// How each engine opens a write transaction.
pub(super) trait WriteEngine: Database {
    /// SQLite takes the write lock at once (`IMMEDIATE`): waiting for it
    /// happens before anything was done, under the busy timeout, and a
    /// transaction can never fail to upgrade from read to write halfway.
    const BEGIN: &'static str;
}

impl WriteEngine for sqlx::Sqlite {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
}

impl WriteEngine for sqlx::Postgres {
    const BEGIN: &'static str = "BEGIN";
}

/// One write transaction on a pooled connection, controlled with plain
/// `BEGIN` / `COMMIT` / `ROLLBACK` statements, never left half-open.
///
/// Why not sqlx's `Transaction`: it counts nesting itself, and after a
/// failed `COMMIT` its count and the connection disagree. On SQLite a
/// `COMMIT` that fails with `SQLITE_FULL` rolls back by itself, the
/// transaction's rollback on drop then fails ("no transaction is active")
/// and sqlx still counts one level open: every later transaction on that
/// connection becomes a `SAVEPOINT`, and once one of those fails too, the
/// connection stays inside a transaction that never commits while each
/// `RELEASE SAVEPOINT` "commits" successfully. Writes were acknowledged,
/// seen by that connection only, held the write lock (other writers got
/// "database is locked"), and vanished when the connection closed.
///
/// Here: [`Self::finish`] commits; if anything failed, it rolls back, and a
/// connection whose `ROLLBACK` fails (so its state is unknown) is closed,
/// not returned to the pool. Dropped unfinished (a cancelled future), the
/// connection is closed too, which rolls back whatever it held.
pub(super) struct WriteTx<DB: Database> {
    conn: Option<PoolConnection<DB>>,
}

impl<DB> WriteTx<DB>
where
    DB: WriteEngine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    pub(super) async fn begin(pool: &Pool<DB>) -> Result<Self, sqlx::Error> {
        let conn = pool.acquire().await?;
        let mut tx = Self { conn: Some(conn) };
        match sqlx::raw_sql(DB::BEGIN).execute(&mut *tx).await {
            Ok(_) => Ok(tx),
            Err(e) => {
                tx.abandon().await;
                Err(e)
            }
        }
    }

    /// Commits when `result` is a success and answers it once the commit
    /// succeeded; otherwise (or when the commit fails) leaves nothing of
    /// the transaction behind and answers the error.
    pub(super) async fn finish<R>(
        mut self,
        result: Result<R, sqlx::Error>,
    ) -> Result<R, sqlx::Error> {
        let value = match result {
            Ok(value) => value,
            Err(e) => {
                self.abandon().await;
                return Err(e);
            }
        };
        match sqlx::raw_sql("COMMIT").execute(&mut *self).await {
            Ok(_) => {
                // Clean: back to the pool.
                self.conn.take();
                Ok(value)
            }
            Err(e) => {
                self.abandon().await;
                Err(e)
            }
        }
    }

    /// Rolls back; when even that fails, closes the connection instead of
    /// returning it to the pool.
    async fn abandon(&mut self) {
        if let Err(error) = sqlx::raw_sql("ROLLBACK").execute(&mut **self).await {
            tracing::warn!(%error, "closing a store connection whose rollback failed");
            self.discard();
        } else {
            self.conn.take();
        }
    }

    fn discard(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Detached, the connection closes when dropped (SQLite and
            // PostgreSQL roll back what it held) and the pool opens a new one.
            drop(conn.detach());
        }
    }
}

impl<DB: Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.conn.as_ref().expect("a write transaction in progress")
    }
}

impl<DB: Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn.as_mut().expect("a write transaction in progress")
    }
}

impl<DB: Database> Drop for WriteTx<DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// Whether a failed write failed for a storage reason (so that retrying its
/// items one by one is pointless) rather than because of what it wrote.
pub(super) fn is_storage_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            let code = e.code().unwrap_or_default();
            if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse().is_ok_and(is_sqlite_storage_code)
            } else {
                is_postgres_storage_state(&code)
            }
        }
        // A value that cannot be encoded or a row that does not decode is
        // about the data.
        sqlx::Error::Encode(_)
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::RowNotFound
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => false,
        // I/O, TLS, protocol, pool timeouts or closed, a crashed worker: the
        // database cannot be reached.
        _ => true,
    }
}

/// SQLite primary result codes of a failing storage (the low byte of an
/// extended code): BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, CORRUPT,
/// FULL, CANTOPEN, PROTOCOL, NOLFS, NOTADB, PERM, ABORT.
fn is_sqlite_storage_code(extended: i32) -> bool {
    matches!(extended & 0xff, 3..=11 | 13..=15 | 22 | 26)
}

/// PostgreSQL SQLSTATEs of a failing storage or server: insufficient
/// resources (53: disk full, out of memory), system errors (58: I/O),
/// operator intervention (57: shutdown, crash recovery), connection
/// exceptions (08), a read-only transaction or server (25006), lock
/// timeouts (55P03), transaction rollbacks (40: serialization, deadlock)
/// and internal errors (XX). Data exceptions (22, the `\0` of a text) and
/// constraint violations (23) are the item's.
fn is_postgres_storage_state(state: &str) -> bool {
    ["53", "58", "57", "08", "40", "XX"]
        .iter()
        .any(|class| state.starts_with(class))
        || state == "25006"
        || state == "55P03"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    async fn count(path: &std::path::Path) -> i64 {
        use sqlx::Connection;
        // A connection of its own: it sees only what really committed.
        let mut other =
            sqlx::SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
                .await
                .unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut other)
            .await
            .unwrap()
    }

    /// A `COMMIT` that fails (a deferred foreign key) leaves no transaction
    /// open, a transaction dropped halfway leaves nothing behind, and the
    /// next write on the pool really commits.
    #[tokio::test]
    async fn failed_and_abandoned_transactions_leave_nothing_open() {
        let test = testing::sqlite();
        let DatabaseUrl::Sqlite(path) = &test.url else {
            unreachable!()
        };
        let Db::Sqlite(pool) = Db::connect(&test.url).await.unwrap() else {
            unreachable!()
        };
        sqlx::raw_sql(
            "CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE t (id INTEGER PRIMARY KEY, \
               p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .execute(&pool)
        .await
        .unwrap();

        let mut tx = WriteTx::begin(&pool).await.unwrap();
        let done = sqlx::query("INSERT INTO t (p) VALUES (42)")
            .execute(&mut *tx)
            .await
            .map(drop);
        assert!(done.is_ok(), "the check is deferred to COMMIT");
        let error = tx.finish(done).await.unwrap_err();
        assert!(!is_storage_failure(&error), "{error}");

        let mut tx = WriteTx::begin(&pool).await.unwrap();
        sqlx::query("INSERT INTO t (p) VALUES (NULL)")
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx); // cancelled before finishing

        for _ in 0..8 {
            let mut tx = WriteTx::begin(&pool).await.unwrap();
            let done = sqlx::query("INSERT INTO t (p) VALUES (NULL)")
                .execute(&mut *tx)
                .await
                .map(drop);
            tx.finish(done).await.unwrap();
        }
        assert_eq!(
            count(path).await,
            8,
            "exactly the finished writes committed"
        );
    }

    #[test]
    fn storage_failures_are_told_from_item_failures() {
        for code in [5, 8, 10, 13, 266, 1290, 14] {
            assert!(is_sqlite_storage_code(code), "{code}");
        }
        for code in [1, 19, 787, 1811, 2067, 18, 20] {
            assert!(!is_sqlite_storage_code(code), "{code}");
        }
        for state in ["53100", "58030", "57P01", "08006", "25006", "40001"] {
            assert!(is_postgres_storage_state(state), "{state}");
        }
        for state in ["22021", "22P05", "23505", "23514", "54000"] {
            assert!(!is_postgres_storage_state(state), "{state}");
        }
        assert!(is_storage_failure(&sqlx::Error::PoolTimedOut));
        assert!(!is_storage_failure(&sqlx::Error::RowNotFound));
    }
}
