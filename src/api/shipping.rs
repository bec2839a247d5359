//! Shipping: a shop's rate card (`/api/v1/shops/{shop}/shipping`), the cart's
//! destination country (`/api/v1/cart/shipping`) and the seller's tracking
//! updates for a shipped order (`…/orders/{id}/tracking`).

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::cart::{cart_view, CartView};
use super::commerce_edge::seller_shop;
use super::extract::{AppJson, AuthUser};
use super::orders::{order_not_found, order_view, OrderView};
use super::shops::find_shop;
use crate::app::AppState;
use crate::commerce::checkout::ShippingTerms;
use crate::commerce::domain::parse_text;
use crate::commerce::shipping::{RateCard, TrackingStatus};
use crate::commerce::store::CartLine;
use crate::error::{ApiError, ErrorBody};

/// The destination and rate cards pricing needs for these cart lines.
pub async fn shipping_terms(state: &AppState, user_id: &str, lines: &[CartLine]) -> Result<ShippingTerms, ApiError> {
    let mut shops: Vec<String> = lines.iter().map(|l| l.shop_id.clone()).collect();
    shops.sort();
    shops.dedup();
    Ok(ShippingTerms { country: state.store.cart_country(user_id).await?, cards: state.store.rate_cards(&shops).await? })
}

/// A shop's shipping rates; shops that set none charge the built-in flat rate.
#[utoipa::path(get, path = "/api/v1/shops/{shop}/shipping", tag = "shops", params(("shop" = String, Path, description = "shop slug")),
    responses((status = 200, body = Option<RateCard>), (status = 404, body = ErrorBody)))]
pub async fn get_rates(State(state): State<AppState>, Path(shop): Path<String>) -> Result<Json<Option<RateCard>>, ApiError> {
    let shop = find_shop(&state, &shop).await?;
    Ok(Json(state.store.rate_card(&shop.id).await?))
}

/// Replace the shop's shipping rates: zones (lists of countries, `*` for the rest of the world) × weight bands,
/// and a free-shipping threshold (sellers of the shop).
#[utoipa::path(put, path = "/api/v1/shops/{shop}/shipping", tag = "shops", security(("bearer" = [])), request_body = RateCard,
    params(("shop" = String, Path, description = "shop slug")),
    responses((status = 200, body = RateCard), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_rates(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>, AppJson(body): AppJson<RateCard>) -> Result<Json<RateCard>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let card = body.validated().map_err(|e| ApiError::bad_request("invalid_rate_card", e.to_string()))?;
    state.store.set_rate_card(&shop.id, &card).await?;
    Ok(Json(card))
}

#[derive(Deserialize, ToSchema)]
pub struct ShipToRequest {
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: String,
}

/// Choose where the cart ships; its groups are re-quoted from each shop's rates.
#[utoipa::path(put, path = "/api/v1/cart/shipping", tag = "cart", security(("bearer" = [])), request_body = ShipToRequest,
    responses((status = 200, body = CartView), (status = 400, body = ErrorBody)))]
pub async fn set_cart_country(State(state): State<AppState>, caller: AuthUser, AppJson(body): AppJson<ShipToRequest>) -> Result<Json<CartView>, ApiError> {
    let country = body.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::bad_request("invalid_country", "country must be a two-letter ISO 3166-1 code such as US"));
    }
    state.store.set_cart_country(&caller.user_id, &country).await?;
    Ok(Json(cart_view(&state, &caller.user_id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct TrackingUpdate {
    /// `in_transit`, `out_for_delivery` or `delivered` (which delivers the order).
    pub status: TrackingStatus,
    /// Where the parcel is, or anything the customer should know.
    pub note: Option<String>,
}

/// Record a carrier's tracking event for a shipped order (manual carrier: the seller enters it).
/// It appears in the order's history and the customer's notifications; `delivered` moves the order to delivered.
#[utoipa::path(post, path = "/api/v1/shops/{shop}/orders/{id}/tracking", tag = "orders", security(("bearer" = [])), request_body = TrackingUpdate,
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn track(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>, AppJson(body): AppJson<TrackingUpdate>) -> Result<Json<OrderView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let note = body.note.as_deref().map(|n| parse_text(n, "note", 200, true)).transpose()?.filter(|n| !n.is_empty());
    let order = state.store.order_by_id(&id).await?.filter(|o| o.shop_id == shop.id).ok_or_else(order_not_found)?;
    let order = state.store.track_order(&order.id, body.status, note.as_deref(), &caller.user_id).await?;
    Ok(Json(order_view(&state, order, true).await?))
}
