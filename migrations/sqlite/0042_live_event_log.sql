-- The durable per-room event log (issue 8): every pin, sale and auction state
-- change, with wall time and, when a stream was live, the stream's media time
-- (RTP timestamp at the publisher's clock rate), so replays can show overlays
-- in sync with the video. Moderation actions stay in moderation_log; the
-- event-log route merges them for the room's staff.
CREATE TABLE live_room_events (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    kind        TEXT NOT NULL,
    data        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    stream_rtp  BIGINT,
    clock_rate  BIGINT
);
CREATE INDEX live_room_events_room_time ON live_room_events(room_id, at, id);
