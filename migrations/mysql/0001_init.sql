-- dropline schema for MySQL 8 / MariaDB 10.11. Every timestamp is epoch milliseconds (UTC).

CREATE TABLE brand (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    category    VARCHAR(16)  NOT NULL,
    created_at  BIGINT       NOT NULL,
    CONSTRAINT brand_category CHECK (category IN ('camping', 'fashion', 'other'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE product (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name            VARCHAR(200) NOT NULL,
    price           BIGINT       NOT NULL,
    stock           BIGINT       NOT NULL,
    restock_round   BIGINT       NOT NULL DEFAULT 0,
    sale_starts_at  BIGINT       NULL,
    sale_ends_at    BIGINT       NULL,
    per_user_limit  BIGINT       NOT NULL,
    hold_seconds    BIGINT       NOT NULL,
    line_policy     VARCHAR(16)  NOT NULL,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    CONSTRAINT product_price CHECK (price >= 0),
    CONSTRAINT product_stock CHECK (stock >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE product_brand (
    product_id  BIGINT NOT NULL,
    brand_id    BIGINT NOT NULL,
    PRIMARY KEY (product_id, brand_id),
    KEY product_brand_by_brand (brand_id, product_id),
    CONSTRAINT product_brand_product FOREIGN KEY (product_id) REFERENCES product (id),
    CONSTRAINT product_brand_brand FOREIGN KEY (brand_id) REFERENCES brand (id)
) ENGINE = InnoDB;

-- The line: the id is the place in line.
CREATE TABLE product_user_notification (
    id          BIGINT  NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id  BIGINT  NOT NULL,
    user_id     BIGINT  NOT NULL,
    is_active   TINYINT NOT NULL DEFAULT 1,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE KEY line_member (product_id, user_id),
    KEY line_by_product (product_id, is_active, id),
    KEY line_by_user (user_id, is_active, id),
    CONSTRAINT line_product FOREIGN KEY (product_id) REFERENCES product (id)
) ENGINE = InnoDB;

-- One row per product and round.
CREATE TABLE product_notification_history (
    id                  BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id          BIGINT       NOT NULL,
    round               BIGINT       NOT NULL,
    status              VARCHAR(32)  NOT NULL,
    last_sent_user_id   BIGINT       NULL,
    line_cursor         BIGINT       NOT NULL DEFAULT 0,
    start_position      BIGINT       NOT NULL DEFAULT 0,
    wrapped             TINYINT      NOT NULL DEFAULT 0,
    notified_count      BIGINT       NOT NULL DEFAULT 0,
    started_at          BIGINT       NOT NULL,
    finished_at         BIGINT       NULL,
    error               TEXT         NULL,
    lease_owner         VARCHAR(64)  NULL,
    lease_expires_at    BIGINT       NULL,
    updated_at          BIGINT       NOT NULL,
    UNIQUE KEY round_of_product (product_id, round),
    KEY rounds_by_status (status, lease_expires_at),
    CONSTRAINT round_product FOREIGN KEY (product_id) REFERENCES product (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per product, round and notified user.
CREATE TABLE product_user_notification_history (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id  BIGINT NOT NULL,
    round       BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    position    BIGINT NOT NULL,
    line_id     BIGINT NOT NULL,
    sent_at     BIGINT NOT NULL,
    UNIQUE KEY recipient_once (product_id, round, user_id),
    KEY recipients_in_order (product_id, round, position)
) ENGINE = InnoDB;

CREATE TABLE orders (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id       BIGINT       NOT NULL,
    user_id          BIGINT       NOT NULL,
    quantity         BIGINT       NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    idempotency_key  VARCHAR(64)  NULL,
    payment_ref      VARCHAR(200) NULL,
    created_at       BIGINT       NOT NULL,
    expires_at       BIGINT       NOT NULL,
    paid_at          BIGINT       NULL,
    updated_at       BIGINT       NOT NULL,
    UNIQUE KEY order_idempotency (user_id, idempotency_key),
    KEY orders_due (status, expires_at),
    KEY orders_by_buyer (product_id, user_id, status),
    KEY orders_by_user (user_id, id),
    CONSTRAINT order_product FOREIGN KEY (product_id) REFERENCES product (id),
    CONSTRAINT order_quantity CHECK (quantity > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
