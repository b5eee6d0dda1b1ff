-- Draw sales: a product sold by lottery over an entry window, and its entries.

-- `first_come` or `draw`. A draw product keeps its secret seed (64 hex digits) and the
-- published SHA-256 of it; `drawn_at`, `entries_digest` and `draw_entries` are set by the draw,
-- `waitlist_version` is the stock version the waitlist was last offered units at;
-- which claims the product by setting `drawn_at` (a conditional update: it runs once).
ALTER TABLE product ADD COLUMN sale_mode TEXT NOT NULL DEFAULT 'first_come'
    CHECK (sale_mode IN ('first_come', 'draw'));
ALTER TABLE product ADD COLUMN draw_seed TEXT NULL;
ALTER TABLE product ADD COLUMN draw_seed_hash TEXT NULL;
ALTER TABLE product ADD COLUMN drawn_at INTEGER NULL;
ALTER TABLE product ADD COLUMN entries_digest TEXT NULL;
ALTER TABLE product ADD COLUMN draw_entries INTEGER NULL;
-- The stock version the waitlist was last offered units at.
ALTER TABLE product ADD COLUMN waitlist_version INTEGER NULL;
CREATE INDEX draws_due ON product (sale_mode, drawn_at, sale_ends_at);

-- One row per product and user. `draw_key` is SHA-256 of "{seed}:{user_id}" (the rank
-- order). `list_pos`, set by the draw, is the place in the list after it: the rank for the
-- entries that took part, then the withdrawn ones by user id. The draw rewrites every row
-- once (status and `list_pos`), so only `entries_listed` among the indexes changes with it;
-- `entries_won` (by `order_id`) finds the few winners.
CREATE TABLE draw_entry (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id   INTEGER NOT NULL REFERENCES product (id),
    user_id      INTEGER NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    status       TEXT    NOT NULL CHECK (status IN ('ENTERED', 'WON', 'WAITLISTED', 'WITHDRAWN')),
    draw_key     TEXT    NOT NULL,
    list_pos     INTEGER NULL,
    order_id     INTEGER NULL,
    notified_at  INTEGER NULL,
    notify_lease INTEGER NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (product_id, user_id)
);
CREATE INDEX entries_by_key ON draw_entry (product_id, draw_key);
CREATE INDEX entries_listed ON draw_entry (product_id, list_pos);
CREATE INDEX entries_won ON draw_entry (product_id, order_id);
CREATE INDEX entries_by_user ON draw_entry (user_id, id);
