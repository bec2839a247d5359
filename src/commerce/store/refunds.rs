//! Refunds, full or partial, by amount or by returned line items, in up to
//! three steps so the payment provider is never called inside a transaction
//! (like charges):
//!
//! 1. [`Store::begin_refund`], one transaction: claims the amount
//!    (`refunded_amount + amount <= total`, so concurrent refunds never return
//!    more than was captured) and the returned units (`returned_quantity + q
//!    <= quantity`), splits it between the card (`payments.refunded_amount`
//!    bounded by the card part) and the customer's wallet, and writes the
//!    refund. A refund with no card part is finished in the same transaction.
//! 2. The shell asks the provider to refund the card part (idempotent by the
//!    refund's id).
//! 3. [`Store::finish_refund`], one transaction: on success, the restock, the
//!    ledger entries, the history, the notification and email, and a fully
//!    refunded order moves to `refunded`; on failure, every claim is given
//!    back and the refund is marked failed, so the order is as it was.

use sqlx::{Any, Row, Transaction};

use super::orders::{event_in, items_in, order_in, short, transition_in, OrderRow};
use super::{ledger, notifications::notify_in, outbox, stock, CommerceError, CommerceResult};
use crate::commerce::ledger as money;
use crate::commerce::order_state::{Actor, OrderEvent, OrderStatus, TransitionError};
use crate::commerce::payments::RefundOutcome;
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
    /// Give it all back as store credit (to the customer's wallet) instead of to the card.
    pub to_wallet: bool,
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
    /// Returned to the card through the provider.
    pub card_amount: i64,
    /// Returned to the customer's wallet.
    pub wallet_amount: i64,
    /// `pending` (the provider has not answered), `succeeded` or `failed`.
    pub status: String,
    pub provider_ref: Option<String>,
    pub failure: Option<String>,
}

/// The refund and the order after it.
#[derive(Clone, Debug)]
pub struct RefundDone {
    pub refund: RefundRow,
    pub order: OrderRow,
}

/// A claimed refund whose card part the provider must now refund.
#[derive(Clone, Debug)]
pub struct PendingRefund {
    pub refund_id: String,
    pub provider: String,
    /// The charge being refunded.
    pub charge_ref: Option<String>,
    pub card_amount: i64,
    pub currency: String,
}

/// The provider-side refund id of a late charge's return: one per payment, so
/// asking the provider again never refunds twice.
pub fn late_charge_refund_id(payment_id: &str) -> String {
    format!("late_{payment_id}")
}

/// The payment a [`late_charge_refund_id`] belongs to.
pub fn late_charge_payment_id(refund_id: &str) -> Option<&str> {
    refund_id.strip_prefix("late_")
}

/// What step 1 left to do.
#[derive(Clone, Debug)]
pub enum RefundStart {
    /// Nothing went to the card: the refund is complete.
    Done(RefundDone),
    /// Ask the provider, then call [`Store::finish_refund`].
    NeedsProvider(PendingRefund),
}

/// `unit_price × quantity` less the line's pro-rata share of the order's discount.
pub fn returned_value(unit_price: i64, quantity: i64, subtotal: i64, discount: i64) -> i64 {
    let value = unit_price.saturating_mul(quantity);
    if subtotal <= 0 || discount <= 0 {
        return value;
    }
    value - (value as i128 * discount as i128 / subtotal as i128) as i64
}

/// How a refund splits between the card and the wallet: the card first (up
/// to what it paid and was not yet refunded), the rest to the wallet.
pub fn split_refund(amount: i64, card_refundable: i64, to_wallet: bool) -> (i64, i64) {
    let card = if to_wallet { 0 } else { amount.min(card_refundable.max(0)) };
    (card, amount - card)
}

const REFUNDABLE: [OrderStatus; 5] = [OrderStatus::Paid, OrderStatus::Fulfilling, OrderStatus::Shipped, OrderStatus::Delivered, OrderStatus::Completed];

const REFUND_COLUMNS: &str = "id, order_id, amount, currency, restocked, reason, created_at, card_amount, wallet_amount, status, provider_ref, failure";

fn refund_from_row(r: &sqlx::any::AnyRow) -> StoreResult<RefundRow> {
    Ok(RefundRow {
        id: r.try_get("id")?,
        order_id: r.try_get("order_id")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        restocked: r.try_get::<i64, _>("restocked")? != 0,
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
        card_amount: r.try_get("card_amount")?,
        wallet_amount: r.try_get("wallet_amount")?,
        status: r.try_get("status")?,
        provider_ref: r.try_get("provider_ref")?,
        failure: r.try_get("failure")?,
    })
}

