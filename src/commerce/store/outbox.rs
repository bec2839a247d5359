//! The email outbox's SQL: rows are enqueued inside the transaction of the
//! order change they report; the dispatcher leases, sends and marks them.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::orders::{short, OrderRow};
use super::CommerceResult;
use crate::store::{new_id, now_ms, Store, StoreResult};

#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub id: String,
    pub kind: String,
    pub order_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// `pending`, `sent` or `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    /// `smtp` or `log`.
    pub delivered_via: Option<String>,
}

const COLUMNS: &str = "id, kind, order_id, recipient, subject, body, status, attempts, next_attempt_at, last_error, delivered_via";

fn from_row(r: &AnyRow) -> StoreResult<OutboxRow> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        order_id: r.try_get("order_id")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        delivered_via: r.try_get("delivered_via")?,
    })
}

/// The subject of the email for an order notification kind; kinds not listed send no email.
pub fn email_subject(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "order_placed" => "We received your order",
        "payment_failed" => "Your payment did not go through",
        "order_paid" => "Your order is confirmed",
        "order_shipped" => "Your order has shipped",
        "order_delivered" => "Your order was delivered",
        "order_refunded" => "Your order was refunded",
        "order_partially_refunded" => "Part of your order was refunded",
        _ => return None,
    })
}

/// Enqueues the customer's email about `order` (if `kind` sends one), in `tx`.
pub async fn enqueue_order_in(tx: &mut Transaction<'_, Any>, order: &OrderRow, kind: &str, message: &str) -> CommerceResult<()> {
    let summary = OrderSummary { id: &order.id, user_id: &order.user_id, total: order.totals.total, refunded: order.refunded_amount, currency: &order.currency };
    Ok(enqueue_summary_in(tx, &summary, kind, message).await?)
}

/// What an order email says about the order.
pub struct OrderSummary<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub total: i64,
    pub refunded: i64,
    pub currency: &'a str,
}

/// [`enqueue_order_in`] for callers that hold only the order's figures (an
/// order inserted earlier in the same transaction).
pub async fn enqueue_summary_in(tx: &mut Transaction<'_, Any>, order: &OrderSummary<'_>, kind: &str, message: &str) -> StoreResult<()> {
    let Some(subject) = email_subject(kind) else {
        return Ok(());
    };
    let email: String = sqlx::query("SELECT email FROM users WHERE id = $1").bind(order.user_id).fetch_one(&mut **tx).await?.try_get("email")?;
    let body = format!(
        "{message}\n\nOrder …{} · total {} {} · refunded {} {}\n",
        short(order.id),
        order.total,
        order.currency,
        order.refunded,
        order.currency
    );
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (id, kind, order_id, recipient, subject, body, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
    )
    .bind(new_id())
    .bind(kind)
    .bind(order.id)
    .bind(email)
    .bind(format!("{subject} (…{})", short(order.id)))
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Leases the oldest due pending email until `now + lease_ms`, or `None`
    /// if nothing is due or another dispatcher leased it first.
    pub async fn lease_due_email(&self, now: i64, lease_ms: i64) -> StoreResult<Option<OutboxRow>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT 1");
        let Some(row) = sqlx::query(&sql).bind(now).fetch_optional(self.reader()).await? else {
            return Ok(None);
        };
        let row = from_row(&row)?;
        let leased = sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3")
            .bind(now + lease_ms)
            .bind(&row.id)
            .bind(row.next_attempt_at)
            .execute(self.writer())
            .await?;
        Ok((leased.rows_affected() == 1).then_some(row))
    }

    pub async fn mark_email_sent(&self, id: &str, via: &str) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = $1, delivered_via = $2, last_error = NULL WHERE id = $3 AND status = 'pending'")
            .bind(now_ms())
            .bind(via)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or given up when `None`.
    pub async fn mark_email_failed(&self, id: &str, error: &str, retry_at: Option<i64>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, status = $2, next_attempt_at = COALESCE($3, next_attempt_at) WHERE id = $4 AND status = 'pending'",
        )
        .bind(error)
        .bind(if retry_at.is_some() { "pending" } else { "failed" })
        .bind(retry_at)
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The emails about one order, oldest first.
    pub async fn order_emails(&self, order_id: &str) -> StoreResult<Vec<OutboxRow>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE order_id = $1 ORDER BY created_at, id");
        sqlx::query(&sql).bind(order_id).fetch_all(self.reader()).await?.iter().map(from_row).collect()
    }
}
