-- Live polls and giveaways (issue 8). A room has at most one open poll and
-- one open giveaway at a time (partial unique indexes). One vote per user per
-- poll and one entry per user per giveaway (primary keys). A giveaway's seed
-- is kept secret (never served) until its draw; its SHA-256 is public from
-- the start, so the draw can be verified.
CREATE TABLE live_polls (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    question    TEXT NOT NULL,
    answers     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_by  TEXT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    closes_at   BIGINT,
    closed_at   BIGINT,
    close_reason TEXT
);
CREATE INDEX live_polls_room ON live_polls(room_id, created_at);
CREATE INDEX live_polls_status ON live_polls(status, closes_at);
CREATE UNIQUE INDEX live_polls_one_open ON live_polls(room_id) WHERE status = 'open';

CREATE TABLE live_poll_votes (
    poll_id  TEXT NOT NULL REFERENCES live_polls(id),
    user_id  TEXT NOT NULL REFERENCES users(id),
    answer   BIGINT NOT NULL CHECK (answer >= 0),
    at       BIGINT NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);

CREATE TABLE live_giveaways (
    id               TEXT PRIMARY KEY,
    room_id          TEXT NOT NULL REFERENCES rooms(id),
    prize            TEXT NOT NULL,
    eligibility      TEXT NOT NULL CHECK (eligibility IN ('everyone', 'buyers')),
    status           TEXT NOT NULL CHECK (status IN ('open', 'drawn')),
    seed             TEXT NOT NULL,
    seed_hash        TEXT NOT NULL,
    created_by       TEXT NOT NULL REFERENCES users(id),
    created_at       BIGINT NOT NULL,
    entries_close_at BIGINT NOT NULL,
    drawn_at         BIGINT,
    entrants         BIGINT,
    winner_user_id   TEXT REFERENCES users(id)
);
CREATE INDEX live_giveaways_room ON live_giveaways(room_id, created_at);
CREATE INDEX live_giveaways_status ON live_giveaways(status, entries_close_at);
CREATE UNIQUE INDEX live_giveaways_one_open ON live_giveaways(room_id) WHERE status = 'open';

CREATE TABLE live_giveaway_entries (
    giveaway_id TEXT NOT NULL REFERENCES live_giveaways(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    at          BIGINT NOT NULL,
    PRIMARY KEY (giveaway_id, user_id)
);
