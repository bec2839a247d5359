//! Persistence for live commerce: pins, flash sales, per-buyer counters and
//! one-tap reservations. Every quantity is arbitrated here, inside one
//! transaction, by conditional UPDATEs and a conditional upsert.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::commerce::store::stock::{release_in, reserve_in};
use crate::commerce::store::CommerceError;
use crate::store::{new_id, now_ms, Store, StoreError, StoreResult};

use super::flash_sale::{FlashSaleRules, Phase};
use super::orders::{place_live_order_in, LiveOrder};

#[derive(Debug, thiserror::Error)]
pub enum LiveStoreError {
    #[error("this room already shows {max} pinned products; unpin one first")]
    TooManyPins { max: i64 },
    #[error("this product is already pinned")]
    AlreadyPinned,
    #[error("the sale has no units left")]
    SaleSoldOut,
    #[error("the sale is not open")]
    SaleNotOpen,
    #[error("you may buy at most {cap} in this sale")]
    BuyerCapReached { cap: i64 },
    #[error("the variant is out of stock")]
    OutOfStock,
    #[error("the reservation expired or is not yours")]
    ReservationGone,
    #[error(transparent)]
    Commerce(CommerceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LiveStoreError {
    fn from(e: sqlx::Error) -> Self {
        LiveStoreError::Store(e.into())
    }
}

impl From<CommerceError> for LiveStoreError {
    fn from(e: CommerceError) -> Self {
        match e {
            CommerceError::OutOfStock { .. } => LiveStoreError::OutOfStock,
            CommerceError::Store(s) => LiveStoreError::Store(s),
            other => LiveStoreError::Commerce(other),
        }
    }
}

pub type LiveResult<T> = Result<T, LiveStoreError>;

#[derive(Clone, Debug)]
pub struct SaleRow {
    pub id: String,
    pub room_id: String,
    pub shop_id: String,
    pub variant_id: String,
    pub sale_price: i64,
    pub currency: String,
    pub total_quantity: i64,
    pub per_buyer_cap: i64,
    pub sold: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub phase: String,
    /// Reservations released so far (the Redis front's generation).
    pub releases: i64,
}

impl SaleRow {
    pub fn rules(&self) -> FlashSaleRules {
        FlashSaleRules {
            sale_price: self.sale_price,
            total_quantity: self.total_quantity,
            per_buyer_cap: self.per_buyer_cap,
            starts_at: self.starts_at,
            duration_ms: self.ends_at - self.starts_at,
        }
    }

    pub fn phase(&self) -> Phase {
        phase_from_str(&self.phase)
    }
}

pub fn phase_from_str(raw: &str) -> Phase {
    match raw {
        "live" => Phase::Live,
        "sold_out" => Phase::SoldOut,
        "ended" => Phase::Ended,
        "cancelled" => Phase::Cancelled,
        _ => Phase::Scheduled,
    }
}

pub fn phase_str(phase: Phase) -> &'static str {
    match phase {
        Phase::Scheduled => "scheduled",
        Phase::Live => "live",
        Phase::SoldOut => "sold_out",
        Phase::Ended => "ended",
        Phase::Cancelled => "cancelled",
    }
}

pub struct NewSale<'a> {
    pub room_id: &'a str,
    pub shop_id: &'a str,
    pub variant_id: &'a str,
    pub currency: &'a str,
    pub rules: &'a FlashSaleRules,
    pub created_by: &'a str,
}

/// An acknowledged one-tap reservation.
#[derive(Clone, Debug)]
pub struct SaleReservation {
    pub id: String,
    pub sale_id: String,
    pub quantity: i64,
    pub reserved_until: i64,
    /// The sale's sold count right after this reservation.
    pub sale_sold: i64,
    pub buyer_total: i64,
}

/// A reservation that expired and gave its units back.
#[derive(Clone, Debug)]
pub struct ReleasedReservation {
    pub sale_id: String,
    /// The room's name.
    pub room: String,
    pub sale_sold: i64,
}

const SALE_COLUMNS: &str = "id, room_id, shop_id, variant_id, sale_price, currency, total_quantity, per_buyer_cap, sold, starts_at, ends_at, phase, releases";

