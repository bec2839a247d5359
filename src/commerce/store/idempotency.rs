//! `Idempotency-Key` records. The first request with a key claims it through
//! the primary key; its response is stored and replayed to every retry, so a
//! retried checkout returns the same orders and never charges twice.

use sqlx::Row;

use crate::store::{now_ms, Store, StoreResult};

/// A claim left `in_progress` this long (a crashed request) may be taken over.
pub const ABANDONED_AFTER_MS: i64 = 60_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// This request owns the key: do the work, then `complete_idempotency_key`.
    Claimed,
    /// An earlier request with this key finished: send its response again.
    Replay(StoredResponse),
    /// An earlier request with this key is still running.
    InProgress,
    /// The key was used with a different request body.
    Mismatch,
}

impl Store {
    pub async fn claim_idempotency_key(&self, user_id: &str, key: &str, request_hash: &str) -> StoreResult<IdempotencyClaim> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, created_at) VALUES ($1, $2, $3, 'in_progress', $4) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .execute(self.writer())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let row = sqlx::query("SELECT request_hash, status, response_status, response_body, created_at FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2")
            .bind(user_id)
            .bind(key)
            .fetch_optional(self.writer())
            .await?;
        let Some(row) = row else {
            // Abandoned and deleted between our INSERT and SELECT: try once more later.
            return Ok(IdempotencyClaim::InProgress);
        };
        if row.try_get::<String, _>("request_hash")? != request_hash {
            return Ok(IdempotencyClaim::Mismatch);
        }
        if row.try_get::<String, _>("status")? == "done" {
            let status: Option<i64> = row.try_get("response_status")?;
            let body: Option<String> = row.try_get("response_body")?;
            return Ok(IdempotencyClaim::Replay(StoredResponse { status: status.unwrap_or(500) as u16, body: body.unwrap_or_default() }));
        }
        let created_at: i64 = row.try_get("created_at")?;
        if now - created_at > ABANDONED_AFTER_MS {
            let taken = sqlx::query("UPDATE idempotency_keys SET created_at = $1 WHERE user_id = $2 AND idem_key = $3 AND status = 'in_progress' AND created_at = $4")
                .bind(now)
                .bind(user_id)
                .bind(key)
                .bind(created_at)
                .execute(self.writer())
                .await?;
            if taken.rows_affected() == 1 {
                return Ok(IdempotencyClaim::Claimed);
            }
        }
        Ok(IdempotencyClaim::InProgress)
    }

    pub async fn complete_idempotency_key(&self, user_id: &str, key: &str, response: &StoredResponse) -> StoreResult<()> {
        sqlx::query("UPDATE idempotency_keys SET status = 'done', response_status = $1, response_body = $2 WHERE user_id = $3 AND idem_key = $4")
            .bind(response.status as i64)
            .bind(&response.body)
            .bind(user_id)
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Forgets a claim whose request failed on our side, so a retry runs again.
    pub async fn abandon_idempotency_key(&self, user_id: &str, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND status = 'in_progress'")
            .bind(user_id)
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

impl Store {
    /// Read-only look at a key another request holds: `Claimed` here means the
    /// key is free again (its holder failed), so the caller should claim it.
    pub async fn peek_idempotency_key(&self, user_id: &str, key: &str, request_hash: &str) -> StoreResult<IdempotencyClaim> {
        let row = sqlx::query("SELECT request_hash, status, response_status, response_body FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2")
            .bind(user_id)
            .bind(key)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(IdempotencyClaim::Claimed) };
        if row.try_get::<String, _>("request_hash")? != request_hash {
            return Ok(IdempotencyClaim::Mismatch);
        }
        if row.try_get::<String, _>("status")? != "done" {
            return Ok(IdempotencyClaim::InProgress);
        }
        let status: Option<i64> = row.try_get("response_status")?;
        let body: Option<String> = row.try_get("response_body")?;
        Ok(IdempotencyClaim::Replay(StoredResponse { status: status.unwrap_or(500) as u16, body: body.unwrap_or_default() }))
    }
}
