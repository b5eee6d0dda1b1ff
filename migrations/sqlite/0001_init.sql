-- dropline schema for SQLite. Every timestamp is epoch milliseconds (UTC).

CREATE TABLE brand (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    category    TEXT    NOT NULL CHECK (category IN ('camping', 'fashion', 'other')),
    created_at  INTEGER NOT NULL
);

CREATE TABLE product (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    price           INTEGER NOT NULL CHECK (price >= 0),
    stock           INTEGER NOT NULL CHECK (stock >= 0),
    restock_round   INTEGER NOT NULL DEFAULT 0,
    sale_starts_at  INTEGER NULL,
    sale_ends_at    INTEGER NULL,
    per_user_limit  INTEGER NOT NULL,
    hold_seconds    INTEGER NOT NULL,
    line_policy     TEXT    NOT NULL CHECK (line_policy IN ('restart', 'rotate')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE product_brand (
    product_id  INTEGER NOT NULL REFERENCES product (id),
    brand_id    INTEGER NOT NULL REFERENCES brand (id),
    PRIMARY KEY (product_id, brand_id)
);
CREATE INDEX product_brand_by_brand ON product_brand (brand_id, product_id);

-- The line: the id is the place in line.
CREATE TABLE product_user_notification (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id  INTEGER NOT NULL REFERENCES product (id),
    user_id     INTEGER NOT NULL,
    is_active   INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (product_id, user_id)
);
CREATE INDEX line_by_product ON product_user_notification (product_id, is_active, id);
CREATE INDEX line_by_user ON product_user_notification (user_id, is_active, id);

-- One row per product and round.
CREATE TABLE product_notification_history (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id          INTEGER NOT NULL REFERENCES product (id),
    round               INTEGER NOT NULL,
    status              TEXT    NOT NULL,
    last_sent_user_id   INTEGER NULL,
    line_cursor         INTEGER NOT NULL DEFAULT 0,
    start_position      INTEGER NOT NULL DEFAULT 0,
    wrapped             INTEGER NOT NULL DEFAULT 0,
    notified_count      INTEGER NOT NULL DEFAULT 0,
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER NULL,
    error               TEXT    NULL,
    lease_owner         TEXT    NULL,
    lease_expires_at    INTEGER NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (product_id, round)
);
CREATE INDEX rounds_by_status ON product_notification_history (status, lease_expires_at);

-- One row per product, round and notified user.
CREATE TABLE product_user_notification_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id  INTEGER NOT NULL,
    round       INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    line_id     INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    UNIQUE (product_id, round, user_id)
);
CREATE INDEX recipients_in_order ON product_user_notification_history (product_id, round, position);

CREATE TABLE orders (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id       INTEGER NOT NULL REFERENCES product (id),
    user_id          INTEGER NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    status           TEXT    NOT NULL CHECK (status IN ('RESERVED', 'PAID', 'CANCELED', 'EXPIRED')),
    idempotency_key  TEXT    NULL,
    payment_ref      TEXT    NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    paid_at          INTEGER NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX orders_due ON orders (status, expires_at);
CREATE INDEX orders_by_buyer ON orders (product_id, user_id, status);
CREATE INDEX orders_by_user ON orders (user_id, id);
