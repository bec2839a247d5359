//! `GET /api/v1/rooms/{room}/analytics`: a room's figures per minute on air
//! (viewers, peak, distinct viewers, watch time, card impressions and clicks,
//! add-to-cart, orders, GMV, reservations, CTR and conversion) and for the
//! whole stream, for its seller and moderators. Live updates arrive as
//! `analytics.minute` on their `user:{id}` channel (docs/PROTOCOL.md).

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::analytics::{join, minute_of, ratio, totals, MinuteView, Totals, MINUTE_MS};
use super::analytics_store::MAX_MINUTES;
use super::http::require_room_staff;
use crate::api::extract::AuthUser;
use crate::api::rooms::find_room;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::store::now_ms;

#[derive(Serialize, ToSchema)]
pub struct RoomAnalyticsView {
    pub room: String,
    /// The shop's currency; GMV counts orders in it.
    pub currency: String,
    /// Oldest first; the last one may still be running.
    pub minutes: Vec<MinuteView>,
    pub totals: Totals,
    /// Card activity per product over the same span.
    pub products: Vec<ProductCardStats>,
    /// Concurrent viewers now and distinct viewers so far, as presence counts them.
    pub viewers_now: i64,
    pub unique_viewers: i64,
    pub server_now: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ProductCardStats {
    pub product_id: String,
    pub impressions: i64,
    pub clicks: i64,
    /// Clicks ÷ impressions.
    pub ctr: Option<f64>,
    /// Cart adds made from its card.
    pub cart_adds: i64,
}

/// A room's live analytics per minute (its seller, moderators or an admin).
/// Orders and GMV are the shop's paid orders placed while the room was on air.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/analytics", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = RoomAnalyticsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn room_analytics(State(state): State<AppState>, caller: AuthUser, Path(room): Path<String>) -> Result<Json<RoomAnalyticsView>, ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    let now = now_ms();
    let from = minute_of(now) - (MAX_MINUTES - 1) * MINUTE_MS;
    let currency = state.store.shop_currency(&room.shop_id).await?;
    let mut on_air = state.store.analytics_minutes(&room.id, from).await?;
    if let Some(open) = state.analytics.current(&room.id) {
        on_air.retain(|m| m.minute != open.minute);
        on_air.push(open);
    }
    let orders = state.store.orders_per_minute(&room.shop_id, &currency, from, now + 1).await?;
    let reservations = state.store.reservations_per_minute(&room.id, from, now + 1).await?;
    let cards = state.store.card_events_per_minute(&room.id, from, now + 1).await?;
    let minutes = join(&on_air, &orders, &reservations, &cards);
    let products = state
        .store
        .card_events_per_product(&room.id, from)
        .await?
        .into_iter()
        .map(|(product_id, c)| ProductCardStats { product_id, impressions: c.impressions, clicks: c.clicks, ctr: ratio(c.clicks, c.impressions), cart_adds: c.cart_adds })
        .collect();
    let presence = state.hub.with_core(|core| (core.presence(&room.name), Vec::new()));
    let unique_viewers = i64::try_from(presence.unique).unwrap_or(i64::MAX);
    Ok(Json(RoomAnalyticsView {
        room: room.name,
        currency,
        totals: totals(&minutes, unique_viewers),
        minutes: minutes.into_iter().map(MinuteView::from).collect(),
        products,
        viewers_now: i64::try_from(presence.viewers).unwrap_or(i64::MAX),
        unique_viewers,
        server_now: now,
    }))
}
