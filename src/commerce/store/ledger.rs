//! The ledger's SQL: entries are written only inside the transaction of the
//! change they record ([`record_in`]); balances are sums of postings.

use sqlx::{Any, Row, Transaction};

use super::CommerceResult;
use crate::commerce::ledger::{wallet_key, Entry};
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
        let rows = sqlx::query("SELECT currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_postings WHERE account = $1 GROUP BY currency ORDER BY currency")
            .bind(wallet_key(shop_id))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok((r.try_get("currency")?, r.try_get("balance")?))).collect()
    }

    /// A shop wallet's postings, newest first, `limit + 1` rows before `before`.
    pub async fn wallet_entries(&self, shop_id: &str, before: Option<&str>, limit: i64) -> StoreResult<Vec<WalletEntryRow>> {
        let rows = sqlx::query(
            "SELECT p.id, e.kind, e.order_id, p.amount, p.currency, e.memo, p.created_at FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id \
             WHERE p.account = $1 AND ($2 = '' OR p.id < $2) ORDER BY p.id DESC LIMIT $3",
        )
        .bind(wallet_key(shop_id))
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
