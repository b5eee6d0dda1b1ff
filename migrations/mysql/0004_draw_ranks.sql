-- The draw's ranks in a table of their own, written once in rank order by the draw, so the
-- draw appends narrow rows instead of rewriting every entry. An entry that took part and
-- neither won nor withdrew reads as WAITLISTED from its rank row; `entries_by_key` covers
-- what the draw reads in rank order, so it walks the index alone.
CREATE TABLE draw_rank (
    product_id BIGINT NOT NULL,
    -- The place in the list after the draw: the rank for the entries that took part, then
    -- the withdrawn ones by user id.
    list_pos   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    quantity   BIGINT NOT NULL,
    PRIMARY KEY (product_id, list_pos),
    KEY ranks_by_user (product_id, user_id, quantity),
    CONSTRAINT rank_product FOREIGN KEY (product_id) REFERENCES product (id)
) ENGINE = InnoDB;

INSERT INTO draw_rank (product_id, list_pos, user_id, quantity)
    SELECT product_id, list_pos, user_id, quantity FROM draw_entry WHERE list_pos IS NOT NULL;
UPDATE draw_entry SET status = 'ENTERED' WHERE status = 'WAITLISTED';

ALTER TABLE draw_entry
    DROP INDEX entries_listed,
    DROP INDEX entries_by_key,
    DROP COLUMN list_pos,
    ADD INDEX entries_by_key (product_id, draw_key, user_id, quantity, status);
