//! `/api/v1/rooms/{room}/pins` and `/api/v1/rooms/{room}/sales`: pinned
//! products and flash sales in a live room, and one-tap "buy now" reservations.
//! Events reach viewers on the room's hub channel (docs/PROTOCOL.md).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::cards::{card, PinnedCard};
use super::flash_sale::{BuyRefused, FlashSale, FlashSaleRules, Phase};
use super::front::FrontVerdict;
use super::runtime::pinned_cards;
use super::store::{LiveStoreError, NewSale, SaleRow};
use crate::api::extract::{AppJson, AuthUser, MaybeAuthUser};
use crate::api::rooms::find_room;
use crate::api::shops::require_shop_role;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::signaling::{ChannelName, Event};
use crate::store::{now_ms, RoomRow, ShopRole};

impl From<LiveStoreError> for ApiError {
    fn from(e: LiveStoreError) -> Self {
        match e {
            LiveStoreError::TooManyPins { max } => ApiError::conflict("too_many_pins", format!("this room already shows {max} pinned products; unpin one first")),
            LiveStoreError::AlreadyPinned => ApiError::conflict("already_pinned", "this product is already pinned in this room"),
            LiveStoreError::SaleSoldOut => ApiError::conflict("sale_sold_out", "every unit of this sale is reserved; units may come back if reservations expire"),
            LiveStoreError::SaleNotOpen => ApiError::conflict("sale_not_open", "this sale is not open now"),
            LiveStoreError::BuyerCapReached { cap } => ApiError::conflict("buyer_cap_reached", format!("you may reserve at most {cap} in this sale")),
            LiveStoreError::ReservationGone => ApiError::conflict("reservation_gone", "this reservation expired or is not yours; reserve again if units are left"),
            LiveStoreError::OutOfStock => ApiError::conflict("out_of_stock", "the shop has no more units of this item"),
            LiveStoreError::Commerce(e) => e.into(),
            LiveStoreError::Store(e) => e.into(),
        }
    }
}

/// Public rooms are visible to all; private ones to their shop's staff and admins.
pub(super) async fn visible_room(state: &AppState, caller: &MaybeAuthUser, name: &str) -> Result<RoomRow, ApiError> {
    let room = find_room(state, name).await?;
    if !room.is_public() {
        let allowed = match &caller.0 {
            Some(user) => user.is_admin || state.store.room_rights(&room, &user.user_id).await?.can_moderate(),
            None => false,
        };
        if !allowed {
            return Err(ApiError::not_found("room_not_found", "no room has this name"));
        }
    }
    Ok(room)
}

/// The room's seller or moderator (or an admin) controls what is pinned.
pub(crate) async fn require_room_staff(state: &AppState, caller: &AuthUser, room: &RoomRow) -> Result<(), ApiError> {
    if caller.is_admin || state.store.room_rights(room, &caller.user_id).await?.can_moderate() {
        return Ok(());
    }
    Err(ApiError::forbidden("not_room_staff", "only this room's seller or moderators may do this"))
}

#[derive(Serialize, ToSchema)]
pub struct PinsView {
    pub max_pins: i64,
    pub pins: Vec<PinnedCard>,
}

/// The products pinned in a room, with live price, compare-at price and a stock band.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/pins", tag = "live", params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = PinsView), (status = 404, body = ErrorBody)))]
pub async fn list_pins(State(state): State<AppState>, caller: MaybeAuthUser, Path(room): Path<String>) -> Result<Json<PinsView>, ApiError> {
    let room = visible_room(&state, &caller, &room).await?;
    let pins = pinned_cards(&state.live, &state.store, &room.id).await?;
    Ok(Json(PinsView { max_pins: state.live.config().max_pins, pins }))
}

#[derive(Deserialize, ToSchema)]
pub struct PinRequest {
    /// A published product of the room's shop.
    pub product_id: String,
}