impl Store {
    /// Step 1: claims the refund (see the module doc).
    pub async fn begin_refund(&self, order_id: &str, request: &RefundRequest, actor_id: &str) -> CommerceResult<RefundStart> {
        let mut tx = self.writer().begin().await?;
        let (refund, pending) = claim_in(&mut tx, order_id, request, actor_id).await?;
        let start = match pending {
            Some(pending) => RefundStart::NeedsProvider(pending),
            None => RefundStart::Done(finish_in(&mut tx, refund).await?),
        };
        tx.commit().await?;
        Ok(start)
    }

    /// Step 3: lands the provider's answer. A refund that already ended is
    /// returned as it is (a replay); a refused one gives back its claims and
    /// is `RefundFailed`.
    pub async fn finish_refund(&self, refund_id: &str, outcome: &RefundOutcome) -> CommerceResult<RefundDone> {
        let mut tx = self.writer().begin().await?;
        let refund = refund_in(&mut tx, refund_id).await?;
        sqlx::query("UPDATE orders SET updated_at = $1 WHERE id = $2").bind(now_ms()).bind(&refund.order_id).execute(&mut *tx).await?;
        let (status, provider_ref, failure) = match outcome {
            RefundOutcome::Succeeded { provider_ref } => ("succeeded", Some(provider_ref.as_str()), None),
            RefundOutcome::Failed { reason } => ("failed", None, Some(reason.as_str())),
        };
        let done = sqlx::query("UPDATE refunds SET status = $1, provider_ref = $2, failure = $3 WHERE id = $4 AND status = 'pending'")
            .bind(status)
            .bind(provider_ref)
            .bind(failure)
            .bind(refund_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            let order = order_in(&mut tx, &refund.order_id).await?;
            tx.commit().await?;
            return if refund.status == "failed" {
                Err(CommerceError::RefundFailed { reason: refund.failure.unwrap_or_default() })
            } else {
                Ok(RefundDone { refund, order })
            };
        }
        let refund = refund_in(&mut tx, refund_id).await?;
        if let RefundOutcome::Failed { reason } = outcome {
            unclaim_in(&mut tx, &refund).await?;
            tx.commit().await?;
            return Err(CommerceError::RefundFailed { reason: reason.clone() });
        }
        let done = finish_in(&mut tx, refund).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Refunds still `pending` since before `before` (their process stopped
    /// between the claim and landing the provider's answer), oldest first.
    pub async fn pending_refunds(&self, before: i64) -> StoreResult<Vec<PendingRefund>> {
        let rows = sqlx::query(
            "SELECT r.id, r.card_amount, r.currency, p.provider, p.provider_ref FROM refunds r JOIN payments p ON p.order_id = r.order_id AND p.status = 'succeeded' \
             WHERE r.status = 'pending' AND r.created_at < $1 ORDER BY r.id LIMIT 100",
        )
        .bind(before)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingRefund {
                    refund_id: r.try_get("id")?,
                    provider: r.try_get("provider")?,
                    charge_ref: r.try_get("provider_ref")?,
                    card_amount: r.try_get("card_amount")?,
                    currency: r.try_get("currency")?,
                })
            })
            .collect()
    }

    /// Card charges that succeeded after their order had ended (expired or
    /// cancelled while the provider was charging) and are not yet given back:
    /// the order never took the money, so the whole card part is owed.
    /// `only`: just that payment's (the request that settled it), else every one owed.
    pub async fn late_charges_to_return(&self, only: Option<&str>) -> StoreResult<Vec<PendingRefund>> {
        let sql = format!(
            "SELECT id, provider, provider_ref, amount - wallet_amount AS card_amount, currency FROM payments \
             WHERE status = 'refunded' AND failure = 'order_no_longer_payable' AND refunded_amount < amount - wallet_amount{} ORDER BY id LIMIT 100",
            if only.is_some() { " AND id = $1" } else { "" }
        );
        let mut query = sqlx::query(&sql);
        if let Some(payment_id) = only {
            query = query.bind(payment_id);
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(PendingRefund {
                    refund_id: late_charge_refund_id(&r.try_get::<String, _>("id")?),
                    provider: r.try_get("provider")?,
                    charge_ref: r.try_get("provider_ref")?,
                    card_amount: r.try_get("card_amount")?,
                    currency: r.try_get("currency")?,
                })
            })
            .collect()
    }

    /// Records that the provider gave a late charge back to the card.
    pub async fn record_late_charge_returned(&self, payment_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE payments SET refunded_amount = amount - wallet_amount, updated_at = $1 WHERE id = $2 AND status = 'refunded'")
            .bind(now_ms())
            .bind(payment_id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn refunds_of_order(&self, order_id: &str) -> StoreResult<Vec<RefundRow>> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(order_id).fetch_all(self.reader()).await?;
        rows.iter().map(refund_from_row).collect()
    }
}

