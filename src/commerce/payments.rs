//! The payment provider seam and the built-in `test` provider, which behaves
//! like a card processor's test mode: some card numbers succeed, some decline,
//! one needs an asynchronous confirmation that arrives by webhook. Refunds
//! go back through the provider that took the charge.

use futures::future::BoxFuture;

#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// Our payment id; providers use it as their idempotency key.
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub card_number: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded { provider_ref: String },
    /// Accepted but not yet confirmed; a webhook will say how it ended.
    Pending { provider_ref: String },
    Declined { reason: String },
}

#[derive(Debug, Clone)]
pub struct RefundCall {
    /// Our refund id; providers use it as their idempotency key, so asking twice refunds once.
    pub refund_id: String,
    /// The provider's reference of the charge being refunded.
    pub charge_ref: Option<String>,
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded { provider_ref: String },
    Failed { reason: String },
}

pub trait PaymentProvider: Send + Sync {
    fn name(&self) -> &'static str;
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'_, ChargeOutcome>;
    /// Gives `amount` of a captured charge back to the card.
    fn refund(&self, request: RefundCall) -> BoxFuture<'_, RefundOutcome>;
}

/// Card numbers the test provider understands.
pub mod test_cards {
    pub const SUCCEEDS: &str = "4242424242424242";
    pub const DECLINED: &str = "4000000000000002";
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    /// Accepted as pending; confirmed or failed later by a signed webhook.
    pub const NEEDS_CONFIRMATION: &str = "4000000000003220";
    /// The charge succeeds; refunding it fails (as Stripe's 4000000000005126 does).
    pub const REFUND_FAILS: &str = "4000000000005126";
}

/// The suffix of a test charge reference whose refunds fail.
const REFUND_FAILS_SUFFIX: &str = "_refund_fails";

/// In-process, deterministic; never moves money.
pub struct TestPaymentProvider;

impl TestPaymentProvider {
    pub fn decide(request: &ChargeRequest) -> ChargeOutcome {
        let card: String = request.card_number.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        let provider_ref = format!("test_ch_{}", request.payment_id);
        match card.as_str() {
            test_cards::SUCCEEDS => ChargeOutcome::Succeeded { provider_ref },
            test_cards::NEEDS_CONFIRMATION => ChargeOutcome::Pending { provider_ref },
            test_cards::REFUND_FAILS => ChargeOutcome::Succeeded { provider_ref: format!("{provider_ref}{REFUND_FAILS_SUFFIX}") },
            test_cards::DECLINED => ChargeOutcome::Declined { reason: "card_declined".into() },
            test_cards::INSUFFICIENT_FUNDS => ChargeOutcome::Declined { reason: "insufficient_funds".into() },
            _ => ChargeOutcome::Declined { reason: "test_mode_accepts_only_test_cards".into() },
        }
    }

    /// Refunds succeed, except of a charge made with [`test_cards::REFUND_FAILS`].
    pub fn decide_refund(request: &RefundCall) -> RefundOutcome {
        match request.charge_ref.as_deref() {
            Some(r) if r.ends_with(REFUND_FAILS_SUFFIX) => RefundOutcome::Failed { reason: "refund_declined_by_issuer".into() },
            _ if request.amount <= 0 => RefundOutcome::Failed { reason: "invalid_amount".into() },
            _ => RefundOutcome::Succeeded { provider_ref: format!("test_re_{}", request.refund_id) },
        }
    }
}

impl PaymentProvider for TestPaymentProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn charge(&self, request: ChargeRequest) -> BoxFuture<'_, ChargeOutcome> {
        Box::pin(async move { TestPaymentProvider::decide(&request) })
    }

    fn refund(&self, request: RefundCall) -> BoxFuture<'_, RefundOutcome> {
        Box::pin(async move { TestPaymentProvider::decide_refund(&request) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(card: &str) -> ChargeOutcome {
        TestPaymentProvider::decide(&ChargeRequest { payment_id: "p1".into(), amount: 100, currency: "USD".into(), card_number: card.into() })
    }

    #[test]
    fn the_test_cards_succeed_decline_or_wait_for_confirmation() {
        assert!(matches!(charge("4242 4242 4242 4242"), ChargeOutcome::Succeeded { .. }));
        assert_eq!(charge(test_cards::DECLINED), ChargeOutcome::Declined { reason: "card_declined".into() });
        assert!(matches!(charge(test_cards::NEEDS_CONFIRMATION), ChargeOutcome::Pending { .. }));
        assert!(matches!(charge("5555555555554444"), ChargeOutcome::Declined { .. }));
    }

    #[test]
    fn refunds_succeed_with_their_own_reference_except_of_the_refund_fails_card() {
        let refund = |charge: ChargeOutcome| {
            let ChargeOutcome::Succeeded { provider_ref } = charge else { panic!("the charge succeeds") };
            TestPaymentProvider::decide_refund(&RefundCall { refund_id: "r1".into(), charge_ref: Some(provider_ref), amount: 50, currency: "USD".into() })
        };
        assert_eq!(refund(charge(test_cards::SUCCEEDS)), RefundOutcome::Succeeded { provider_ref: "test_re_r1".into() });
        assert!(matches!(refund(charge(test_cards::REFUND_FAILS)), RefundOutcome::Failed { .. }));
    }
}
