-- Merchant integrations: notification ids and the risk-control hook.

-- Incremented by every status change (one conditional UPDATE ... RETURNING), so each change
-- has its own number: the merchant notification id is derived from (order_no, status, seq).
ALTER TABLE orders ADD COLUMN status_seq INTEGER NOT NULL DEFAULT 0;

-- The risk-control hook matches TrustPay's orderId on our order_no or on platform_order_no.
CREATE INDEX orders_by_platform_order_no ON orders(platform_order_no);
