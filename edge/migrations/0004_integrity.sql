-- Payment-state integrity: refund progress, creations TrustPay can never accept, idempotent refunds.

-- How many refunds TrustPay listed (merchant_refund_no[]) in the message the order's refund
-- position came from; NULL when it was not reported (order queries don't list them).
ALTER TABLE orders ADD COLUMN refund_count INTEGER;
-- Why creating this order at TrustPay can never succeed (`order_number_taken`: TrustPay holds a
-- different order under our number). Such an order is never paid.
ALTER TABLE orders ADD COLUMN create_refused TEXT;

-- The Idempotency-Key of the request that reserved the refund, and the answer it got, which a
-- retry with the same key receives again instead of a second refund.
ALTER TABLE refunds ADD COLUMN idempotency_key TEXT;
ALTER TABLE refunds ADD COLUMN answer TEXT;
