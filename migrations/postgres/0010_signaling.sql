-- The signaling hub's durable record: chat (history survives restarts),
-- per-room sanctions and chat settings, and the moderation log.
CREATE TABLE chat_messages (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    author_name TEXT NOT NULL,
    body        TEXT NOT NULL,
    -- 1 when the author was shadow-banned: only the author ever sees it.
    shadow      BIGINT NOT NULL DEFAULT 0,
    -- 1 while held for review (a blocked word in hold mode): author and moderators only.
    held        BIGINT NOT NULL DEFAULT 0,
    deleted_at  BIGINT,
    deleted_by  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX chat_messages_room_time ON chat_messages(room_id, created_at);

-- kind: 'ban' | 'timeout' | 'shadow'. until NULL = until lifted.
CREATE TABLE room_sanctions (
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    kind        TEXT NOT NULL CHECK (kind IN ('ban', 'timeout', 'shadow')),
    until       BIGINT,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, kind)
);

CREATE TABLE room_chat_settings (
    room_id        TEXT PRIMARY KEY REFERENCES rooms(id),
    slow_mode_secs BIGINT NOT NULL DEFAULT 0,
    -- JSON array of lower-case words; a message containing one is blocked.
    blocked_words  TEXT NOT NULL DEFAULT '[]',
    -- 1: messages with a blocked word are held for review instead of refused.
    hold_blocked   BIGINT NOT NULL DEFAULT 0,
    -- The chat message pinned above the chat, if any.
    pinned_message_id TEXT,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE moderation_log (
    id                TEXT PRIMARY KEY,
    room_id           TEXT NOT NULL REFERENCES rooms(id),
    actor_id          TEXT NOT NULL,
    action            TEXT NOT NULL,
    target_user_id    TEXT,
    target_message_id TEXT,
    detail            TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL
);
CREATE INDEX moderation_log_room_time ON moderation_log(room_id, created_at);
