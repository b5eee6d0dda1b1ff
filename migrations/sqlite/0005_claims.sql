-- Claim rounds: a restock alert that sets one unit aside for the member it tells.

-- `broadcast` (a round notifies the line until the stock sells out) or `claim`; how long a
-- claim sets its unit aside.
ALTER TABLE product ADD COLUMN alert_mode TEXT NOT NULL DEFAULT 'broadcast'
    CHECK (alert_mode IN ('broadcast', 'claim'));
ALTER TABLE product ADD COLUMN claim_seconds INTEGER NOT NULL DEFAULT 600;
-- A round keeps the mode and claim time it was opened with.
ALTER TABLE product_notification_history ADD COLUMN alert_mode TEXT NOT NULL DEFAULT 'broadcast';
ALTER TABLE product_notification_history ADD COLUMN claim_seconds INTEGER NOT NULL DEFAULT 600;

-- One row per claim: its unit left the product's free stock when the row was written, and
-- goes back to it when the claim expires or is released (in the same transaction).
-- `position` is the claim's place among the round's claims; `notified_at` is set once the
-- member was told (a claim whose alert did not go out is sent again by the next run).
CREATE TABLE claim (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id  INTEGER NOT NULL REFERENCES product (id),
    round       INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    line_id     INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('OPEN', 'USED', 'EXPIRED', 'RELEASED')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    order_id    INTEGER NULL,
    notified_at INTEGER NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (product_id, round, user_id)
);
CREATE INDEX claims_due ON claim (status, expires_at);
CREATE INDEX claims_in_round ON claim (product_id, round, id);
CREATE INDEX claims_of_holder ON claim (product_id, user_id, status);
CREATE INDEX claims_by_user ON claim (user_id, id);
