-- Durable merchant notifications: the outbox. A row is written in the same D1 batch as the
-- status change it announces (so a change is never stored without its notification), then a
-- queue message carries its id to the consumer. The row, not the message, is the truth: the
-- consumer claims each attempt on the row, the retry schedule lives here (hours to days, beyond
-- one queue message's 12 h delay), the cron re-sends rows whose message never arrived, and an
-- admin lists and replays dead rows.
CREATE TABLE webhook_outbox (
    id              TEXT PRIMARY KEY,           -- the event id (`webhook-id`)
    order_no        TEXT    NOT NULL REFERENCES orders(order_no),
    kind            TEXT    NOT NULL,           -- order.<state>
    body            TEXT    NOT NULL,           -- the exact JSON body signed and sent
    state           TEXT    NOT NULL,           -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0, -- delivery attempts claimed so far
    next_attempt_at INTEGER NOT NULL,           -- ms: when the next attempt is due
    last_result     TEXT,                       -- http=<status> | error=<text> of the last attempt
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- The cron's sweep (pending rows by due time) and the admin list (rows by state).
CREATE INDEX webhook_outbox_by_state ON webhook_outbox(state, next_attempt_at);
