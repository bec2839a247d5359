//! `/api/v1/cart`: the caller's persisted cart (lines from any shops), its
//! coupon, and priced totals per shop (subtotal, discount, tax placeholder,
//! shipping quote, total).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{AppJson, AuthUser};
use crate::app::AppState;
use crate::commerce::checkout::{plan, unavailable, PlannedGroup};
use crate::commerce::domain::Quantity;
use crate::commerce::pricing::{CouponRejection, CouponTerms};
use crate::commerce::store::CouponRow;
use crate::error::{ApiError, ErrorBody};
use crate::store::now_ms;

#[derive(Serialize, ToSchema)]
pub struct CartItemView {
    pub variant_id: String,
    pub product_id: String,
    pub title: String,
    pub sku: String,
    pub options: serde_json::Value,
    pub unit_price: i64,
    pub quantity: i64,
    pub line_total: i64,
    /// Units in stock now (checkout reserves them; this is a hint).
    pub available: i64,
    /// False when the product was unpublished or the shop suspended.
    pub purchasable: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CartGroupView {
    pub shop_id: String,
    pub shop_slug: String,
    pub currency: String,
    pub items: Vec<CartItemView>,
    pub subtotal: i64,
    pub discount: i64,
    /// Placeholder: prices are tax-inclusive for now.
    pub tax: i64,
    /// Quote from the shop's rate card (its zone for `ship_to_country` × the parcel's weight band, free from its
    /// threshold); shops without a card charge a flat first kilogram plus each extra kilogram, free from 100.00.
    pub shipping: i64,
    pub total: i64,
    /// Why this shop cannot ship here (checkout is refused until it is resolved).
    pub shipping_problem: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CartCouponView {
    pub code: String,
    /// Whether it applies to this cart as it is.
    pub applies: bool,
    /// Why not, when it does not.
    pub problem: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CartView {
    /// One group per shop; checkout makes one order per group.
    pub groups: Vec<CartGroupView>,
    pub coupon: Option<CartCouponView>,
    pub item_count: i64,
    /// Set with `PUT /api/v1/cart/shipping`.
    pub ship_to_country: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct SetQuantityRequest {
    /// 1 to 10000.
    pub quantity: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct ApplyCouponRequest {
    pub code: String,
}

pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Why a coupon cannot be used by this user right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponProblem {
    Unknown,
    Exhausted,
    AlreadyUsed,
}

impl CouponProblem {
    pub fn message(self) -> &'static str {
        match self {
            CouponProblem::Unknown => "no coupon has this code",
            CouponProblem::Exhausted => "this coupon has reached its usage limit",
            CouponProblem::AlreadyUsed => "you have already used this coupon",
        }
    }

    pub fn into_error(self) -> ApiError {
        match self {
            CouponProblem::Unknown => ApiError::not_found("coupon_not_found", "no coupon has this code; remove it from the cart"),
            CouponProblem::Exhausted => ApiError::conflict("coupon_exhausted", "this coupon has reached its usage limit; remove it and check out again"),
            CouponProblem::AlreadyUsed => ApiError::conflict("coupon_already_used", "you have already used this coupon; remove it and check out again"),
        }
    }
}

/// The coupon with this code, if this user may still use it.
pub async fn coupon_for(state: &AppState, user_id: &str, code: &str) -> Result<Result<CouponRow, CouponProblem>, ApiError> {
    let Some(coupon) = state.store.coupon_by_code(code).await? else {
        return Ok(Err(CouponProblem::Unknown));
    };
    if coupon.usage_limit.is_some_and(|limit| coupon.used_count >= limit) {
        return Ok(Err(CouponProblem::Exhausted));
    }
    if coupon.once_per_customer && state.store.coupon_used_by(&coupon.id, user_id).await? {
        return Ok(Err(CouponProblem::AlreadyUsed));
    }
    Ok(Ok(coupon))
}

fn group_view(g: PlannedGroup) -> CartGroupView {
    CartGroupView {
        items: g
            .lines
            .into_iter()
            .map(|l| CartItemView {
                purchasable: !unavailable(&l),
                options: serde_json::from_str(&l.options).unwrap_or(serde_json::Value::Null),
                line_total: l.unit_price.saturating_mul(l.quantity),
                variant_id: l.variant_id,
                product_id: l.product_id,
                title: l.product_title,
                sku: l.sku,
                unit_price: l.unit_price,
                quantity: l.quantity,
                available: l.available,
            })
            .collect(),
        shop_id: g.shop_id,
        shop_slug: g.shop_slug,
        currency: g.currency,
        subtotal: g.totals.subtotal,
        discount: g.totals.discount,
        tax: g.totals.tax,
        shipping: g.totals.shipping,
        total: g.totals.total,
        shipping_problem: g.shipping_problem.map(|p| p.to_string()),
    }
}

pub async fn cart_view(state: &AppState, user_id: &str) -> Result<CartView, ApiError> {
    let lines = state.store.cart_lines(user_id).await?;
    let code = state.store.cart_coupon(user_id).await?;
    let (terms, mut problem): (Option<CouponTerms>, Option<String>) = match &code {
        Some(code) => match coupon_for(state, user_id, code).await? {
            Ok(coupon) => (Some(coupon.terms()), None),
            Err(problem) => (None, Some(problem.message().to_string())),
        },
        None => (None, None),
    };
    let shipping = super::shipping::shipping_terms(state, user_id, &lines).await?;
    let (groups, rejection) = plan(&lines, terms.as_ref(), now_ms(), &shipping);
    if let Some(r) = rejection {
        problem = Some(r.to_string());
    }
    Ok(CartView {
        item_count: lines.iter().map(|l| l.quantity).sum(),
        coupon: code.map(|code| CartCouponView { code, applies: problem.is_none(), problem }),
        groups: groups.into_iter().map(group_view).collect(),
        ship_to_country: shipping.country,
    })
}

/// The caller's cart, priced per shop.
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart", security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 401, body = ErrorBody)))]
pub async fn get_cart(State(state): State<AppState>, caller: AuthUser) -> Result<Json<CartView>, ApiError> {
    Ok(Json(cart_view(&state, &caller.user_id).await?))
}

/// Put a variant in the cart with this quantity (replacing any earlier quantity).
#[utoipa::path(put, path = "/api/v1/cart/items/{variant_id}", tag = "cart", security(("bearer" = [])),
    params(("variant_id" = String, Path, description = "variant id")), request_body = SetQuantityRequest,
    responses((status = 200, body = CartView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_item(State(state): State<AppState>, caller: AuthUser, Path(variant_id): Path<String>, AppJson(body): AppJson<SetQuantityRequest>) -> Result<Json<CartView>, ApiError> {
    let quantity = Quantity::parse(body.quantity)?;
    let not_found = || ApiError::not_found("variant_not_found", "no variant of a published product has this id");
    let variant = state.store.variant_by_id(&variant_id).await?.ok_or_else(not_found)?;
    let product = state.store.product_by_id(&variant.product_id).await?.ok_or_else(not_found)?;
    if !product.is_published() {
        return Err(not_found());
    }
    state.store.set_cart_item(&caller.user_id, &variant.id, quantity.get()).await?;
    Ok(Json(cart_view(&state, &caller.user_id).await?))
}

/// Remove a variant from the cart.
#[utoipa::path(delete, path = "/api/v1/cart/items/{variant_id}", tag = "cart", security(("bearer" = [])),
    params(("variant_id" = String, Path, description = "variant id")),
    responses((status = 200, body = CartView), (status = 404, body = ErrorBody)))]
pub async fn remove_item(State(state): State<AppState>, caller: AuthUser, Path(variant_id): Path<String>) -> Result<Json<CartView>, ApiError> {
    if !state.store.remove_cart_item(&caller.user_id, &variant_id).await? {
        return Err(ApiError::not_found("cart_item_not_found", "this variant is not in your cart"));
    }
    Ok(Json(cart_view(&state, &caller.user_id).await?))
}

/// Attach a coupon to the cart; it is spent at checkout.
#[utoipa::path(put, path = "/api/v1/cart/coupon", tag = "cart", security(("bearer" = [])), request_body = ApplyCouponRequest,
    responses((status = 200, body = CartView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply_coupon(State(state): State<AppState>, caller: AuthUser, AppJson(body): AppJson<ApplyCouponRequest>) -> Result<(StatusCode, Json<CartView>), ApiError> {
    let code = normalize_code(&body.code);
    coupon_for(&state, &caller.user_id, &code).await?.map_err(CouponProblem::into_error)?;
    state.store.set_cart_coupon(&caller.user_id, Some(&code)).await?;
    Ok((StatusCode::OK, Json(cart_view(&state, &caller.user_id).await?)))
}

/// Detach the cart's coupon.
#[utoipa::path(delete, path = "/api/v1/cart/coupon", tag = "cart", security(("bearer" = [])),
    responses((status = 200, body = CartView)))]
pub async fn remove_coupon(State(state): State<AppState>, caller: AuthUser) -> Result<Json<CartView>, ApiError> {
    state.store.set_cart_coupon(&caller.user_id, None).await?;
    Ok(Json(cart_view(&state, &caller.user_id).await?))
}

/// The message for a coupon that cannot be spent on this cart.
pub fn rejection_error(r: CouponRejection) -> ApiError {
    let code = match r {
        CouponRejection::Expired => "coupon_expired",
        CouponRejection::NotApplicable => "coupon_not_applicable",
        CouponRejection::BelowMinimum { .. } => "coupon_minimum_not_reached",
    };
    ApiError::conflict(code, format!("{r}; remove the coupon or change the cart"))
}
