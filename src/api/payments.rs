//! `POST /api/v1/payments/webhook`: the payment provider tells us how a
//! pending payment ended. The body is trusted only if `Streamcart-Signature`
//! (HMAC-SHA256 over `<t>.<body>`) matches and `t` is recent; otherwise 400
//! and nothing changes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::orders::PaymentView;
use crate::app::AppState;
use crate::commerce::payments::ChargeOutcome;
use crate::commerce::webhook::{verify, SignatureError, SIGNATURE_HEADER};
use crate::commerce::WEBHOOK_TOLERANCE_SECS;
use crate::error::{ApiError, ErrorBody};
use crate::store::now_ms;

/// What the provider posts.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PaymentWebhookEvent {
    /// `payment.succeeded` or `payment.failed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub payment_id: String,
    /// The provider's charge reference (succeeded) or decline reason (failed).
    pub reference: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    pub payment: PaymentView,
}

/// Settle a pending payment (payment provider only; signed).
#[utoipa::path(post, path = "/api/v1/payments/webhook", tag = "orders", request_body = PaymentWebhookEvent,
    params(("Streamcart-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + \".\" + body)>")),
    responses((status = 200, body = WebhookAck), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn payment_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<WebhookAck>, ApiError> {
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("missing_signature", "send the Streamcart-Signature header"))?;
    verify(&state.commerce.webhook_secret, header, &body, now_ms() / 1000, WEBHOOK_TOLERANCE_SECS).map_err(|e| match e {
        SignatureError::Malformed => ApiError::bad_request("malformed_signature", e.to_string()),
        SignatureError::Mismatch => ApiError::bad_request("invalid_signature", "the signature does not match the body; check the webhook secret"),
        SignatureError::Stale => ApiError::bad_request("stale_signature", format!("the signed timestamp is more than {WEBHOOK_TOLERANCE_SECS} s from now; resend with a fresh one")),
    })?;
    let event: PaymentWebhookEvent =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("invalid_body", format!("the body is not a payment event: {e}")))?;
    let reference = event.reference.clone().unwrap_or_default();
    let outcome = match event.kind.as_str() {
        "payment.succeeded" => ChargeOutcome::Succeeded { provider_ref: reference },
        "payment.failed" => ChargeOutcome::Declined { reason: if reference.is_empty() { "declined".into() } else { reference } },
        _ => return Err(ApiError::bad_request("unknown_event", "type must be payment.succeeded or payment.failed")),
    };
    if state.store.payment_by_id(&event.payment_id).await?.is_none() {
        return Err(ApiError::not_found("payment_not_found", "no payment has this id"));
    }
    let payment = super::orders::settle_and_return_late_charge(&state, &event.payment_id, &outcome).await?;
    Ok(Json(WebhookAck { received: true, payment: payment.into() }))
}
