-- Live analytics, more figures (issue 8). Product-card impressions, clicks and
-- attributed add-to-cart reported by viewers' pages: one row per viewer,
-- product, kind and minute, so the primary key deduplicates reports across
-- nodes and a client cannot inflate the counts by repeating itself.
CREATE TABLE live_card_events (
    room_id    TEXT NOT NULL REFERENCES rooms(id),
    minute     BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('impression', 'click', 'add_to_cart')),
    product_id TEXT NOT NULL,
    viewer     TEXT NOT NULL,
    PRIMARY KEY (room_id, minute, kind, product_id, viewer)
);

-- Watch time (viewer-milliseconds, presence integrated over the minute) and
-- distinct viewers so far, recorded with each minute on air.
ALTER TABLE live_analytics_minutes ADD COLUMN watch_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE live_analytics_minutes ADD COLUMN unique_viewers BIGINT NOT NULL DEFAULT 0;
