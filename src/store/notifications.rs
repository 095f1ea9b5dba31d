//! The per-user notification inbox: push (with an optional idempotency
//! record), the claim of a live push's idempotency key, delivery receipts,
//! read state, listing. One function per write: [`NotificationStore::push`],
//! [`NotificationStore::claim_key`], [`NotificationStore::mark_delivered`],
//! [`NotificationStore::mark_read`].
//!
//! Every write goes through one group-committing writer task. After a batch
//! commits, the writer hands the new notifications to a [`CommitListener`]
//! (the live fan-out) *in commit order, before answering anyone*: a user's
//! sockets therefore see live notifications in id order, and a socket that
//! subscribed before reading the store cannot miss one.

use std::sync::Arc;

use serde_json::Value;

use super::{Db, Health, StoreError, batch::BatchWriter, db::WriteTx};
use crate::protocol::{StreamId, now_ms};
use crate::tasks::Tasks;

/// The PostgreSQL advisory lock key of notification writes (any constant
/// unique to this use).
const NOTIFICATION_WRITE_LOCK: i64 = 0x5357_4254_4e4f_5449; // "SWBTNOTI"

/// How long an `Idempotency-Key` answers with its first response.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// A notification to store for one user.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user: String,
    pub kind: String,
    pub data: Value,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNotification {
    pub id: StreamId,
    pub user: String,
    pub kind: String,
    pub data: Value,
    pub ts: i64,
    pub read: bool,
}

/// Claims an `Idempotency-Key` in the push's own transaction.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    /// API key id + `:` + the header's value.
    pub scope_key: String,
    /// SHA-256 of the request body, hex.
    pub body_hash: String,
}

/// The 201 of a push: what the first request answers and, when it claimed an
/// `Idempotency-Key`, what was stored with the key (in the same transaction)
/// for every retry to answer. Serialized as it is, in this field order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PushResponse {
    /// `[{"id", "user"}]`, one per stored notification.
    pub notifications: Value,
    /// Sockets the push reached, counted by the caller before the write.
    pub online: i64,
}

/// What an earlier request with the same key recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub body_hash: String,
    /// The first response, complete.
    pub response: PushResponse,
}

/// Which notifications `read` marks.
#[derive(Debug, Clone)]
pub enum ReadTarget {
    Ids(Vec<StreamId>),
    All,
}

/// One write for the writer task.
#[derive(Debug)]
enum Write {
    Push {
        notifications: Vec<NewNotification>,
        idempotency: Option<IdempotencyClaim>,
        online: i64,
    },
    /// The key of a live-only push, recorded with its whole response before
    /// the push is sent: nothing is stored but the key.
    Claim {
        claim: IdempotencyClaim,
        online: i64,
    },
    Delivered(StreamId),
    Read {
        user: String,
        target: ReadTarget,
    },
}

/// What a write did.
#[derive(Debug)]
enum Outcome {
    Pushed(PushOutcome),
    Done,
    Read { unread: i64 },
}

/// The result of a push.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    /// Committed (and handed to the listener); `response` is the 201, the
    /// very one recorded with the key if there was a claim.
    Stored {
        notifications: Vec<StoredNotification>,
        response: PushResponse,
    },
    /// The `Idempotency-Key` was used within the window: nothing was written.
    Duplicate(IdempotencyRecord),
}

/// Told about every committed notification, in commit order, before the
/// writer answers; returns how many sockets each one was queued for (the
/// store does not use the count: a push's `online` is counted before its
/// write, so that it can be recorded with its `Idempotency-Key`).
pub trait CommitListener: Send + Sync + 'static {
    fn committed(&self, notifications: &[StoredNotification]) -> Vec<usize>;
}

/// The query filter of `list`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListQuery {
    pub unread_only: bool,
    pub before: Option<StreamId>,
    pub limit: u32,
}

/// The notification part of the store. Cheap to clone.
#[derive(Clone)]
pub struct NotificationStore {
    db: Db,
    writer: BatchWriter<Write, Outcome>,
}

/// Runs the same code on either pool; `$sql` turns a PostgreSQL-style
/// statement (`$1`) into the pool's dialect (SQLite reads `?1`).
macro_rules! on_pool {
    ($db:expr, |$pool:ident, $sql:ident| $body:expr) => {
        match $db {
            Db::Sqlite($pool) => {
                let $sql = |s: &str| sqlx::AssertSqlSafe(s.replace('$', "?"));
                $body
            }
            Db::Postgres($pool) => {
                let $sql = |s: &str| sqlx::AssertSqlSafe(s.to_owned());
                $body
            }
        }
    };
}

type Row = (i64, String, String, String, i64, Option<i64>);

