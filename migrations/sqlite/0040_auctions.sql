-- Live auctions (issue 8). The row holds the rules and the engine's state
-- after the last accepted bid (price, leader and secret maximum, runner-up,
-- deadline); each accepted bid is a row of auction_bids, numbered in the
-- order the store accepted it. A bid is accepted only by a conditional
-- UPDATE on `bid_count` inside the bid's transaction, so the price and the
-- leader never regress and no bid lands after the close.
CREATE TABLE auctions (
    id                 TEXT PRIMARY KEY,
    room_id            TEXT NOT NULL REFERENCES rooms(id),
    shop_id            TEXT NOT NULL REFERENCES shops(id),
    variant_id         TEXT NOT NULL REFERENCES variants(id),
    title              TEXT NOT NULL,
    currency           TEXT NOT NULL,
    starting_price     BIGINT NOT NULL CHECK (starting_price > 0),
    -- JSON [[from, step], ...] in minor units.
    increments         TEXT NOT NULL,
    -- NULL: sudden death (the deadline never moves).
    anti_snipe_ms      BIGINT,
    reserve_price      BIGINT,
    starts_at          BIGINT NOT NULL,
    duration_ms        BIGINT NOT NULL,
    -- The current deadline (moved by anti-sniping).
    ends_at            BIGINT NOT NULL,
    current_price      BIGINT NOT NULL,
    leader_id          TEXT,
    leader_max         BIGINT,
    runner_up_id       TEXT,
    runner_up_max      BIGINT,
    bid_count          BIGINT NOT NULL DEFAULT 0,
    -- running | ended | cancelled
    status             TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ended', 'cancelled')),
    -- The stock hold of the one unit auctioned, taken at creation.
    stock_reservation_id TEXT REFERENCES stock_reservations(id),
    winner_id          TEXT,
    final_price        BIGINT,
    winner_order_id    TEXT,
    -- Set once the seller offered the item to the runner-up.
    offered_runner_up  BIGINT NOT NULL DEFAULT 0,
    created_by         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    ended_at           BIGINT
);
CREATE INDEX auctions_room ON auctions(room_id, status);

CREATE TABLE auction_bids (
    auction_id TEXT NOT NULL REFERENCES auctions(id),
    seq        BIGINT NOT NULL,
    user_id    TEXT NOT NULL,
    amount     BIGINT NOT NULL,
    max_amount BIGINT NOT NULL,
    -- The price and deadline right after this bid.
    price      BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    placed_at  BIGINT NOT NULL,
    PRIMARY KEY (auction_id, seq)
);
