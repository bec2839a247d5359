//! Per-variant stock and its ledger: the reusable API the checkout uses now
//! and live commerce (flash sales, one-tap holds with a TTL) builds on.
//!
//! Counters: `available` (sellable now) and `reserved` (held). Every change is
//! a conditional UPDATE (`WHERE available >= n`, `WHERE status = 'held'`)
//! followed, in the same transaction, by one `stock_movements` row carrying
//! the exact deltas, so `SUM(available_delta) = available` and
//! `SUM(reserved_delta) = reserved` always hold, under any interleaving.
//!
//! The `*_in` functions take an open transaction so callers can compose them
//! with their own writes (an order, a sale entry); the `Store` methods wrap
//! them in a transaction of their own.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{CommerceError, CommerceResult};
use crate::store::{new_id, now_ms, Store, StoreResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StockLevel {
    pub available: i64,
    pub reserved: i64,
}

/// A hold on `quantity` units of one variant, ended exactly once by
/// [`release_in`] or [`commit_sale_in`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub id: String,
    pub variant_id: String,
    pub quantity: i64,
    pub holder: String,
    pub expires_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct MovementRow {
    pub id: String,
    pub variant_id: String,
    pub kind: String,
    pub available_delta: i64,
    pub reserved_delta: i64,
    pub reason: Option<String>,
    pub reference: Option<String>,
    pub actor_id: Option<String>,
    pub created_at: i64,
}

#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut Transaction<'_, Any>,
    variant_id: &str,
    kind: &str,
    available_delta: i64,
    reserved_delta: i64,
    reason: Option<&str>,
    reference: Option<&str>,
    actor_id: Option<&str>,
) -> CommerceResult<()> {
    sqlx::query(
        "INSERT INTO stock_movements (id, variant_id, kind, available_delta, reserved_delta, reason, reference, actor_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(variant_id)
    .bind(kind)
    .bind(available_delta)
    .bind(reserved_delta)
    .bind(reason)
    .bind(reference)
    .bind(actor_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn out_of_stock(tx: &mut Transaction<'_, Any>, variant_id: &str) -> CommerceError {
    match sqlx::query("SELECT sku, available FROM variants WHERE id = $1").bind(variant_id).fetch_optional(&mut **tx).await {
        Ok(Some(row)) => CommerceError::OutOfStock {
            variant_id: variant_id.into(),
            sku: row.try_get("sku").unwrap_or_default(),
            available: row.try_get("available").unwrap_or(0),
        },
        Ok(None) => CommerceError::NotFound("variant"),
        Err(e) => e.into(),
    }
}

/// Adds `quantity` (> 0) to available: `kind` is `restock` or `refund_return`.
pub async fn restock_in(
    tx: &mut Transaction<'_, Any>,
    variant_id: &str,
    quantity: i64,
    kind: &str,
    reason: Option<&str>,
    reference: Option<&str>,
    actor_id: Option<&str>,
) -> CommerceResult<()> {
    let done = sqlx::query("UPDATE variants SET available = available + $1 WHERE id = $2").bind(quantity).bind(variant_id).execute(&mut **tx).await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::NotFound("variant"));
    }
    record(tx, variant_id, kind, quantity, 0, reason, reference, actor_id).await
}

/// Moves `quantity` units from available to reserved for `holder`, or fails
/// with `OutOfStock` leaving nothing changed. `expires_at` marks a hold that
/// [`Store::release_expired_holds`] may end (checkout holds have none: their
/// order's expiry governs them).
pub async fn reserve_in(
    tx: &mut Transaction<'_, Any>,
    variant_id: &str,
    quantity: i64,
    holder: &str,
    expires_at: Option<i64>,
) -> CommerceResult<Reservation> {
    let done = sqlx::query("UPDATE variants SET available = available - $1, reserved = reserved + $1 WHERE id = $2 AND available >= $1")
        .bind(quantity)
        .bind(variant_id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(out_of_stock(tx, variant_id).await);
    }
    let reservation = Reservation { id: new_id(), variant_id: variant_id.into(), quantity, holder: holder.into(), expires_at };
    sqlx::query("INSERT INTO stock_reservations (id, variant_id, quantity, holder, status, expires_at, created_at) VALUES ($1, $2, $3, $4, 'held', $5, $6)")
        .bind(&reservation.id)
        .bind(variant_id)
        .bind(quantity)
        .bind(holder)
        .bind(expires_at)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    record(tx, variant_id, "reservation", -quantity, quantity, None, Some(&reservation.id), None).await?;
    Ok(reservation)
}

/// Ends a held reservation: `to` is `released` (units back to available) or
/// `sold` (units leave stock). `ReservationNotHeld` if it already ended, so
/// concurrent enders cannot both move the units.
async fn end_in(tx: &mut Transaction<'_, Any>, reservation_id: &str, to: &str) -> CommerceResult<Reservation> {
    let done = sqlx::query("UPDATE stock_reservations SET status = $1, ended_at = $2 WHERE id = $3 AND status = 'held'")
        .bind(to)
        .bind(now_ms())
        .bind(reservation_id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::ReservationNotHeld);
    }
    let row = sqlx::query("SELECT id, variant_id, quantity, holder, expires_at FROM stock_reservations WHERE id = $1")
        .bind(reservation_id)
        .fetch_one(&mut **tx)
        .await?;
    let r = Reservation {
        id: row.try_get("id")?,
        variant_id: row.try_get("variant_id")?,
        quantity: row.try_get("quantity")?,
        holder: row.try_get("holder")?,
        expires_at: row.try_get("expires_at")?,
    };
    let back = if to == "released" { r.quantity } else { 0 };
    let done = sqlx::query("UPDATE variants SET reserved = reserved - $1, available = available + $2 WHERE id = $3 AND reserved >= $1")
        .bind(r.quantity)
        .bind(back)
        .bind(&r.variant_id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::ReservationNotHeld);
    }
    let kind = if to == "released" { "release" } else { "sale" };
    record(tx, &r.variant_id, kind, back, -r.quantity, None, Some(&r.id), None).await?;
    Ok(r)
}

