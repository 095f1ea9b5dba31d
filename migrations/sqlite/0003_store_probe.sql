-- One row the readiness check upserts now and then (a real write, so that
-- /readyz fails while the store cannot write). `pad` makes the write need
-- real room in the WAL.
CREATE TABLE store_probe (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  INTEGER NOT NULL,
    pad BLOB
);
