//! A customer's wallet (store credit): `GET /api/v1/wallet` shows its
//! balance per currency and its movements; admins issue credit with
//! `POST /api/v1/admin/users/{id}/wallet/credits`. Refunds can credit it
//! (`to_wallet`, or what the wallet paid) and `pay` / `checkout` spend it
//! (`use_wallet`, `wallet_amount`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::commerce_edge::{idempotent, Page, PageQuery};
use super::extract::{AppJson, AuthUser};
use super::money::{Balance, WalletEntryView};
use crate::app::AppState;
use crate::commerce::domain::parse_text;
use crate::commerce::page;
use crate::error::{ApiError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct CustomerWalletView {
    pub user_id: String,
    /// Spendable store credit per currency (money held for a payment in progress is not in it).
    pub balances: Vec<Balance>,
    /// Movements, newest first; `?cursor=` pages on.
    pub entries: Page<WalletEntryView>,
}

/// Your wallet: store credit you can spend at checkout, and its movements.
#[utoipa::path(get, path = "/api/v1/wallet", tag = "orders", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = CustomerWalletView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn my_wallet(State(state): State<AppState>, caller: AuthUser, Query(q): Query<PageQuery>) -> Result<Json<CustomerWalletView>, ApiError> {
    let (before, limit) = q.parse()?;
    Ok(Json(wallet_view(&state, &caller.user_id, before.as_deref(), limit).await?))
}

async fn wallet_view(state: &AppState, user_id: &str, before: Option<&str>, limit: i64) -> Result<CustomerWalletView, ApiError> {
    let balances = state.store.customer_wallet_balances(user_id).await?.into_iter().map(|(currency, balance)| Balance { currency, balance }).collect();
    let rows = state.store.customer_wallet_entries(user_id, before, limit).await?;
    let (rows, next_cursor) = page::split(rows, limit, |e| e.id.clone());
    Ok(CustomerWalletView { user_id: user_id.to_string(), balances, entries: Page { items: rows.into_iter().map(Into::into).collect(), next_cursor } })
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct StoreCreditRequest {
    /// Minor units, 1 to 100000000.
    pub amount: i64,
    /// ISO 4217, e.g. USD.
    pub currency: String,
    /// Shown to the customer in the wallet's movements.
    pub reason: String,
}

/// Issue store credit to a customer's wallet (admins). Requires `Idempotency-Key`: a retry credits once.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/wallet/credits", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "user id"), ("Idempotency-Key" = String, Header, description = "unique per credit")), request_body = StoreCreditRequest,
    responses((status = 201, body = CustomerWalletView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn issue_store_credit(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<StoreCreditRequest>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let fingerprint = format!("store-credit:{id}:{}", serde_json::to_string(&body).map_err(ApiError::internal)?);
    idempotent(&state, &caller, &headers, &fingerprint, || async {
        if !(1..=100_000_000).contains(&body.amount) {
            return Err(ApiError::bad_request("invalid_amount", "amount must be 1 to 100000000 minor units"));
        }
        if body.currency.len() != 3 || !body.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ApiError::bad_request("invalid_currency", "currency must be an ISO 4217 code such as USD"));
        }
        let reason = parse_text(&body.reason, "reason", 200, false)?;
        state.store.user_by_id(&id).await?.ok_or_else(|| ApiError::not_found("user_not_found", "no account has this id"))?;
        state.store.issue_store_credit(&id, body.amount, &body.currency, &format!("store credit: {reason}")).await?;
        let view = wallet_view(&state, &id, None, page::limit(None)).await?;
        Ok((StatusCode::CREATED, serde_json::to_value(view).map_err(ApiError::internal)?))
    })
    .await
}
