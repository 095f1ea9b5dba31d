-- One row the readiness check upserts now and then (a real write, so that
-- /readyz fails while the store cannot write).
CREATE TABLE store_probe (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);
