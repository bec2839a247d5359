-- LiveKit compatibility (issue 6).
-- Rooms created through the Twirp RoomService belong to this built-in shop unless
-- streamcart.livekit.default_shop names another. Its slug starts with '_', which
-- no user-created shop can have, so it never collides.
INSERT INTO shops (id, slug, name, currency, status, created_at)
VALUES ('livekit-api', '_livekit', 'LiveKit API rooms', 'USD', 'active', 0);

-- What LiveKit's Room carries that our rooms do not: metadata and timeouts.
CREATE TABLE livekit_rooms (
    room_id           TEXT PRIMARY KEY REFERENCES rooms(id),
    metadata          TEXT NOT NULL DEFAULT '',
    empty_timeout     BIGINT NOT NULL DEFAULT 0,
    departure_timeout BIGINT NOT NULL DEFAULT 0,
    max_participants  BIGINT NOT NULL DEFAULT 0,
    updated_at        BIGINT NOT NULL
);

-- The durable webhook queue: one row per (event, URL), retried with backoff until
-- delivered or given up. A worker claims a row by moving next_attempt_at forward
-- conditionally, so nodes sharing the store send each delivery once per attempt.
CREATE TABLE livekit_webhook_deliveries (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    failed_at       BIGINT,
    last_error      TEXT
);
CREATE INDEX livekit_webhook_deliveries_due ON livekit_webhook_deliveries(next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
