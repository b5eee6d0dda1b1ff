-- The waiting room of a first-come product: its settings on the product row and one row per
-- member.

-- `queue_opens_at` null: 15 minutes before `sale_starts_at`. The seed (64 hex digits) is
-- drawn when the queue is first enabled; its SHA-256 is published at once, the seed itself
-- once the sale has started.
ALTER TABLE product ADD COLUMN queue_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE product ADD COLUMN queue_opens_at INTEGER NULL;
ALTER TABLE product ADD COLUMN queue_admit_seconds INTEGER NOT NULL DEFAULT 120;
ALTER TABLE product ADD COLUMN queue_admit_rate INTEGER NOT NULL DEFAULT 500;
ALTER TABLE product ADD COLUMN queue_seed TEXT NULL;
ALTER TABLE product ADD COLUMN queue_seed_hash TEXT NULL;

-- One row per product and user. The room's order is (`lane`, `rank_key`, `id`): lane 0 holds
-- those who joined before the sale started, ranked by `rank_key` (SHA-256 of
-- "{seed}:{user_id}"); lane 1 the later ones, in join order (their `rank_key` is empty).
-- `admitted_at` and `admitted_until` are set by an admission.
CREATE TABLE queue_member (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id     INTEGER NOT NULL REFERENCES product (id),
    user_id        INTEGER NOT NULL,
    lane           INTEGER NOT NULL CHECK (lane IN (0, 1)),
    rank_key       TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('WAITING', 'ADMITTED', 'ORDERED', 'EXPIRED', 'LEFT', 'SOLD_OUT')),
    joined_at      INTEGER NOT NULL,
    admitted_at    INTEGER NULL,
    admitted_until INTEGER NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX queue_of_user ON queue_member (product_id, user_id);
CREATE INDEX queue_in_order ON queue_member (product_id, status, lane, rank_key, id);
CREATE INDEX queue_listed ON queue_member (product_id, lane, rank_key, id);
CREATE INDEX queue_recent ON queue_member (product_id, admitted_at);
CREATE INDEX queue_live ON queue_member (status, product_id);
CREATE INDEX queue_written ON queue_member (product_id, updated_at);
