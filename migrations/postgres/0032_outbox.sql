-- The transactional outbox: an email per order event (confirmed, shipped,
-- delivered, refunded), written in the transaction of the state change it
-- reports. The dispatcher leases a due row (next_attempt_at moves forward
-- under a conditional UPDATE, so two nodes never send the same row at once),
-- sends it, and marks it sent or schedules a retry with backoff.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    order_id        TEXT,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    delivered_via   TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_order ON outbox(order_id);
