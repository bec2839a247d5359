//! The payment provider seam and the built-in `test` provider, which behaves
//! like a card processor's test mode: some card numbers succeed, some decline,
//! one needs an asynchronous confirmation that arrives by webhook.

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

pub trait PaymentProvider: Send + Sync {
    fn name(&self) -> &'static str;
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'_, ChargeOutcome>;
}

/// Card numbers the test provider understands.
pub mod test_cards {
    pub const SUCCEEDS: &str = "4242424242424242";
    pub const DECLINED: &str = "4000000000000002";
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    /// Accepted as pending; confirmed or failed later by a signed webhook.
    pub const NEEDS_CONFIRMATION: &str = "4000000000003220";
}

/// In-process, deterministic; never moves money.
pub struct TestPaymentProvider;

impl TestPaymentProvider {
    pub fn decide(request: &ChargeRequest) -> ChargeOutcome {
        let card: String = request.card_number.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        let provider_ref = format!("test_ch_{}", request.payment_id);
        match card.as_str() {
            test_cards::SUCCEEDS => ChargeOutcome::Succeeded { provider_ref },
            test_cards::NEEDS_CONFIRMATION => ChargeOutcome::Pending { provider_ref },
            test_cards::DECLINED => ChargeOutcome::Declined { reason: "card_declined".into() },
            test_cards::INSUFFICIENT_FUNDS => ChargeOutcome::Declined { reason: "insufficient_funds".into() },
            _ => ChargeOutcome::Declined { reason: "test_mode_accepts_only_test_cards".into() },
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
}
