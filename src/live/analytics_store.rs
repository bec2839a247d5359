//! Persistence for live analytics: the minutes a room was on air (viewer
//! samples and watch time, upserted so several nodes keep the highest
//! figures), the commerce per minute counted from the orders and reservations
//! themselves, and the card reports of viewers' pages (`live_card_events`).

use sqlx::Row;

use super::analytics::{CardCounts, MinuteStats, Sales, MINUTE_MS};
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
            "INSERT INTO live_analytics_minutes (room_id, minute, viewers, peak_viewers, watch_ms, unique_viewers) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (room_id, minute) DO UPDATE SET \
               viewers = CASE WHEN excluded.viewers > live_analytics_minutes.viewers THEN excluded.viewers ELSE live_analytics_minutes.viewers END, \
               peak_viewers = CASE WHEN excluded.peak_viewers > live_analytics_minutes.peak_viewers THEN excluded.peak_viewers ELSE live_analytics_minutes.peak_viewers END, \
               watch_ms = CASE WHEN excluded.watch_ms > live_analytics_minutes.watch_ms THEN excluded.watch_ms ELSE live_analytics_minutes.watch_ms END, \
               unique_viewers = CASE WHEN excluded.unique_viewers > live_analytics_minutes.unique_viewers THEN excluded.unique_viewers ELSE live_analytics_minutes.unique_viewers END",
        )
        .bind(room_id)
        .bind(m.minute)
        .bind(m.viewers)
        .bind(m.peak_viewers)
        .bind(m.watch_ms)
        .bind(m.unique_viewers)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The recorded minutes on air since `from`, oldest first (audience only).
    pub async fn analytics_minutes(&self, room_id: &str, from: Millis) -> StoreResult<Vec<MinuteStats>> {
        let rows = sqlx::query("SELECT minute, viewers, peak_viewers, watch_ms, unique_viewers FROM live_analytics_minutes WHERE room_id = $1 AND minute >= $2 ORDER BY minute")
            .bind(room_id)
            .bind(from)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MinuteStats {
                    minute: r.try_get("minute")?,
                    viewers: r.try_get("viewers")?,
                    peak_viewers: r.try_get("peak_viewers")?,
                    watch_ms: r.try_get("watch_ms")?,
                    unique_viewers: r.try_get("unique_viewers")?,
                    ..Default::default()
                })
            })
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

    /// The room's deduplicated card reports per minute in `[from, to)`.
    pub async fn card_events_per_minute(&self, room_id: &str, from: Millis, to: Millis) -> StoreResult<Vec<(Millis, CardCounts)>> {
        let rows = sqlx::query(
            "SELECT minute, kind, COUNT(*) AS n FROM live_card_events WHERE room_id = $1 AND minute >= $2 AND minute < $3 GROUP BY minute, kind ORDER BY minute",
        )
        .bind(room_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        grouped_card_counts(&rows, |r| r.try_get::<i64, _>("minute"))
    }

    /// The room's card reports per product since `from`: (product id, impressions, clicks, cart adds).
    pub async fn card_events_per_product(&self, room_id: &str, from: Millis) -> StoreResult<Vec<(String, CardCounts)>> {
        let rows = sqlx::query(
            "SELECT product_id, kind, COUNT(*) AS n FROM live_card_events WHERE room_id = $1 AND minute >= $2 GROUP BY product_id, kind ORDER BY product_id",
        )
        .bind(room_id)
        .bind(from)
        .fetch_all(self.reader())
        .await?;
        grouped_card_counts(&rows, |r| r.try_get::<String, _>("product_id"))
    }

    /// Records card reports; a report already made by the same viewer for the
    /// same product, kind and minute changes nothing. Returns how many were new.
    pub async fn insert_card_events(&self, room_id: &str, minute: Millis, kind: &str, viewer: &str, product_ids: &[String]) -> StoreResult<u64> {
        let mut tx = self.writer().begin().await?;
        let mut added = 0;
        for product in product_ids {
            let done = sqlx::query(
                "INSERT INTO live_card_events (room_id, minute, kind, product_id, viewer) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (room_id, minute, kind, product_id, viewer) DO NOTHING",
            )
            .bind(room_id)
            .bind(minute)
            .bind(kind)
            .bind(product)
            .bind(viewer)
            .execute(&mut *tx)
            .await?;
            added += done.rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// The commerce and card activity of one minute of a room.
    pub async fn minute_sales(&self, room: &TrackedRoom, minute: Millis) -> StoreResult<Sales> {
        let to = minute + MINUTE_MS;
        let orders = self.orders_per_minute(&room.shop_id, &room.currency, minute, to).await?;
        let reservations = self.reservations_per_minute(&room.id, minute, to).await?;
        let cards = self.card_events_per_minute(&room.id, minute, to).await?;
        let (orders, gmv) = orders.first().map_or((0, 0), |&(_, n, g)| (n, g));
        Ok(Sales { orders, gmv, reservations: reservations.first().map_or(0, |&(_, n)| n), cards: cards.first().map_or_else(CardCounts::default, |&(_, c)| c) })
    }
}

/// Folds `(key, kind, n)` rows ordered by key into one [`CardCounts`] per key.
fn grouped_card_counts<K: PartialEq>(rows: &[sqlx::any::AnyRow], key: impl Fn(&sqlx::any::AnyRow) -> Result<K, sqlx::Error>) -> StoreResult<Vec<(K, CardCounts)>> {
    let mut out: Vec<(K, CardCounts)> = Vec::new();
    for r in rows {
        let key = key(r)?;
        let kind: String = r.try_get("kind")?;
        let n: i64 = r.try_get("n")?;
        if out.last().is_none_or(|(k, _)| *k != key) {
            out.push((key, CardCounts::default()));
        }
        if let Some((_, c)) = out.last_mut() {
            match kind.as_str() {
                "impression" => c.impressions = n,
                "click" => c.clicks = n,
                _ => c.cart_adds = n,
            }
        }
    }
    Ok(out)
}
