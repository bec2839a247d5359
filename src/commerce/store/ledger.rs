//! The ledger's SQL: entries are written only inside the transaction of the
//! change they record ([`record_in`]); balances are sums of postings.
//! A posting to a customer wallet also moves `wallet_balances` through a
//! conditional UPDATE (`balance + delta >= 0`), the arbiter that keeps
//! concurrent payments from spending more than the wallet holds.

use sqlx::{Any, Row, Transaction};

use super::{CommerceError, CommerceResult};
use crate::commerce::ledger::{customer_wallet_key, store_credit, wallet_key, Account, Entry};
use crate::store::{new_id, now_ms, Store, StoreResult};

/// Writes balanced entries for an order (or none) in `tx`.
pub async fn record_in(tx: &mut Transaction<'_, Any>, entries: &[Entry], order_id: Option<&str>, shop_id: Option<&str>, currency: &str) -> CommerceResult<()> {
    let now = now_ms();
    for entry in entries {
        debug_assert!(entry.is_balanced(), "unbalanced ledger entry {entry:?}");
        let entry_id = new_id();
        sqlx::query("INSERT INTO ledger_entries (id, kind, order_id, shop_id, currency, memo, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&entry_id)
            .bind(entry.kind.as_str())
            .bind(order_id)
            .bind(shop_id)
            .bind(currency)
            .bind(&entry.memo)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        for posting in &entry.postings {
            if let Account::CustomerWallet(user) = &posting.account {
                move_wallet_in(tx, user, currency, posting.amount, now).await?;
            }
            sqlx::query("INSERT INTO ledger_postings (id, entry_id, account, amount, currency, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(new_id())
                .bind(&entry_id)
                .bind(posting.account.key())
                .bind(posting.amount)
                .bind(currency)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Moves a customer wallet's balance counter by `delta`, refusing to take it below zero.
async fn move_wallet_in(tx: &mut Transaction<'_, Any>, user_id: &str, currency: &str, delta: i64, now: i64) -> CommerceResult<()> {
    let account = customer_wallet_key(user_id);
    if delta >= 0 {
        sqlx::query(
            "INSERT INTO wallet_balances (account, currency, balance, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account, currency) DO UPDATE SET balance = wallet_balances.balance + excluded.balance, updated_at = excluded.updated_at",
        )
        .bind(&account)
        .bind(currency)
        .bind(delta)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        return Ok(());
    }
    let done = sqlx::query("UPDATE wallet_balances SET balance = balance + $1, updated_at = $2 WHERE account = $3 AND currency = $4 AND balance + $1 >= 0")
        .bind(delta)
        .bind(now)
        .bind(&account)
        .bind(currency)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        let balance = wallet_balance_in(tx, user_id, currency).await?;
        return Err(CommerceError::InsufficientWalletBalance { balance });
    }
    Ok(())
}

/// Locks the customer's wallet row for `currency` (so the balance read next
/// stays true until commit) and returns its balance (0 without a row).
pub async fn lock_wallet_in(tx: &mut Transaction<'_, Any>, user_id: &str, currency: &str) -> CommerceResult<i64> {
    sqlx::query("UPDATE wallet_balances SET updated_at = updated_at WHERE account = $1 AND currency = $2")
        .bind(customer_wallet_key(user_id))
        .bind(currency)
        .execute(&mut **tx)
        .await?;
    wallet_balance_in(tx, user_id, currency).await
}

async fn wallet_balance_in(tx: &mut Transaction<'_, Any>, user_id: &str, currency: &str) -> CommerceResult<i64> {
    let row = sqlx::query("SELECT balance FROM wallet_balances WHERE account = $1 AND currency = $2")
        .bind(customer_wallet_key(user_id))
        .bind(currency)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(r) => r.try_get("balance")?,
        None => 0,
    })
}

/// One posting to a wallet, with what caused it.
#[derive(Clone, Debug)]
pub struct WalletEntryRow {
    pub id: String,
    pub kind: String,
    pub order_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub memo: String,
    pub created_at: i64,
}

impl Store {
    /// A shop wallet's balance per currency (currencies with postings only).
    pub async fn wallet_balances(&self, shop_id: &str) -> StoreResult<Vec<(String, i64)>> {
        self.account_balances(&wallet_key(shop_id)).await
    }

    /// A shop wallet's postings, newest first, `limit + 1` rows before `before`.
    pub async fn wallet_entries(&self, shop_id: &str, before: Option<&str>, limit: i64) -> StoreResult<Vec<WalletEntryRow>> {
        self.account_entries(&wallet_key(shop_id), before, limit).await
    }

    /// A customer wallet's balance per currency, as the sum of its postings.
    pub async fn customer_wallet_balances(&self, user_id: &str) -> StoreResult<Vec<(String, i64)>> {
        self.account_balances(&customer_wallet_key(user_id)).await
    }

    /// A customer wallet's postings, newest first, `limit + 1` rows before `before`.
    pub async fn customer_wallet_entries(&self, user_id: &str, before: Option<&str>, limit: i64) -> StoreResult<Vec<WalletEntryRow>> {
        self.account_entries(&customer_wallet_key(user_id), before, limit).await
    }

    /// The `wallet_balances` counters, `(account, currency, balance)`: each
    /// equals the sum of that wallet's postings.
    pub async fn wallet_counters(&self) -> StoreResult<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT account, currency, balance FROM wallet_balances ORDER BY account, currency").fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok((r.try_get("account")?, r.try_get("currency")?, r.try_get("balance")?))).collect()
    }

    /// Credits a customer's wallet with platform-issued store credit.
    pub async fn issue_store_credit(&self, user_id: &str, amount: i64, currency: &str, memo: &str) -> CommerceResult<()> {
        let mut tx = self.writer().begin().await?;
        record_in(&mut tx, &store_credit(amount, user_id, memo), None, None, currency).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account_balances(&self, account: &str) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_postings WHERE account = $1 GROUP BY currency ORDER BY currency")
            .bind(account)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok((r.try_get("currency")?, r.try_get("balance")?))).collect()
    }

    async fn account_entries(&self, account: &str, before: Option<&str>, limit: i64) -> StoreResult<Vec<WalletEntryRow>> {
        let rows = sqlx::query(
            "SELECT p.id, e.kind, e.order_id, p.amount, p.currency, e.memo, p.created_at FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id \
             WHERE p.account = $1 AND ($2 = '' OR p.id < $2) ORDER BY p.id DESC LIMIT $3",
        )
        .bind(account)
        .bind(before.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WalletEntryRow {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    order_id: r.try_get("order_id")?,
                    amount: r.try_get("amount")?,
                    currency: r.try_get("currency")?,
                    memo: r.try_get("memo")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Every account's balance per currency, `(account, currency, balance)`:
    /// the ledger is sound when these sum to zero per currency.
    pub async fn ledger_balances(&self) -> StoreResult<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT account, currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_postings GROUP BY account, currency ORDER BY account, currency")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok((r.try_get("account")?, r.try_get("currency")?, r.try_get("balance")?))).collect()
    }
}
