//! Live rooms and who may control them. A room belongs to one shop; the shop's
//! sellers publish and control it, its moderators moderate it.

use sqlx::Row;

use super::{new_id, now_ms, ShopRole, Store, StoreResult};

#[derive(Clone, Debug)]
pub struct RoomRow {
    pub id: String,
    pub name: String,
    pub shop_id: String,
    pub title: String,
    pub visibility: String,
    pub status: String,
    pub scheduled_at: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

impl RoomRow {
    pub fn is_public(&self) -> bool {
        self.visibility == "public"
    }
}

pub struct NewRoom<'a> {
    pub name: &'a str,
    pub shop_id: &'a str,
    pub title: &'a str,
    pub visibility: &'a str,
    pub scheduled_at: Option<i64>,
    pub stream_key_hash: &'a str,
}

/// What a user may do in a room, derived from their roles in its shop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomRights {
    pub seller: bool,
    pub moderator: bool,
}

impl RoomRights {
    /// Sellers can moderate their own rooms too.
    pub fn can_moderate(self) -> bool {
        self.seller || self.moderator
    }
}

const COLUMNS: &str = "id, name, shop_id, title, visibility, status, scheduled_at, created_at, started_at, ended_at";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<RoomRow> {
    Ok(RoomRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        shop_id: row.try_get("shop_id")?,
        title: row.try_get("title")?,
        visibility: row.try_get("visibility")?,
        status: row.try_get("status")?,
        scheduled_at: row.try_get("scheduled_at")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

impl Store {
    /// A taken name is `StoreError::UniqueViolation`.
    pub async fn create_room(&self, room: NewRoom<'_>) -> StoreResult<RoomRow> {
        let row = RoomRow {
            id: new_id(),
            name: room.name.to_string(),
            shop_id: room.shop_id.to_string(),
            title: room.title.to_string(),
            visibility: room.visibility.to_string(),
            status: "scheduled".into(),
            scheduled_at: room.scheduled_at,
            created_at: now_ms(),
            started_at: None,
            ended_at: None,
        };
        sqlx::query(
            "INSERT INTO rooms (id, name, shop_id, title, visibility, status, stream_key_hash, scheduled_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.shop_id)
        .bind(&row.title)
        .bind(&row.visibility)
        .bind(&row.status)
        .bind(room.stream_key_hash)
        .bind(row.scheduled_at)
        .bind(row.created_at)
        .execute(self.writer())
        .await?;
        Ok(row)
    }

    pub async fn room_by_name(&self, name: &str) -> StoreResult<Option<RoomRow>> {
        let sql = format!("SELECT {COLUMNS} FROM rooms WHERE name = $1");
        let row = sqlx::query(&sql).bind(name).fetch_optional(self.reader()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The room whose stream key hashes to `hash` (OBS publishes with the key as bearer token).
    pub async fn room_by_stream_key_hash(&self, hash: &str) -> StoreResult<Option<RoomRow>> {
        let sql = format!("SELECT {COLUMNS} FROM rooms WHERE stream_key_hash = $1");
        let row = sqlx::query(&sql).bind(hash).fetch_optional(self.reader()).await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn rooms_of_shop(&self, shop_id: &str) -> StoreResult<Vec<RoomRow>> {
        let sql = format!("SELECT {COLUMNS} FROM rooms WHERE shop_id = $1 ORDER BY created_at DESC, id");
        let rows = sqlx::query(&sql).bind(shop_id).fetch_all(self.reader()).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn set_room_stream_key_hash(&self, room_id: &str, hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE rooms SET stream_key_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(room_id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Marks a room live (first publish) or ended; used by the SFU and the studio.
    pub async fn set_room_status(&self, room_id: &str, status: &str) -> StoreResult<()> {
        let now = now_ms();
        let sql = match status {
            "live" => "UPDATE rooms SET status = 'live', started_at = COALESCE(started_at, $1), ended_at = NULL WHERE id = $2",
            "ended" => "UPDATE rooms SET status = 'ended', ended_at = $1 WHERE id = $2",
            _ => "UPDATE rooms SET status = 'scheduled', scheduled_at = COALESCE(scheduled_at, $1) WHERE id = $2",
        };
        sqlx::query(sql).bind(now).bind(room_id).execute(self.writer()).await?;
        Ok(())
    }

    /// The caller's rights in the room's shop (none for strangers).
    pub async fn room_rights(&self, room: &RoomRow, user_id: &str) -> StoreResult<RoomRights> {
        let roles = self.shop_roles(&room.shop_id, user_id).await?;
        Ok(RoomRights { seller: roles.contains(&ShopRole::Seller), moderator: roles.contains(&ShopRole::Moderator) })
    }
}
