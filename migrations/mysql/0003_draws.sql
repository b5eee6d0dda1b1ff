-- Draw sales: a product sold by lottery over an entry window, and its entries.

-- `first_come` or `draw`. A draw product keeps its secret seed (64 hex digits) and the
-- published SHA-256 of it; `drawn_at`, `entries_digest` and `draw_entries` are set by the draw,
-- `waitlist_version` is the stock version the waitlist was last offered units at;
-- which claims the product by setting `drawn_at` (a conditional update: it runs once).
ALTER TABLE product
    ADD COLUMN sale_mode VARCHAR(16) NOT NULL DEFAULT 'first_come',
    ADD COLUMN draw_seed CHAR(64) NULL,
    ADD COLUMN draw_seed_hash CHAR(64) NULL,
    ADD COLUMN drawn_at BIGINT NULL,
    ADD COLUMN entries_digest CHAR(64) NULL,
    ADD COLUMN draw_entries BIGINT NULL,
    ADD COLUMN waitlist_version BIGINT NULL,
    ADD CONSTRAINT product_sale_mode CHECK (sale_mode IN ('first_come', 'draw'));
CREATE INDEX draws_due ON product (sale_mode, drawn_at, sale_ends_at);

-- One row per product and user. `draw_key` is SHA-256 of "{seed}:{user_id}" (the rank
-- order). `list_pos`, set by the draw, is the place in the list after it: the rank for the
-- entries that took part, then the withdrawn ones by user id. The draw rewrites every row
-- once (status and `list_pos`), so only `entries_listed` among the indexes changes with it;
-- `entries_won` (by `order_id`) finds the few winners.
CREATE TABLE draw_entry (
    id           BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id   BIGINT      NOT NULL,
    user_id      BIGINT      NOT NULL,
    quantity     BIGINT      NOT NULL,
    status       VARCHAR(16) NOT NULL,
    draw_key     CHAR(64)    NOT NULL,
    list_pos     BIGINT      NULL,
    order_id     BIGINT      NULL,
    notified_at  BIGINT      NULL,
    notify_lease BIGINT      NULL,
    created_at   BIGINT      NOT NULL,
    updated_at   BIGINT      NOT NULL,
    UNIQUE KEY entries_by_user_of_product (product_id, user_id),
    KEY entries_by_key (product_id, draw_key),
    KEY entries_listed (product_id, list_pos),
    KEY entries_won (product_id, order_id),
    KEY entries_by_user (user_id, id),
    CONSTRAINT entry_quantity CHECK (quantity > 0),
    CONSTRAINT entry_status CHECK (status IN ('ENTERED', 'WON', 'WAITLISTED', 'WITHDRAWN')),
    CONSTRAINT entry_product FOREIGN KEY (product_id) REFERENCES product (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
