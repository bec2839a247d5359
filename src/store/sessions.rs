//! Sessions and refresh-token rotation with reuse detection.
//!
//! Each login opens a session (a token family). Refreshing marks the presented
//! token used and issues its successor in the same transaction. Presenting a
//! token that was already used means it leaked: the whole session is revoked,
//! so the thief's and the owner's successors both stop working.

use sqlx::{Any, Row, Transaction};

use super::{new_id, now_ms, Store, StoreResult};

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub revoked_at: Option<i64>,
    pub user_disabled: bool,
    pub user_is_admin: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: here is its session and user.
    Rotated { session_id: String, user_id: String },
    Unknown,
    Expired,
    /// The session was already revoked (logout, reuse, disabled user).
    Revoked,
    /// A rotated token came back; the session is now revoked.
    ReuseDetected,
}

impl Store {
    /// Opens a session for `user_id` and stores the hash of its first refresh token.
    pub async fn open_session(
        &self,
        tx: &mut Transaction<'_, Any>,
        user_id: &str,
        token_hash: &str,
        ttl_ms: i64,
    ) -> StoreResult<String> {
        let session_id = new_id();
        let now = now_ms();
        sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(&session_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        insert_refresh_token(tx, &session_id, token_hash, now, ttl_ms).await?;
        Ok(session_id)
    }

    /// Rotates the refresh token whose hash is `old_hash` to `new_hash`, atomically.
    pub async fn rotate_refresh_token(&self, old_hash: &str, new_hash: &str, ttl_ms: i64) -> StoreResult<RefreshOutcome> {
        let now = now_ms();
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query(
            "SELECT t.session_id, t.expires_at, t.used_at, s.revoked_at, s.user_id, u.disabled_at \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
             WHERE t.token_hash = $1",
        )
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        let session_id: String = row.try_get("session_id")?;
        let user_id: String = row.try_get("user_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let disabled_at: Option<i64> = row.try_get("disabled_at")?;

        if revoked_at.is_some() || disabled_at.is_some() {
            return Ok(RefreshOutcome::Revoked);
        }
        let claimed = if used_at.is_none() {
            sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
                .bind(now)
                .bind(old_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1
        } else {
            false
        };
        if !claimed {
            revoke(&mut tx, &session_id, "refresh_token_reused", now).await?;
            tx.commit().await?;
            tracing::warn!(session_id, user_id, "refresh token reuse detected; session revoked");
            return Ok(RefreshOutcome::ReuseDetected);
        }
        if expires_at <= now {
            return Ok(RefreshOutcome::Expired);
        }
        insert_refresh_token(&mut tx, &session_id, new_hash, now, ttl_ms).await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated { session_id, user_id })
    }

    pub async fn revoke_session(&self, session_id: &str, why: &str) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        revoke(&mut tx, session_id, why, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session an access token names, with its user's disabled flag.
    pub async fn session(&self, session_id: &str) -> StoreResult<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.revoked_at, u.disabled_at, u.is_admin FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        )
        .bind(session_id)
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok(SessionRow {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                revoked_at: row.try_get("revoked_at")?,
                user_disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                user_is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            })
        })
        .transpose()
    }
}

async fn insert_refresh_token(
    tx: &mut Transaction<'_, Any>,
    session_id: &str,
    token_hash: &str,
    now: i64,
    ttl_ms: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(session_id)
        .bind(now)
        .bind(now.saturating_add(ttl_ms))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn revoke(tx: &mut Transaction<'_, Any>, session_id: &str, why: &str, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_why = $2 WHERE id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(why)
        .bind(session_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
