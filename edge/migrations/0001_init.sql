-- Orders created through the checkout, and everything that ever happened to them.
-- Amounts are integer minor units (cents / paise); times are Unix milliseconds.

CREATE TABLE orders (
    order_no            TEXT PRIMARY KEY,          -- our merchant order number (TrustPay's order_no)
    amount_minor        INTEGER NOT NULL,
    currency            TEXT    NOT NULL,          -- USD | INR
    merchant_id         INTEGER NOT NULL,          -- TRUSTPAY_MERCHANT_ID at creation
    status              INTEGER NOT NULL DEFAULT 1,-- TrustPay order status (1 pending ... 9 refunding)
    pay_url             TEXT,                      -- NULL until TrustPay created the order
    platform_order_no   TEXT,
    creating_until      INTEGER NOT NULL DEFAULT 0,-- lease of the request creating it at TrustPay
    paid_amount_minor   INTEGER,
    refund_amount_minor INTEGER,
    fee_minor           INTEGER,
    late_payment        INTEGER NOT NULL DEFAULT 0,-- 1: paid after failing / expiring
    last_query_at       INTEGER,                   -- last TrustPay order query (rate limit)
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- Client secrets are stored as SHA-256 hex only; one row per page that created / re-opened the order.
CREATE TABLE client_secrets (
    order_no    TEXT    NOT NULL REFERENCES orders(order_no),
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (order_no, secret_hash)
);

-- Append-only log: every callback (accepted or not), query refresh, creation step, refund.
CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_no    TEXT,                              -- NULL when a refused callback named no valid order
    at          INTEGER NOT NULL,
    source      TEXT    NOT NULL,                  -- callback | query | create | admin
    outcome     TEXT    NOT NULL,                  -- accepted | duplicate | stale | conflict | rejected_signature | ...
    status_from INTEGER,
    status_to   INTEGER,
    detail      TEXT
);
CREATE INDEX order_events_by_order ON order_events(order_no, id);

CREATE TABLE refunds (
    merchant_refund_no TEXT PRIMARY KEY,
    order_no           TEXT    NOT NULL REFERENCES orders(order_no),
    amount_minor       INTEGER NOT NULL,
    reason             TEXT    NOT NULL,
    gateway_status     INTEGER,
    created_at         INTEGER NOT NULL
);
CREATE INDEX refunds_by_order ON refunds(order_no);
