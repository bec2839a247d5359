//! Refunds, full or partial, by amount or by returned line items. One
//! transaction claims the amount (`refunded_amount + amount <= total`, so
//! concurrent refunds never return more than was captured), counts returned
//! units (`returned_quantity + q <= quantity`), puts them back in stock,
//! writes the refund, its ledger entry, the order's history and the
//! customer's notification, and moves a fully refunded order to `refunded`.

use sqlx::{Any, Row, Transaction};

use super::orders::{event_in, items_in, order_in, short, transition_in, OrderRow};
use super::{ledger, notifications::notify_in, outbox, stock, CommerceError, CommerceResult};
use crate::commerce::ledger as money;
use crate::commerce::order_state::{Actor, OrderEvent, OrderStatus, TransitionError};
use crate::store::{new_id, now_ms, Store, StoreResult};

/// What the seller asks to give back.
#[derive(Clone, Debug, Default)]
pub struct RefundRequest {
    /// Exact amount; without it, the returned items' value (their share of
    /// any discount deducted), or without items everything not yet refunded.
    pub amount: Option<i64>,
    /// `(variant_id, quantity)` returned.
    pub items: Vec<(String, i64)>,
    /// Put returned units back in stock (all unreturned units on a full refund without items).
    pub restock: bool,
    pub reason: Option<String>,
}

#[derive(Clone, Debug)]
pub struct RefundRow {
    pub id: String,
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    pub restocked: bool,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// The refund and the order after it.
#[derive(Clone, Debug)]
pub struct RefundDone {
    pub refund: RefundRow,
    pub order: OrderRow,
}

/// `unit_price × quantity` less the line's pro-rata share of the order's discount.
pub fn returned_value(unit_price: i64, quantity: i64, subtotal: i64, discount: i64) -> i64 {
    let value = unit_price.saturating_mul(quantity);
    if subtotal <= 0 || discount <= 0 {
        return value;
    }
    value - (value as i128 * discount as i128 / subtotal as i128) as i64
}

const REFUNDABLE: [OrderStatus; 5] = [OrderStatus::Paid, OrderStatus::Fulfilling, OrderStatus::Shipped, OrderStatus::Delivered, OrderStatus::Completed];

impl Store {
    pub async fn refund_order(&self, order_id: &str, request: &RefundRequest, actor_id: &str) -> CommerceResult<RefundDone> {
        let mut tx = self.writer().begin().await?;
        let done = refund_in(&mut tx, order_id, request, actor_id).await?;
        tx.commit().await?;
        Ok(done)
    }

