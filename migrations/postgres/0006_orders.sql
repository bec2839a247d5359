-- Orders: one per shop per checkout. status changes only through conditional
-- UPDATEs (WHERE status = <expected>) that also write order_events.
CREATE TABLE orders (
    id               TEXT PRIMARY KEY,
    checkout_id      TEXT NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users(id),
    shop_id          TEXT NOT NULL REFERENCES shops(id),
    status           TEXT NOT NULL,
    currency         TEXT NOT NULL,
    subtotal         BIGINT NOT NULL,
    discount         BIGINT NOT NULL,
    tax              BIGINT NOT NULL,
    shipping         BIGINT NOT NULL,
    total            BIGINT NOT NULL,
    coupon_code      TEXT,
    tracking_number  TEXT,
    carrier          TEXT,
    expires_at       BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX orders_user ON orders(user_id, id);
CREATE INDEX orders_shop ON orders(shop_id, id);
CREATE INDEX orders_checkout ON orders(checkout_id);
CREATE INDEX orders_expiry ON orders(status, expires_at);

CREATE TABLE order_items (
    order_id       TEXT NOT NULL REFERENCES orders(id),
    variant_id     TEXT NOT NULL REFERENCES variants(id),
    reservation_id TEXT NOT NULL,
    sku            TEXT NOT NULL,
    title          TEXT NOT NULL,
    unit_price     BIGINT NOT NULL,
    quantity       BIGINT NOT NULL,
    PRIMARY KEY (order_id, variant_id)
);

CREATE TABLE order_events (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders(id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor_id    TEXT,
    note        TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX order_events_order ON order_events(order_id, id);

-- At most one live (pending or succeeded) payment per order: the partial
-- unique index is what makes a concurrent second charge impossible.
CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES orders(id),
    provider     TEXT NOT NULL,
    provider_ref TEXT,
    amount       BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('processing', 'pending', 'succeeded', 'failed', 'refunded')),
    failure      TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX payments_one_live ON payments(order_id) WHERE status <> 'failed';

-- Idempotency-Key: the first request with a key claims it (primary key), the
-- response it produced is stored and replayed to every retry.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('in_progress', 'done')),
    response_status BIGINT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