pub async fn release_in(tx: &mut Transaction<'_, Any>, reservation_id: &str) -> CommerceResult<Reservation> {
    end_in(tx, reservation_id, "released").await
}

pub async fn commit_sale_in(tx: &mut Transaction<'_, Any>, reservation_id: &str) -> CommerceResult<Reservation> {
    end_in(tx, reservation_id, "sold").await
}

/// Manual correction by `delta` (either sign) with a reason; never below zero.
pub async fn adjust_in(tx: &mut Transaction<'_, Any>, variant_id: &str, delta: i64, reason: &str, actor_id: &str) -> CommerceResult<()> {
    let done = sqlx::query("UPDATE variants SET available = available + $1 WHERE id = $2 AND available + $1 >= 0")
        .bind(delta)
        .bind(variant_id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(out_of_stock(tx, variant_id).await);
    }
    record(tx, variant_id, "adjust", delta, 0, Some(reason), None, Some(actor_id)).await
}

fn movement_from_row(row: &AnyRow) -> StoreResult<MovementRow> {
    Ok(MovementRow {
        id: row.try_get("id")?,
        variant_id: row.try_get("variant_id")?,
        kind: row.try_get("kind")?,
        available_delta: row.try_get("available_delta")?,
        reserved_delta: row.try_get("reserved_delta")?,
        reason: row.try_get("reason")?,
        reference: row.try_get("reference")?,
        actor_id: row.try_get("actor_id")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn restock(&self, variant_id: &str, quantity: i64, reason: Option<&str>, actor_id: &str) -> CommerceResult<StockLevel> {
        let mut tx = self.writer().begin().await?;
        restock_in(&mut tx, variant_id, quantity, "restock", reason, None, Some(actor_id)).await?;
        let level = level_in(&mut tx, variant_id).await?;
        tx.commit().await?;
        Ok(level)
    }

    pub async fn adjust_stock(&self, variant_id: &str, delta: i64, reason: &str, actor_id: &str) -> CommerceResult<StockLevel> {
        let mut tx = self.writer().begin().await?;
        adjust_in(&mut tx, variant_id, delta, reason, actor_id).await?;
        let level = level_in(&mut tx, variant_id).await?;
        tx.commit().await?;
        Ok(level)
    }

    /// Holds units for `holder` (e.g. a live sale's buyer) until `expires_at`.
    pub async fn reserve_stock(&self, variant_id: &str, quantity: i64, holder: &str, expires_at: Option<i64>) -> CommerceResult<Reservation> {
        let mut tx = self.writer().begin().await?;
        let r = reserve_in(&mut tx, variant_id, quantity, holder, expires_at).await?;
        tx.commit().await?;
        Ok(r)
    }

    pub async fn release_reservation(&self, reservation_id: &str) -> CommerceResult<Reservation> {
        let mut tx = self.writer().begin().await?;
        let r = release_in(&mut tx, reservation_id).await?;
        tx.commit().await?;
        Ok(r)
    }

    pub async fn commit_reservation_sale(&self, reservation_id: &str) -> CommerceResult<Reservation> {
        let mut tx = self.writer().begin().await?;
        let r = commit_sale_in(&mut tx, reservation_id).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Releases every hold whose `expires_at` has passed; returns how many.
    /// Safe to run on several nodes at once: each hold ends once.
    pub async fn release_expired_holds(&self, now: i64) -> CommerceResult<usize> {
        let ids: Vec<String> = sqlx::query("SELECT id FROM stock_reservations WHERE status = 'held' AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY id LIMIT 500")
            .bind(now)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let mut released = 0;
        for id in ids {
            match self.release_reservation(&id).await {
                Ok(_) => released += 1,
                Err(CommerceError::ReservationNotHeld) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(released)
    }

    pub async fn stock_level(&self, variant_id: &str) -> StoreResult<Option<StockLevel>> {
        let row = sqlx::query("SELECT available, reserved FROM variants WHERE id = $1").bind(variant_id).fetch_optional(self.reader()).await?;
        row.map(|r| Ok(StockLevel { available: r.try_get("available")?, reserved: r.try_get("reserved")? })).transpose()
    }

    /// A variant's movements, oldest first, `limit + 1` rows after `after`.
    pub async fn stock_movements(&self, variant_id: &str, after: Option<&str>, limit: i64) -> StoreResult<Vec<MovementRow>> {
        let rows = sqlx::query(
            "SELECT id, variant_id, kind, available_delta, reserved_delta, reason, reference, actor_id, created_at \
             FROM stock_movements WHERE variant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(variant_id)
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(movement_from_row).collect()
    }

    /// The ledger's sums for a variant; equal to its `StockLevel` at all times.
    pub async fn stock_ledger_sums(&self, variant_id: &str) -> StoreResult<StockLevel> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(available_delta), 0) AS BIGINT) AS a, CAST(COALESCE(SUM(reserved_delta), 0) AS BIGINT) AS r \
             FROM stock_movements WHERE variant_id = $1",
        )
        .bind(variant_id)
        .fetch_one(self.reader())
        .await?;
        Ok(StockLevel { available: row.try_get("a")?, reserved: row.try_get("r")? })
    }
}

async fn level_in(tx: &mut Transaction<'_, Any>, variant_id: &str) -> CommerceResult<StockLevel> {
    let row = sqlx::query("SELECT available, reserved FROM variants WHERE id = $1").bind(variant_id).fetch_one(&mut **tx).await?;
    Ok(StockLevel { available: row.try_get("available")?, reserved: row.try_get("reserved")? })
}
