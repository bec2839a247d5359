//! The hub's durable record in the SQL store: chat messages, room rules
//! (sanctions, slow mode, blocked words) and the moderation log. Every
//! moderation change and its log line commit in one transaction.

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::rules::{ChatVerdict, RoomRules, Sanction, SanctionKind};
use crate::store::{new_id, now_ms, Store, StoreResult};

#[derive(Clone, Debug, Serialize)]
pub struct ChatRow {
    pub id: String,
    pub user_id: String,
    pub author: String,
    pub text: String,
    pub at: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ModerationLogRow {
    pub id: String,
    pub actor_id: String,
    /// `delete_message`, `timeout`, `ban`, `unban`, `shadow_ban`, `unshadow`, `slow_mode`, `blocked_words`, `approve_message`, `pin_message`, `unpin_message`.
    pub action: String,
    pub target_user_id: Option<String>,
    pub target_message_id: Option<String>,
    pub detail: String,
    pub at: i64,
}

/// One moderation change, applied together with its log line.
pub enum ModerationChange<'a> {
    DeleteMessage { message_id: &'a str },
    Sanction { user_id: &'a str, kind: SanctionKind, until: Option<i64> },
    Lift { user_id: &'a str, kind: SanctionKind },
    SlowMode { seconds: u64 },
    BlockedWords { words: &'a [String], hold: bool },
    /// Publishes a message held for review.
    Approve { message_id: &'a str },
    /// Pins a visible message of the room, or unpins (`None`).
    Pin { message_id: Option<&'a str> },
}

impl Store {
    pub async fn insert_chat_message(&self, room_id: &str, user_id: &str, author: &str, text: &str, verdict: ChatVerdict) -> StoreResult<ChatRow> {
        let row = ChatRow { id: new_id(), user_id: user_id.into(), author: author.into(), text: text.into(), at: now_ms() };
        sqlx::query("INSERT INTO chat_messages (id, room_id, user_id, author_name, body, shadow, held, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&row.id)
            .bind(room_id)
            .bind(user_id)
            .bind(author)
            .bind(text)
            .bind(i64::from(verdict.shadow))
            .bind(i64::from(verdict.held))
            .bind(row.at)
            .execute(self.writer())
            .await?;
        Ok(row)
    }

    /// The last `limit` visible messages, oldest first; the viewer also sees
    /// their own shadow-banned messages.
    pub async fn recent_chat(&self, room_id: &str, viewer: Option<&str>, limit: i64) -> StoreResult<Vec<ChatRow>> {
        let rows = sqlx::query(
            "SELECT id, user_id, author_name, body, created_at FROM chat_messages \
             WHERE room_id = $1 AND deleted_at IS NULL AND ((shadow = 0 AND held = 0) OR user_id = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(room_id)
        .bind(viewer.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        let mut messages = rows.iter().map(chat_row).collect::<Result<Vec<_>, sqlx::Error>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// One visible (not deleted, not shadow) message of a room.
    pub async fn visible_chat_message(&self, room_id: &str, message_id: &str) -> StoreResult<Option<ChatRow>> {
        let row = sqlx::query(
            "SELECT id, user_id, author_name, body, created_at FROM chat_messages \
             WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL AND shadow = 0 AND held = 0",
        )
        .bind(message_id)
        .bind(room_id)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| chat_row(&r)).transpose().map_err(Into::into)
    }

    /// Messages waiting for review, oldest first.
    pub async fn held_chat(&self, room_id: &str, limit: i64) -> StoreResult<Vec<ChatRow>> {
        let rows = sqlx::query(
            "SELECT id, user_id, author_name, body, created_at FROM chat_messages \
             WHERE room_id = $1 AND held = 1 AND deleted_at IS NULL ORDER BY created_at, id LIMIT $2",
        )
        .bind(room_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(chat_row).collect::<Result<Vec<_>, sqlx::Error>>().map_err(Into::into)
    }

    /// The room's pinned message, while it is still visible.
    pub async fn pinned_chat_message(&self, room_id: &str) -> StoreResult<Option<ChatRow>> {
        let row = sqlx::query(
            "SELECT m.id, m.user_id, m.author_name, m.body, m.created_at FROM room_chat_settings s \
             JOIN chat_messages m ON m.id = s.pinned_message_id \
             WHERE s.room_id = $1 AND m.deleted_at IS NULL AND m.held = 0",
        )
        .bind(room_id)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| chat_row(&r)).transpose().map_err(Into::into)
    }

    /// Slow mode, blocked words and the sanctions still in force.
    pub async fn room_rules(&self, room_id: &str) -> StoreResult<RoomRules> {
        let now = now_ms();
        let settings = sqlx::query("SELECT slow_mode_secs, blocked_words, hold_blocked FROM room_chat_settings WHERE room_id = $1")
            .bind(room_id)
            .fetch_optional(self.reader())
            .await?;
        let mut rules = RoomRules::default();
        if let Some(row) = settings {
            rules.slow_mode_secs = row.try_get::<i64, _>("slow_mode_secs")?.max(0) as u64;
            let words: String = row.try_get("blocked_words")?;
            rules.blocked_words = serde_json::from_str(&words).unwrap_or_default();
            rules.hold_blocked = row.try_get::<i64, _>("hold_blocked")? != 0;
        }
        let sanctions = sqlx::query("SELECT user_id, kind, until FROM room_sanctions WHERE room_id = $1 AND (until IS NULL OR until > $2)")
            .bind(room_id)
            .bind(now)
            .fetch_all(self.reader())
            .await?;
        for row in sanctions {
            let kind: String = row.try_get("kind")?;
            if let Some(kind) = SanctionKind::parse(&kind) {
                rules.sanctions.push(Sanction { user_id: row.try_get("user_id")?, kind, until: row.try_get("until")? });
            }
        }
        Ok(rules)
    }

    /// Applies a change and logs it in one transaction. False when there was
    /// nothing to change (an unknown or already deleted message).
    pub async fn apply_moderation(&self, room_id: &str, actor_id: &str, change: ModerationChange<'_>, detail: &str) -> StoreResult<bool> {
        let now = now_ms();
        let mut tx = self.writer().begin().await?;
        let (action, target_user, target_message, changed) = match change {
            ModerationChange::DeleteMessage { message_id } => {
                let done = sqlx::query("UPDATE chat_messages SET deleted_at = $1, deleted_by = $2 WHERE id = $3 AND room_id = $4 AND deleted_at IS NULL")
                    .bind(now)
                    .bind(actor_id)
                    .bind(message_id)
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
                ("delete_message", None, Some(message_id), done.rows_affected() == 1)
            }
            ModerationChange::Sanction { user_id, kind, until } => {
                sqlx::query(
                    "INSERT INTO room_sanctions (room_id, user_id, kind, until, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (room_id, user_id, kind) DO UPDATE SET until = excluded.until, created_by = excluded.created_by, created_at = excluded.created_at",
                )
                .bind(room_id)
                .bind(user_id)
                .bind(kind.as_str())
                .bind(until)
                .bind(actor_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let action = match kind {
                    SanctionKind::Ban => "ban",
                    SanctionKind::Timeout => "timeout",
                    SanctionKind::Shadow => "shadow_ban",
                };
                (action, Some(user_id), None, true)
            }
            ModerationChange::Lift { user_id, kind } => {
                sqlx::query("DELETE FROM room_sanctions WHERE room_id = $1 AND user_id = $2 AND kind = $3")
                    .bind(room_id)
                    .bind(user_id)
                    .bind(kind.as_str())
                    .execute(&mut *tx)
                    .await?;
                (if kind == SanctionKind::Ban { "unban" } else { "unshadow" }, Some(user_id), None, true)
            }
            ModerationChange::SlowMode { seconds } => {
                sqlx::query(
                    "INSERT INTO room_chat_settings (room_id, slow_mode_secs, blocked_words, updated_at) VALUES ($1, $2, '[]', $3) \
                     ON CONFLICT (room_id) DO UPDATE SET slow_mode_secs = excluded.slow_mode_secs, updated_at = excluded.updated_at",
                )
                .bind(room_id)
                .bind(seconds as i64)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                ("slow_mode", None, None, true)
            }
            ModerationChange::BlockedWords { words, hold } => {
                let json = serde_json::to_string(words).unwrap_or_else(|_| "[]".into());
                sqlx::query(
                    "INSERT INTO room_chat_settings (room_id, slow_mode_secs, blocked_words, hold_blocked, updated_at) VALUES ($1, 0, $2, $3, $4) \
                     ON CONFLICT (room_id) DO UPDATE SET blocked_words = excluded.blocked_words, hold_blocked = excluded.hold_blocked, updated_at = excluded.updated_at",
                )
                .bind(room_id)
                .bind(json)
                .bind(i64::from(hold))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                ("blocked_words", None, None, true)
            }
            ModerationChange::Approve { message_id } => {
                let done = sqlx::query("UPDATE chat_messages SET held = 0 WHERE id = $1 AND room_id = $2 AND held = 1 AND deleted_at IS NULL")
                    .bind(message_id)
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
                ("approve_message", None, Some(message_id), done.rows_affected() == 1)
            }
            ModerationChange::Pin { message_id } => {
                let visible = match message_id {
                    Some(id) => sqlx::query("SELECT id FROM chat_messages WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL AND shadow = 0 AND held = 0")
                        .bind(id)
                        .bind(room_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some(),
                    None => true,
                };
                if visible {
                    sqlx::query(
                        "INSERT INTO room_chat_settings (room_id, slow_mode_secs, blocked_words, pinned_message_id, updated_at) VALUES ($1, 0, '[]', $2, $3) \
                         ON CONFLICT (room_id) DO UPDATE SET pinned_message_id = excluded.pinned_message_id, updated_at = excluded.updated_at",
                    )
                    .bind(room_id)
                    .bind(message_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                (if message_id.is_some() { "pin_message" } else { "unpin_message" }, None, message_id, visible)
            }
        };
        if changed {
            sqlx::query(
                "INSERT INTO moderation_log (id, room_id, actor_id, action, target_user_id, target_message_id, detail, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(new_id())
            .bind(room_id)
            .bind(actor_id)
            .bind(action)
            .bind(target_user)
            .bind(target_message)
            .bind(detail)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// The newest `limit` moderation actions in a room, newest first.
    pub async fn moderation_log(&self, room_id: &str, limit: i64) -> StoreResult<Vec<ModerationLogRow>> {
        let rows = sqlx::query(
            "SELECT id, actor_id, action, target_user_id, target_message_id, detail, created_at FROM moderation_log \
             WHERE room_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(room_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ModerationLogRow {
                    id: r.try_get("id")?,
                    actor_id: r.try_get("actor_id")?,
                    action: r.try_get("action")?,
                    target_user_id: r.try_get("target_user_id")?,
                    target_message_id: r.try_get("target_message_id")?,
                    detail: r.try_get("detail")?,
                    at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
    }
}

fn chat_row(r: &sqlx::any::AnyRow) -> Result<ChatRow, sqlx::Error> {
    Ok(ChatRow { id: r.try_get("id")?, user_id: r.try_get("user_id")?, author: r.try_get("author_name")?, text: r.try_get("body")?, at: r.try_get("created_at")? })
}
