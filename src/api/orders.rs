//! Checkout and orders: `POST /api/v1/checkout` (with `Idempotency-Key`)
//! turns the cart into one order per shop, holding stock; payment by the
//! provider; customers read and cancel their orders; sellers list their
//! shop's orders and move them through fulfilment, delivery and refunds.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cart::{coupon_for, rejection_error, CouponProblem};
use super::commerce_edge::{idempotent, is_shop_seller, seller_shop, Page};
use super::extract::{AppJson, AuthUser};
use crate::app::AppState;
use crate::commerce::checkout::{drafts, plan, PlanError};
use crate::commerce::domain::parse_text;
use crate::commerce::order_state::{Actor, OrderEvent, OrderStatus};
use crate::commerce::page;
use crate::commerce::shipping::{Carrier, ManualCarrier, NoRate};
use crate::commerce::payments::{ChargeOutcome, ChargeRequest};
use crate::commerce::store::{OrderItemRow, OrderRow, PaymentRow, RefundRequest, WalletUse};
use crate::error::{ApiError, ErrorBody};
use crate::store::now_ms;

#[derive(Serialize, Deserialize, ToSchema, Clone, Default)]
pub struct PaymentMethod {
    /// Test mode: 4242424242424242 succeeds, 4000000000000002 declines,
    /// 4000000000009995 declines (insufficient funds), 4000000000003220 waits for a webhook,
    /// 4000000000005126 succeeds but its refunds fail.
    /// Optional when the wallet pays the whole total.
    pub card_number: Option<String>,
    /// Spend the wallet's balance (store credit) first, as much as the total; the card pays the rest.
    #[serde(default)]
    pub use_wallet: bool,
    /// Spend exactly this much of the wallet (minor units, at most the total); the card pays the rest.
    pub wallet_amount: Option<i64>,
}

/// A parsed [`PaymentMethod`].
struct Payment {
    card: Option<String>,
    wallet: WalletUse,
}

fn parse_payment(method: &PaymentMethod) -> Result<Payment, ApiError> {
    let card = method.card_number.as_deref().map(parse_card).transpose()?;
    let wallet = match (method.use_wallet, method.wallet_amount) {
        (_, Some(n)) if n <= 0 => return Err(ApiError::bad_request("invalid_wallet_amount", "wallet_amount must be a positive number of minor units")),
        (_, Some(n)) => WalletUse::Exact(n),
        (true, None) => WalletUse::Max,
        (false, None) => WalletUse::None,
    };
    if card.is_none() && wallet == WalletUse::None {
        return Err(ApiError::bad_request("payment_method_required", "send card_number, use_wallet: true or wallet_amount"));
    }
    Ok(Payment { card, wallet })
}

#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct CheckoutRequest {
    /// Pay right away; without it the orders wait in `pending_payment` for `POST /api/v1/orders/{id}/pay`.
    pub payment: Option<PaymentMethod>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderItemView {
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price: i64,
    pub quantity: i64,
    /// Units refunded as returned.
    pub returned_quantity: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub provider: String,
    pub amount: i64,
    pub currency: String,
    /// `processing`, `pending` (awaiting webhook), `succeeded`, `failed` or `refunded`.
    pub status: String,
    pub failure: Option<String>,
    pub created_at: i64,
    /// The part of `amount` paid from the wallet.
    pub wallet_amount: i64,
    /// The part of `amount` charged to the card.
    pub card_amount: i64,
    /// The card part refunded through the provider so far.
    pub card_refunded: i64,
}

