-- With D1 shards (`D1_SHARDS` > 1): which order each refund number is claimed for, on the shard
-- the refund number itself hashes to. A refund row lives on its order's shard, where the
-- refunds table's key can't see another shard's numbers; a claim here is made in one statement
-- before the refund is reserved, so two orders can't both reserve one number at once. Claims
-- are never deleted: one older than two minutes whose order has no refund of that number is
-- taken over by the next order that asks. Unused with one shard (the refunds key decides
-- there). Refunds reserved before this table existed have no claim: the merchant refund route
-- looks a number up on every shard before it reserves, which still finds them.
CREATE TABLE refund_numbers (
    merchant_refund_no TEXT    PRIMARY KEY,
    order_no           TEXT    NOT NULL,
    created_at         INTEGER NOT NULL
);
-- Apply before deploying the Worker that uses it (every refund with more than one shard writes it).
