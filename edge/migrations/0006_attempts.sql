-- Payment attempts: one merchant order, several TrustPay orders (see core's `attempt` module).
-- Each attempt is an `orders` row keyed by its TrustPay order number; attempt 1 is the
-- merchant order number itself, so every row from before this migration is attempt 1 of its
-- own merchant order. Client secrets stay keyed by the merchant order number.

-- The merchant order this attempt belongs to; NULL = the row's own `order_no` (attempt 1).
ALTER TABLE orders ADD COLUMN merchant_order_no TEXT;
-- The attempt's number (1-based).
ALTER TABLE orders ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
-- On attempt 1 only: how many attempts the merchant order has, so a single-attempt order is
-- read without looking for siblings.
ALTER TABLE orders ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;

-- All attempts of a merchant order (attempts 2 and up; attempt 1 is found by its key).
CREATE UNIQUE INDEX orders_by_merchant_order ON orders(merchant_order_no, attempt)
    WHERE merchant_order_no IS NOT NULL;
