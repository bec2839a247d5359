//! The commerce core: catalog, stock, cart, coupons, checkout, orders,
//! payments and notifications.
//!
//! The rules are sans-IO and take `now` as an argument ([`order_state`],
//! [`pricing`], [`webhook`]); [`store`] holds the SQL (conditional UPDATEs and
//! unique constraints in one transaction are what make concurrent buyers
//! safe); [`payments`] is the provider seam; the HTTP edge is in `src/api/`
//! (`catalog.rs`, `cart.rs`, `orders.rs`, `payments.rs`, ...).

pub mod checkout;
pub mod domain;
pub mod invoice;
pub mod ledger;
pub mod order_state;
pub mod outbox;
pub mod page;
pub mod payments;
pub mod pricing;
pub mod push;
pub mod shipping;
pub mod store;
pub mod webhook;

use std::sync::Arc;

use payments::{PaymentProvider, RefundCall, TestPaymentProvider};
use store::{CommerceError, CommerceResult};

/// How long an unpaid order holds its stock before it expires.
pub const UNPAID_ORDER_TTL_MS: i64 = 15 * 60 * 1000;
/// How old a webhook's signed timestamp may be (either direction).
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;

/// The commerce handle in `AppState`.
#[derive(Clone)]
pub struct Commerce {
    pub payments: Arc<dyn PaymentProvider>,
    /// Key for `Streamcart-Signature` on payment webhooks.
    pub webhook_secret: Arc<Vec<u8>>,
    pub unpaid_order_ttl_ms: i64,
}

impl Commerce {
    /// The built-in test payment provider, verifying webhooks with `webhook_secret`.
    pub fn with_test_payments(webhook_secret: &str) -> Commerce {
        Commerce {
            payments: Arc::new(TestPaymentProvider),
            webhook_secret: Arc::new(webhook_secret.as_bytes().to_vec()),
            unpaid_order_ttl_ms: UNPAID_ORDER_TTL_MS,
        }
    }
}

/// A payment still `processing` after this long was abandoned mid-charge.
pub const ABANDONED_PAYMENT_AFTER_MS: i64 = 10 * 60 * 1000;

/// How often unpaid orders and timed holds are checked for expiry.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// A refund still `pending` after this long lost its process between asking
/// the provider and landing the answer.
pub const STALE_REFUND_AFTER_MS: i64 = 60 * 1000;

/// Asks the provider again about every refund left `pending` since before
/// `before` (providers refund once per refund id, so asking twice is safe) and
/// lands the answer: the refund's effects, or its claims given back. Returns
/// how many ended.
pub async fn resume_pending_refunds(store: &crate::store::Store, provider: &dyn PaymentProvider, before: i64) -> CommerceResult<usize> {
    let mut ended = 0;
    for pending in store.pending_refunds(before).await? {
        if pending.provider != provider.name() {
            continue;
        }
        let call = RefundCall { refund_id: pending.refund_id.clone(), charge_ref: pending.charge_ref, amount: pending.card_amount, currency: pending.currency };
        let outcome = provider.refund(call).await;
        match store.finish_refund(&pending.refund_id, &outcome).await {
            Ok(_) | Err(CommerceError::RefundFailed { .. }) => ended += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(ended)
}

/// Gives back, through the provider, every card charge that succeeded after its
/// order had ended (the order never took the money), or only `only`'s. Safe to
/// repeat: the provider refunds once per payment. Returns how many were given
/// back; a refusal is logged and asked again on the next sweep.
pub async fn return_late_charges(store: &crate::store::Store, provider: &dyn PaymentProvider, only: Option<&str>) -> CommerceResult<usize> {
    let mut returned = 0;
    for owed in store.late_charges_to_return(only).await? {
        let Some(payment_id) = store::late_charge_payment_id(&owed.refund_id).map(str::to_owned) else { continue };
        if owed.provider != provider.name() {
            continue;
        }
        let call = RefundCall { refund_id: owed.refund_id, charge_ref: owed.charge_ref, amount: owed.card_amount, currency: owed.currency };
        match provider.refund(call).await {
            payments::RefundOutcome::Succeeded { .. } => {
                store.record_late_charge_returned(&payment_id).await?;
                returned += 1;
            }
            payments::RefundOutcome::Failed { reason } => {
                tracing::warn!(payment_id, reason, "the provider refused to give back a charge that landed after its order ended; will retry");
            }
        }
    }
    Ok(returned)
}

/// Fails abandoned payments, resumes stale refunds, returns late charges, expires unpaid orders and timed stock holds every
/// [`SWEEP_EVERY`]; abort the handle to stop. Each order and hold ends once even with several nodes.
pub fn spawn_sweeper(store: crate::store::Store, payments: Arc<dyn PaymentProvider>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            let now = crate::store::now_ms();
            if let Err(e) = resume_pending_refunds(&store, payments.as_ref(), now - STALE_REFUND_AFTER_MS).await {
                tracing::warn!(error = %e, "resuming pending refunds failed; will retry");
            }
            if let Err(e) = return_late_charges(&store, payments.as_ref(), None).await {
                tracing::warn!(error = %e, "returning late charges failed; will retry");
            }
            if let Err(e) = store.fail_abandoned_payments(now - ABANDONED_PAYMENT_AFTER_MS).await {
                tracing::warn!(error = %e, "failing abandoned payments failed; will retry");
            }
            if let Err(e) = store.expire_unpaid_orders(now).await {
                tracing::warn!(error = %e, "expiring unpaid orders failed; will retry");
            }
            if let Err(e) = store.release_expired_holds(now).await {
                tracing::warn!(error = %e, "releasing expired stock holds failed; will retry");
            }
        }
    })
}
