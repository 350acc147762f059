-- On the merchant order's row (attempt 1): until when (ms) a live-events stream opened for it
-- may still be open (the latest events token's expiry). A change of an order nobody can be
-- streaming is not pushed to its Durable Object (no call, no object woken for nothing).
-- Rows this Worker inserts start at 0 (nobody streaming yet). The default, for every row that
-- exists when this runs and any row a previous Worker still inserts during a deploy, is "may be
-- streaming, always push" (2^53 - 1): a stream opened by a Worker that doesn't note it is never
-- left silent.
ALTER TABLE orders ADD COLUMN live_until INTEGER NOT NULL DEFAULT 9007199254740991;
