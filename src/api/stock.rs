//! `/api/v1/shops/{shop}/variants/{id}/stock…`: a seller's view of a
//! variant's stock and ledger, restocks and manual adjustments.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::catalog::shop_variant;
use super::commerce_edge::{seller_shop, Page, PageQuery};
use super::extract::{AppJson, AuthUser};
use crate::app::AppState;
use crate::commerce::domain::{parse_text, Quantity, MAX_QUANTITY};
use crate::commerce::page;
use crate::commerce::store::{MovementRow, StockLevel};
use crate::error::{ApiError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct StockView {
    pub variant_id: String,
    pub sku: String,
    /// Units that can be bought now.
    pub available: i64,
    /// Units held by unpaid orders and live reservations.
    pub reserved: i64,
    /// The ledger's sums; always equal to `available` and `reserved`.
    pub ledger: StockLevel,
}

#[derive(Serialize, ToSchema)]
pub struct MovementView {
    pub id: String,
    /// `restock`, `sale`, `reservation`, `release`, `refund_return` or `adjust`.
    pub kind: String,
    pub available_delta: i64,
    pub reserved_delta: i64,
    pub reason: Option<String>,
    /// The reservation or order it belongs to.
    pub reference: Option<String>,
    pub actor_id: Option<String>,
    pub created_at: i64,
}

impl From<MovementRow> for MovementView {
    fn from(m: MovementRow) -> Self {
        MovementView {
            id: m.id,
            kind: m.kind,
            available_delta: m.available_delta,
            reserved_delta: m.reserved_delta,
            reason: m.reason,
            reference: m.reference,
            actor_id: m.actor_id,
            created_at: m.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RestockRequest {
    /// 1 to 10000 units.
    pub quantity: i64,
    pub reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct AdjustRequest {
    /// Units to add (positive) or remove (negative); never below zero available.
    pub delta: i64,
    /// Why, for the ledger (e.g. "damaged in storage").
    pub reason: String,
}

async fn stock_view(state: &AppState, variant_id: &str, sku: String) -> Result<StockView, ApiError> {
    let level = state.store.stock_level(variant_id).await?.ok_or_else(|| ApiError::not_found("variant_not_found", "no such variant"))?;
    let ledger = state.store.stock_ledger_sums(variant_id).await?;
    Ok(StockView { variant_id: variant_id.to_string(), sku, available: level.available, reserved: level.reserved, ledger })
}

/// A variant's stock counters and the ledger's sums (sellers of the shop).
#[utoipa::path(get, path = "/api/v1/shops/{shop}/variants/{id}/stock", tag = "stock", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "variant id")),
    responses((status = 200, body = StockView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_stock(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>) -> Result<Json<StockView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let variant = shop_variant(&state, &shop, &id).await?;
    Ok(Json(stock_view(&state, &variant.id, variant.sku).await?))
}

/// Add units to stock (sellers of the shop).
#[utoipa::path(post, path = "/api/v1/shops/{shop}/variants/{id}/stock/restock", tag = "stock", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "variant id")), request_body = RestockRequest,
    responses((status = 200, body = StockView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn restock(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>, AppJson(body): AppJson<RestockRequest>) -> Result<Json<StockView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let variant = shop_variant(&state, &shop, &id).await?;
    let quantity = Quantity::parse(body.quantity)?;
    let reason = body.reason.as_deref().map(|r| parse_text(r, "reason", 200, true)).transpose()?;
    state.store.restock(&variant.id, quantity.get(), reason.as_deref(), &caller.user_id).await?;
    Ok(Json(stock_view(&state, &variant.id, variant.sku).await?))
}

/// Correct stock by a signed amount with a reason (sellers of the shop); 409 if it would go below zero.
#[utoipa::path(post, path = "/api/v1/shops/{shop}/variants/{id}/stock/adjust", tag = "stock", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "variant id")), request_body = AdjustRequest,
    responses((status = 200, body = StockView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn adjust(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>, AppJson(body): AppJson<AdjustRequest>) -> Result<Json<StockView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let variant = shop_variant(&state, &shop, &id).await?;
    if body.delta == 0 || body.delta.abs() > MAX_QUANTITY {
        return Err(ApiError::bad_request("invalid_quantity", format!("delta must be non-zero and between -{MAX_QUANTITY} and {MAX_QUANTITY}")));
    }
    let reason = parse_text(&body.reason, "reason", 200, false)?;
    state.store.adjust_stock(&variant.id, body.delta, &reason, &caller.user_id).await?;
    Ok(Json(stock_view(&state, &variant.id, variant.sku).await?))
}

/// A variant's stock ledger, oldest first (sellers of the shop).
#[utoipa::path(get, path = "/api/v1/shops/{shop}/variants/{id}/stock/movements", tag = "stock", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "variant id"), PageQuery),
    responses((status = 200, body = Page<MovementView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_movements(State(state): State<AppState>, caller: AuthUser, Path((shop, id)): Path<(String, String)>, Query(q): Query<PageQuery>) -> Result<Json<Page<MovementView>>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let variant = shop_variant(&state, &shop, &id).await?;
    let (after, limit) = q.parse()?;
    let rows = state.store.stock_movements(&variant.id, after.as_deref(), limit).await?;
    let (rows, next_cursor) = page::split(rows, limit, |m| m.id.clone());
    Ok(Json(Page { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
}
