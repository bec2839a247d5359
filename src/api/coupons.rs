//! Coupons: sellers create them for their shop, admins platform-wide.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cart::normalize_code;
use super::commerce_edge::seller_shop;
use super::extract::{AppJson, AuthUser};
use crate::app::AppState;
use crate::commerce::domain::MinorUnits;
use crate::commerce::pricing::CouponKind;
use crate::commerce::store::{CouponRow, NewCoupon};
use crate::error::{ApiError, ErrorBody};
use crate::store::StoreError;

#[derive(Deserialize, ToSchema)]
pub struct CreateCouponRequest {
    /// 3 to 32 of A-Z, 0-9, '-' and '_' (case-insensitive).
    pub code: String,
    /// `percent` or `fixed`.
    pub kind: String,
    /// Percent (1 to 100) or minor units off.
    pub amount: i64,
    /// Fixed coupons: the currency of `amount` (defaults to the shop's).
    pub currency: Option<String>,
    /// Minimum subtotal (minor units) of the shop's part of the cart.
    #[serde(default)]
    pub min_spend: i64,
    /// Unix milliseconds.
    pub expires_at: Option<i64>,
    /// Total uses across all customers.
    pub usage_limit: Option<i64>,
    #[serde(default)]
    pub once_per_customer: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CouponView {
    pub id: String,
    pub code: String,
    /// Absent: platform-wide.
    pub shop_id: Option<String>,
    pub kind: String,
    pub amount: i64,
    pub currency: Option<String>,
    pub min_spend: i64,
    pub expires_at: Option<i64>,
    pub usage_limit: Option<i64>,
    pub used_count: i64,
    pub once_per_customer: bool,
}

impl From<CouponRow> for CouponView {
    fn from(c: CouponRow) -> Self {
        CouponView {
            id: c.id,
            code: c.code,
            shop_id: c.shop_id,
            kind: c.kind.as_str().into(),
            amount: c.amount,
            currency: c.currency,
            min_spend: c.min_spend,
            expires_at: c.expires_at,
            usage_limit: c.usage_limit,
            used_count: c.used_count,
            once_per_customer: c.once_per_customer,
        }
    }
}

fn parse_coupon(body: CreateCouponRequest, shop_id: Option<String>, default_currency: Option<&str>) -> Result<NewCoupon, ApiError> {
    let code = normalize_code(&body.code);
    if !(3..=32).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ApiError::bad_request("invalid_code", "code must be 3 to 32 of A-Z, 0-9, '-' or '_'"));
    }
    let kind = CouponKind::parse(&body.kind).ok_or_else(|| ApiError::bad_request("invalid_kind", "kind must be percent or fixed"))?;
    let amount = MinorUnits::parse(body.amount, "amount")?.get();
    if amount == 0 || (kind == CouponKind::Percent && amount > 100) {
        return Err(ApiError::bad_request("invalid_amount", "amount must be 1 to 100 for percent coupons and positive for fixed ones"));
    }
    let currency = match kind {
        CouponKind::Percent => None,
        CouponKind::Fixed => {
            let c = body.currency.or(default_currency.map(str::to_string)).ok_or_else(|| ApiError::bad_request("invalid_currency", "fixed platform coupons need a currency"))?;
            if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
                return Err(ApiError::bad_request("invalid_currency", "currency must be an ISO 4217 code such as USD"));
            }
            Some(c)
        }
    };
    if body.usage_limit.is_some_and(|l| l < 1) {
        return Err(ApiError::bad_request("invalid_usage_limit", "usage_limit must be at least 1"));
    }
    Ok(NewCoupon {
        code,
        shop_id,
        kind,
        amount,
        currency,
        min_spend: MinorUnits::parse(body.min_spend, "min_spend")?.get(),
        expires_at: body.expires_at,
        usage_limit: body.usage_limit,
        once_per_customer: body.once_per_customer,
    })
}

async fn create(state: &AppState, coupon: NewCoupon) -> Result<(StatusCode, Json<CouponView>), ApiError> {
    let row = state.store.create_coupon(coupon).await.map_err(|e| match e {
        StoreError::UniqueViolation(_) => ApiError::conflict("coupon_code_taken", "another coupon uses this code"),
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Create a coupon for one shop (sellers of the shop).
#[utoipa::path(post, path = "/api/v1/shops/{shop}/coupons", tag = "cart", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug")), request_body = CreateCouponRequest,
    responses((status = 201, body = CouponView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_shop_coupon(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>, AppJson(body): AppJson<CreateCouponRequest>) -> Result<(StatusCode, Json<CouponView>), ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let coupon = parse_coupon(body, Some(shop.id.clone()), Some(&shop.currency))?;
    create(&state, coupon).await
}

/// Create a platform-wide coupon (admins).
#[utoipa::path(post, path = "/api/v1/coupons", tag = "cart", security(("bearer" = [])), request_body = CreateCouponRequest,
    responses((status = 201, body = CouponView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_platform_coupon(State(state): State<AppState>, caller: AuthUser, AppJson(body): AppJson<CreateCouponRequest>) -> Result<(StatusCode, Json<CouponView>), ApiError> {
    caller.require_admin()?;
    let coupon = parse_coupon(body, None, None)?;
    create(&state, coupon).await
}
