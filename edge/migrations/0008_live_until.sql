-- On the merchant order's row (attempt 1): until when (ms) a live-events stream opened for it
-- may still be open (the latest events token's expiry). A change of an order nobody can be
-- streaming is not pushed to its Durable Object (no call, no object woken for nothing).
ALTER TABLE orders ADD COLUMN live_until INTEGER NOT NULL DEFAULT 0;
