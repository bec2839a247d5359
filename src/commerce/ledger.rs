//! The double-entry money ledger, sans-IO: which postings each money event
//! makes. Every [`Entry`] sums to zero, so the whole ledger always does.
//!
//! A posting's amount is the change in what its account holds. Money comes in
//! from the card processor (its account goes negative), waits in customer
//! payments clearing until the order completes, then splits into the seller's
//! wallet and the platform's fee; refunds go back to the card processor from
//! clearing (before completion) or from the seller's wallet (after).
//!
//! ```text
//! payment        card_processor −T   clearing +T
//! refund         clearing −R (or shop wallet −R)   card_processor +R
//! platform_fee   clearing −F         platform_fees +F
//! seller_payout  clearing −(N−F)     shop wallet +(N−F)      N = captured − refunded
//! ```

/// A ledger account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// The outside world's card money: the processor's side of every capture and refund.
    CardProcessor,
    /// Customers' payments held until their order completes.
    CustomerPaymentsClearing,
    /// What the platform owes a shop's sellers.
    ShopWallet(String),
    /// The platform's commission.
    PlatformFees,
}

impl Account {
    /// The stored account name.
    pub fn key(&self) -> String {
        match self {
            Account::CardProcessor => "external:card_processor".into(),
            Account::CustomerPaymentsClearing => "clearing:customer_payments".into(),
            Account::ShopWallet(shop) => wallet_key(shop),
            Account::PlatformFees => "platform:fees".into(),
        }
    }
}

pub fn wallet_key(shop_id: &str) -> String {
    format!("shop:{shop_id}:wallet")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Payment,
    Refund,
    PlatformFee,
    SellerPayout,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
            EntryKind::PlatformFee => "platform_fee",
            EntryKind::SellerPayout => "seller_payout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: Account,
    pub amount: i64,
}

/// One balanced movement of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    pub memo: String,
    pub postings: Vec<Posting>,
}

impl Entry {
    fn transfer(kind: EntryKind, memo: String, from: Account, to: Account, amount: i64) -> Entry {
        Entry { kind, memo, postings: vec![Posting { account: from, amount: -amount }, Posting { account: to, amount }] }
    }

    pub fn is_balanced(&self) -> bool {
        self.postings.iter().map(|p| p.amount).sum::<i64>() == 0
    }
}

/// The customer's money captured for an order.
pub fn payment(total: i64) -> Vec<Entry> {
    if total <= 0 {
        return Vec::new();
    }
    vec![Entry::transfer(EntryKind::Payment, format!("captured {total}"), Account::CardProcessor, Account::CustomerPaymentsClearing, total)]
}

/// Money back to the customer: out of clearing while the order is not yet
/// completed, out of the shop's wallet once its sellers were paid.
pub fn refund(amount: i64, shop_id: &str, order_completed: bool) -> Vec<Entry> {
    if amount <= 0 {
        return Vec::new();
    }
    let from = if order_completed { Account::ShopWallet(shop_id.into()) } else { Account::CustomerPaymentsClearing };
    vec![Entry::transfer(EntryKind::Refund, format!("refunded {amount}"), from, Account::CardProcessor, amount)]
}

/// The platform's fee on `net` at `fee_bps` basis points, rounded down.
pub fn platform_fee(net: i64, fee_bps: u32) -> i64 {
    (net.max(0) as i128 * fee_bps.min(10_000) as i128 / 10_000) as i64
}

/// A completed order's money leaves clearing: the fee to the platform, the
/// rest to the shop's wallet. `net` is what was captured less what was refunded.
pub fn completion(net: i64, shop_id: &str, fee_bps: u32) -> Vec<Entry> {
    let fee = platform_fee(net, fee_bps);
    let mut entries = Vec::new();
    if fee > 0 {
        entries.push(Entry::transfer(EntryKind::PlatformFee, format!("fee {fee_bps} bps of {net}"), Account::CustomerPaymentsClearing, Account::PlatformFees, fee));
    }
    if net - fee > 0 {
        entries.push(Entry::transfer(
            EntryKind::SellerPayout,
            format!("payout {} of {net}", net - fee),
            Account::CustomerPaymentsClearing,
            Account::ShopWallet(shop_id.into()),
            net - fee,
        ));
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance(entries: &[Entry], account: &Account) -> i64 {
        entries.iter().flat_map(|e| &e.postings).filter(|p| &p.account == account).map(|p| p.amount).sum()
    }

    #[test]
    fn every_entry_of_a_paid_partly_refunded_completed_order_balances() {
        let mut all = payment(10_000);
        all.extend(refund(2_500, "s1", false));
        all.extend(completion(7_500, "s1", 1_000));
        assert!(all.iter().all(Entry::is_balanced));
        assert_eq!(balance(&all, &Account::CustomerPaymentsClearing), 0, "clearing empties on completion");
        assert_eq!(balance(&all, &Account::ShopWallet("s1".into())), 6_750);
        assert_eq!(balance(&all, &Account::PlatformFees), 750);
        assert_eq!(balance(&all, &Account::CardProcessor), -7_500);
    }

    #[test]
    fn a_refund_after_completion_comes_out_of_the_sellers_wallet() {
        let e = refund(300, "s1", true);
        assert_eq!(e[0].postings[0], Posting { account: Account::ShopWallet("s1".into()), amount: -300 });
    }

    #[test]
    fn the_fee_rounds_down_and_zero_amounts_post_nothing() {
        assert_eq!(platform_fee(999, 500), 49);
        assert_eq!(platform_fee(1_000, 20_000), 1_000, "a fee is never above the amount");
        assert!(payment(0).is_empty() && refund(0, "s", false).is_empty());
        assert_eq!(completion(1_000, "s", 0).len(), 1, "no fee entry at 0 bps");
    }
}