/// Pin a product in the room (its seller or moderators); viewers get `product.pinned`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/pins", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")), request_body = PinRequest,
    responses((status = 201, body = PinnedCard), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn pin_product(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(room): Path<String>,
    AppJson(body): AppJson<PinRequest>,
) -> Result<(StatusCode, Json<PinnedCard>), ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    let product = state
        .store
        .product_by_id(&body.product_id)
        .await?
        .filter(|p| p.shop_id == room.shop_id && p.is_published())
        .ok_or_else(|| ApiError::not_found("product_not_found", "no published product of this room's shop has this id"))?;
    state.store.pin_product(&room.id, &product.id, &caller.user_id, state.live.config().max_pins).await?;
    let pinned = card(&state.store, &product.id, state.live.config().low_threshold)
        .await?
        .ok_or_else(|| ApiError::not_found("product_not_found", "the product disappeared"))?;
    publish(&state, &room, "product.pinned", json!({ "product": pinned })).await;
    state.live.pins_changed(&room.name);
    Ok((StatusCode::CREATED, Json(pinned)))
}

/// Unpin a product; viewers get `product.unpinned`.
#[utoipa::path(delete, path = "/api/v1/rooms/{room}/pins/{id}", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "product id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unpin_product(State(state): State<AppState>, caller: AuthUser, Path((room, product_id)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    if !state.store.unpin_product(&room.id, &product_id).await? {
        return Err(ApiError::not_found("pin_not_found", "this product is not pinned in this room"));
    }
    publish(&state, &room, "product.unpinned", json!({ "product_id": product_id })).await;
    state.live.pins_changed(&room.name);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct CreateSaleRequest {
    /// A variant of the room's shop.
    pub variant_id: String,
    /// Minor units, in the variant's currency.
    pub sale_price: i64,
    pub total_quantity: i64,
    pub per_buyer_cap: i64,
    /// 1 second to 24 hours.
    pub duration_secs: i64,
    /// Unix ms; absent or past means now.
    pub starts_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SaleView {
    pub id: String,
    pub variant_id: String,
    pub sale_price: i64,
    pub currency: String,
    pub total_quantity: i64,
    pub per_buyer_cap: i64,
    /// Units reserved or sold (the store's count).
    pub sold: i64,
    /// Server deadlines (unix ms): clients render the countdown from them.
    pub starts_at: i64,
    pub ends_at: i64,
    /// `scheduled`, `live`, `sold_out`, `ended` or `cancelled`.
    pub phase: String,
    pub server_now: i64,
}

impl From<SaleRow> for SaleView {
    fn from(s: SaleRow) -> Self {
        SaleView {
            id: s.id,
            variant_id: s.variant_id,
            sale_price: s.sale_price,
            currency: s.currency,
            total_quantity: s.total_quantity,
            per_buyer_cap: s.per_buyer_cap,
            sold: s.sold,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            phase: s.phase,
            server_now: now_ms(),
        }
    }
}

/// Create a flash sale in the room (its seller): scheduled, or immediate without `starts_at`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/sales", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name")), request_body = CreateSaleRequest,
    responses((status = 201, body = SaleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_sale(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(room): Path<String>,
    AppJson(body): AppJson<CreateSaleRequest>,
) -> Result<(StatusCode, Json<SaleView>), ApiError> {
    let room = find_room(&state, &room).await?;
    require_shop_role(&state, &caller, &room.shop_id, ShopRole::Seller).await?;
    let variant = state
        .store
        .variant_by_id(&body.variant_id)
        .await?
        .filter(|v| v.shop_id == room.shop_id)
        .ok_or_else(|| ApiError::not_found("variant_not_found", "no variant of this room's shop has this id"))?;
    let now = now_ms();
    let rules = FlashSaleRules {
        sale_price: body.sale_price,
        total_quantity: body.total_quantity,
        per_buyer_cap: body.per_buyer_cap,
        starts_at: body.starts_at.unwrap_or(now).max(now),
        duration_ms: body.duration_secs.saturating_mul(1000),
    };
    FlashSale::new(rules.clone()).map_err(|e| ApiError::bad_request("invalid_sale", e.to_string()))?;
    let sale = state
        .store
        .create_flash_sale(NewSale { room_id: &room.id, shop_id: &room.shop_id, variant_id: &variant.id, currency: &variant.currency, rules: &rules, created_by: &caller.user_id })
        .await?;
    state.live.sale_created(&room.name, sale.clone());
    Ok((StatusCode::CREATED, Json(sale.into())))
}

/// The room's flash sales that have not ended.
#[utoipa::path(get, path = "/api/v1/rooms/{room}/sales", tag = "live", params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = Vec<SaleView>), (status = 404, body = ErrorBody)))]
pub async fn list_sales(State(state): State<AppState>, caller: MaybeAuthUser, Path(room): Path<String>) -> Result<Json<Vec<SaleView>>, ApiError> {
    let room = visible_room(&state, &caller, &room).await?;
    Ok(Json(state.store.open_flash_sales(&room.id).await?.into_iter().map(SaleView::from).collect()))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ReserveRequest {
    /// Default 1; at most the sale's per-buyer cap.
    pub quantity: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ReservationAck {
    pub reservation_id: String,
    pub sale_id: String,
    pub quantity: i64,
    /// Unix ms: the units are held for the buyer until then.
    pub reserved_until: i64,
    pub unit_price: i64,
    pub currency: String,
    /// What this buyer holds in the sale now.
    pub buyer_quantity: i64,
}

/// One-tap "buy now": reserves units of a live flash sale for the caller with a TTL.
/// The sale's total, the per-buyer cap and the variant's stock are all enforced in one SQL transaction.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/sales/{id}/reserve", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "sale id")), request_body = ReserveRequest,
    responses((status = 201, body = ReservationAck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reserve(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((room, sale_id)): Path<(String, String)>,
    AppJson(body): AppJson<ReserveRequest>,
) -> Result<(StatusCode, Json<ReservationAck>), ApiError> {
    let room = visible_room(&state, &MaybeAuthUser(Some(caller.clone())), &room).await?;
    let ack = reserve_in_room(&state, &room, &sale_id, &caller.user_id, body.quantity).await?;
    Ok((StatusCode::CREATED, Json(ack)))
}

/// The one buy-now path, for HTTP and the room socket (`sale.reserve`): the engine answers
/// the obvious refusals cheaply, the store decides the rest in one transaction.
pub async fn reserve_in_room(state: &AppState, room: &RoomRow, sale_id: &str, user_id: &str, quantity: Option<i64>) -> Result<ReservationAck, ApiError> {
    let sale = state
        .store
        .flash_sale(sale_id)
        .await?
        .filter(|s| s.room_id == room.id)
        .ok_or_else(|| ApiError::not_found("sale_not_found", "no sale of this room has this id"))?;
    let quantity = quantity.unwrap_or(1);
    if quantity < 1 || quantity > sale.per_buyer_cap {
        return Err(ApiError::bad_request("invalid_quantity", format!("quantity must be between 1 and {}", sale.per_buyer_cap)));
    }
    let now = now_ms();
    // The engine answers the obvious refusals cheaply; the store decides the rest.
    let phase = if sale.phase() == Phase::SoldOut { Phase::Live } else { sale.phase() };
    match FlashSale::restore(sale.rules(), phase, sale.sold).check_buy(now) {
        Ok(()) => {}
        Err(BuyRefused::NotStarted { starts_at }) => return Err(ApiError::conflict("sale_not_started", format!("the sale starts at {starts_at} (unix ms)"))),
        Err(BuyRefused::Ended) => return Err(ApiError::conflict("sale_ended", "this sale has ended")),
        Err(BuyRefused::SoldOut) => return Err(LiveStoreError::SaleSoldOut.into()),
    }
    // The Redis front turns away buyers who cannot win; SQL decides for the others.
    let front = state.live.front();
    let ttl = state.live.config().reservation_ttl_ms;
    let reserved = match front.take(&sale.id, sale.releases, user_id, quantity, sale.per_buyer_cap).await {
        FrontVerdict::SoldOut => {
            metrics::counter!("live_front_refusals_total", "reason" => "sold_out").increment(1);
            return Err(LiveStoreError::SaleSoldOut.into());
        }
        FrontVerdict::OverCap => {
            metrics::counter!("live_front_refusals_total", "reason" => "cap").increment(1);
            return Err(LiveStoreError::BuyerCapReached { cap: sale.per_buyer_cap }.into());
        }
        FrontVerdict::Taken => {
            let reserved = state.store.reserve_flash_sale(&sale, user_id, quantity, now, ttl).await;
            if reserved.is_err() {
                front.give_back(&sale.id, user_id, quantity).await;
            }
            reserved
        }
        verdict @ (FrontVerdict::Unknown | FrontVerdict::Stale) => {
            let reserved = state.store.reserve_flash_sale(&sale, user_id, quantity, now, ttl).await;
            if let Err(e) = front.seed_from_store(&state.store, &sale.id, verdict == FrontVerdict::Stale, now).await {
                tracing::debug!(error = %e, "cannot seed the reservation front");
            }
            reserved
        }
    };
    let r = reserved?;
    state.live.sold_changed(&room.name);
    Ok(ReservationAck {
        reservation_id: r.id,
        sale_id: r.sale_id,
        quantity: r.quantity,
        reserved_until: r.reserved_until,
        unit_price: sale.sale_price,
        currency: sale.currency,
        buyer_quantity: r.buyer_total,
    })
}

/// Cancel a flash sale (the room's seller or moderators): no new reservations; those already
/// acknowledged stay valid until their TTL. Viewers get `sale.cancelled`.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/sales/{id}/cancel", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "sale id")),
    responses((status = 200, body = SaleView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_sale(State(state): State<AppState>, caller: AuthUser, Path((room, sale_id)): Path<(String, String)>) -> Result<Json<SaleView>, ApiError> {
    let room = find_room(&state, &room).await?;
    require_room_staff(&state, &caller, &room).await?;
    state
        .store
        .flash_sale(&sale_id)
        .await?
        .filter(|s| s.room_id == room.id)
        .ok_or_else(|| ApiError::not_found("sale_not_found", "no sale of this room has this id"))?;
    if !state.store.cancel_flash_sale(&sale_id).await? {
        return Err(ApiError::conflict("sale_ended", "this sale has already ended or was cancelled"));
    }
    state.live.sale_cancelled(&room.name, &sale_id);
    let sale = state.store.flash_sale(&sale_id).await?.ok_or_else(|| ApiError::not_found("sale_not_found", "the sale disappeared"))?;
    Ok(Json(sale.into()))
}

#[derive(Serialize, ToSchema)]
pub struct ReservationOrder {
    /// A `pending_payment` order at the sale price; pay it with `POST /api/v1/orders/{id}/pay`
    /// before `expires_at` (the reservation's `reserved_until`).
    pub order_id: String,
    pub expires_at: i64,
    pub total: i64,
    pub currency: String,
}

/// Check out a held reservation (its buyer, within its TTL): an order at the sale price that
/// owns the reserved units. Calling it again returns the same order.
#[utoipa::path(post, path = "/api/v1/rooms/{room}/reservations/{id}/checkout", tag = "live", security(("bearer" = [])),
    params(("room" = String, Path, description = "room name"), ("id" = String, Path, description = "reservation id")),
    responses((status = 201, body = ReservationOrder), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn checkout_reservation(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((room, reservation_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ReservationOrder>), ApiError> {
    find_room(&state, &room).await?;
    let order_id = match state.store.order_sale_reservation(&reservation_id, &caller.user_id, now_ms()).await {
        Err(LiveStoreError::ReservationGone) if state.store.held_sale_reservation_exists(&reservation_id, &caller.user_id).await?.is_some() => {
            return Err(LiveStoreError::ReservationGone.into());
        }
        Err(LiveStoreError::ReservationGone) => return Err(ApiError::not_found("reservation_not_found", "you have no reservation with this id")),
        other => other?,
    };
    let order = state.store.order_by_id(&order_id).await?.ok_or_else(|| ApiError::not_found("order_not_found", "the order disappeared"))?;
    Ok((StatusCode::CREATED, Json(ReservationOrder { order_id: order.id, expires_at: order.expires_at.unwrap_or_default(), total: order.totals.total, currency: order.currency })))
}

/// Appends the event to the room's durable log, then publishes it to the room's channel.
async fn publish(state: &AppState, room: &RoomRow, kind: &str, data: serde_json::Value) {
    state.live.record(&room.id, kind, &data).await;
    if let Err(e) = state.hub.publish(&ChannelName::room(&room.name), Event::new(kind, data)).await {
        tracing::warn!(room = %room.name, kind, error = %e, "cannot publish a live event");
    }
}
