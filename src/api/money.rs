//! Money after checkout: refunds (full or partial, by amount or returned
//! items, with `Idempotency-Key`) and a shop's wallet (its balance in the
//! double-entry ledger and the postings that made it).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::commerce_edge::{idempotent, seller_shop, Page, PageQuery};
use super::extract::{AppJson, AuthUser};
use super::orders::{order_not_found, order_view, OrderView};
use crate::app::AppState;
use crate::commerce::domain::parse_text;
use crate::commerce::page;
use crate::commerce::payments::{RefundCall, RefundOutcome};
use crate::commerce::store::{RefundDone, RefundRequest, RefundRow, RefundStart, WalletEntryRow};
use crate::error::{ApiError, ErrorBody};

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct RefundItem {
    pub variant_id: String,
    pub quantity: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct CreateRefundRequest {
    /// Minor units to give back. Without it: the returned items' value (less their share of a discount),
    /// or, with no items either, everything not yet refunded.
    pub amount: Option<i64>,
    /// Returned line items.
    #[serde(default)]
    pub items: Vec<RefundItem>,
    /// Put the returned units back in stock (a `refund_return` movement). Default true.
    pub restock: Option<bool>,
    pub reason: Option<String>,
    /// Give it back as store credit (to the customer's wallet) instead of to the card.
    /// Without it the card gets back up to what it paid, the wallet the rest.
    #[serde(default)]
    pub to_wallet: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RefundView {
    pub id: String,
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    pub restocked: bool,
    pub reason: Option<String>,
    pub created_at: i64,
    /// Returned to the card through the payment provider.
    pub card_amount: i64,
    /// Returned to the customer's wallet as store credit.
    pub wallet_amount: i64,
    /// `succeeded` (or `pending` while the provider has not answered).
    pub status: String,
    /// The provider's refund reference.
    pub provider_ref: Option<String>,
}

impl From<RefundRow> for RefundView {
    fn from(r: RefundRow) -> Self {
        RefundView {
            id: r.id,
            order_id: r.order_id,
            amount: r.amount,
            currency: r.currency,
            restocked: r.restocked,
            reason: r.reason,
            created_at: r.created_at,
            card_amount: r.card_amount,
            wallet_amount: r.wallet_amount,
            status: r.status,
            provider_ref: r.provider_ref,
        }
    }
}

/// Claims a refund, has the payment provider give the card part back (no
/// transaction open meanwhile), then lands it; a refused provider refund
/// changes nothing and is a 409 `refund_failed`.
pub(super) async fn refund(state: &AppState, order_id: &str, request: &RefundRequest, actor_id: &str) -> Result<RefundDone, ApiError> {
    let pending = match state.store.begin_refund(order_id, request, actor_id).await? {
        RefundStart::Done(done) => return Ok(done),
        RefundStart::NeedsProvider(pending) => pending,
    };
    let provider = &state.commerce.payments;
    let outcome = if pending.provider == provider.name() {
        provider
            .refund(RefundCall { refund_id: pending.refund_id.clone(), charge_ref: pending.charge_ref.clone(), amount: pending.card_amount, currency: pending.currency.clone() })
            .await
    } else {
        RefundOutcome::Failed { reason: format!("the payment provider {} is not configured on this server", pending.provider) }
    };
    Ok(state.store.finish_refund(&pending.refund_id, &outcome).await?)
}

#[derive(Serialize, ToSchema)]
pub struct RefundResult {
    pub refund: RefundView,
    /// The order after the refund: `refunded` once everything was given back.
    pub order: OrderView,
}

fn parse_refund(body: &CreateRefundRequest) -> Result<RefundRequest, ApiError> {
    if body.amount.is_some_and(|a| a <= 0) {
        return Err(ApiError::bad_request("invalid_amount", "amount must be a positive number of minor units"));
    }
    if body.items.len() > 100 {
        return Err(ApiError::bad_request("too_many_items", "refund at most 100 lines at once"));
    }
    let mut items: Vec<(String, i64)> = Vec::new();
    for item in &body.items {
        if !(1..=100_000).contains(&item.quantity) {
            return Err(ApiError::bad_request("invalid_quantity", "each returned quantity must be 1 to 100000"));
        }
        if items.iter().any(|(v, _)| *v == item.variant_id) {
            return Err(ApiError::bad_request("duplicate_item", "list each variant once"));
        }
        items.push((item.variant_id.clone(), item.quantity));
    }
    let reason = body.reason.as_deref().map(|r| parse_text(r, "reason", 500, true)).transpose()?;
    Ok(RefundRequest { amount: body.amount, items, restock: body.restock.unwrap_or(true), reason, to_wallet: body.to_wallet })
}

/// Refund an order of the shop, fully or partly (an amount, or returned line items). Requires `Idempotency-Key`.
/// Refunds never add up to more than was captured, however many run at once; refunding the rest moves the order to `refunded`.
/// The card part goes back through the payment provider (409 `refund_failed`, and nothing changes, if it refuses);
/// what the wallet paid, or everything with `to_wallet`, goes back to the customer's wallet.
#[utoipa::path(post, path = "/api/v1/shops/{shop}/orders/{id}/refunds", tag = "orders", security(("bearer" = [])), request_body = CreateRefundRequest,
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "order id"), ("Idempotency-Key" = String, Header, description = "unique per refund")),
    responses((status = 201, body = RefundResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_refund(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((shop, id)): Path<(String, String)>,
    headers: HeaderMap,
    AppJson(body): AppJson<CreateRefundRequest>,
) -> Result<Response, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let fingerprint = format!("refund:{id}:{}", serde_json::to_string(&body).map_err(ApiError::internal)?);
    idempotent(&state, &caller, &headers, &fingerprint, || async {
        let request = parse_refund(&body)?;
        let order = state.store.order_by_id(&id).await?.filter(|o| o.shop_id == shop.id).ok_or_else(order_not_found)?;
        let done = refund(&state, &order.id, &request, &caller.user_id).await?;
        let view = RefundResult { refund: done.refund.into(), order: order_view(&state, done.order, true).await? };
        Ok((StatusCode::CREATED, serde_json::to_value(view).map_err(ApiError::internal)?))
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct Balance {
    pub currency: String,
    /// Minor units owed to the shop's sellers (completed orders less fees and later refunds).
    pub balance: i64,
}

#[derive(Serialize, ToSchema)]
pub struct WalletEntryView {
    pub id: String,
    /// Shop wallets: `seller_payout` (an order completed) or `refund` (money returned after completion).
    /// Customer wallets: `store_credit` (issued by an admin), `refund` (store credit from a refund),
    /// `wallet_hold` (set aside for a payment), `wallet_release` (the payment failed).
    pub kind: String,
    pub order_id: Option<String>,
    /// Signed: positive credits the wallet.
    pub amount: i64,
    pub currency: String,
    pub memo: String,
    pub created_at: i64,
}

impl From<WalletEntryRow> for WalletEntryView {
    fn from(e: WalletEntryRow) -> Self {
        WalletEntryView { id: e.id, kind: e.kind, order_id: e.order_id, amount: e.amount, currency: e.currency, memo: e.memo, created_at: e.created_at }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WalletView {
    pub shop_id: String,
    /// One per currency the shop was paid in.
    pub balances: Vec<Balance>,
    /// Recent postings, newest first; `?cursor=` pages on.
    pub entries: Page<WalletEntryView>,
}

/// The shop's wallet: what the platform owes its sellers, with the postings that made it (sellers of the shop).
#[utoipa::path(get, path = "/api/v1/shops/{shop}/wallet", tag = "orders", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), PageQuery),
    responses((status = 200, body = WalletView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn wallet(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>, Query(q): Query<PageQuery>) -> Result<Json<WalletView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let (before, limit) = q.parse()?;
    let balances = state.store.wallet_balances(&shop.id).await?.into_iter().map(|(currency, balance)| Balance { currency, balance }).collect();
    let rows = state.store.wallet_entries(&shop.id, before.as_deref(), limit).await?;
    let (rows, next_cursor) = page::split(rows, limit, |e| e.id.clone());
    Ok(Json(WalletView { shop_id: shop.id, balances, entries: Page { items: rows.into_iter().map(Into::into).collect(), next_cursor } }))
}