    pub async fn refunds_of_order(&self, order_id: &str) -> StoreResult<Vec<RefundRow>> {
        let rows = sqlx::query("SELECT id, order_id, amount, currency, restocked, reason, created_at FROM refunds WHERE order_id = $1 ORDER BY id")
            .bind(order_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RefundRow {
                    id: r.try_get("id")?,
                    order_id: r.try_get("order_id")?,
                    amount: r.try_get("amount")?,
                    currency: r.try_get("currency")?,
                    restocked: r.try_get::<i64, _>("restocked")? != 0,
                    reason: r.try_get("reason")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

fn illegal(current: OrderStatus) -> CommerceError {
    CommerceError::Transition { current, source: TransitionError::Illegal { from: current, verb: "refunded" } }
}

async fn refund_in(tx: &mut Transaction<'_, Any>, order_id: &str, request: &RefundRequest, actor_id: &str) -> CommerceResult<RefundDone> {
    let now = now_ms();
    // Lock the order row first (the same order as status transitions take).
    sqlx::query("UPDATE orders SET updated_at = $1 WHERE id = $2").bind(now).bind(order_id).execute(&mut **tx).await?;
    let order = order_in(tx, order_id).await?;
    if !REFUNDABLE.contains(&order.status) {
        return Err(illegal(order.status));
    }
    let items = items_in(tx, order_id).await?;
    let mut returned: Vec<(String, i64)> = Vec::new();
    let mut items_value = 0i64;
    for (variant_id, quantity) in &request.items {
        let item = items.iter().find(|i| &i.variant_id == variant_id).ok_or(CommerceError::NotFound("order item"))?;
        let done = sqlx::query("UPDATE order_items SET returned_quantity = returned_quantity + $1 WHERE order_id = $2 AND variant_id = $3 AND returned_quantity + $1 <= quantity")
            .bind(quantity)
            .bind(order_id)
            .bind(variant_id)
            .execute(&mut **tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(CommerceError::ReturnExceedsOrdered { sku: item.sku.clone(), returnable: item.quantity - item.returned_quantity });
        }
        items_value += returned_value(item.unit_price, *quantity, order.totals.subtotal, order.totals.discount);
        returned.push((variant_id.clone(), *quantity));
    }
    let refundable = order.totals.total - order.refunded_amount;
    let amount = request.amount.unwrap_or(if request.items.is_empty() { refundable } else { items_value });
    if amount <= 0 || amount > refundable {
        return Err(CommerceError::RefundExceedsCaptured { refundable });
    }
    let claimed = sqlx::query("UPDATE orders SET refunded_amount = refunded_amount + $1 WHERE id = $2 AND refunded_amount + $1 <= total AND status = $3")
        .bind(amount)
        .bind(order_id)
        .bind(order.status.as_str())
        .execute(&mut **tx)
        .await?;
    if claimed.rows_affected() != 1 {
        let now_order = order_in(tx, order_id).await?;
        return Err(if now_order.status != order.status { illegal(now_order.status) } else { CommerceError::RefundExceedsCaptured { refundable: now_order.totals.total - now_order.refunded_amount } });
    }
    let full = amount == refundable;
    if full && request.items.is_empty() && request.restock {
        for item in items.iter().filter(|i| i.quantity > i.returned_quantity) {
            sqlx::query("UPDATE order_items SET returned_quantity = quantity WHERE order_id = $1 AND variant_id = $2").bind(order_id).bind(&item.variant_id).execute(&mut **tx).await?;
            returned.push((item.variant_id.clone(), item.quantity - item.returned_quantity));
        }
    }
    let refund = RefundRow {
        id: new_id(),
        order_id: order_id.into(),
        amount,
        currency: order.currency.clone(),
        restocked: request.restock && !returned.is_empty(),
        reason: request.reason.clone(),
        created_at: now,
    };
    sqlx::query("INSERT INTO refunds (id, order_id, amount, currency, restocked, reason, actor_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(&refund.id)
        .bind(order_id)
        .bind(amount)
        .bind(&order.currency)
        .bind(refund.restocked as i64)
        .bind(&refund.reason)
        .bind(actor_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    for (variant_id, quantity) in &returned {
        sqlx::query("INSERT INTO refund_items (refund_id, variant_id, quantity) VALUES ($1, $2, $3)").bind(&refund.id).bind(variant_id).bind(quantity).execute(&mut **tx).await?;
        if request.restock {
            stock::restock_in(tx, variant_id, *quantity, "refund_return", request.reason.as_deref(), Some(order_id), Some(actor_id)).await?;
        }
    }
    let completed = order.status == OrderStatus::Completed;
    ledger::record_in(tx, &money::refund(amount, &order.shop_id, completed), Some(order_id), Some(&order.shop_id), &order.currency).await?;
    let note = format!("refunded {amount} {}{}", order.currency, request.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default());
    let order = if full {
        transition_in(tx, order_id, OrderEvent::Refund { restock: false }, Actor::Seller, Some(actor_id), Some(&note)).await?
    } else {
        event_in(tx, order_id, Some(order.status), order.status, Some(actor_id), Some(&note)).await?;
        let message = format!("Order …{}: {amount} {} refunded", short(order_id), order.currency);
        notify_in(tx, &order.user_id, "order_partially_refunded", Some(order_id), &message).await?;
        let order = order_in(tx, order_id).await?;
        outbox::enqueue_order_in(tx, &order, "order_partially_refunded", &message).await?;
        order
    };
    Ok(RefundDone { refund, order })
}

#[cfg(test)]
mod tests {
    use super::returned_value;

    #[test]
    fn a_returned_line_gives_back_its_price_less_its_share_of_the_discount() {
        assert_eq!(returned_value(1_000, 2, 4_000, 0), 2_000);
        assert_eq!(returned_value(1_000, 2, 4_000, 400), 1_800);
        assert_eq!(returned_value(333, 1, 1_000, 100), 300);
    }
}
