-- Chat history. AUTOINCREMENT: ids are never reused, so they stay sortable in
-- creation order even after deletes.
CREATE TABLE chat_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room        TEXT    NOT NULL,
    member_id   TEXT    NOT NULL,
    member_name TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    ts          INTEGER NOT NULL
);

CREATE INDEX chat_messages_by_room ON chat_messages (room, id);
