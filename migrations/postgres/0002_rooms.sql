-- Live rooms: one per stream a shop runs. The SFU, the signaling hub and live
-- commerce all key on the room name.
CREATE TABLE rooms (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    shop_id         TEXT NOT NULL REFERENCES shops(id),
    title           TEXT NOT NULL,
    visibility      TEXT NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private')),
    status          TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'live', 'ended')),
    stream_key_hash TEXT NOT NULL UNIQUE,
    scheduled_at    BIGINT,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    ended_at        BIGINT
);
CREATE INDEX rooms_shop ON rooms(shop_id);