/// The unread count beside one row of a page (all `None` for an empty page).
type CountedRow = (
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

const COLUMNS: &str = "id, user_id, kind, data, ts, read_at";

impl NotificationStore {
    pub(super) fn new(
        db: Db,
        listener: Arc<dyn CommitListener>,
        health: Health,
        tasks: &Tasks,
    ) -> Self {
        let commit_db = db.clone();
        let writer = BatchWriter::spawn("notifications", health, tasks, move |batch| {
            Box::pin(commit(commit_db.clone(), batch, listener.clone()))
        });
        Self { db, writer }
    }

    /// Stores one notification per entry (or, with a claim whose key was
    /// already used, nothing); resolves after the commit and the fan-out.
    /// `online` (the sockets the push reaches, counted before) goes into the
    /// response, which a claim records complete in the same transaction.
    pub async fn push(
        &self,
        notifications: Vec<NewNotification>,
        idempotency: Option<IdempotencyClaim>,
        online: i64,
    ) -> Result<PushOutcome, StoreError> {
        match self
            .writer
            .submit(Write::Push {
                notifications,
                idempotency,
                online,
            })
            .await?
        {
            Outcome::Pushed(outcome) => Ok(outcome),
            other => Err(unexpected(&other)),
        }
    }

    /// Claims `claim`'s key for a live-only push (topic, broadcast) that
    /// reached `online` sockets, recording the response (no stored
    /// notifications) in one transaction; resolves after the commit, before
    /// the caller sends anything, so a concurrent retry finds the key and
    /// sends nothing. [`PushOutcome::Duplicate`] when the key was used.
    pub async fn claim_key(
        &self,
        claim: IdempotencyClaim,
        online: i64,
    ) -> Result<PushOutcome, StoreError> {
        match self.writer.submit(Write::Claim { claim, online }).await? {
            Outcome::Pushed(outcome) => Ok(outcome),
            other => Err(unexpected(&other)),
        }
    }

    /// Records the first ack of a notification (later ones change nothing).
    pub async fn mark_delivered(&self, id: StreamId) -> Result<(), StoreError> {
        self.writer.submit(Write::Delivered(id)).await.map(drop)
    }

    /// Marks notifications of `user` read; answers the user's unread count
    /// after the change. Ids of other users' notifications change nothing.
    pub async fn mark_read(&self, user: &str, target: ReadTarget) -> Result<i64, StoreError> {
        match self
            .writer
            .submit(Write::Read {
                user: user.to_owned(),
                target,
            })
            .await?
        {
            Outcome::Read { unread } => Ok(unread),
            other => Err(unexpected(&other)),
        }
    }

    /// The earlier request's record, if `scope_key` was used within the window.
    pub async fn idempotency_record(
        &self,
        scope_key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let cutoff = now_ms() - IDEMPOTENCY_WINDOW_MS;
        let row: Option<(String, String, Option<i64>)> = on_pool!(&self.db, |pool, sql| {
            sqlx::query_as(sql(
                "SELECT body_hash, response, online FROM idempotency_keys \
                 WHERE scope_key = $1 AND created_at >= $2",
            ))
            .bind(scope_key)
            .bind(cutoff)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(record_from_row))
    }

    /// The user's notifications, newest first, and their unread count.
    pub async fn list(
        &self,
        user: &str,
        query: ListQuery,
    ) -> Result<(Vec<StoredNotification>, i64), StoreError> {
        let before = query.before.map_or(i64::MAX, |id| id.0);
        let unread_filter = if query.unread_only {
            " AND read_at IS NULL"
        } else {
            ""
        };
        // One statement, so one snapshot: the page and the count agree. Read
        // apart, a push committed between them was counted but not listed,
        // and a client adding what arrived meanwhile counted it twice. The
        // count is the left side, so an empty page still has its row.
        let statement = format!(
            "SELECT counted.unread, page.id, page.user_id, page.kind, page.data, page.ts, \
             page.read_at \
             FROM (SELECT COUNT(*) AS unread FROM notifications \
                   WHERE user_id = $1 AND read_at IS NULL) AS counted \
             LEFT JOIN (SELECT {COLUMNS} FROM notifications \
                        WHERE user_id = $1 AND id < $2{unread_filter} \
                        ORDER BY id DESC LIMIT $3) AS page ON 1 = 1 \
             ORDER BY page.id DESC"
        );
        let rows: Vec<CountedRow> = on_pool!(&self.db, |pool, sql| {
            sqlx::query_as(sql(&statement))
                .bind(user)
                .bind(before)
                .bind(i64::from(query.limit))
                .fetch_all(pool)
                .await?
        });
        let unread = rows.first().map_or(0, |row| row.0);
        let page = rows
            .into_iter()
            .filter_map(|(_, id, user, kind, data, ts, read_at)| {
                Some(from_row((id?, user?, kind?, data?, ts?, read_at)))
            })
            .collect();
        Ok((page, unread))
    }

    /// The user's notifications with an id above `after`, oldest first, at
    /// most `limit` (replay).
    pub async fn after(
        &self,
        user: &str,
        after: StreamId,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let rows: Vec<Row> = on_pool!(&self.db, |pool, sql| {
            sqlx::query_as(sql(&format!(
                "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND id > $2 \
                 ORDER BY id ASC LIMIT $3"
            )))
            .bind(user)
            .bind(after.0)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// The user's newest id (0 when none): where a socket without `since` starts.
    pub async fn newest_id(&self, user: &str) -> Result<StreamId, StoreError> {
        let (newest,): (Option<i64>,) = on_pool!(&self.db, |pool, sql| {
            sqlx::query_as(sql("SELECT MAX(id) FROM notifications WHERE user_id = $1"))
                .bind(user)
                .fetch_one(pool)
                .await?
        });
        Ok(StreamId(newest.unwrap_or(0)))
    }

    /// The delivery receipt of one notification (ms since the epoch).
    pub async fn delivered_at(&self, id: StreamId) -> Result<Option<i64>, StoreError> {
        let row: Option<(Option<i64>,)> = on_pool!(&self.db, |pool, sql| {
            sqlx::query_as(sql("SELECT delivered_at FROM notifications WHERE id = $1"))
                .bind(id.0)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.and_then(|(at,)| at))
    }

    /// Deletes idempotency records older than the window.
    pub async fn purge_idempotency_keys(&self) -> Result<u64, StoreError> {
        let cutoff = now_ms() - IDEMPOTENCY_WINDOW_MS;
        let done = on_pool!(&self.db, |pool, sql| {
            sqlx::query(sql("DELETE FROM idempotency_keys WHERE created_at < $1"))
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }
}

fn unexpected(outcome: &Outcome) -> StoreError {
    tracing::error!(
        ?outcome,
        "notification writer answered the wrong kind of outcome"
    );
    StoreError::WriterGone
}

fn from_row((id, user, kind, data, ts, read_at): Row) -> StoredNotification {
    StoredNotification {
        id: StreamId(id),
        user,
        kind,
        // Written by this code from a `Value`; a row edited by hand into
        // invalid JSON is shown as a string rather than failing the read.
        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
        ts,
        read: read_at.is_some(),
    }
}

fn record_from_row(
    (body_hash, response, online): (String, String, Option<i64>),
) -> IdempotencyRecord {
    IdempotencyRecord {
        body_hash,
        response: PushResponse {
            notifications: serde_json::from_str(&response).unwrap_or(Value::Array(Vec::new())),
            // Written with the claim; NULL only in a record of an older
            // version, which completed it after answering.
            online: online.unwrap_or(0),
        },
    }
}

/// The `notifications` part of the 201.
fn response_ids(stored: &[StoredNotification]) -> Value {
    stored
        .iter()
        .map(|n| serde_json::json!({ "id": n.id, "user": n.user }))
        .collect()
}

/// Claims an `Idempotency-Key` in the transaction `$tx` of a write batch:
/// `None` when claimed, or the live record that holds it (nothing written).
/// A macro, as [`on_pool!`] gives each engine its own transaction type.
macro_rules! claim_key {
    ($tx:ident, $sql:ident, $claim:expr, $online:expr, $ts:expr) => {{
        let (claim, online, ts): (&IdempotencyClaim, i64, i64) = ($claim, $online, $ts);
        // Claims the key unless a live record holds it; an expired record is
        // taken over. A push completes the response before its transaction
        // commits: whoever finds the key (a later write of this batch, or
        // another node's transaction, serialized by the advisory lock and the
        // row) reads all of it.
        let claimed = sqlx::query($sql(
            "INSERT INTO idempotency_keys (scope_key, body_hash, response, online, created_at) \
             VALUES ($1, $2, '[]', $3, $4) \
             ON CONFLICT (scope_key) DO UPDATE SET body_hash = excluded.body_hash, \
             response = '[]', online = excluded.online, created_at = excluded.created_at \
             WHERE idempotency_keys.created_at < $5",
        ))
        .bind(&claim.scope_key)
        .bind(&claim.body_hash)
        .bind(online)
        .bind(ts)
        .bind(ts - IDEMPOTENCY_WINDOW_MS)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            let row: (String, String, Option<i64>) = sqlx::query_as($sql(
                "SELECT body_hash, response, online FROM idempotency_keys WHERE scope_key = $1",
            ))
            .bind(&claim.scope_key)
            .fetch_one(&mut *$tx)
            .await?;
            Some(record_from_row(row))
        } else {
            None
        }
    }};
}

/// Commits one batch of writes in one transaction (nothing of it when it
/// fails), then hands the new notifications to the listener in commit order.
async fn commit(
    db: Db,
    batch: &[Write],
    listener: Arc<dyn CommitListener>,
) -> Result<Vec<Outcome>, StoreError> {
    let ts = now_ms();
    let postgres = matches!(db, Db::Postgres(_));
    let outcomes = on_pool!(&db, |pool, sql| {
        let mut tx = WriteTx::begin(pool).await.map_err(StoreError::from_write)?;
        let written = async {
            let mut outcomes = Vec::with_capacity(batch.len());
            if postgres {
                // Several nodes may write at once. Holding this lock until commit
                // makes ids (drawn after it) commit in id order across the
                // cluster, so a reader that sees id N also sees every id below N:
                // replay from a cursor never skips a late commit.
                sqlx::query(sql("SELECT pg_advisory_xact_lock($1)"))
                    .bind(NOTIFICATION_WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
            }
            for write in batch {
                let outcome = match write {
                    Write::Push {
                        notifications,
                        idempotency,
                        online,
                    } => {
                        if let Some(claim) = &idempotency
                            && let Some(record) = claim_key!(tx, sql, claim, *online, ts)
                        {
                            outcomes.push(Outcome::Pushed(PushOutcome::Duplicate(record)));
                            continue;
                        }
                        let mut stored = Vec::with_capacity(notifications.len());
                        for n in notifications {
                            let n = n.clone();
                            let data = n.data.to_string();
                            let (id,): (i64,) = sqlx::query_as(sql(
                                "INSERT INTO notifications (user_id, kind, data, ts) VALUES ($1, $2, $3, $4) RETURNING id",
                            ))
                            .bind(&n.user)
                            .bind(&n.kind)
                            .bind(&data)
                            .bind(ts)
                            .fetch_one(&mut *tx)
                            .await?;
                            stored.push(StoredNotification {
                                id: StreamId(id),
                                user: n.user,
                                kind: n.kind,
                                data: n.data,
                                ts,
                                read: false,
                            });
                        }
                        let ids = response_ids(&stored);
                        let mut response = PushResponse {
                            notifications: ids,
                            online: *online,
                        };
                        if let Some(claim) = &idempotency {
                            let text = response.notifications.to_string();
                            sqlx::query(sql(
                                "UPDATE idempotency_keys SET response = $1 WHERE scope_key = $2",
                            ))
                            .bind(&text)
                            .bind(&claim.scope_key)
                            .execute(&mut *tx)
                            .await?;
                            // The first response is what a retry reads back:
                            // built from the stored text, not beside it.
                            response =
                                record_from_row((claim.body_hash.clone(), text, Some(*online))).response;
                        }
                        Outcome::Pushed(PushOutcome::Stored {
                            notifications: stored,
                            response,
                        })
                    }
                    Write::Claim { claim, online } => {
                        match claim_key!(tx, sql, claim, *online, ts) {
                            Some(record) => Outcome::Pushed(PushOutcome::Duplicate(record)),
                            // The response of a push that stores nothing,
                            // as a retry reads it back.
                            None => Outcome::Pushed(PushOutcome::Stored {
                                notifications: Vec::new(),
                                response: record_from_row((
                                    claim.body_hash.clone(),
                                    "[]".to_owned(),
                                    Some(*online),
                                ))
                                .response,
                            }),
                        }
                    }
                    Write::Delivered(id) => {
                        sqlx::query(sql(
                            "UPDATE notifications SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL",
                        ))
                        .bind(ts)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await?;
                        Outcome::Done
                    }
                    Write::Read { user, target } => {
                        match target {
                            ReadTarget::All => {
                                sqlx::query(sql(
                                    "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL",
                                ))
                                .bind(ts)
                                .bind(user)
                                .execute(&mut *tx)
                                .await?;
                            }
                            ReadTarget::Ids(ids) => {
                                for id in ids {
                                    sqlx::query(sql("UPDATE notifications SET read_at = $1 \
                                         WHERE id = $2 AND user_id = $3 AND read_at IS NULL"))
                                    .bind(ts)
                                    .bind(id.0)
                                    .bind(user)
                                    .execute(&mut *tx)
                                    .await?;
                                }
                            }
                        }
                        let (unread,): (i64,) = sqlx::query_as(sql(
                            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
                        ))
                        .bind(user)
                        .fetch_one(&mut *tx)
                        .await?;
                        Outcome::Read { unread }
                    }
                };
                outcomes.push(outcome);
            }
            Ok(outcomes)
        }
        .await;
        tx.finish(written).await.map_err(StoreError::from_write)?
    });
    // Committed: publish, in commit order, before anyone is answered.
    for outcome in &outcomes {
        if let Outcome::Pushed(PushOutcome::Stored { notifications, .. }) = outcome {
            listener.committed(notifications);
        }
    }
    Ok(outcomes)
}
