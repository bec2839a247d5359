-- Live analytics (issue 9): one row per minute a room was on air, with its
-- concurrent and peak viewers as presence reported them. Orders, GMV and
-- reservations are not copied here: they are counted from their own tables
-- when asked, so this table can never disagree with them. Several nodes
-- write the same minute; the upsert keeps the highest figures.
CREATE TABLE live_analytics_minutes (
    room_id      TEXT NOT NULL REFERENCES rooms(id),
    minute       BIGINT NOT NULL,
    viewers      BIGINT NOT NULL CHECK (viewers >= 0),
    peak_viewers BIGINT NOT NULL CHECK (peak_viewers >= 0),
    PRIMARY KEY (room_id, minute)
);

-- The shop's orders by time, for a stream's orders and GMV per minute.
CREATE INDEX orders_shop_created ON orders(shop_id, created_at);
