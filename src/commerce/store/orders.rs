//! Orders: placing a checkout (orders + stock holds + coupon use in one
//! transaction), payments, and status transitions decided by
//! `order_state::transition` and applied with `WHERE status = <from>`.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::coupons::{redeem_in, CouponRow};
use super::notifications::{notify_in, notify_sellers_in};
use super::{ledger, outbox, placeholders, stock, CommerceError, CommerceResult};
use crate::commerce::ledger as money;
use crate::commerce::order_state::{transition, Actor, OrderEvent, OrderStatus, StockEffect, TransitionError};
use crate::commerce::payments::ChargeOutcome;
use crate::commerce::pricing::Totals;
use crate::store::{new_id, now_ms, Store, StoreError, StoreResult};

#[derive(Clone, Debug)]
pub struct DraftLine {
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: i64,
    pub quantity: i64,
}

/// One shop's order, priced, before it exists.
#[derive(Clone, Debug)]
pub struct OrderDraft {
    pub shop_id: String,
    pub currency: String,
    pub totals: Totals,
    pub lines: Vec<DraftLine>,
}

#[derive(Clone, Debug)]
pub struct PlacedCheckout {
    pub checkout_id: String,
    pub order_ids: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct OrderRow {
    pub id: String,
    pub checkout_id: String,
    pub user_id: String,
    pub shop_id: String,
    pub status: OrderStatus,
    pub currency: String,
    pub totals: Totals,
    pub coupon_code: Option<String>,
    /// Money returned so far; never above `totals.total` (what was captured).
    pub refunded_amount: i64,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub ship_to_country: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug)]
pub struct OrderItemRow {
    pub order_id: String,
    pub variant_id: String,
    pub reservation_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: i64,
    pub quantity: i64,
    /// Units refunded as returned so far.
    pub returned_quantity: i64,
}

#[derive(Clone, Debug)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub provider: String,
    pub provider_ref: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub failure: Option<String>,
    pub created_at: i64,
    /// The part of `amount` paid from the customer's wallet; the rest was charged to the card.
    pub wallet_amount: i64,
    /// The card part refunded through the provider so far.
    pub refunded_amount: i64,
}

impl PaymentRow {
    /// What the card was (or is being) charged.
    pub fn card_amount(&self) -> i64 {
        self.amount - self.wallet_amount
    }
}

/// How much of the customer's wallet a payment spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalletUse {
    None,
    /// As much as the wallet holds, up to the total.
    Max,
    /// Exactly this much (refused if the wallet holds less).
    Exact(i64),
}

#[derive(Clone, Debug)]
pub struct OrderEventRow {
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
    pub created_at: i64,
}

const ORDER_COLUMNS: &str = "id, checkout_id, user_id, shop_id, status, currency, subtotal, discount, tax, shipping, total, coupon_code, refunded_amount, \
                             tracking_number, carrier, ship_to_country, expires_at, created_at, updated_at";
const PAYMENT_COLUMNS: &str = "id, order_id, provider, provider_ref, amount, currency, status, failure, created_at, wallet_amount, refunded_amount";

