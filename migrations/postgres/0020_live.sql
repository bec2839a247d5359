-- Live commerce (issue 8): pinned products per room, flash sales, their
-- per-buyer counters and one-tap reservations. Quantities and caps are
-- enforced here (conditional UPDATEs, a conditional upsert), never in memory.

-- One row per room that ever pinned: `pins` is the count, raised only by a
-- conditional UPDATE (`pins < max`), so concurrent pins cannot exceed the max.
CREATE TABLE live_room_pins (
    room_id TEXT PRIMARY KEY REFERENCES rooms(id),
    pins    BIGINT NOT NULL DEFAULT 0 CHECK (pins >= 0)
);

CREATE TABLE live_pins (
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    product_id TEXT NOT NULL REFERENCES products(id),
    pinned_by  TEXT NOT NULL,
    pinned_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, product_id)
);

-- phase: scheduled | live | sold_out | ended | cancelled (the engine's phase,
-- persisted on every transition so a restart does not re-announce it).
CREATE TABLE flash_sales (
    id             TEXT PRIMARY KEY,
    room_id        TEXT NOT NULL REFERENCES rooms(id),
    shop_id        TEXT NOT NULL REFERENCES shops(id),
    variant_id     TEXT NOT NULL REFERENCES variants(id),
    sale_price     BIGINT NOT NULL CHECK (sale_price > 0),
    currency       TEXT NOT NULL,
    total_quantity BIGINT NOT NULL CHECK (total_quantity > 0),
    per_buyer_cap  BIGINT NOT NULL CHECK (per_buyer_cap > 0),
    sold           BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0 AND sold <= total_quantity),
    starts_at      BIGINT NOT NULL,
    ends_at        BIGINT NOT NULL,
    phase          TEXT NOT NULL DEFAULT 'scheduled',
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX flash_sales_room ON flash_sales(room_id, phase);

CREATE TABLE flash_sale_buyers (
    sale_id  TEXT NOT NULL REFERENCES flash_sales(id),
    user_id  TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (sale_id, user_id)
);

-- The stock hold itself has no expires_at (the commerce sweeper leaves it
-- alone); this row's reserved_until governs it, so releasing it also gives
-- the units back to the sale and the buyer's cap in one transaction.
CREATE TABLE flash_sale_reservations (
    id                   TEXT PRIMARY KEY,
    sale_id              TEXT NOT NULL REFERENCES flash_sales(id),
    user_id              TEXT NOT NULL,
    stock_reservation_id TEXT NOT NULL REFERENCES stock_reservations(id),
    quantity             BIGINT NOT NULL CHECK (quantity > 0),
    -- held → ordered (an order now owns the stock hold) → released if that
    -- order expires or is cancelled; held → released when reserved_until passes.
    status               TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'ordered', 'released')),
    order_id             TEXT,
    reserved_until       BIGINT NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX flash_sale_reservations_expiry ON flash_sale_reservations(status, reserved_until);
CREATE INDEX flash_sale_reservations_buyer ON flash_sale_reservations(sale_id, user_id);