async fn refund_in(tx: &mut Transaction<'_, Any>, refund_id: &str) -> CommerceResult<RefundRow> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
    let row = sqlx::query(&sql).bind(refund_id).fetch_optional(&mut **tx).await?.ok_or(CommerceError::NotFound("refund"))?;
    Ok(refund_from_row(&row)?)
}

fn illegal(current: OrderStatus) -> CommerceError {
    CommerceError::Transition { current, source: TransitionError::Illegal { from: current, verb: "refunded" } }
}

/// Claims the amount, the returned units and the card part; writes the refund
/// (`pending` when the provider must refund a card part).
async fn claim_in(tx: &mut Transaction<'_, Any>, order_id: &str, request: &RefundRequest, actor_id: &str) -> CommerceResult<(RefundRow, Option<PendingRefund>)> {
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
    if amount == refundable && request.items.is_empty() && request.restock {
        for item in items.iter().filter(|i| i.quantity > i.returned_quantity) {
            sqlx::query("UPDATE order_items SET returned_quantity = quantity WHERE order_id = $1 AND variant_id = $2").bind(order_id).bind(&item.variant_id).execute(&mut **tx).await?;
            returned.push((item.variant_id.clone(), item.quantity - item.returned_quantity));
        }
    }
    // The card part is bounded by what the card paid and was not yet refunded.
    let payment = sqlx::query("SELECT id, provider, provider_ref, amount, wallet_amount, refunded_amount FROM payments WHERE order_id = $1 AND status = 'succeeded' ORDER BY id LIMIT 1")
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?;
    let (card, wallet, pending) = match payment {
        Some(p) => {
            let card_left = p.try_get::<i64, _>("amount")? - p.try_get::<i64, _>("wallet_amount")? - p.try_get::<i64, _>("refunded_amount")?;
            let (card, wallet) = split_refund(amount, card_left, request.to_wallet);
            let payment_id: String = p.try_get("id")?;
            if card > 0 {
                let done = sqlx::query("UPDATE payments SET refunded_amount = refunded_amount + $1 WHERE id = $2 AND refunded_amount + $1 <= amount - wallet_amount")
                    .bind(card)
                    .bind(&payment_id)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(CommerceError::RefundExceedsCaptured { refundable });
                }
            }
            let provider: String = p.try_get("provider")?;
            let pending = (card > 0).then(|| -> StoreResult<PendingRefund> {
                Ok(PendingRefund { refund_id: String::new(), provider: provider.clone(), charge_ref: p.try_get("provider_ref")?, card_amount: card, currency: order.currency.clone() })
            });
            (card, wallet, pending.transpose()?)
        }
        // No recorded payment: give it back as it came (the card), with no provider to ask.
        None => {
            let (card, wallet) = split_refund(amount, amount, request.to_wallet);
            (card, wallet, None)
        }
    };
    let refund = RefundRow {
        id: new_id(),
        order_id: order_id.into(),
        amount,
        currency: order.currency.clone(),
        restocked: request.restock && !returned.is_empty(),
        reason: request.reason.clone(),
        created_at: now,
        card_amount: card,
        wallet_amount: wallet,
        status: if pending.is_some() { "pending".into() } else { "succeeded".into() },
        provider_ref: None,
        failure: None,
    };
    sqlx::query(
        "INSERT INTO refunds (id, order_id, amount, currency, restocked, reason, actor_id, created_at, card_amount, wallet_amount, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&refund.id)
    .bind(order_id)
    .bind(amount)
    .bind(&order.currency)
    .bind(refund.restocked as i64)
    .bind(&refund.reason)
    .bind(actor_id)
    .bind(now)
    .bind(card)
    .bind(wallet)
    .bind(&refund.status)
    .execute(&mut **tx)
    .await?;
    for (variant_id, quantity) in &returned {
        sqlx::query("INSERT INTO refund_items (refund_id, variant_id, quantity) VALUES ($1, $2, $3)").bind(&refund.id).bind(variant_id).bind(quantity).execute(&mut **tx).await?;
    }
    let pending = pending.map(|p| PendingRefund { refund_id: refund.id.clone(), ..p });
    Ok((refund, pending))
}

