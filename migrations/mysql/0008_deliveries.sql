-- The delivery log: one row per attempt at a notification, and a round's automatic resume.

-- `webhook_id` is the notification's idempotency key, the same on every attempt; `round` is
-- null for a draw's win. Times are Unix milliseconds. `body` is the JSON as sent.
CREATE TABLE delivery_attempt (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    webhook_id   VARCHAR(191) NOT NULL,
    kind         VARCHAR(16)  NOT NULL,
    product_id   BIGINT       NOT NULL,
    round        BIGINT       NULL,
    user_id      BIGINT       NOT NULL,
    outcome      VARCHAR(16)  NOT NULL,
    sender       VARCHAR(16)  NOT NULL,
    http_status  BIGINT       NULL,
    error        TEXT         NULL,
    started_at   BIGINT       NOT NULL,
    answered_at  BIGINT       NOT NULL,
    body         TEXT         NOT NULL,
    KEY deliveries_of_notification (webhook_id, id),
    KEY deliveries_of_round (product_id, round, id),
    KEY deliveries_by_age (started_at),
    CONSTRAINT delivery_kind CHECK (kind IN ('restock', 'claim', 'draw_won')),
    CONSTRAINT delivery_outcome CHECK (outcome IN ('delivered', 'failed', 'pending', 'expired')),
    CONSTRAINT delivery_sender CHECK (sender IN ('engine', 'probe', 'replay'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- How a round ended CANCELED_BY_ERROR was last resumed ('operator' or 'auto'), and its
-- probing: the next probe is due at `probe_at` (null: not probing), until `probe_until`.
ALTER TABLE product_notification_history
    ADD COLUMN resumed_by VARCHAR(16) NULL,
    ADD COLUMN probe_at BIGINT NULL,
    ADD COLUMN probe_until BIGINT NULL,
    ADD COLUMN probes BIGINT NOT NULL DEFAULT 0,
    ADD KEY rounds_probed (probe_at);