impl From<PaymentRow> for PaymentView {
    fn from(p: PaymentRow) -> Self {
        let card_amount = p.card_amount();
        PaymentView {
            id: p.id,
            provider: p.provider,
            amount: p.amount,
            currency: p.currency,
            status: p.status,
            failure: p.failure,
            created_at: p.created_at,
            wallet_amount: p.wallet_amount,
            card_amount,
            card_refunded: p.refunded_amount,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderEventView {
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub checkout_id: String,
    pub shop_id: String,
    pub status: OrderStatus,
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
    /// Refunded so far (partial refunds add up; a full refund equals `total`).
    pub refunded_amount: i64,
    pub coupon_code: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// Destination country (ISO 3166-1 alpha-2) chosen in the cart.
    pub ship_to_country: Option<String>,
    /// When an unpaid order is cancelled and its stock released.
    pub expires_at: Option<i64>,
    pub items: Vec<OrderItemView>,
    pub payments: Vec<PaymentView>,
    /// Status history, oldest first (on single-order reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<OrderEventView>>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CheckoutView {
    pub checkout_id: String,
    /// One per shop in the cart.
    pub orders: Vec<OrderView>,
    /// Orders the payment could not be started for (they wait in `pending_payment`), with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub payment_errors: Vec<PaymentErrorView>,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentErrorView {
    pub order_id: String,
    /// A stable error code such as `card_required` or `insufficient_wallet_balance`.
    pub code: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct PayView {
    pub order: OrderView,
    pub payment: PaymentView,
}

async fn order_views(state: &AppState, orders: Vec<OrderRow>) -> Result<Vec<OrderView>, ApiError> {
    let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
    let mut items: HashMap<String, Vec<OrderItemRow>> = HashMap::new();
    for item in state.store.order_items(&ids).await? {
        items.entry(item.order_id.clone()).or_default().push(item);
    }
    let mut payments: HashMap<String, Vec<PaymentRow>> = HashMap::new();
    for p in state.store.payments_of_orders(&ids).await? {
        payments.entry(p.order_id.clone()).or_default().push(p);
    }
    Ok(orders
        .into_iter()
        .map(|o| OrderView {
            items: items
                .remove(&o.id)
                .unwrap_or_default()
                .into_iter()
                .map(|i| OrderItemView { variant_id: i.variant_id, sku: i.sku, title: i.title, unit_price: i.unit_price, quantity: i.quantity, returned_quantity: i.returned_quantity })
                .collect(),
            payments: payments.remove(&o.id).unwrap_or_default().into_iter().map(Into::into).collect(),
            history: None,
            id: o.id,
            checkout_id: o.checkout_id,
            shop_id: o.shop_id,
            status: o.status,
            currency: o.currency,
            subtotal: o.totals.subtotal,
            discount: o.totals.discount,
            tax: o.totals.tax,
            shipping: o.totals.shipping,
            total: o.totals.total,
            refunded_amount: o.refunded_amount,
            coupon_code: o.coupon_code,
            carrier: o.carrier,
            tracking_number: o.tracking_number,
            ship_to_country: o.ship_to_country,
            expires_at: o.expires_at,
            created_at: o.created_at,
            updated_at: o.updated_at,
        })
        .collect())
}

pub(super) async fn order_view(state: &AppState, order: OrderRow, with_history: bool) -> Result<OrderView, ApiError> {
    let id = order.id.clone();
    let mut view = order_views(state, vec![order]).await?.pop().ok_or_else(|| ApiError::internal(anyhow::anyhow!("order view lost")))?;
    if with_history {
        let events = state.store.order_events(&id).await?;
        view.history = Some(events.into_iter().map(|e| OrderEventView { from_status: e.from_status, to_status: e.to_status, note: e.note, created_at: e.created_at }).collect());
    }
    Ok(view)
}

pub(super) fn order_not_found() -> ApiError {
    ApiError::not_found("order_not_found", "no order with this id that you can see")
}

/// Charges the order once: a second concurrent payer gets `payment_exists`.
/// The wallet part is held first; the provider is asked only for the card part.
async fn pay(state: &AppState, order_id: &str, method: &Payment, wallet: WalletUse) -> Result<PaymentRow, ApiError> {
    let provider = &state.commerce.payments;
    let payment = state.store.begin_payment(order_id, provider.name(), wallet, method.card.is_some()).await?;
    let outcome = match &method.card {
        Some(card) if payment.card_amount() > 0 => {
            provider
                .charge(ChargeRequest { payment_id: payment.id.clone(), amount: payment.card_amount(), currency: payment.currency.clone(), card_number: card.clone() })
                .await
        }
        _ => ChargeOutcome::Succeeded { provider_ref: format!("wallet_{}", payment.id) },
    };
    settle_and_return_late_charge(state, &payment.id, &outcome).await
}

/// Settles a payment; a card charge that landed after its order ended is given
/// back at once (the sweeper asks again if the provider refuses now).
pub(crate) async fn settle_and_return_late_charge(state: &AppState, payment_id: &str, outcome: &ChargeOutcome) -> Result<PaymentRow, ApiError> {
    let payment = state.store.settle_payment(payment_id, outcome).await?;
    if payment.status == "refunded" && payment.refunded_amount < payment.card_amount() {
        if let Err(e) = crate::commerce::return_late_charges(&state.store, state.commerce.payments.as_ref(), Some(payment_id)).await {
            tracing::warn!(error = %e, payment_id, "returning a late charge failed; the sweeper will retry");
        }
        return Ok(state.store.payment_by_id(payment_id).await?.unwrap_or(payment));
    }
    Ok(payment)
}

fn parse_card(card: &str) -> Result<String, ApiError> {
    let digits: String = card.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if (12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(ApiError::bad_request("invalid_card_number", "card_number must be 12 to 19 digits"))
    }
}

async fn place(state: &AppState, caller: &AuthUser, body: CheckoutRequest) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let method = body.payment.as_ref().map(parse_payment).transpose()?;
    let lines = state.store.cart_lines(&caller.user_id).await?;
    let coupon = match state.store.cart_coupon(&caller.user_id).await? {
        Some(code) => Some(coupon_for(state, &caller.user_id, &code).await?.map_err(CouponProblem::into_error)?),
        None => None,
    };
    let terms = coupon.as_ref().map(|c| c.terms());
    let now = now_ms();
    let shipping = super::shipping::shipping_terms(state, &caller.user_id, &lines).await?;
    let (groups, rejection) = plan(&lines, terms.as_ref(), now, &shipping);
    if let Some(r) = rejection {
        return Err(rejection_error(r));
    }
    let drafts = drafts(&groups).map_err(|e| match e {
        PlanError::EmptyCart => ApiError::conflict("cart_empty", "the cart is empty; add items before checking out"),
        PlanError::Unavailable { .. } => ApiError::conflict("item_unavailable", e.to_string()),
        PlanError::ShopSuspended { .. } => ApiError::conflict("shop_suspended", e.to_string()),
        PlanError::NoShipping { reason: NoRate::CountryNeeded, .. } => {
            ApiError::conflict("shipping_country_required", format!("{e}: PUT /api/v1/cart/shipping with a country"))
        }
        PlanError::NoShipping { .. } => ApiError::conflict("no_shipping_rate", format!("{e}; choose another country or remove those items")),
    })?;
    let expires_at = now + state.commerce.unpaid_order_ttl_ms;
    let placed = state.store.place_checkout(&caller.user_id, &drafts, coupon.as_ref(), shipping.country.as_deref(), expires_at).await?;
    let mut payment_errors = Vec::new();
    if let Some(method) = method {
        // An exact wallet amount is spread over the orders in turn.
        let mut wallet_left = match method.wallet {
            WalletUse::Exact(n) => n,
            _ => 0,
        };
        for order in state.store.orders_of_checkout(&placed.checkout_id).await? {
            let wallet = match method.wallet {
                WalletUse::Exact(_) if wallet_left == 0 => WalletUse::None,
                WalletUse::Exact(_) => WalletUse::Exact(wallet_left.min(order.totals.total)),
                other => other,
            };
            if wallet == WalletUse::None && method.card.is_none() {
                payment_errors.push(PaymentErrorView { order_id: order.id.clone(), code: "card_required".into(), message: "the wallet amount is spent; pay this order with a card".into() });
                continue;
            }
            match pay(state, &order.id, &method, wallet).await {
                Ok(payment) => wallet_left -= payment.wallet_amount.min(wallet_left),
                // The order waits in pending_payment; say why.
                Err(err) if err.status_code().is_client_error() => {
                    payment_errors.push(PaymentErrorView { order_id: order.id.clone(), code: err.code().to_string(), message: err.to_string() })
                }
                Err(err) => return Err(err),
            }
        }
    }
    let orders = state.store.orders_of_checkout(&placed.checkout_id).await?;
    let view = CheckoutView { checkout_id: placed.checkout_id, orders: order_views(state, orders).await?, payment_errors };
    Ok((StatusCode::CREATED, serde_json::to_value(view).map_err(ApiError::internal)?))
}

/// Turn the cart into one order per shop, holding the stock, and optionally pay.
/// Requires `Idempotency-Key`: a retry with the same key gets the same response and never a second order or charge.
#[utoipa::path(post, path = "/api/v1/checkout", tag = "orders", security(("bearer" = [])), request_body = CheckoutRequest,
    params(("Idempotency-Key" = String, Header, description = "unique per checkout attempt, e.g. a UUID")),
    responses((status = 201, body = CheckoutView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn checkout(State(state): State<AppState>, caller: AuthUser, headers: HeaderMap, AppJson(body): AppJson<CheckoutRequest>) -> Result<Response, ApiError> {
    let fingerprint = format!("checkout:{}", serde_json::to_string(&body).map_err(ApiError::internal)?);
    idempotent(&state, &caller, &headers, &fingerprint, || place(&state, &caller, body)).await
}

/// Pay an order of yours that is waiting for payment. Requires `Idempotency-Key`.
/// A declined card leaves the order payable (try another card); a pending payment is settled by the provider's webhook.
/// `use_wallet` / `wallet_amount` spend store credit first (held at once, given back if the card fails); the card pays the rest.
#[utoipa::path(post, path = "/api/v1/orders/{id}/pay", tag = "orders", security(("bearer" = [])), request_body = PaymentMethod,
    params(("id" = String, Path, description = "order id"), ("Idempotency-Key" = String, Header, description = "unique per payment attempt")),
    responses((status = 200, body = PayView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn pay_order(State(state): State<AppState>, caller: AuthUser, Path(id): Path<String>, headers: HeaderMap, AppJson(body): AppJson<PaymentMethod>) -> Result<Response, ApiError> {
    let fingerprint = format!("pay:{id}:{}", serde_json::to_string(&body).map_err(ApiError::internal)?);
    idempotent(&state, &caller, &headers, &fingerprint, || async {
        let method = parse_payment(&body)?;
        let order = state.store.order_by_id(&id).await?.filter(|o| o.user_id == caller.user_id).ok_or_else(order_not_found)?;
        let payment = pay(&state, &order.id, &method, method.wallet).await?;
        let order = state.store.order_by_id(&id).await?.ok_or_else(order_not_found)?;
        let view = PayView { order: order_view(&state, order, false).await?, payment: payment.into() };
        Ok((StatusCode::OK, serde_json::to_value(view).map_err(ApiError::internal)?))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl OrderListQuery {
    fn parse(&self) -> Result<(Option<OrderStatus>, Option<String>, i64), ApiError> {
        let status = match self.status.as_deref() {
            None | Some("") => None,
            Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| ApiError::bad_request("invalid_status", "status must be an order status such as paid"))?),
        };
        let (before, limit) = super::commerce_edge::PageQuery { cursor: self.cursor.clone(), limit: self.limit }.parse()?;
        Ok((status, before, limit))
    }
}

/// Your orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])), params(OrderListQuery),
    responses((status = 200, body = Page<OrderView>), (status = 400, body = ErrorBody)))]
pub async fn my_orders(State(state): State<AppState>, caller: AuthUser, Query(q): Query<OrderListQuery>) -> Result<Json<Page<OrderView>>, ApiError> {
    let (status, before, limit) = q.parse()?;
    let rows = state.store.list_orders(Some(&caller.user_id), None, status, before.as_deref(), limit).await?;
    let (rows, next_cursor) = page::split(rows, limit, |o| o.id.clone());
    Ok(Json(Page { items: order_views(&state, rows).await?, next_cursor }))
}

/// One order with its history: for the customer who placed it and the sellers of its shop.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)))]
pub async fn get_order(State(state): State<AppState>, caller: AuthUser, Path(id): Path<String>) -> Result<Json<OrderView>, ApiError> {
    let order = state.store.order_by_id(&id).await?.ok_or_else(order_not_found)?;
    if order.user_id != caller.user_id && !is_shop_seller(&state, &caller, &order.shop_id).await? {
        return Err(order_not_found());
    }
    Ok(Json(order_view(&state, order, true).await?))
}

/// Cancel your unpaid order; its stock is released.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])), params(("id" = String, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_order(State(state): State<AppState>, caller: AuthUser, Path(id): Path<String>) -> Result<Json<OrderView>, ApiError> {
    let order = state.store.order_by_id(&id).await?.filter(|o| o.user_id == caller.user_id).ok_or_else(order_not_found)?;
    let order = state.store.transition_order(&order.id, OrderEvent::Cancel, Actor::Customer, Some(&caller.user_id), None).await?;
    Ok(Json(order_view(&state, order, true).await?))
}

/// A shop's orders, newest first (sellers of the shop).
#[utoipa::path(get, path = "/api/v1/shops/{shop}/orders", tag = "orders", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), OrderListQuery),
    responses((status = 200, body = Page<OrderView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn shop_orders(State(state): State<AppState>, caller: AuthUser, Path(shop): Path<String>, Query(q): Query<OrderListQuery>) -> Result<Json<Page<OrderView>>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let (status, before, limit) = q.parse()?;
    let rows = state.store.list_orders(None, Some(&shop.id), status, before.as_deref(), limit).await?;
    let (rows, next_cursor) = page::split(rows, limit, |o| o.id.clone());
    Ok(Json(Page { items: order_views(&state, rows).await?, next_cursor }))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateOrderStatusRequest {
    /// `fulfilling`, `shipped`, `delivered`, `completed`, `refunded` or `cancelled`.
    pub status: String,
    /// With `shipped`: the carrier (default `manual`).
    pub carrier: Option<String>,
    /// With `shipped`: required.
    pub tracking_number: Option<String>,
    /// With `refunded`: put the units back in stock.
    #[serde(default)]
    pub restock: bool,
    pub note: Option<String>,
}

/// Move an order of the shop along: fulfilment, shipping (with tracking), delivery, completion, refund, cancellation.
/// An illegal move (e.g. shipping an unpaid order) is a 409 naming the current status.
#[utoipa::path(post, path = "/api/v1/shops/{shop}/orders/{id}/status", tag = "orders", security(("bearer" = [])),
    params(("shop" = String, Path, description = "shop slug"), ("id" = String, Path, description = "order id")), request_body = UpdateOrderStatusRequest,
    responses((status = 200, body = OrderView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_order_status(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((shop, id)): Path<(String, String)>,
    AppJson(body): AppJson<UpdateOrderStatusRequest>,
) -> Result<Json<OrderView>, ApiError> {
    let shop = seller_shop(&state, &caller, &shop).await?;
    let order = state.store.order_by_id(&id).await?.filter(|o| o.shop_id == shop.id).ok_or_else(order_not_found)?;
    let note = body.note.as_deref().map(|n| parse_text(n, "note", 500, true)).transpose()?;
    let target = OrderStatus::parse(&body.status).ok_or_else(|| ApiError::bad_request("invalid_status", "status must be an order status such as shipped"))?;
    let event = match target {
        OrderStatus::Fulfilling => OrderEvent::StartFulfilment,
        OrderStatus::Shipped => {
            let tracking = body.tracking_number.as_deref().ok_or_else(|| ApiError::bad_request("tracking_required", "shipping needs a tracking_number"))?;
            let tracking = parse_text(tracking, "tracking_number", 64, false)?;
            let carrier = ManualCarrier { label: parse_text(body.carrier.as_deref().unwrap_or("manual"), "carrier", 40, false)? };
            if let Some(problem) = carrier.check_tracking_number(&tracking) {
                return Err(ApiError::bad_request("invalid_tracking_number", problem));
            }
            let carrier = carrier.name().to_string();
            let order = state.store.ship_order(&order.id, &carrier, &tracking, &caller.user_id).await?;
            return Ok(Json(order_view(&state, order, true).await?));
        }
        OrderStatus::Delivered => OrderEvent::Deliver,
        OrderStatus::Completed => OrderEvent::Complete { platform_fee_bps: state.settings.shop.platform_fee_bps },
        OrderStatus::Refunded => {
            // Everything not yet refunded, through the same path as partial refunds (ledger, stock, history).
            let request = RefundRequest { amount: None, items: Vec::new(), restock: body.restock, reason: note, to_wallet: false };
            let done = super::money::refund(&state, &order.id, &request, &caller.user_id).await?;
            return Ok(Json(order_view(&state, done.order, true).await?));
        }
        OrderStatus::Cancelled => OrderEvent::Cancel,
        OrderStatus::Paid => OrderEvent::PaymentSucceeded,
        OrderStatus::PendingPayment => {
            return Err(ApiError::conflict("illegal_transition", format!("an order cannot go back to pending_payment; its current status is {}", order.status)))
        }
    };
    let order = state.store.transition_order(&order.id, event, Actor::Seller, Some(&caller.user_id), note.as_deref()).await?;
    Ok(Json(order_view(&state, order, true).await?))
}

/// A printable HTML invoice for one order: for the customer who placed it and the sellers of its shop.
#[utoipa::path(get, path = "/api/v1/orders/{id}/invoice", tag = "orders", security(("bearer" = [])), params(("id" = String, Path, description = "order id")),
    responses((status = 200, description = "HTML invoice", content_type = "text/html", body = String), (status = 404, body = ErrorBody)))]
pub async fn invoice(State(state): State<AppState>, caller: AuthUser, Path(id): Path<String>) -> Result<axum::response::Html<String>, ApiError> {
    let order = state.store.order_by_id(&id).await?.ok_or_else(order_not_found)?;
    if order.user_id != caller.user_id && !is_shop_seller(&state, &caller, &order.shop_id).await? {
        return Err(order_not_found());
    }
    let items = state.store.order_items(std::slice::from_ref(&order.id)).await?;
    let shop = state.store.shop_by_id(&order.shop_id).await?.map(|s| s.name).unwrap_or_default();
    let customer = state.store.user_by_id(&order.user_id).await?.map(|u| u.email).unwrap_or_default();
    let doc = crate::commerce::invoice::Invoice {
        order_id: &order.id,
        status: order.status.as_str(),
        shop_name: &shop,
        customer: &customer,
        currency: &order.currency,
        placed_at: order.created_at,
        lines: items
            .iter()
            .map(|i| crate::commerce::invoice::InvoiceLine { sku: &i.sku, title: &i.title, unit_price: i.unit_price, quantity: i.quantity })
            .collect(),
        subtotal: order.totals.subtotal,
        discount: order.totals.discount,
        tax: order.totals.tax,
        shipping: order.totals.shipping,
        total: order.totals.total,
    };
    Ok(axum::response::Html(crate::commerce::invoice::render(&doc)))
}
