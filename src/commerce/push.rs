//! Live push of in-app notifications. Writers insert a notification in the
//! transaction of the change it reports (`store/notifications.rs`); this task
//! reads the ones not yet pushed, claims each with a conditional update (so one
//! node pushes it, once) and publishes it on the user's hub channel:
//! `order.updated` `{id, order_id, kind, message, status, created_at}` when it
//! is about an order (with the order's status now), else `notification`.
//! The feed stays the durable record: a push lost with its node is still there.

use std::time::Duration;

use serde_json::json;
use sqlx::Row;

use super::store::notifications::{from_row, NotificationRow};
use crate::signaling::{ChannelName, Event, Hub};
use crate::store::{now_ms, Store, StoreResult};

const PUSH_EVERY: Duration = Duration::from_millis(250);
const BATCH: i64 = 200;

pub struct Pending {
    pub notification: NotificationRow,
    /// The order's status now, when the notification is about an order.
    pub order_status: Option<String>,
}

impl Pending {
    /// The event the user's open pages receive.
    pub fn event(&self) -> Event {
        let n = &self.notification;
        let data = json!({
            "id": n.id, "order_id": n.order_id, "kind": n.kind, "message": n.message,
            "status": self.order_status, "created_at": n.created_at,
        });
        Event::new(if n.order_id.is_some() { "order.updated" } else { "notification" }, data)
    }
}

impl Store {
    /// The oldest notifications no node has pushed yet.
    pub async fn unpushed_notifications(&self, limit: i64) -> StoreResult<Vec<Pending>> {
        let rows = sqlx::query(
            "SELECT n.id, n.user_id, n.kind, n.order_id, n.message, n.created_at, n.read_at, o.status AS order_status \
             FROM notifications n LEFT JOIN orders o ON o.id = n.order_id \
             WHERE n.pushed_at IS NULL ORDER BY n.created_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok(Pending { notification: from_row(r)?, order_status: r.try_get("order_status")? }))
            .collect()
    }

    /// True for the one caller that claims the push of this notification.
    pub async fn claim_notification_push(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE notifications SET pushed_at = $1 WHERE id = $2 AND pushed_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Pushes what is pending once; returns how many were pushed.
pub async fn push_pending(store: &Store, hub: &Hub) -> StoreResult<usize> {
    let mut pushed = 0;
    for pending in store.unpushed_notifications(BATCH).await? {
        if !store.claim_notification_push(&pending.notification.id).await? {
            continue;
        }
        if let Err(e) = hub.publish(&ChannelName::user(&pending.notification.user_id), pending.event()).await {
            tracing::warn!(error = %e, notification = %pending.notification.id, "cannot push a notification; it stays in the feed");
        }
        pushed += 1;
    }
    Ok(pushed)
}

pub fn spawn_pusher(store: Store, hub: Hub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PUSH_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = push_pending(&store, &hub).await {
                tracing::warn!(error = %e, "pushing notifications failed; will retry");
            }
        }
    })
}
