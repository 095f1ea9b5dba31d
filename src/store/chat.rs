//! Chat history: append a message (group-committed), read a room's page.

use std::sync::Arc;

pub use super::id::StreamId as MessageId;
use super::{Db, StoreError, batch::BatchWriter, now_ms};

/// A message to store; the store gives it an id and a time.
#[derive(Debug, Clone)]
pub struct NewChatMessage {
    pub room: String,
    pub member_id: String,
    pub member_name: String,
    pub text: String,
}

/// A stored message, as history returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChatMessage {
    pub id: MessageId,
    pub room: String,
    pub member_id: String,
    pub member_name: String,
    pub text: String,
    pub ts: i64,
}

/// The chat part of the store. Cheap to clone.
#[derive(Clone)]
pub struct ChatStore {
    db: Db,
    writer: BatchWriter<NewChatMessage, StoredChatMessage>,
}

type Row = (i64, String, String, String, String, i64);

impl ChatStore {
    pub(super) fn new(db: Db) -> Self {
        let commit_db = db.clone();
        let writer = BatchWriter::spawn(move |batch| insert_batch(commit_db.clone(), batch));
        Self { db, writer }
    }

    /// Stores a message; resolves once it is committed.
    pub async fn append(
        &self,
        message: NewChatMessage,
    ) -> Result<StoredChatMessage, Arc<StoreError>> {
        self.writer.submit(message).await
    }

    /// The room's messages older than `before` (all when `None`), at most
    /// `limit`, oldest first.
    pub async fn history(
        &self,
        room: &str,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<StoredChatMessage>, StoreError> {
        let before = before.map_or(i64::MAX, |id| id.0);
        let limit = i64::from(limit);
        let mut rows: Vec<Row> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT id, room, member_id, member_name, text, ts FROM chat_messages \
                     WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                )
                .bind(room)
                .bind(before)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT id, room, member_id, member_name, text, ts FROM chat_messages \
                     WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                )
                .bind(room)
                .bind(before)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
        };
        rows.reverse();
        Ok(rows.into_iter().map(from_row).collect())
    }
}

fn from_row((id, room, member_id, member_name, text, ts): Row) -> StoredChatMessage {
    StoredChatMessage {
        id: MessageId(id),
        room,
        member_id,
        member_name,
        text,
        ts,
    }
}

/// Commits one batch in one transaction.
async fn insert_batch(
    db: Db,
    batch: Vec<NewChatMessage>,
) -> Result<Vec<StoredChatMessage>, StoreError> {
    let ts = now_ms();
    let ids = match &db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(batch.len());
            for m in &batch {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO chat_messages (room, member_id, member_name, text, ts) \
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )
                .bind(&m.room)
                .bind(&m.member_id)
                .bind(&m.member_name)
                .bind(&m.text)
                .bind(ts)
                .fetch_one(&mut *tx)
                .await?;
                ids.push(id);
            }
            tx.commit().await?;
            ids
        }
        Db::Postgres(pool) => {
            // Two round trips per batch, whatever its size: draw the ids, then
            // insert every row with one UNNEST statement.
            let mut tx = pool.begin().await?;
            let count = i64::try_from(batch.len()).unwrap_or(i64::MAX);
            let mut ids: Vec<i64> = sqlx::query_scalar(
                "SELECT nextval('chat_messages_id_seq') FROM generate_series(1, $1)",
            )
            .bind(count)
            .fetch_all(&mut *tx)
            .await?;
            ids.sort_unstable();
            let column = |f: fn(&NewChatMessage) -> &String| -> Vec<String> {
                batch.iter().map(|m| f(m).clone()).collect()
            };
            sqlx::query(
                "INSERT INTO chat_messages (id, room, member_id, member_name, text, ts) \
                 SELECT id, room, member_id, member_name, text, $6 \
                 FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                 AS t(id, room, member_id, member_name, text)",
            )
            .bind(&ids)
            .bind(column(|m| &m.room))
            .bind(column(|m| &m.member_id))
            .bind(column(|m| &m.member_name))
            .bind(column(|m| &m.text))
            .bind(ts)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            ids
        }
    };
    Ok(batch
        .into_iter()
        .zip(ids)
        .map(|(m, id)| StoredChatMessage {
            id: MessageId(id),
            room: m.room,
            member_id: m.member_id,
            member_name: m.member_name,
            text: m.text,
            ts,
        })
        .collect())
}
