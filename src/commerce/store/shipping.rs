//! Shipping rate cards, the cart's destination country and tracking updates.

use std::collections::HashMap;

use sqlx::Row;

use super::notifications::notify_in;
use super::orders::{event_in, order_in, short, transition_in, OrderRow};
use super::{placeholders, CommerceError, CommerceResult};
use crate::commerce::order_state::{Actor, OrderEvent, OrderStatus, TransitionError};
use crate::commerce::shipping::{RateCard, TrackingStatus};
use crate::store::{now_ms, Store, StoreError, StoreResult};

fn parse_card(text: &str) -> StoreResult<RateCard> {
    serde_json::from_str(text).map_err(|e| StoreError::Database(sqlx::Error::Decode(format!("stored rate card: {e}").into())))
}

impl Store {
    /// Replaces the shop's rate card (already validated).
    pub async fn set_rate_card(&self, shop_id: &str, card: &RateCard) -> StoreResult<()> {
        let text = serde_json::to_string(card).map_err(|e| StoreError::Database(sqlx::Error::Encode(e.into())))?;
        sqlx::query(
            "INSERT INTO shop_shipping (shop_id, rate_card, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (shop_id) DO UPDATE SET rate_card = excluded.rate_card, updated_at = excluded.updated_at",
        )
        .bind(shop_id)
        .bind(text)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn rate_card(&self, shop_id: &str) -> StoreResult<Option<RateCard>> {
        let row = sqlx::query("SELECT rate_card FROM shop_shipping WHERE shop_id = $1").bind(shop_id).fetch_optional(self.reader()).await?;
        row.map(|r| parse_card(&r.try_get::<String, _>("rate_card")?)).transpose()
    }

    /// The rate cards of those of `shop_ids` that set one.
    pub async fn rate_cards(&self, shop_ids: &[String]) -> StoreResult<HashMap<String, RateCard>> {
        if shop_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!("SELECT shop_id, rate_card FROM shop_shipping WHERE shop_id IN ({})", placeholders(1, shop_ids.len()));
        let mut q = sqlx::query(&sql);
        for id in shop_ids {
            q = q.bind(id);
        }
        q.fetch_all(self.reader()).await?.iter().map(|r| Ok((r.try_get("shop_id")?, parse_card(&r.try_get::<String, _>("rate_card")?)?))).collect()
    }

    pub async fn set_cart_country(&self, user_id: &str, country: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO carts (user_id, ship_to_country, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET ship_to_country = excluded.ship_to_country, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(country)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn cart_country(&self, user_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT ship_to_country FROM carts WHERE user_id = $1").bind(user_id).fetch_optional(self.reader()).await?;
        Ok(match row {
            Some(r) => r.try_get("ship_to_country")?,
            None => None,
        })
    }

    /// A carrier's news about a shipped parcel, in the order's history (and
    /// the customer's notifications); `Delivered` delivers the order.
    pub async fn track_order(&self, order_id: &str, status: TrackingStatus, note: Option<&str>, actor_id: &str) -> CommerceResult<OrderRow> {
        let mut tx = self.writer().begin().await?;
        let text = match note {
            Some(n) => format!("{}: {n}", status.as_str().replace('_', " ")),
            None => status.as_str().replace('_', " "),
        };
        let order = if status == TrackingStatus::Delivered {
            transition_in(&mut tx, order_id, OrderEvent::Deliver, Actor::Seller, Some(actor_id), Some(&text)).await?
        } else {
            let touched = sqlx::query("UPDATE orders SET updated_at = $1 WHERE id = $2 AND status = 'shipped'").bind(now_ms()).bind(order_id).execute(&mut *tx).await?;
            let order = order_in(&mut tx, order_id).await?;
            if touched.rows_affected() != 1 {
                return Err(CommerceError::Transition { current: order.status, source: TransitionError::Illegal { from: order.status, verb: "tracked (it is not shipped)" } });
            }
            event_in(&mut tx, order_id, Some(OrderStatus::Shipped), OrderStatus::Shipped, Some(actor_id), Some(&text)).await?;
            let kind = format!("order_{}", status.as_str());
            notify_in(&mut tx, &order.user_id, &kind, Some(order_id), &format!("Order …{} is {text}", short(order_id))).await?;
            order
        };
        tx.commit().await?;
        Ok(order)
    }
}
