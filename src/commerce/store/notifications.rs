//! In-app notifications. Writers insert them inside the transaction of the
//! change they report, so a user is told about exactly the changes that
//! happened (an outbox the feed reads directly).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::store::{new_id, now_ms, Store, StoreResult};

#[derive(Clone, Debug)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub order_id: Option<String>,
    pub message: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

pub(crate) fn from_row(r: &AnyRow) -> StoreResult<NotificationRow> {
    Ok(NotificationRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        kind: r.try_get("kind")?,
        order_id: r.try_get("order_id")?,
        message: r.try_get("message")?,
        created_at: r.try_get("created_at")?,
        read_at: r.try_get("read_at")?,
    })
}

pub async fn notify_in(tx: &mut Transaction<'_, Any>, user_id: &str, kind: &str, order_id: Option<&str>, message: &str) -> StoreResult<()> {
    sqlx::query("INSERT INTO notifications (id, user_id, kind, order_id, message, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(new_id())
        .bind(user_id)
        .bind(kind)
        .bind(order_id)
        .bind(message)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Notifies every seller of the shop.
pub async fn notify_sellers_in(tx: &mut Transaction<'_, Any>, shop_id: &str, kind: &str, order_id: Option<&str>, message: &str) -> StoreResult<()> {
    let sellers: Vec<String> = sqlx::query("SELECT user_id FROM shop_members WHERE shop_id = $1 AND role = 'seller' ORDER BY user_id")
        .bind(shop_id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get("user_id"))
        .collect::<Result<_, _>>()?;
    for seller in sellers {
        notify_in(tx, &seller, kind, order_id, message).await?;
    }
    Ok(())
}

impl Store {
    /// Newest first, `limit + 1` rows before `before`.
    pub async fn list_notifications(&self, user_id: &str, unread_only: bool, before: Option<&str>, limit: i64) -> StoreResult<Vec<NotificationRow>> {
        let sql = format!(
            "SELECT id, user_id, kind, order_id, message, created_at, read_at FROM notifications \
             WHERE user_id = $1 AND ($2 = '' OR id < $2) {} ORDER BY id DESC LIMIT $3",
            if unread_only { "AND read_at IS NULL" } else { "" }
        );
        let rows = sqlx::query(&sql).bind(user_id).bind(before.unwrap_or("")).bind(limit + 1).fetch_all(self.reader()).await?;
        rows.iter().map(from_row).collect()
    }

    /// `false` when the user has no such notification.
    pub async fn mark_notification_read(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let now = now_ms();
        let done = sqlx::query("UPDATE notifications SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND user_id = $3")
            .bind(now)
            .bind(id)
            .bind(user_id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn mark_all_notifications_read(&self, user_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
            .bind(now_ms())
            .bind(user_id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
