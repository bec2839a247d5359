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
//! store_credit   platform:store_credit −A   customer wallet +A
//! wallet_hold    customer wallet −W  wallet holds +W         (when a payment opens)
//! payment        wallet holds −W     clearing +W             (when it succeeds)
//! wallet_release wallet holds −W     customer wallet +W      (when it fails)
//! refund         clearing −(C+W)     card_processor +C   customer wallet +W
//! ```
//!
//! A customer wallet is store credit: a refund can go to it, an admin can
//! issue it, and a payment can spend it (wholly, or with the rest charged to
//! the card). Its balance can never go below zero; the store enforces that
//! where it writes the postings.

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
    /// A customer's store credit (what the platform owes them).
    CustomerWallet(String),
    /// Wallet money set aside for payments still being charged.
    WalletHolds,
    /// Store credit the platform issued (its side of every top-up).
    StoreCreditIssued,
}

impl Account {
    /// The stored account name.
    pub fn key(&self) -> String {
        match self {
            Account::CardProcessor => "external:card_processor".into(),
            Account::CustomerPaymentsClearing => "clearing:customer_payments".into(),
            Account::ShopWallet(shop) => wallet_key(shop),
            Account::PlatformFees => "platform:fees".into(),
            Account::CustomerWallet(user) => customer_wallet_key(user),
            Account::WalletHolds => "clearing:wallet_holds".into(),
            Account::StoreCreditIssued => "platform:store_credit".into(),
        }
    }
}

pub fn wallet_key(shop_id: &str) -> String {
    format!("shop:{shop_id}:wallet")
}

/// The ledger account of a customer's wallet (store credit).
pub fn customer_wallet_key(user_id: &str) -> String {
    format!("customer:{user_id}:wallet")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Payment,
    Refund,
    PlatformFee,
    SellerPayout,
    StoreCredit,
    WalletHold,
    WalletRelease,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
            EntryKind::PlatformFee => "platform_fee",
            EntryKind::SellerPayout => "seller_payout",
            EntryKind::StoreCredit => "store_credit",
            EntryKind::WalletHold => "wallet_hold",
            EntryKind::WalletRelease => "wallet_release",
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

/// The customer's money captured for an order: `card` from the card
/// processor, `wallet` from the wallet hold its payment took.
pub fn payment(card: i64, wallet: i64) -> Vec<Entry> {
    let mut entries = Vec::new();
    if card > 0 {
        entries.push(Entry::transfer(EntryKind::Payment, format!("captured {card}"), Account::CardProcessor, Account::CustomerPaymentsClearing, card));
    }
    if wallet > 0 {
        entries.push(Entry::transfer(EntryKind::Payment, format!("captured {wallet} from wallet"), Account::WalletHolds, Account::CustomerPaymentsClearing, wallet));
    }
    entries
}

/// Money back to the customer: `card` to the card processor, `wallet` to
/// their wallet; out of clearing while the order is not yet completed, out
/// of the shop's wallet once its sellers were paid.
pub fn refund(card: i64, wallet: i64, shop_id: &str, user_id: &str, order_completed: bool) -> Vec<Entry> {
    let from = || if order_completed { Account::ShopWallet(shop_id.into()) } else { Account::CustomerPaymentsClearing };
    let mut entries = Vec::new();
    if card > 0 {
        entries.push(Entry::transfer(EntryKind::Refund, format!("refunded {card}"), from(), Account::CardProcessor, card));
    }
    if wallet > 0 {
        entries.push(Entry::transfer(EntryKind::Refund, format!("refunded {wallet} to wallet"), from(), Account::CustomerWallet(user_id.into()), wallet));
    }
    entries
}

/// Store credit issued to a customer by the platform.
pub fn store_credit(amount: i64, user_id: &str, memo: &str) -> Vec<Entry> {
    if amount <= 0 {
        return Vec::new();
    }
    vec![Entry::transfer(EntryKind::StoreCredit, memo.to_string(), Account::StoreCreditIssued, Account::CustomerWallet(user_id.into()), amount)]
}

/// Sets wallet money aside for a payment that is being charged.
pub fn wallet_hold(amount: i64, user_id: &str) -> Vec<Entry> {
    if amount <= 0 {
        return Vec::new();
    }
    vec![Entry::transfer(EntryKind::WalletHold, format!("held {amount} for a payment"), Account::CustomerWallet(user_id.into()), Account::WalletHolds, amount)]
}

/// Gives a failed payment's wallet hold back.
pub fn wallet_release(amount: i64, user_id: &str, why: &str) -> Vec<Entry> {
    if amount <= 0 {
        return Vec::new();
    }
    vec![Entry::transfer(EntryKind::WalletRelease, format!("released {amount}: {why}"), Account::WalletHolds, Account::CustomerWallet(user_id.into()), amount)]
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
        let mut all = payment(10_000, 0);
        all.extend(refund(2_500, 0, "s1", "u1", false));
        all.extend(completion(7_500, "s1", 1_000));
        assert!(all.iter().all(Entry::is_balanced));
        assert_eq!(balance(&all, &Account::CustomerPaymentsClearing), 0, "clearing empties on completion");
        assert_eq!(balance(&all, &Account::ShopWallet("s1".into())), 6_750);
        assert_eq!(balance(&all, &Account::PlatformFees), 750);
        assert_eq!(balance(&all, &Account::CardProcessor), -7_500);
    }

    #[test]
    fn a_refund_after_completion_comes_out_of_the_sellers_wallet() {
        let e = refund(300, 0, "s1", "u1", true);
        assert_eq!(e[0].postings[0], Posting { account: Account::ShopWallet("s1".into()), amount: -300 });
    }

    #[test]
    fn the_fee_rounds_down_and_zero_amounts_post_nothing() {
        assert_eq!(platform_fee(999, 500), 49);
        assert_eq!(platform_fee(1_000, 20_000), 1_000, "a fee is never above the amount");
        assert!(payment(0, 0).is_empty() && refund(0, 0, "s", "u", false).is_empty());
        assert_eq!(completion(1_000, "s", 0).len(), 1, "no fee entry at 0 bps");
    }

    #[test]
    fn a_split_payment_holds_the_wallet_part_then_captures_it_and_a_wallet_refund_credits_the_wallet() {
        let wallet = Account::CustomerWallet("u1".into());
        let mut all = store_credit(3_000, "u1", "welcome");
        all.extend(wallet_hold(2_000, "u1"));
        assert_eq!(balance(&all, &wallet), 1_000, "the hold leaves the wallet at once");
        all.extend(payment(8_000, 2_000));
        assert_eq!(balance(&all, &Account::WalletHolds), 0, "the capture empties the hold");
        assert_eq!(balance(&all, &Account::CustomerPaymentsClearing), 10_000);
        all.extend(refund(1_000, 500, "s1", "u1", false));
        assert_eq!(balance(&all, &wallet), 1_500);
        assert_eq!(balance(&all, &Account::CardProcessor), -7_000);
        assert!(all.iter().all(Entry::is_balanced));
    }

    #[test]
    fn a_failed_payment_gives_its_wallet_hold_back() {
        let mut all = store_credit(1_000, "u1", "goodwill");
        all.extend(wallet_hold(1_000, "u1"));
        all.extend(wallet_release(1_000, "u1", "card_declined"));
        assert_eq!(balance(&all, &Account::CustomerWallet("u1".into())), 1_000);
        assert_eq!(balance(&all, &Account::WalletHolds), 0);
    }
}
