//! Chat history: append a message (group-committed), read a room's page.

use super::{Db, Health, StoreError, batch::BatchWriter, db::WriteTx};
use crate::protocol::{StreamId, now_ms};
use crate::tasks::Tasks;

/// A message to store; the store gives it an id and a time.
#[derive(Debug, Clone)]
pub struct NewChatMessage {
    pub room: String,
    pub member_id: String,
    pub member_name: String,
    /// The sender's user id when it was authenticated.
    pub user: Option<String>,
    pub text: String,
}

/// A stored message, as history returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChatMessage {
    pub id: StreamId,
    pub room: String,
    pub member_id: String,
    pub member_name: String,
    pub user: Option<String>,
    pub text: String,
    pub ts: i64,
}

/// The chat part of the store. Cheap to clone.
#[derive(Clone)]
pub struct ChatStore {
    db: Db,
    writer: BatchWriter<NewChatMessage, StoredChatMessage>,
}

type Row = (i64, String, String, String, Option<String>, String, i64);

impl ChatStore {
    pub(super) fn new(db: Db, health: Health, tasks: &Tasks) -> Self {
        let commit_db = db.clone();
        let writer = BatchWriter::spawn("chat", health, tasks, move |batch| {
            Box::pin(insert_batch(commit_db.clone(), batch))
        });
        Self { db, writer }
    }

    /// Stores a message; resolves once it is committed.
    pub async fn append(&self, message: NewChatMessage) -> Result<StoredChatMessage, StoreError> {
        self.writer.submit(message).await
    }

