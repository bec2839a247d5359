//! The order a live purchase ends in: a flash-sale reservation checked out, or
//! an auction won. Either way it is an ordinary `pending_payment` order of the
//! commerce core at the live price, which owns an existing stock hold and
//! expires at the end of its payment window; commerce then pays, expires or
//! cancels it like any other order (releasing the hold when it does not sell).

use sqlx::Row;

use crate::commerce::pricing::{price_groups, PricedLine, ShopGroup};
use crate::commerce::store::notifications::{notify_in, notify_sellers_in};
use crate::commerce::store::outbox::{enqueue_summary_in, OrderSummary};
use crate::store::{new_id, StoreResult};

/// A one-line order over a stock hold the caller already owns.
pub struct LiveOrder<'a> {
    pub user_id: &'a str,
    pub shop_id: &'a str,
    pub variant_id: &'a str,
    /// The `stock_reservations` row the order takes over.
    pub hold_id: &'a str,
    pub unit_price: i64,
    pub quantity: i64,
    /// The end of the payment window (unix ms).
    pub expires_at: i64,
    pub now: i64,
    /// Shown in the order history and notifications: "flash sale", "auction".
    pub origin: &'a str,
}

/// Inserts the order, its item, its first history row, the notifications and
/// the "order placed" email inside `tx`; returns the order id.
pub async fn place_live_order_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    order: LiveOrder<'_>,
) -> StoreResult<String> {
    let v = sqlx::query("SELECT v.sku AS sku, v.weight_grams AS weight, v.currency AS currency, p.title AS title FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = $1")
        .bind(order.variant_id)
        .fetch_one(&mut **tx)
        .await?;
    let (sku, weight, currency, title): (String, i64, String, String) = (
        v.try_get("sku")?,
        v.try_get("weight")?,
        v.try_get("currency")?,
        v.try_get("title")?,
    );
    let group = ShopGroup {
        shop_id: order.shop_id.to_string(),
        currency: currency.clone(),
        lines: vec![PricedLine {
            variant_id: order.variant_id.to_string(),
            unit_price: order.unit_price,
            quantity: order.quantity,
            weight_grams: weight,
        }],
    };
    let totals = price_groups(&[group], None, order.now)
        .ok()
        .and_then(|t| t.into_iter().next())
        .unwrap_or_default();
    let order_id = new_id();
    sqlx::query(
        "INSERT INTO orders (id, checkout_id, user_id, shop_id, status, currency, subtotal, discount, tax, shipping, total, coupon_code, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'pending_payment', $5, $6, $7, $8, $9, $10, NULL, $11, $12, $12)",
    )
    .bind(&order_id)
    .bind(new_id())
    .bind(order.user_id)
    .bind(order.shop_id)
    .bind(&currency)
    .bind(totals.subtotal)
    .bind(totals.discount)
    .bind(totals.tax)
    .bind(totals.shipping)
    .bind(totals.total)
    .bind(order.expires_at)
    .bind(order.now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO order_items (order_id, variant_id, reservation_id, sku, title, unit_price, quantity) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&order_id)
        .bind(order.variant_id)
        .bind(order.hold_id)
        .bind(&sku)
        .bind(&title)
        .bind(order.unit_price)
        .bind(order.quantity)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO order_events (id, order_id, from_status, to_status, actor_id, note, created_at) VALUES ($1, $2, NULL, 'pending_payment', $3, $4, $5)")
        .bind(new_id())
        .bind(&order_id)
        .bind(order.user_id)
        .bind(order.origin)
        .bind(order.now)
        .execute(&mut **tx)
        .await?;
    let origin = order.origin;
    let first =
        origin.get(..1).map(str::to_uppercase).unwrap_or_default() + origin.get(1..).unwrap_or("");
    let message = format!("{first} order placed: {} {currency} to pay", totals.total);
    notify_in(tx, order.user_id, "order_placed", Some(&order_id), &message).await?;
    let summary = OrderSummary { id: &order_id, user_id: order.user_id, total: totals.total, refunded: 0, currency: &currency };
    enqueue_summary_in(tx, &summary, "order_placed", &message).await?;
    notify_sellers_in(
        tx,
        order.shop_id,
        "new_order",
        Some(&order_id),
        &format!("New {origin} order"),
    )
    .await?;
    Ok(order_id)
}
