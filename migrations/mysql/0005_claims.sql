-- Claim rounds: a restock alert that sets one unit aside for the member it tells.

-- `broadcast` (a round notifies the line until the stock sells out) or `claim`; how long a
-- claim sets its unit aside.
ALTER TABLE product
    ADD COLUMN alert_mode VARCHAR(16) NOT NULL DEFAULT 'broadcast',
    ADD COLUMN claim_seconds BIGINT NOT NULL DEFAULT 600,
    ADD CONSTRAINT product_alert_mode CHECK (alert_mode IN ('broadcast', 'claim'));
-- A round keeps the mode and claim time it was opened with.
ALTER TABLE product_notification_history
    ADD COLUMN alert_mode VARCHAR(16) NOT NULL DEFAULT 'broadcast',
    ADD COLUMN claim_seconds BIGINT NOT NULL DEFAULT 600;

-- One row per claim: its unit left the product's free stock when the row was written, and
-- goes back to it when the claim expires or is released (in the same transaction).
-- `position` is the claim's place among the round's claims; `notified_at` is set once the
-- member was told (a claim whose alert did not go out is sent again by the next run).
CREATE TABLE claim (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id  BIGINT      NOT NULL,
    round       BIGINT      NOT NULL,
    user_id     BIGINT      NOT NULL,
    position    BIGINT      NOT NULL,
    line_id     BIGINT      NOT NULL,
    status      VARCHAR(16) NOT NULL,
    created_at  BIGINT      NOT NULL,
    expires_at  BIGINT      NOT NULL,
    order_id    BIGINT      NULL,
    notified_at BIGINT      NULL,
    updated_at  BIGINT      NOT NULL,
    UNIQUE KEY claim_once (product_id, round, user_id),
    KEY claims_due (status, expires_at),
    KEY claims_in_round (product_id, round, id),
    KEY claims_of_holder (product_id, user_id, status),
    KEY claims_by_user (user_id, id),
    CONSTRAINT claim_product FOREIGN KEY (product_id) REFERENCES product (id),
    CONSTRAINT claim_status CHECK (status IN ('OPEN', 'USED', 'EXPIRED', 'RELEASED'))
) ENGINE = InnoDB;
