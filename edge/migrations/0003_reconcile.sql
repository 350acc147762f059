-- Reconciliation cron: finds pending orders by age without a table scan.
CREATE INDEX orders_pending_by_age ON orders(status, updated_at);
