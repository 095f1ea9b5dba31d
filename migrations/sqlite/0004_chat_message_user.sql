-- The sender's user id, for a member that was authenticated (a token, or the
-- connect proxy); NULL for an anonymous one and for messages stored before
-- this column existed. History then tells two members of one name apart, as
-- live messages do.
ALTER TABLE chat_messages ADD COLUMN user_id TEXT;
