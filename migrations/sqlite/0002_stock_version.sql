-- Ties shared counters (Redis) to this database and to one point of its history.

-- Bumped in the same transaction as every change of `stock`.
ALTER TABLE product ADD COLUMN stock_version INTEGER NOT NULL DEFAULT 0;

-- One row, made when the schema is applied: the name this database's keys live under in Redis.
CREATE TABLE deployment (
    id          TEXT    NOT NULL PRIMARY KEY,
    created_at  INTEGER NOT NULL
);
INSERT INTO deployment (id, created_at)
    VALUES (lower(hex(randomblob(8))), CAST(strftime('%s', 'now') AS INTEGER) * 1000);
