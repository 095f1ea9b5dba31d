-- Chat history. The writer draws ids from the sequence itself (nextval) so
-- that a batch insert knows which id went to which message.
CREATE TABLE chat_messages (
    id          BIGSERIAL PRIMARY KEY,
    room        TEXT   NOT NULL,
    member_id   TEXT   NOT NULL,
    member_name TEXT   NOT NULL,
    text        TEXT   NOT NULL,
    ts          BIGINT NOT NULL
);

CREATE INDEX chat_messages_by_room ON chat_messages (room, id);
