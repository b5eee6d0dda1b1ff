-- The units a draw drew for: the product's free stock when the draw ran, recorded in the
-- draw's transaction and published with the seed, so anyone can recompute the winners.
-- Null until drawn (and for draws that ran before it was recorded).
ALTER TABLE product ADD COLUMN draw_units BIGINT NULL;
