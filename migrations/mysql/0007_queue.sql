-- The waiting room of a first-come product: its settings on the product row and one row per
-- member.

-- `queue_opens_at` null: 15 minutes before `sale_starts_at`. The seed (64 hex digits) is
-- drawn when the queue is first enabled; its SHA-256 is published at once, the seed itself
-- once the sale has started.
ALTER TABLE product
    ADD COLUMN queue_enabled BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN queue_opens_at BIGINT NULL,
    ADD COLUMN queue_admit_seconds BIGINT NOT NULL DEFAULT 120,
    ADD COLUMN queue_admit_rate BIGINT NOT NULL DEFAULT 500,
    ADD COLUMN queue_seed CHAR(64) NULL,
    ADD COLUMN queue_seed_hash CHAR(64) NULL;

-- One row per product and user. The room's order is (`lane`, `rank_key`, `id`): lane 0 holds
-- those who joined before the sale started, ranked by `rank_key` (SHA-256 of
-- "{seed}:{user_id}"); lane 1 the later ones, in join order (their `rank_key` is empty).
-- `admitted_at` and `admitted_until` are set by an admission.
CREATE TABLE queue_member (
    id             BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id     BIGINT      NOT NULL,
    user_id        BIGINT      NOT NULL,
    lane           BIGINT      NOT NULL,
    rank_key       VARCHAR(64) NOT NULL,
    status         VARCHAR(16) NOT NULL,
    joined_at      BIGINT      NOT NULL,
    admitted_at    BIGINT      NULL,
    admitted_until BIGINT      NULL,
    updated_at     BIGINT      NOT NULL,
    UNIQUE KEY queue_of_user (product_id, user_id),
    KEY queue_in_order (product_id, status, lane, rank_key, id),
    KEY queue_listed (product_id, lane, rank_key, id),
    KEY queue_recent (product_id, admitted_at),
    KEY queue_live (status, product_id),
    KEY queue_written (product_id, updated_at),
    CONSTRAINT queue_lane CHECK (lane IN (0, 1)),
    CONSTRAINT queue_status CHECK (status IN ('WAITING', 'ADMITTED', 'ORDERED', 'EXPIRED', 'LEFT', 'SOLD_OUT')),
    CONSTRAINT queue_product FOREIGN KEY (product_id) REFERENCES product (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
