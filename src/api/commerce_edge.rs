//! Shared by the commerce handlers: `CommerceError` → `ApiError`, the
//! `Idempotency-Key` protocol, the cursor query, and shop-scoped access.

use std::future::Future;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::extract::AuthUser;
use super::shops::{find_shop, require_shop_role};
use crate::app::AppState;
use crate::commerce::domain::InvalidValue;
use crate::commerce::order_state::TransitionError;
use crate::commerce::page;
use crate::commerce::store::{CommerceError, IdempotencyClaim, StoredResponse};
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::store::{ShopRole, ShopRow, StoreError};

impl From<CommerceError> for ApiError {
    fn from(err: CommerceError) -> Self {
        match err {
            CommerceError::OutOfStock { sku, available, .. } => {
                ApiError::conflict("out_of_stock", format!("only {available} of {sku} left; lower the quantity or remove it from the cart"))
            }
            CommerceError::CouponExhausted => ApiError::conflict("coupon_exhausted", "this coupon has reached its usage limit; remove it and check out again"),
            CommerceError::CouponAlreadyUsed => ApiError::conflict("coupon_already_used", "you have already used this coupon; remove it and check out again"),
            CommerceError::NotFound(what) => ApiError::not_found(
                match what {
                    "variant" => "variant_not_found",
                    "payment" => "payment_not_found",
                    "order item" => "order_item_not_found",
                    _ => "order_not_found",
                },
                format!("no such {what}"),
            ),
            CommerceError::Transition { current, source: TransitionError::Illegal { verb, .. } } => ApiError::conflict(
                "illegal_transition",
                format!("an order that is {current} cannot be {verb}; its current status is {current}"),
            ),
            CommerceError::Transition { source: TransitionError::NotAllowed { who }, .. } => {
                ApiError::forbidden("transition_not_allowed", format!("only {who} can make this change"))
            }
            CommerceError::PaymentExists => {
                ApiError::conflict("payment_exists", "this order already has a payment in progress or completed; check the order's status")
            }
            CommerceError::RefundExceedsCaptured { refundable } => ApiError::conflict(
                "refund_exceeds_captured",
                format!("at most {refundable} can still be refunded on this order; lower the amount"),
            ),
            CommerceError::ReturnExceedsOrdered { sku, returnable } => {
                ApiError::conflict("return_exceeds_ordered", format!("only {returnable} of {sku} can still be returned on this order"))
            }
            CommerceError::ReservationNotHeld => ApiError::conflict("reservation_not_held", "this reservation has already been released or sold"),
            CommerceError::InsufficientWalletBalance { balance } => ApiError::conflict(
                "insufficient_wallet_balance",
                format!("your wallet holds {balance} in this currency; lower wallet_amount or use use_wallet with a card for the rest"),
            ),
            CommerceError::CardRequired { wallet, total } => ApiError::conflict(
                "card_required",
                format!("your wallet covers {wallet} of the {total} due; send card_number to pay the rest"),
            ),
            CommerceError::WalletAmountAboveTotal { total } => {
                ApiError::unprocessable("wallet_amount_above_total", format!("wallet_amount must be at most the order's total of {total}"))
            }
            CommerceError::ShopSuspended => ApiError::conflict("shop_suspended", "this shop is suspended and cannot take payments or orders"),
            CommerceError::RefundFailed { reason } => ApiError::conflict(
                "refund_failed",
                format!("the payment provider refused the refund ({reason}); nothing was changed: the order, its stock and its refundable amount are as before"),
            ),
            CommerceError::Store(e) => e.into(),
        }
    }
}

impl From<InvalidValue> for ApiError {
    fn from(err: InvalidValue) -> Self {
        ApiError::bad_request(err.code, err.message)
    }
}

/// `?cursor=…&limit=…` on every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Opaque, from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
}

impl PageQuery {
    /// The decoded position (or none for the first page) and the clamped limit.
    pub fn parse(&self) -> Result<(Option<String>, i64), ApiError> {
        let position = match &self.cursor {
            None => None,
            Some(c) if c.is_empty() => None,
            Some(c) => Some(page::decode(c).ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor must be a next_cursor this API returned"))?),
        };
        Ok((position, page::limit(self.limit)))
    }
}

#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The shop by slug, with the caller required to be one of its sellers (or an admin).
pub async fn seller_shop(state: &AppState, caller: &AuthUser, slug: &str) -> Result<ShopRow, ApiError> {
    let shop = find_shop(state, slug).await?;
    require_shop_role(state, caller, &shop.id, ShopRole::Seller).await?;
    Ok(shop)
}

pub async fn is_shop_seller(state: &AppState, caller: &AuthUser, shop_id: &str) -> Result<bool, ApiError> {
    Ok(caller.is_admin || state.store.shop_roles(shop_id, &caller.user_id).await?.contains(&ShopRole::Seller))
}

pub fn unique_conflict(code: &'static str, message: &'static str) -> impl FnOnce(CommerceError) -> ApiError {
    move |e| match e {
        CommerceError::Store(StoreError::UniqueViolation(_)) => ApiError::conflict(code, message),
        other => other.into(),
    }
}

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// How long a retry waits for the first request with its key to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(25);

/// Runs `work` at most once per (user, `Idempotency-Key`). Retries get the
/// stored response (marked `Idempotent-Replayed: true`), also while the first
/// is still running (they wait for it); the same key with another request
/// body is a 422. Client errors are stored like successes; server errors free
/// the key so a retry can run again.
pub async fn idempotent<F, Fut>(state: &AppState, caller: &AuthUser, headers: &HeaderMap, fingerprint: &str, work: F) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| ApiError::bad_request("missing_idempotency_key", "send an Idempotency-Key header (1 to 255 visible characters, e.g. a UUID) so a retry cannot charge twice"))?
        .to_string();
    let hash = hex::encode(Sha256::digest(fingerprint.as_bytes()));
    let store = &state.store;
    let mut claim = store.claim_idempotency_key(&caller.user_id, &key, &hash).await?;
    let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
        match claim {
            IdempotencyClaim::Claimed => break,
            IdempotencyClaim::Replay(stored) => return Ok(replay(stored)),
            IdempotencyClaim::Mismatch => {
                return Err(ApiError::unprocessable("idempotency_key_reused", "this Idempotency-Key was used with a different request; use a new key"))
            }
            IdempotencyClaim::InProgress => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ApiError::conflict("idempotency_key_in_use", "a request with this Idempotency-Key is still running; retry shortly"));
                }
                tokio::time::sleep(POLL_EVERY).await;
                claim = match store.peek_idempotency_key(&caller.user_id, &key, &hash).await? {
                    IdempotencyClaim::Claimed => store.claim_idempotency_key(&caller.user_id, &key, &hash).await?,
                    other => other,
                };
            }
        }
    }
    let (status, body) = match work().await {
        Ok(done) => done,
        Err(err) if err.status_code().is_server_error() => {
            store.abandon_idempotency_key(&caller.user_id, &key).await?;
            return Err(err);
        }
        Err(err) => {
            let body = ErrorBody { error: ErrorDetail { code: err.code().to_string(), message: err.to_string() } };
            (err.status_code(), serde_json::to_value(body).map_err(ApiError::internal)?)
        }
    };
    let stored = StoredResponse { status: status.as_u16(), body: body.to_string() };
    store.complete_idempotency_key(&caller.user_id, &key, &stored).await?;
    Ok(json_response(status, stored.body, false))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, stored.body, true)
}

fn json_response(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
