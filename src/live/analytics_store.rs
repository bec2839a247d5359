//! Persistence for live analytics: the minutes a room was on air (viewer
//! samples, upserted so several nodes keep the highest figures), and the
//! commerce per minute counted from the orders and reservations themselves.

use sqlx::Row;

use super::analytics::{MinuteStats, Sales, MINUTE_MS};
use super::Millis;
use crate::store::{Store, StoreError, StoreResult};

/// Statuses of an order that was paid (and not refunded or cancelled since).
const PAID: &str = "('paid', 'fulfilling', 'shipped', 'delivered', 'completed')";

/// How far back a room's analytics go: the last day on air.
pub const MAX_MINUTES: i64 = 24 * 60;

/// A room being tracked: what the analytics shell needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedRoom {
    pub id: String,
    pub name: String,
    pub shop_id: String,
    pub currency: String,
}

impl Store {
    /// Rooms on air now, with their shop's currency.
    pub async fn on_air_rooms(&self) -> StoreResult<Vec<TrackedRoom>> {
        let rows = sqlx::query("SELECT r.id AS id, r.name AS name, r.shop_id AS shop_id, s.currency AS currency FROM rooms r JOIN shops s ON s.id = r.shop_id WHERE r.status = 'live'")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok(TrackedRoom { id: r.try_get("id")?, name: r.try_get("name")?, shop_id: r.try_get("shop_id")?, currency: r.try_get("currency")? }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn shop_currency(&self, shop_id: &str) -> StoreResult<String> {
        let row = sqlx::query("SELECT currency FROM shops WHERE id = $1").bind(shop_id).fetch_one(self.reader()).await?;
        Ok(row.try_get("currency")?)
    }

    /// The shop's sellers and moderators (who receive `analytics.minute`).
    pub async fn shop_staff(&self, shop_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT user_id FROM shop_members WHERE shop_id = $1").bind(shop_id).fetch_all(self.reader()).await?;
        rows.iter().map(|r| r.try_get("user_id").map_err(StoreError::from)).collect()
    }

    /// Records a minute's audience; a second writer of the same minute keeps the higher figures.
    pub async fn record_analytics_minute(&self, room_id: &str, m: &MinuteStats) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO live_analytics_minutes (room_id, minute, viewers, peak_viewers) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (room_id, minute) DO UPDATE SET \
               viewers = CASE WHEN excluded.viewers > live_analytics_minutes.viewers THEN excluded.viewers ELSE live_analytics_minutes.viewers END, \
               peak_viewers = CASE WHEN excluded.peak_viewers > live_analytics_minutes.peak_viewers THEN excluded.peak_viewers ELSE live_analytics_minutes.peak_viewers END",
        )
        .bind(room_id)
        .bind(m.minute)
        .bind(m.viewers)
        .bind(m.peak_viewers)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The recorded minutes on air since `from`, oldest first (audience only).
    pub async fn analytics_minutes(&self, room_id: &str, from: Millis) -> StoreResult<Vec<MinuteStats>> {
        let rows = sqlx::query("SELECT minute, viewers, peak_viewers FROM live_analytics_minutes WHERE room_id = $1 AND minute >= $2 ORDER BY minute")
            .bind(room_id)
            .bind(from)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok(MinuteStats { minute: r.try_get("minute")?, viewers: r.try_get("viewers")?, peak_viewers: r.try_get("peak_viewers")?, ..Default::default() }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The shop's paid orders in `currency` per minute in `[from, to)`: (minute, orders, total).
    pub async fn orders_per_minute(&self, shop_id: &str, currency: &str, from: Millis, to: Millis) -> StoreResult<Vec<(Millis, i64, i64)>> {
        let sql = format!(
            "SELECT (created_at / {MINUTE_MS}) * {MINUTE_MS} AS minute, COUNT(*) AS n, CAST(COALESCE(SUM(total), 0) AS BIGINT) AS gmv \
             FROM orders WHERE shop_id = $1 AND currency = $2 AND created_at >= $3 AND created_at < $4 AND status IN {PAID} \
             GROUP BY (created_at / {MINUTE_MS}) * {MINUTE_MS} ORDER BY minute"
        );
        let rows = sqlx::query(&sql).bind(shop_id).bind(currency).bind(from).bind(to).fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("minute")?, r.try_get("n")?, r.try_get("gmv")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// One-tap reservations made in the room's flash sales per minute in `[from, to)`: (minute, count).
    pub async fn reservations_per_minute(&self, room_id: &str, from: Millis, to: Millis) -> StoreResult<Vec<(Millis, i64)>> {
        let sql = format!(
            "SELECT (r.created_at / {MINUTE_MS}) * {MINUTE_MS} AS minute, COUNT(*) AS n \
             FROM flash_sale_reservations r JOIN flash_sales s ON s.id = r.sale_id \
             WHERE s.room_id = $1 AND r.created_at >= $2 AND r.created_at < $3 \
             GROUP BY (r.created_at / {MINUTE_MS}) * {MINUTE_MS} ORDER BY minute"
        );
        let rows = sqlx::query(&sql).bind(room_id).bind(from).bind(to).fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("minute")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The commerce of one minute of a room.
    pub async fn minute_sales(&self, room: &TrackedRoom, minute: Millis) -> StoreResult<Sales> {
        let to = minute + MINUTE_MS;
        let orders = self.orders_per_minute(&room.shop_id, &room.currency, minute, to).await?;
        let reservations = self.reservations_per_minute(&room.id, minute, to).await?;
        let (orders, gmv) = orders.first().map_or((0, 0), |&(_, n, g)| (n, g));
        Ok(Sales { orders, gmv, reservations: reservations.first().map_or(0, |&(_, n)| n) })
    }
}
