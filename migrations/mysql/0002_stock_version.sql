-- Ties shared counters (Redis) to this database and to one point of its history.

-- Bumped in the same transaction as every change of `stock`.
ALTER TABLE product ADD COLUMN stock_version BIGINT NOT NULL DEFAULT 0;

-- One row, made when the schema is applied: the name this database's keys live under in Redis.
CREATE TABLE deployment (
    id          VARCHAR(32) NOT NULL PRIMARY KEY,
    created_at  BIGINT      NOT NULL
);
INSERT INTO deployment (id, created_at)
    VALUES (LOWER(HEX(RANDOM_BYTES(8))), UNIX_TIMESTAMP() * 1000);
