-- The merchant order's version, on attempt 1's row: raised by every status change of any of
-- its attempts and by every new attempt, in the same batch. A change is written only while it
-- is still the value read, so two attempts paid at the same instant can't both be decided on
-- a view that misses the other (the loser re-reads every attempt and sees the duplicate).
ALTER TABLE orders ADD COLUMN merchant_seq INTEGER NOT NULL DEFAULT 0;
-- Apply before deploying the Worker that uses it (every status change writes it).