    /// The room's messages older than `before` (all when `None`), at most
    /// `limit`, oldest first.
    pub async fn history(
        &self,
        room: &str,
        before: Option<StreamId>,
        limit: u32,
    ) -> Result<Vec<StoredChatMessage>, StoreError> {
        let before = before.map_or(i64::MAX, |id| id.0);
        let limit = i64::from(limit);
        let mut rows: Vec<Row> =
            match &self.db {
                Db::Sqlite(pool) => sqlx::query_as(
                    "SELECT id, room, member_id, member_name, user_id, text, ts FROM chat_messages \
                     WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                )
                .bind(room)
                .bind(before)
                .bind(limit)
                .fetch_all(pool)
                .await?,
                Db::Postgres(pool) => sqlx::query_as(
                    "SELECT id, room, member_id, member_name, user_id, text, ts FROM chat_messages \
                     WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                )
                .bind(room)
                .bind(before)
                .bind(limit)
                .fetch_all(pool)
                .await?,
            };
        rows.reverse();
        Ok(rows.into_iter().map(from_row).collect())
    }
}

fn from_row((id, room, member_id, member_name, user, text, ts): Row) -> StoredChatMessage {
    StoredChatMessage {
        id: StreamId(id),
        room,
        member_id,
        member_name,
        user,
        text,
        ts,
    }
}

/// Commits one batch in one transaction; nothing of it when it fails.
async fn insert_batch(
    db: Db,
    batch: &[NewChatMessage],
) -> Result<Vec<StoredChatMessage>, StoreError> {
    let ts = now_ms();
    let ids = match &db {
        Db::Sqlite(pool) => {
            let mut tx = WriteTx::begin(pool).await.map_err(StoreError::from_write)?;
            let inserted = async {
                let mut ids = Vec::with_capacity(batch.len());
                for m in batch {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO chat_messages (room, member_id, member_name, user_id, text, ts) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                    )
                    .bind(&m.room)
                    .bind(&m.member_id)
                    .bind(&m.member_name)
                    .bind(&m.user)
                    .bind(&m.text)
                    .bind(ts)
                    .fetch_one(&mut *tx)
                    .await?;
                    ids.push(id);
                }
                Ok(ids)
            }
            .await;
            tx.finish(inserted).await.map_err(StoreError::from_write)?
        }
        Db::Postgres(pool) => {
            // Two round trips per batch, whatever its size: draw the ids, then
            // insert every row with one UNNEST statement.
            let mut tx = WriteTx::begin(pool).await.map_err(StoreError::from_write)?;
            let inserted = async {
                let count = i64::try_from(batch.len()).unwrap_or(i64::MAX);
                let mut ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT nextval('chat_messages_id_seq') FROM generate_series(1, $1)",
                )
                .bind(count)
                .fetch_all(&mut *tx)
                .await?;
                ids.sort_unstable();
                let column = |f: fn(&NewChatMessage) -> &String| -> Vec<&str> {
                    batch.iter().map(|m| f(m).as_str()).collect()
                };
                let users: Vec<Option<&str>> = batch.iter().map(|m| m.user.as_deref()).collect();
                sqlx::query(
                    "INSERT INTO chat_messages (id, room, member_id, member_name, user_id, text, ts) \
                     SELECT id, room, member_id, member_name, user_id, text, $7 \
                     FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                 $6::text[]) \
                     AS t(id, room, member_id, member_name, user_id, text)",
                )
                .bind(&ids)
                .bind(column(|m| &m.room))
                .bind(column(|m| &m.member_id))
                .bind(column(|m| &m.member_name))
                .bind(&users)
                .bind(column(|m| &m.text))
                .bind(ts)
                .execute(&mut *tx)
                .await?;
                Ok(ids)
            }
            .await;
            tx.finish(inserted).await.map_err(StoreError::from_write)?
        }
    };
    Ok(batch
        .iter()
        .zip(ids)
        .map(|(m, id)| StoredChatMessage {
            id: StreamId(id),
            room: m.room.clone(),
            member_id: m.member_id.clone(),
            member_name: m.member_name.clone(),
            user: m.user.clone(),
            text: m.text.clone(),
            ts,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn message(i: usize, text: &str) -> NewChatMessage {
        NewChatMessage {
            room: "r".into(),
            member_id: format!("m{i}"),
            member_name: format!("Member {i}"),
            // Every other one signed in: both kinds go through one batch.
            user: i.is_multiple_of(2).then(|| format!("u-{i}")),
            text: text.into(),
        }
    }

    /// A real constraint violation for one chosen text: a trigger refusing
    /// the text `poison` (SQLITE_CONSTRAINT_TRIGGER; SQLSTATE 23514).
    async fn poison_trigger(db: &Db) {
        match db {
            Db::Sqlite(pool) => {
                sqlx::query(
                    "CREATE TRIGGER poison BEFORE INSERT ON chat_messages \
                     WHEN NEW.text = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned item'); END",
                )
                .execute(pool)
                .await
                .unwrap();
            }
            Db::Postgres(pool) => {
                sqlx::raw_sql(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF NEW.text = 'poison' THEN RAISE EXCEPTION 'poisoned item' USING ERRCODE = '23514'; \
                     END IF; RETURN NEW; END $$; \
                     CREATE TRIGGER poison BEFORE INSERT ON chat_messages \
                     FOR EACH ROW EXECUTE FUNCTION poison();",
                )
                .execute(pool)
                .await
                .unwrap();
            }
        }
    }

    /// 60 messages submitted at once (so they share transactions), the
    /// `bad` ones among them: only those fail, every other one is stored.
    async fn bad_items_fail_alone(url: &crate::config::DatabaseUrl, bad: &[(usize, &str)]) {
        let db = Db::connect(url).await.unwrap();
        poison_trigger(&db).await;
        let store = ChatStore::new(db, Health::new(), &Tasks::default());
        let texts: Vec<String> = (0..60)
            .map(|i| {
                bad.iter()
                    .find(|(at, _)| *at == i)
                    .map_or_else(|| format!("hello {i}"), |(_, text)| (*text).to_owned())
            })
            .collect();
        let answers = futures_util::future::join_all(
            texts
                .iter()
                .enumerate()
                .map(|(i, text)| store.append(message(i, text))),
        )
        .await;
        for (i, answer) in answers.iter().enumerate() {
            if bad.iter().any(|(at, _)| *at == i) {
                let error = answer.as_ref().expect_err("the bad item fails");
                assert!(error.is_item_failure(), "{i}: {error}");
            } else {
                assert!(answer.is_ok(), "{i}: {answer:?}");
            }
        }
        let stored = store.history("r", None, 100).await.unwrap();
        for m in &stored {
            // The sender's user id comes back as it went in, or none.
            let i: usize = m.member_id[1..].parse().unwrap();
            assert_eq!(m.user, message(i, "").user, "{m:?}");
        }
        let stored: Vec<&str> = stored.iter().map(|m| m.text.as_str()).collect();
        let expected: Vec<&str> = texts
            .iter()
            .enumerate()
            .filter(|(i, _)| !bad.iter().any(|(at, _)| at == i))
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(stored, expected, "every good message, in order");
    }

    #[tokio::test]
    async fn sqlite_one_failing_item_fails_alone() {
        let db = testing::sqlite();
        bad_items_fail_alone(&db.url, &[(37, "poison")]).await;
    }

    #[tokio::test]
    async fn postgres_one_failing_item_fails_alone() {
        let Some(db) = testing::postgres().await else {
            return;
        };
        // A constraint, and the NUL PostgreSQL cannot store in `text`.
        bad_items_fail_alone(&db.url, &[(5, "poison"), (41, "a\0b")]).await;
    }
}
