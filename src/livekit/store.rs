//! SQL for LiveKit compatibility: the room settings LiveKit has and our rooms do not
//! (metadata, timeouts, participant cap), opening a room for `CreateRoom`, and the
//! durable webhook queue.

use sqlx::Row;

use crate::store::{NewRoom, RoomRow};
use crate::store::{new_id, now_ms, Store, StoreError, StoreResult};

/// The shop that owns rooms created through the RoomService when no
/// `streamcart.livekit.default_shop` is configured (seeded by migration 0050).
pub const SYSTEM_SHOP_ID: &str = "livekit-api";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomSettings {
    pub metadata: String,
    pub empty_timeout: u32,
    pub departure_timeout: u32,
    pub max_participants: u32,
}

/// A delivery due to be sent.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: String,
    pub url: String,
    pub body: String,
    pub attempts: u32,
}

impl Store {
    pub async fn livekit_room_settings(&self, room_id: &str) -> StoreResult<RoomSettings> {
        let row = sqlx::query("SELECT metadata, empty_timeout, departure_timeout, max_participants FROM livekit_rooms WHERE room_id = $1")
            .bind(room_id)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(RoomSettings::default()) };
        Ok(RoomSettings {
            metadata: row.try_get("metadata")?,
            empty_timeout: clamp_u32(row.try_get("empty_timeout")?),
            departure_timeout: clamp_u32(row.try_get("departure_timeout")?),
            max_participants: clamp_u32(row.try_get("max_participants")?),
        })
    }

    pub async fn set_livekit_room_settings(&self, room_id: &str, settings: &RoomSettings) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO livekit_rooms (room_id, metadata, empty_timeout, departure_timeout, max_participants, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (room_id) DO UPDATE SET metadata = excluded.metadata, empty_timeout = excluded.empty_timeout, \
             departure_timeout = excluded.departure_timeout, max_participants = excluded.max_participants, updated_at = excluded.updated_at",
        )
        .bind(room_id)
        .bind(&settings.metadata)
        .bind(i64::from(settings.empty_timeout))
        .bind(i64::from(settings.departure_timeout))
        .bind(i64::from(settings.max_participants))
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// `CreateRoom`: the room `name`, created in `shop_id` if it does not exist, reopened
    /// (scheduled again) if it had ended. The bool is true when it was created or reopened.
    pub async fn open_livekit_room(&self, name: &str, shop_id: &str, stream_key_hash: &str) -> StoreResult<(RoomRow, bool)> {
        if let Some(room) = self.room_by_name(name).await? {
            if room.status != "ended" {
                return Ok((room, false));
            }
            self.set_room_status(&room.id, "scheduled").await?;
            let room = self.room_by_name(name).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
            return Ok((room, true));
        }
        let created = self
            .create_room(NewRoom { name, shop_id, title: name, visibility: "public", scheduled_at: None, stream_key_hash })
            .await;
        match created {
            Ok(room) => Ok((room, true)),
            // Created by someone else in between: theirs is the room.
            Err(StoreError::UniqueViolation(_)) => Ok((self.room_by_name(name).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))?, false)),
            Err(e) => Err(e),
        }
    }

    /// Rooms that have not ended, oldest first (`ListRooms`), optionally only those named.
    pub async fn active_rooms(&self, names: &[String]) -> StoreResult<Vec<RoomRow>> {
        let mut rooms = Vec::new();
        if names.is_empty() {
            let rows = sqlx::query("SELECT name FROM rooms WHERE status <> 'ended' ORDER BY created_at, id LIMIT 1000")
                .fetch_all(self.reader())
                .await?;
            for row in rows {
                let name: String = row.try_get("name")?;
                rooms.extend(self.room_by_name(&name).await?);
            }
        } else {
            for name in names {
                rooms.extend(self.room_by_name(name).await?.filter(|r| r.status != "ended"));
            }
        }
        Ok(rooms)
    }

    /// Queues one delivery of `body` to each URL (one transaction).
    pub async fn enqueue_livekit_webhooks(&self, urls: &[String], body: &str) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.writer().begin().await?;
        for url in urls {
            sqlx::query("INSERT INTO livekit_webhook_deliveries (id, url, body, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, 0, $4, $4)")
                .bind(new_id())
                .bind(url)
                .bind(body)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` due deliveries for `lease_ms`: each is moved to
    /// `now + lease_ms` only if nobody else moved it first.
    pub async fn claim_livekit_webhooks(&self, now: i64, lease_ms: i64, limit: i64) -> StoreResult<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "SELECT id, url, body, attempts, next_attempt_at FROM livekit_webhook_deliveries \
             WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, created_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        let mut claimed = Vec::new();
        for row in rows {
            let id: String = row.try_get("id")?;
            let due: i64 = row.try_get("next_attempt_at")?;
            let won = sqlx::query("UPDATE livekit_webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 AND delivered_at IS NULL")
                .bind(now + lease_ms)
                .bind(&id)
                .bind(due)
                .execute(self.writer())
                .await?
                .rows_affected()
                == 1;
            if won {
                let attempts: i64 = row.try_get("attempts")?;
                claimed.push(DueDelivery { id, url: row.try_get("url")?, body: row.try_get("body")?, attempts: clamp_u32(attempts) });
            }
        }
        Ok(claimed)
    }

    pub async fn livekit_webhook_delivered(&self, id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE livekit_webhook_deliveries SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or given up when `None`.
    pub async fn livekit_webhook_failed(&self, id: &str, error: &str, retry_at: Option<i64>) -> StoreResult<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE livekit_webhook_deliveries SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = COALESCE($2, next_attempt_at), failed_at = CASE WHEN $3 = 1 THEN $4 ELSE NULL END WHERE id = $5",
        )
        .bind(error.chars().take(500).collect::<String>())
        .bind(retry_at)
        .bind(i64::from(retry_at.is_none()))
        .bind(now)
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }
}

fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}