fn sale_from_row(row: &AnyRow) -> StoreResult<SaleRow> {
    Ok(SaleRow {
        id: row.try_get("id")?,
        room_id: row.try_get("room_id")?,
        shop_id: row.try_get("shop_id")?,
        variant_id: row.try_get("variant_id")?,
        sale_price: row.try_get("sale_price")?,
        currency: row.try_get("currency")?,
        total_quantity: row.try_get("total_quantity")?,
        per_buyer_cap: row.try_get("per_buyer_cap")?,
        sold: row.try_get("sold")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        phase: row.try_get("phase")?,
        releases: row.try_get("releases")?,
    })
}

impl Store {
    /// Pins a product in a room unless `max` are already pinned.
    pub async fn pin_product(&self, room_id: &str, product_id: &str, by: &str, max: i64) -> LiveResult<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("INSERT INTO live_room_pins (room_id, pins) VALUES ($1, 0) ON CONFLICT (room_id) DO NOTHING").bind(room_id).execute(&mut *tx).await?;
        let taken = sqlx::query("UPDATE live_room_pins SET pins = pins + 1 WHERE room_id = $1 AND pins < $2").bind(room_id).bind(max).execute(&mut *tx).await?;
        if taken.rows_affected() != 1 {
            return Err(LiveStoreError::TooManyPins { max });
        }
        let inserted = sqlx::query("INSERT INTO live_pins (room_id, product_id, pinned_by, pinned_at) VALUES ($1, $2, $3, $4)")
            .bind(room_id)
            .bind(product_id)
            .bind(by)
            .bind(now_ms())
            .execute(&mut *tx)
            .await;
        match inserted.map_err(StoreError::from) {
            Ok(_) => {}
            Err(e) if e.is_unique_violation() => return Err(LiveStoreError::AlreadyPinned),
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(())
    }

