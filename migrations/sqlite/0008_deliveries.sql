-- The delivery log: one row per attempt at a notification, and a round's automatic resume.

-- `webhook_id` is the notification's idempotency key, the same on every attempt; `round` is
-- null for a draw's win. Times are Unix milliseconds. `body` is the JSON as sent.
CREATE TABLE delivery_attempt (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id   TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('restock', 'claim', 'draw_won')),
    product_id   INTEGER NOT NULL,
    round        INTEGER NULL,
    user_id      INTEGER NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('delivered', 'failed', 'pending', 'expired')),
    sender       TEXT    NOT NULL CHECK (sender IN ('engine', 'probe', 'replay')),
    http_status  INTEGER NULL,
    error        TEXT    NULL,
    started_at   INTEGER NOT NULL,
    answered_at  INTEGER NOT NULL,
    body         TEXT    NOT NULL
);
CREATE INDEX deliveries_of_notification ON delivery_attempt (webhook_id, id);
CREATE INDEX deliveries_of_round ON delivery_attempt (product_id, round, id);
CREATE INDEX deliveries_by_age ON delivery_attempt (started_at);

-- How a round ended CANCELED_BY_ERROR was last resumed ('operator' or 'auto'), and its
-- probing: the next probe is due at `probe_at` (null: not probing), until `probe_until`.
ALTER TABLE product_notification_history ADD COLUMN resumed_by TEXT NULL;
ALTER TABLE product_notification_history ADD COLUMN probe_at INTEGER NULL;
ALTER TABLE product_notification_history ADD COLUMN probe_until INTEGER NULL;
ALTER TABLE product_notification_history ADD COLUMN probes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX rounds_probed ON product_notification_history (probe_at);