fn order_from_row(r: &AnyRow) -> StoreResult<OrderRow> {
    let status: String = r.try_get("status")?;
    Ok(OrderRow {
        id: r.try_get("id")?,
        checkout_id: r.try_get("checkout_id")?,
        user_id: r.try_get("user_id")?,
        shop_id: r.try_get("shop_id")?,
        status: OrderStatus::parse(&status).ok_or_else(|| StoreError::Database(sqlx::Error::Decode(format!("unknown order status {status}").into())))?,
        currency: r.try_get("currency")?,
        totals: Totals {
            subtotal: r.try_get("subtotal")?,
            discount: r.try_get("discount")?,
            tax: r.try_get("tax")?,
            shipping: r.try_get("shipping")?,
            total: r.try_get("total")?,
        },
        coupon_code: r.try_get("coupon_code")?,
        refunded_amount: r.try_get("refunded_amount")?,
        tracking_number: r.try_get("tracking_number")?,
        carrier: r.try_get("carrier")?,
        ship_to_country: r.try_get("ship_to_country")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn payment_from_row(r: &AnyRow) -> StoreResult<PaymentRow> {
    Ok(PaymentRow {
        id: r.try_get("id")?,
        order_id: r.try_get("order_id")?,
        provider: r.try_get("provider")?,
        provider_ref: r.try_get("provider_ref")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        status: r.try_get("status")?,
        failure: r.try_get("failure")?,
        created_at: r.try_get("created_at")?,
        wallet_amount: r.try_get("wallet_amount")?,
        refunded_amount: r.try_get("refunded_amount")?,
    })
}

pub(super) fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

pub(super) async fn order_in(tx: &mut Transaction<'_, Any>, order_id: &str) -> CommerceResult<OrderRow> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
    let row = sqlx::query(&sql).bind(order_id).fetch_optional(&mut **tx).await?.ok_or(CommerceError::NotFound("order"))?;
    Ok(order_from_row(&row)?)
}

pub(super) async fn event_in(tx: &mut Transaction<'_, Any>, order_id: &str, from: Option<OrderStatus>, to: OrderStatus, actor_id: Option<&str>, note: Option<&str>) -> CommerceResult<()> {
    sqlx::query("INSERT INTO order_events (id, order_id, from_status, to_status, actor_id, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(new_id())
        .bind(order_id)
        .bind(from.map(OrderStatus::as_str))
        .bind(to.as_str())
        .bind(actor_id)
        .bind(note)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Applies `event` to the order inside `tx`: the sans-IO decision, the
/// conditional status UPDATE, the stock effect, the history row and the
/// customer's notification.
pub async fn transition_in(
    tx: &mut Transaction<'_, Any>,
    order_id: &str,
    event: OrderEvent,
    actor: Actor,
    actor_id: Option<&str>,
    note: Option<&str>,
) -> CommerceResult<OrderRow> {
    let order = order_in(tx, order_id).await?;
    let t = transition(order.status, event, actor).map_err(|source| CommerceError::Transition { current: order.status, source })?;
    if matches!(event, OrderEvent::Complete { .. }) {
        // Completion pays the sellers from what is not refunded; a refund still
        // waiting for the provider must land (or be given back) first.
        let pending: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM refunds WHERE order_id = $1 AND status = 'pending'")
            .bind(order_id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("n")?;
        if pending > 0 {
            let source = TransitionError::Illegal { from: order.status, verb: "completed while a refund is pending" };
            return Err(CommerceError::Transition { current: order.status, source });
        }
    }
    let now = now_ms();
    let done = sqlx::query("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
        .bind(t.to.as_str())
        .bind(now)
        .bind(order_id)
        .bind(t.from.as_str())
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        let current = order_in(tx, order_id).await?.status;
        return Err(CommerceError::Transition { current, source: TransitionError::Illegal { from: current, verb: "changed concurrently" } });
    }
    let items = items_in(tx, order_id).await?;
    for item in &items {
        match t.stock {
            StockEffect::None => {}
            StockEffect::CommitSale => {
                stock::commit_sale_in(tx, &item.reservation_id).await?;
            }
            StockEffect::ReleaseReservation => {
                stock::release_in(tx, &item.reservation_id).await?;
            }
            StockEffect::ReturnSold => {
                let left = item.quantity - item.returned_quantity;
                if left > 0 {
                    stock::restock_in(tx, &item.variant_id, left, "refund_return", note, Some(order_id), actor_id).await?;
                    sqlx::query("UPDATE order_items SET returned_quantity = quantity WHERE order_id = $1 AND variant_id = $2")
                        .bind(order_id)
                        .bind(&item.variant_id)
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
    }
    match (t.to, event) {
        (OrderStatus::Paid, _) => {
            let wallet: i64 = sqlx::query("SELECT CAST(COALESCE(SUM(wallet_amount), 0) AS BIGINT) AS w FROM payments WHERE order_id = $1 AND status = 'succeeded'")
                .bind(order_id)
                .fetch_one(&mut **tx)
                .await?
                .try_get("w")?;
            let wallet = wallet.min(order.totals.total);
            ledger::record_in(tx, &money::payment(order.totals.total - wallet, wallet), Some(order_id), Some(&order.shop_id), &order.currency).await?;
        }
        (OrderStatus::Completed, OrderEvent::Complete { platform_fee_bps }) => {
            let net = order.totals.total - order.refunded_amount;
            ledger::record_in(tx, &money::completion(net, &order.shop_id, platform_fee_bps), Some(order_id), Some(&order.shop_id), &order.currency).await?;
        }
        _ => {}
    }
    if t.to == OrderStatus::Refunded {
        sqlx::query("UPDATE payments SET status = 'refunded', updated_at = $1 WHERE order_id = $2 AND status = 'succeeded'")
            .bind(now)
            .bind(order_id)
            .execute(&mut **tx)
            .await?;
    }
    event_in(tx, order_id, Some(t.from), t.to, actor_id, note).await?;
    let mut message = format!("Order …{} is now {}", short(order_id), t.to.as_str().replace('_', " "));
    if let (OrderStatus::Shipped, Some(note)) = (t.to, note) {
        message.push_str(&format!(" ({note})"));
    }
    notify_in(tx, &order.user_id, t.notify, Some(order_id), &message).await?;
    let after = order_in(tx, order_id).await?;
    outbox::enqueue_order_in(tx, &after, t.notify, &message).await?;
    if t.to == OrderStatus::Paid {
        notify_sellers_in(tx, &order.shop_id, "order_paid", Some(order_id), &format!("Order …{} was paid: ship it", short(order_id))).await?;
    }
    Ok(after)
}

pub(super) async fn items_in(tx: &mut Transaction<'_, Any>, order_id: &str) -> CommerceResult<Vec<OrderItemRow>> {
    let rows = sqlx::query("SELECT order_id, variant_id, reservation_id, sku, title, unit_price, quantity, returned_quantity FROM order_items WHERE order_id = $1 ORDER BY variant_id")
        .bind(order_id)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.iter().map(item_from_row).collect::<StoreResult<_>>()?)
}

fn item_from_row(r: &AnyRow) -> StoreResult<OrderItemRow> {
    Ok(OrderItemRow {
        order_id: r.try_get("order_id")?,
        variant_id: r.try_get("variant_id")?,
        reservation_id: r.try_get("reservation_id")?,
        sku: r.try_get("sku")?,
        title: r.try_get("title")?,
        unit_price: r.try_get("unit_price")?,
        quantity: r.try_get("quantity")?,
        returned_quantity: r.try_get("returned_quantity")?,
    })
}

impl Store {
    /// Turns priced drafts into `pending_payment` orders in one transaction:
    /// holds every line's stock (variants locked in id order, so concurrent
    /// checkouts cannot deadlock), spends the coupon, records history and
    /// notifications, and removes the ordered lines from the cart. Any
    /// failure (out of stock, coupon exhausted) leaves nothing behind.
    pub async fn place_checkout(
        &self,
        user_id: &str,
        drafts: &[OrderDraft],
        coupon: Option<&CouponRow>,
        ship_to_country: Option<&str>,
        expires_at: i64,
    ) -> CommerceResult<PlacedCheckout> {
        let checkout_id = new_id();
        let now = now_ms();
        let order_ids: Vec<String> = drafts.iter().map(|_| new_id()).collect();
        let mut tx = self.writer().begin().await?;
        for (draft, order_id) in drafts.iter().zip(&order_ids) {
            let t = draft.totals;
            sqlx::query(
                "INSERT INTO orders (id, checkout_id, user_id, shop_id, status, currency, subtotal, discount, tax, shipping, total, coupon_code, expires_at, created_at, updated_at, ship_to_country) \
                 VALUES ($1, $2, $3, $4, 'pending_payment', $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)",
            )
            .bind(order_id)
            .bind(&checkout_id)
            .bind(user_id)
            .bind(&draft.shop_id)
            .bind(&draft.currency)
            .bind(t.subtotal)
            .bind(t.discount)
            .bind(t.tax)
            .bind(t.shipping)
            .bind(t.total)
            .bind(if t.discount > 0 { coupon.map(|c| c.code.as_str()) } else { None })
            .bind(expires_at)
            .bind(now)
            .bind(ship_to_country)
            .execute(&mut *tx)
            .await?;
        }
        let mut lines: Vec<(&String, &DraftLine)> = drafts.iter().zip(&order_ids).flat_map(|(d, id)| d.lines.iter().map(move |l| (id, l))).collect();
        lines.sort_by(|a, b| a.1.variant_id.cmp(&b.1.variant_id));
        for (order_id, line) in &lines {
            let hold = stock::reserve_in(&mut tx, &line.variant_id, line.quantity, order_id, None).await?;
            sqlx::query(
                "INSERT INTO order_items (order_id, variant_id, reservation_id, sku, title, unit_price, quantity) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(*order_id)
            .bind(&line.variant_id)
            .bind(&hold.id)
            .bind(&line.sku)
            .bind(&line.title)
            .bind(line.unit_price)
            .bind(line.quantity)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM cart_items WHERE user_id = $1 AND variant_id = $2").bind(user_id).bind(&line.variant_id).execute(&mut *tx).await?;
        }
        if let Some(coupon) = coupon {
            redeem_in(&mut tx, coupon, user_id, &checkout_id).await?;
            sqlx::query("UPDATE carts SET coupon_code = NULL WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        }
        for (draft, order_id) in drafts.iter().zip(&order_ids) {
            event_in(&mut tx, order_id, None, OrderStatus::PendingPayment, Some(user_id), None).await?;
            let message = format!("Order …{} placed: {} {} to pay", short(order_id), draft.totals.total, draft.currency);
            notify_in(&mut tx, user_id, "order_placed", Some(order_id), &message).await?;
            let order = order_in(&mut tx, order_id).await?;
            outbox::enqueue_order_in(&mut tx, &order, "order_placed", &message).await?;
            notify_sellers_in(&mut tx, &draft.shop_id, "new_order", Some(order_id), &format!("New order …{}", short(order_id))).await?;
        }
        tx.commit().await?;
        Ok(PlacedCheckout { checkout_id, order_ids })
    }

    /// Opens the order's one live payment (`processing`). `PaymentExists` if
    /// another is processing, pending or succeeded: the partial unique index
    /// decides, so two concurrent payers cannot both charge. The wallet part
    /// (`wallet`) is held in the same transaction: the wallet row is locked,
    /// and the hold's conditional debit refuses to take it below zero, so
    /// concurrent payments never spend more than the wallet holds. Without a
    /// card (`has_card`) the wallet must cover the whole total.
    pub async fn begin_payment(&self, order_id: &str, provider: &str, wallet: WalletUse, has_card: bool) -> CommerceResult<PaymentRow> {
        let mut tx = self.writer().begin().await?;
        let order = order_in(&mut tx, order_id).await?;
        if order.status != OrderStatus::PendingPayment {
            let source = TransitionError::Illegal { from: order.status, verb: "paid" };
            return Err(CommerceError::Transition { current: order.status, source });
        }
        let shop_status: Option<String> =
            sqlx::query("SELECT status FROM shops WHERE id = $1").bind(&order.shop_id).fetch_optional(&mut *tx).await?.map(|r| r.try_get("status")).transpose()?;
        if shop_status.as_deref() == Some("suspended") {
            return Err(CommerceError::ShopSuspended);
        }
        let total = order.totals.total;
        let wallet_amount = match wallet {
            WalletUse::None => 0,
            WalletUse::Max => ledger::lock_wallet_in(&mut tx, &order.user_id, &order.currency).await?.clamp(0, total),
            WalletUse::Exact(n) if n > total => return Err(CommerceError::WalletAmountAboveTotal { total }),
            WalletUse::Exact(n) => {
                let balance = ledger::lock_wallet_in(&mut tx, &order.user_id, &order.currency).await?;
                if balance < n {
                    return Err(CommerceError::InsufficientWalletBalance { balance });
                }
                n
            }
        };
        if wallet_amount < total && !has_card {
            return Err(CommerceError::CardRequired { wallet: wallet_amount, total });
        }
        let now = now_ms();
        let payment = PaymentRow {
            id: new_id(),
            order_id: order_id.into(),
            provider: if wallet_amount == total { "wallet".into() } else { provider.into() },
            provider_ref: None,
            amount: total,
            currency: order.currency.clone(),
            status: "processing".into(),
            failure: None,
            created_at: now,
            wallet_amount,
            refunded_amount: 0,
        };
        let inserted = sqlx::query(
            "INSERT INTO payments (id, order_id, provider, amount, currency, status, created_at, updated_at, wallet_amount) VALUES ($1, $2, $3, $4, $5, 'processing', $6, $6, $7)",
        )
        .bind(&payment.id)
        .bind(order_id)
        .bind(&payment.provider)
        .bind(payment.amount)
        .bind(&payment.currency)
        .bind(now)
        .bind(wallet_amount)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) => {
                let e = StoreError::from(e);
                return Err(if matches!(e, StoreError::UniqueViolation(_)) { CommerceError::PaymentExists } else { e.into() });
            }
        }
        ledger::record_in(&mut tx, &money::wallet_hold(wallet_amount, &order.user_id), Some(order_id), Some(&order.shop_id), &order.currency).await?;
        tx.commit().await?;
        Ok(payment)
    }

    /// Records what the provider said about a `processing` or `pending`
    /// payment and, on success, pays the order (committing its stock). A
    /// payment that already reached an end is left alone (webhook replays).
    /// Returns the payment as stored.
    pub async fn settle_payment(&self, payment_id: &str, outcome: &ChargeOutcome) -> CommerceResult<PaymentRow> {
        self.settle_payment_from(payment_id, outcome, &["processing", "pending"]).await
    }

    /// [`Store::settle_payment`] for a payment still in one of `from`.
    async fn settle_payment_from(&self, payment_id: &str, outcome: &ChargeOutcome, from: &[&str]) -> CommerceResult<PaymentRow> {
        let now = now_ms();
        let mut tx = self.writer().begin().await?;
        let (status, provider_ref, failure) = match outcome {
            ChargeOutcome::Succeeded { provider_ref } => ("succeeded", Some(provider_ref.as_str()), None),
            ChargeOutcome::Pending { provider_ref } => ("pending", Some(provider_ref.as_str()), None),
            ChargeOutcome::Declined { reason } => ("failed", None, Some(reason.as_str())),
        };
        let done = sqlx::query(
            "UPDATE payments SET status = $1, provider_ref = COALESCE($2, provider_ref), failure = $3, updated_at = $4 \
             WHERE id = $5 AND status IN ($6, $7) AND NOT (status = 'pending' AND $1 = 'pending')",
        )
        .bind(status)
        .bind(provider_ref)
        .bind(failure)
        .bind(now)
        .bind(payment_id)
        .bind(from.first().copied().unwrap_or("processing"))
        .bind(from.last().copied().unwrap_or("processing"))
        .execute(&mut *tx)
        .await?;
        let payment = payment_in(&mut tx, payment_id).await?;
        if done.rows_affected() == 1 {
            match status {
                "succeeded" => match transition_in(&mut tx, &payment.order_id, OrderEvent::PaymentSucceeded, Actor::System, None, None).await {
                    Ok(_) => {}
                    Err(CommerceError::Transition { .. }) => {
                        // The order ended (expired, cancelled) while the charge ran: give the money back.
                        sqlx::query("UPDATE payments SET status = 'refunded', failure = 'order_no_longer_payable' WHERE id = $1")
                            .bind(payment_id)
                            .execute(&mut *tx)
                            .await?;
                        release_hold_in(&mut tx, &payment, "order_no_longer_payable").await?;
                    }
                    Err(e) => return Err(e),
                },
                "failed" => {
                    let order = order_in(&mut tx, &payment.order_id).await?;
                    let message = format!("Payment for order …{} failed: {}", short(&order.id), failure.unwrap_or("declined"));
                    notify_in(&mut tx, &order.user_id, "payment_failed", Some(&order.id), &message).await?;
                    outbox::enqueue_order_in(&mut tx, &order, "payment_failed", &message).await?;
                    release_hold_in(&mut tx, &payment, failure.unwrap_or("declined")).await?;
                }
                _ => {}
            }
        }
        let payment = payment_in(&mut tx, payment_id).await?;
        tx.commit().await?;
        Ok(payment)
    }

    /// Applies a seller's, customer's or the system's event to an order.
    pub async fn transition_order(&self, order_id: &str, event: OrderEvent, actor: Actor, actor_id: Option<&str>, note: Option<&str>) -> CommerceResult<OrderRow> {
        let mut tx = self.writer().begin().await?;
        let order = transition_in(&mut tx, order_id, event, actor, actor_id, note).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// Ships an order and records its tracking number, in one transaction.
    pub async fn ship_order(&self, order_id: &str, carrier: &str, tracking: &str, actor_id: &str) -> CommerceResult<OrderRow> {
        let mut tx = self.writer().begin().await?;
        let note = format!("{carrier} {tracking}");
        transition_in(&mut tx, order_id, OrderEvent::Ship, Actor::Seller, Some(actor_id), Some(&note)).await?;
        sqlx::query("UPDATE orders SET carrier = $1, tracking_number = $2 WHERE id = $3").bind(carrier).bind(tracking).bind(order_id).execute(&mut *tx).await?;
        let order = order_in(&mut tx, order_id).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// Marks `processing` payments not settled since `before` as failed
    /// (the process died mid-charge), so their orders can be paid again or
    /// expire. Returns how many.
    pub async fn fail_abandoned_payments(&self, before: i64) -> CommerceResult<u64> {
        let ids: Vec<String> = sqlx::query("SELECT id FROM payments WHERE status = 'processing' AND updated_at < $1 ORDER BY id LIMIT 500")
            .bind(before)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let mut failed = 0;
        let abandoned = ChargeOutcome::Declined { reason: "abandoned".into() };
        for id in ids {
            // Only a payment still `processing` (one settled meanwhile is left alone); its wallet hold goes back.
            let payment = self.settle_payment_from(&id, &abandoned, &["processing"]).await?;
            if payment.status == "failed" && payment.failure.as_deref() == Some("abandoned") {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// Cancels unpaid orders past their hold (releasing their stock) unless a
    /// payment for them is still in flight. Returns how many expired.
    pub async fn expire_unpaid_orders(&self, now: i64) -> CommerceResult<usize> {
        let ids: Vec<String> = sqlx::query(
            "SELECT o.id FROM orders o WHERE o.status = 'pending_payment' AND o.expires_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM payments pay WHERE pay.order_id = o.id AND pay.status IN ('processing', 'pending')) ORDER BY o.id LIMIT 500",
        )
        .bind(now)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
        let mut expired = 0;
        for id in ids {
            match self.transition_order(&id, OrderEvent::Expire, Actor::System, None, None).await {
                Ok(_) => expired += 1,
                Err(CommerceError::Transition { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    pub async fn order_by_id(&self, id: &str) -> StoreResult<Option<OrderRow>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(order_from_row).transpose()
    }

    pub async fn orders_of_checkout(&self, checkout_id: &str) -> StoreResult<Vec<OrderRow>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE checkout_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(checkout_id).fetch_all(self.reader()).await?;
        rows.iter().map(order_from_row).collect()
    }

    /// Newest first, `limit + 1` rows before `before`; by customer or by shop.
    pub async fn list_orders(&self, user_id: Option<&str>, shop_id: Option<&str>, status: Option<OrderStatus>, before: Option<&str>, limit: i64) -> StoreResult<Vec<OrderRow>> {
        let (column, value) = match (user_id, shop_id) {
            (Some(u), _) => ("user_id", u),
            (None, Some(s)) => ("shop_id", s),
            (None, None) => return Ok(Vec::new()),
        };
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE {column} = $1 AND ($2 = '' OR id < $2) AND ($3 = '' OR status = $3) ORDER BY id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(value)
            .bind(before.unwrap_or(""))
            .bind(status.map(OrderStatus::as_str).unwrap_or(""))
            .bind(limit + 1)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    pub async fn order_items(&self, order_ids: &[String]) -> StoreResult<Vec<OrderItemRow>> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT order_id, variant_id, reservation_id, sku, title, unit_price, quantity, returned_quantity FROM order_items WHERE order_id IN ({}) ORDER BY order_id, variant_id",
            placeholders(1, order_ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in order_ids {
            q = q.bind(id);
        }
        q.fetch_all(self.reader()).await?.iter().map(item_from_row).collect()
    }

    pub async fn order_events(&self, order_id: &str) -> StoreResult<Vec<OrderEventRow>> {
        let rows = sqlx::query("SELECT from_status, to_status, note, created_at FROM order_events WHERE order_id = $1 ORDER BY id")
            .bind(order_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok(OrderEventRow { from_status: r.try_get("from_status")?, to_status: r.try_get("to_status")?, note: r.try_get("note")?, created_at: r.try_get("created_at")? }))
            .collect()
    }

    pub async fn payments_of_orders(&self, order_ids: &[String]) -> StoreResult<Vec<PaymentRow>> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id IN ({}) ORDER BY id", placeholders(1, order_ids.len()));
        let mut q = sqlx::query(&sql);
        for id in order_ids {
            q = q.bind(id);
        }
        q.fetch_all(self.reader()).await?.iter().map(payment_from_row).collect()
    }

    pub async fn payment_by_id(&self, id: &str) -> StoreResult<Option<PaymentRow>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(payment_from_row).transpose()
    }
}

/// Gives a payment's wallet hold back to the customer's wallet.
async fn release_hold_in(tx: &mut Transaction<'_, Any>, payment: &PaymentRow, why: &str) -> CommerceResult<()> {
    if payment.wallet_amount <= 0 {
        return Ok(());
    }
    let order = order_in(tx, &payment.order_id).await?;
    ledger::record_in(tx, &money::wallet_release(payment.wallet_amount, &order.user_id, why), Some(&order.id), Some(&order.shop_id), &payment.currency).await
}

pub(super) async fn payment_in(tx: &mut Transaction<'_, Any>, payment_id: &str) -> CommerceResult<PaymentRow> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
    let row = sqlx::query(&sql).bind(payment_id).fetch_optional(&mut **tx).await?.ok_or(CommerceError::NotFound("payment"))?;
    Ok(payment_from_row(&row)?)
}