async fn refund_items_in(tx: &mut Transaction<'_, Any>, refund_id: &str) -> CommerceResult<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT variant_id, quantity FROM refund_items WHERE refund_id = $1 ORDER BY variant_id").bind(refund_id).fetch_all(&mut **tx).await?;
    Ok(rows.iter().map(|r| Ok((r.try_get("variant_id")?, r.try_get("quantity")?))).collect::<StoreResult<_>>()?)
}

/// Gives back a failed refund's claims: the order's refunded amount, the returned units, the card part.
async fn unclaim_in(tx: &mut Transaction<'_, Any>, refund: &RefundRow) -> CommerceResult<()> {
    sqlx::query("UPDATE orders SET refunded_amount = refunded_amount - $1 WHERE id = $2").bind(refund.amount).bind(&refund.order_id).execute(&mut **tx).await?;
    for (variant_id, quantity) in refund_items_in(tx, &refund.id).await? {
        sqlx::query("UPDATE order_items SET returned_quantity = returned_quantity - $1 WHERE order_id = $2 AND variant_id = $3")
            .bind(quantity)
            .bind(&refund.order_id)
            .bind(&variant_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE payments SET refunded_amount = refunded_amount - $1 WHERE order_id = $2 AND status = 'succeeded'")
        .bind(refund.card_amount)
        .bind(&refund.order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The effects of a refund whose money has gone back: restock, ledger,
/// history, notification and email; `refunded` once nothing is left and no
/// other refund of the order is still pending.
async fn finish_in(tx: &mut Transaction<'_, Any>, refund: RefundRow) -> CommerceResult<RefundDone> {
    let order_id = refund.order_id.clone();
    let order = order_in(tx, &order_id).await?;
    let actor_id: Option<String> = sqlx::query("SELECT actor_id FROM refunds WHERE id = $1").bind(&refund.id).fetch_one(&mut **tx).await?.try_get("actor_id")?;
    if refund.restocked {
        for (variant_id, quantity) in refund_items_in(tx, &refund.id).await? {
            stock::restock_in(tx, &variant_id, quantity, "refund_return", refund.reason.as_deref(), Some(&order_id), actor_id.as_deref()).await?;
        }
    }
    let completed = order.status == OrderStatus::Completed;
    let entries = money::refund(refund.card_amount, refund.wallet_amount, &order.shop_id, &order.user_id, completed);
    ledger::record_in(tx, &entries, Some(&order_id), Some(&order.shop_id), &order.currency).await?;
    let amount = refund.amount;
    let to_wallet = if refund.wallet_amount > 0 { format!(" ({} to the wallet)", refund.wallet_amount) } else { String::new() };
    let note = format!("refunded {amount} {}{to_wallet}{}", order.currency, refund.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default());
    let pending: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM refunds WHERE order_id = $1 AND status = 'pending'")
        .bind(&order_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    let full = order.refunded_amount >= order.totals.total && pending == 0;
    let order = if full {
        transition_in(tx, &order_id, OrderEvent::Refund { restock: false }, Actor::Seller, actor_id.as_deref(), Some(&note)).await?
    } else {
        event_in(tx, &order_id, Some(order.status), order.status, actor_id.as_deref(), Some(&note)).await?;
        let message = format!("Order …{}: {amount} {} refunded{to_wallet}", short(&order_id), order.currency);
        notify_in(tx, &order.user_id, "order_partially_refunded", Some(&order_id), &message).await?;
        let order = order_in(tx, &order_id).await?;
        outbox::enqueue_order_in(tx, &order, "order_partially_refunded", &message).await?;
        order
    };
    Ok(RefundDone { refund, order })
}

#[cfg(test)]
mod tests {
    use super::returned_value;

    #[test]
    fn a_refund_goes_to_the_card_first_and_the_rest_to_the_wallet() {
        assert_eq!(super::split_refund(1_000, 600, false), (600, 400));
        assert_eq!(super::split_refund(500, 600, false), (500, 0));
        assert_eq!(super::split_refund(500, 0, false), (0, 500), "a wallet-paid order refunds to the wallet");
        assert_eq!(super::split_refund(500, 600, true), (0, 500), "store credit on request");
    }

    #[test]
    fn a_returned_line_gives_back_its_price_less_its_share_of_the_discount() {
        assert_eq!(returned_value(1_000, 2, 4_000, 0), 2_000);
        assert_eq!(returned_value(1_000, 2, 4_000, 400), 1_800);
        assert_eq!(returned_value(333, 1, 1_000, 100), 300);
    }
}