    /// Unpins; `false` if it was not pinned.
    pub async fn unpin_product(&self, room_id: &str, product_id: &str) -> LiveResult<bool> {
        let mut tx = self.writer().begin().await?;
        let gone = sqlx::query("DELETE FROM live_pins WHERE room_id = $1 AND product_id = $2").bind(room_id).bind(product_id).execute(&mut *tx).await?;
        if gone.rows_affected() == 1 {
            sqlx::query("UPDATE live_room_pins SET pins = pins - 1 WHERE room_id = $1 AND pins > 0").bind(room_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(gone.rows_affected() == 1)
    }

    /// The room's pinned product ids, oldest pin first.
    pub async fn pinned_products(&self, room_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT product_id FROM live_pins WHERE room_id = $1 ORDER BY pinned_at, product_id").bind(room_id).fetch_all(self.reader()).await?;
        rows.iter().map(|r| r.try_get("product_id").map_err(StoreError::from)).collect()
    }

    /// Rooms with at least one pin (their band watchers restart on boot).
    pub async fn rooms_with_pins(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT r.name AS name FROM live_pins p JOIN rooms r ON r.id = p.room_id").fetch_all(self.reader()).await?;
        rows.iter().map(|r| r.try_get("name").map_err(StoreError::from)).collect()
    }

    pub async fn create_flash_sale(&self, sale: NewSale<'_>) -> StoreResult<SaleRow> {
        let row = SaleRow {
            id: new_id(),
            room_id: sale.room_id.into(),
            shop_id: sale.shop_id.into(),
            variant_id: sale.variant_id.into(),
            sale_price: sale.rules.sale_price,
            currency: sale.currency.into(),
            total_quantity: sale.rules.total_quantity,
            per_buyer_cap: sale.rules.per_buyer_cap,
            sold: 0,
            starts_at: sale.rules.starts_at,
            ends_at: sale.rules.ends_at(),
            phase: "scheduled".into(),
            releases: 0,
        };
        sqlx::query(
            "INSERT INTO flash_sales (id, room_id, shop_id, variant_id, sale_price, currency, total_quantity, per_buyer_cap, sold, starts_at, ends_at, phase, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, 'scheduled', $11, $12)",
        )
        .bind(&row.id)
        .bind(&row.room_id)
        .bind(&row.shop_id)
        .bind(&row.variant_id)
        .bind(row.sale_price)
        .bind(&row.currency)
        .bind(row.total_quantity)
        .bind(row.per_buyer_cap)
        .bind(row.starts_at)
        .bind(row.ends_at)
        .bind(sale.created_by)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(row)
    }

    pub async fn flash_sale(&self, id: &str) -> StoreResult<Option<SaleRow>> {
        let sql = format!("SELECT {SALE_COLUMNS} FROM flash_sales WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(sale_from_row).transpose()
    }

    /// Sales of a room that have not ended, soonest first.
    pub async fn open_flash_sales(&self, room_id: &str) -> StoreResult<Vec<SaleRow>> {
        let sql = format!("SELECT {SALE_COLUMNS} FROM flash_sales WHERE room_id = $1 AND phase NOT IN ('ended', 'cancelled') ORDER BY starts_at, id");
        let rows = sqlx::query(&sql).bind(room_id).fetch_all(self.reader()).await?;
        rows.iter().map(sale_from_row).collect()
    }

    /// Every sale not yet ended, with its room's name (restored on start-up).
    pub async fn all_open_flash_sales(&self) -> StoreResult<Vec<(String, SaleRow)>> {
        let sql = format!(
            "SELECT r.name AS room_name, {} FROM flash_sales s JOIN rooms r ON r.id = s.room_id WHERE s.phase NOT IN ('ended', 'cancelled') ORDER BY s.starts_at, s.id",
            SALE_COLUMNS.split(", ").map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", ")
        );
        let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok((r.try_get("room_name")?, sale_from_row(r)?))).collect()
    }

    /// Moves a sale from `from` to `to`; `false` if it was not in `from` (another
    /// node already announced this transition), so each one is announced once.
    pub async fn advance_flash_sale_phase(&self, id: &str, from: Phase, to: Phase) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE flash_sales SET phase = $1 WHERE id = $2 AND phase = $3")
            .bind(phase_str(to))
            .bind(id)
            .bind(phase_str(from))
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Cancels a sale that has not ended; `false` if it had.
    pub async fn cancel_flash_sale(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE flash_sales SET phase = 'cancelled' WHERE id = $1 AND phase NOT IN ('ended', 'cancelled')").bind(id).execute(self.writer()).await?;
        Ok(done.rows_affected() == 1)
    }

    /// One-tap reservation, all or nothing in ONE transaction: the room's shop
    /// is not suspended, the sale's total (`sold + q <= total`), the buyer's cap (conditional upsert) and
    /// the variant's stock (a hold without commerce expiry; `reserved_until`
    /// on our row governs it).
    pub async fn reserve_flash_sale(&self, sale: &SaleRow, user_id: &str, quantity: i64, now: i64, ttl_ms: i64) -> LiveResult<SaleReservation> {
        let mut tx = self.writer().begin().await?;
        let shop_status: Option<String> =
            sqlx::query_scalar("SELECT sh.status FROM rooms r JOIN shops sh ON sh.id = r.shop_id WHERE r.id = $1").bind(&sale.room_id).fetch_optional(&mut *tx).await?;
        if shop_status.as_deref() == Some("suspended") {
            return Err(LiveStoreError::Commerce(CommerceError::ShopSuspended));
        }
        let taken = sqlx::query(
            "UPDATE flash_sales SET sold = sold + $1 WHERE id = $2 AND sold + $1 <= total_quantity \
             AND phase NOT IN ('ended', 'cancelled') AND starts_at <= $3 AND ends_at > $3",
        )
        .bind(quantity)
        .bind(&sale.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() != 1 {
            let open = now >= sale.starts_at && now < sale.ends_at;
            return Err(if open { LiveStoreError::SaleSoldOut } else { LiveStoreError::SaleNotOpen });
        }
        let capped = sqlx::query(
            "INSERT INTO flash_sale_buyers (sale_id, user_id, quantity) VALUES ($1, $2, $3) \
             ON CONFLICT (sale_id, user_id) DO UPDATE SET quantity = flash_sale_buyers.quantity + excluded.quantity \
             WHERE flash_sale_buyers.quantity + excluded.quantity <= $4",
        )
        .bind(&sale.id)
        .bind(user_id)
        .bind(quantity)
        .bind(sale.per_buyer_cap)
        .execute(&mut *tx)
        .await?;
        if capped.rows_affected() != 1 {
            return Err(LiveStoreError::BuyerCapReached { cap: sale.per_buyer_cap });
        }
        let id = new_id();
        let hold = reserve_in(&mut tx, &sale.variant_id, quantity, &format!("flash_sale:{}", id), None).await?;
        let reserved_until = now + ttl_ms;
        sqlx::query(
            "INSERT INTO flash_sale_reservations (id, sale_id, user_id, stock_reservation_id, quantity, status, reserved_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'held', $6, $7)",
        )
        .bind(&id)
        .bind(&sale.id)
        .bind(user_id)
        .bind(&hold.id)
        .bind(quantity)
        .bind(reserved_until)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let sale_sold: i64 = sqlx::query("SELECT sold FROM flash_sales WHERE id = $1").bind(&sale.id).fetch_one(&mut *tx).await?.try_get("sold")?;
        let buyer_total: i64 = sqlx::query("SELECT quantity FROM flash_sale_buyers WHERE sale_id = $1 AND user_id = $2")
            .bind(&sale.id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("quantity")?;
        tx.commit().await?;
        Ok(SaleReservation { id, sale_id: sale.id.clone(), quantity, reserved_until, sale_sold, buyer_total })
    }

    /// Each buyer's count in a sale (the reservation front is seeded from it).
    pub async fn flash_sale_buyer_counts(&self, sale_id: &str) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT user_id, quantity FROM flash_sale_buyers WHERE sale_id = $1 AND quantity > 0").bind(sale_id).fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok((r.try_get("user_id")?, r.try_get("quantity")?))).collect()
    }

    /// `None` if the user has no such reservation; `Some(still held)` otherwise.
    pub async fn held_sale_reservation_exists(&self, id: &str, user_id: &str) -> StoreResult<Option<bool>> {
        let row = sqlx::query("SELECT status FROM flash_sale_reservations WHERE id = $1 AND user_id = $2").bind(id).bind(user_id).fetch_optional(self.reader()).await?;
        row.map(|r| r.try_get::<String, _>("status").map(|s| s == "held").map_err(StoreError::from)).transpose()
    }

    /// A buyer's held reservations in a sale.
    pub async fn held_sale_reservations(&self, sale_id: &str, user_id: &str) -> StoreResult<i64> {
        let row = sqlx::query("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS q FROM flash_sale_reservations WHERE sale_id = $1 AND user_id = $2 AND status = 'held'")
            .bind(sale_id)
            .bind(user_id)
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get("q")?)
    }

    /// Releases every one-tap reservation whose `reserved_until` has passed:
    /// the stock hold ends, and the sale's sold count and the buyer's count
    /// drop, in one transaction per reservation (each ends exactly once).
    pub async fn release_expired_sale_reservations(&self, now: i64) -> LiveResult<Vec<ReleasedReservation>> {
        let rows = sqlx::query("SELECT id FROM flash_sale_reservations WHERE status = 'held' AND reserved_until <= $1 ORDER BY id LIMIT 500")
            .bind(now)
            .fetch_all(self.reader())
            .await?;
        let mut released = Vec::new();
        for row in rows {
            let id: String = row.try_get("id")?;
            released.extend(self.release_sale_reservation(&id, "held", true).await?);
        }
        Ok(released)
    }

    /// Turns a held reservation into a `pending_payment` order at the sale
    /// price that owns the same stock hold and expires with the reservation.
    /// A retry returns the same order.
    pub async fn order_sale_reservation(&self, reservation_id: &str, user_id: &str, now: i64) -> LiveResult<String> {
        let row = sqlx::query(
            "SELECT r.status AS status, r.order_id AS order_id, r.stock_reservation_id AS hold, r.quantity AS quantity, r.reserved_until AS until, \
             s.shop_id AS shop_id, s.variant_id AS variant_id, s.sale_price AS price \
             FROM flash_sale_reservations r JOIN flash_sales s ON s.id = r.sale_id WHERE r.id = $1 AND r.user_id = $2",
        )
        .bind(reservation_id)
        .bind(user_id)
        .fetch_optional(self.reader())
        .await?
        .ok_or(LiveStoreError::ReservationGone)?;
        let status: String = row.try_get("status")?;
        let existing: Option<String> = row.try_get("order_id")?;
        match (status.as_str(), existing) {
            ("ordered", Some(order_id)) => return Ok(order_id),
            ("held", _) => {}
            _ => return Err(LiveStoreError::ReservationGone),
        }
        let (hold, quantity, until): (String, i64, i64) = (row.try_get("hold")?, row.try_get("quantity")?, row.try_get("until")?);
        let (shop_id, variant_id, price): (String, String, i64) = (row.try_get("shop_id")?, row.try_get("variant_id")?, row.try_get("price")?);
        let mut tx = self.writer().begin().await?;
        let claimed = sqlx::query("UPDATE flash_sale_reservations SET status = 'ordered' WHERE id = $1 AND status = 'held' AND reserved_until > $2")
            .bind(reservation_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() != 1 {
            return Err(LiveStoreError::ReservationGone);
        }
        let order = LiveOrder {
            user_id,
            shop_id: &shop_id,
            variant_id: &variant_id,
            hold_id: &hold,
            unit_price: price,
            quantity,
            expires_at: until,
            now,
            origin: "flash sale",
        };
        let order_id = place_live_order_in(&mut tx, order).await?;
        sqlx::query("UPDATE flash_sale_reservations SET order_id = $1 WHERE id = $2").bind(&order_id).bind(reservation_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(order_id)
    }

    /// Ordered reservations whose order expired or was cancelled (commerce
    /// released the hold): give the units back to the sale and the buyer.
    pub async fn release_abandoned_sale_orders(&self) -> LiveResult<Vec<ReleasedReservation>> {
        let rows = sqlx::query(
            "SELECT r.id AS id FROM flash_sale_reservations r JOIN stock_reservations h ON h.id = r.stock_reservation_id \
             WHERE r.status = 'ordered' AND h.status = 'released' ORDER BY r.id LIMIT 500",
        )
        .fetch_all(self.reader())
        .await?;
        let mut released = Vec::new();
        for row in rows {
            let id: String = row.try_get("id")?;
            released.extend(self.release_sale_reservation(&id, "ordered", false).await?);
        }
        Ok(released)
    }

    /// Ends one reservation that is still in status `from`, in one transaction:
    /// it becomes `released`, its stock hold ends when `end_hold` (commerce has
    /// already ended the hold of an ordered one), and its units go back to the
    /// sale and the buyer. `None` when another sweeper released it first.
    async fn release_sale_reservation(&self, id: &str, from: &'static str, end_hold: bool) -> LiveResult<Option<ReleasedReservation>> {
        let mut tx = self.writer().begin().await?;
        let ended = sqlx::query("UPDATE flash_sale_reservations SET status = 'released' WHERE id = $1 AND status = $2")
            .bind(id)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        if ended.rows_affected() != 1 {
            return Ok(None);
        }
        if end_hold {
            let hold: String = sqlx::query("SELECT stock_reservation_id FROM flash_sale_reservations WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("stock_reservation_id")?;
            match release_in(&mut tx, &hold).await {
                Ok(_) | Err(CommerceError::ReservationNotHeld) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let item = give_back_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Some(item))
    }
}

/// Lowers the sale's and the buyer's counts by the reservation's quantity.
async fn give_back_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, reservation_id: &str) -> LiveResult<ReleasedReservation> {
    let r = sqlx::query("SELECT sale_id, user_id, quantity FROM flash_sale_reservations WHERE id = $1").bind(reservation_id).fetch_one(&mut **tx).await?;
    let (sale_id, user_id, quantity): (String, String, i64) = (r.try_get("sale_id")?, r.try_get("user_id")?, r.try_get("quantity")?);
    sqlx::query("UPDATE flash_sales SET sold = sold - $1, releases = releases + 1 WHERE id = $2 AND sold >= $1").bind(quantity).bind(&sale_id).execute(&mut **tx).await?;
    sqlx::query("UPDATE flash_sale_buyers SET quantity = quantity - $1 WHERE sale_id = $2 AND user_id = $3 AND quantity >= $1")
        .bind(quantity)
        .bind(&sale_id)
        .bind(&user_id)
        .execute(&mut **tx)
        .await?;
    let s = sqlx::query("SELECT s.sold AS sold, r.name AS room FROM flash_sales s JOIN rooms r ON r.id = s.room_id WHERE s.id = $1").bind(&sale_id).fetch_one(&mut **tx).await?;
    Ok(ReleasedReservation { sale_id, room: s.try_get("room")?, sale_sold: s.try_get("sold")? })
}
