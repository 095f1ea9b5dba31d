-- Per-user notification inbox. One id sequence for the whole table, so ids are
-- strictly increasing per user and never reused (AUTOINCREMENT).
CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    data         TEXT    NOT NULL, -- JSON
    ts           INTEGER NOT NULL,
    read_at      INTEGER,          -- NULL: unread
    delivered_at INTEGER           -- the first client ack (delivery receipt)
);

CREATE INDEX notifications_by_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL;

-- HTTP API Idempotency-Key records, written in the same transaction as the
-- push they answer. Older than 24 hours they no longer count and are purged.
CREATE TABLE idempotency_keys (
    scope_key  TEXT    PRIMARY KEY, -- API key id + ':' + Idempotency-Key
    body_hash  TEXT    NOT NULL,
    response   TEXT    NOT NULL,    -- JSON: the notifications part of the 201
    online     INTEGER,             -- filled in once the push went out
    created_at INTEGER NOT NULL
);
