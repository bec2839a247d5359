-- Stock ledger: every change to a variant's counters is one row, written in the
-- same transaction as the conditional UPDATE it records, so the sums of the
-- deltas always equal the counters.
CREATE TABLE stock_movements (
    id              TEXT PRIMARY KEY,
    variant_id      TEXT NOT NULL REFERENCES variants(id),
    kind            TEXT NOT NULL CHECK (kind IN ('restock', 'sale', 'reservation', 'release', 'refund_return', 'adjust')),
    available_delta BIGINT NOT NULL,
    reserved_delta  BIGINT NOT NULL,
    reason          TEXT,
    reference       TEXT,
    actor_id        TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX stock_movements_variant ON stock_movements(variant_id, id);

-- A hold on units: taken by checkout (until paid or expired) or, later, by a
-- live one-tap reservation. Ends exactly once: released or sold.
CREATE TABLE stock_reservations (
    id         TEXT PRIMARY KEY,
    variant_id TEXT NOT NULL REFERENCES variants(id),
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    holder     TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'sold')),
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX stock_reservations_holder ON stock_reservations(holder);
CREATE INDEX stock_reservations_expiry ON stock_reservations(status, expires_at);
