//! One-time setup tokens: how the first admin account is created without any
//! default password. Only the token's SHA-256 is stored.

use sqlx::Row;

use super::users::NewUser;
use super::{now_ms, Store, StoreResult, UserRow};

#[derive(Debug)]
pub enum SetupTokenOutcome {
    Created(UserRow),
    UnknownToken,
    AlreadyUsed,
    Expired,
}

impl Store {
    /// Replaces any unused setup token with a fresh one (a restart prints a new link).
    pub async fn issue_setup_token(&self, token_hash: &str, ttl_ms: i64) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.writer().begin().await?;
        sqlx::query("DELETE FROM setup_tokens WHERE used_at IS NULL").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(now)
            .bind(now + ttl_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Consumes the setup token and creates the admin in one transaction.
    pub async fn create_admin_with_setup_token(&self, token_hash: &str, admin: NewUser<'_>) -> StoreResult<SetupTokenOutcome> {
        let now = now_ms();
        let mut tx = self.writer().begin().await?;
        let row = sqlx::query("SELECT expires_at, used_at FROM setup_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(SetupTokenOutcome::UnknownToken);
        };
        if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
            return Ok(SetupTokenOutcome::AlreadyUsed);
        }
        if row.try_get::<i64, _>("expires_at")? <= now {
            return Ok(SetupTokenOutcome::Expired);
        }
        let claimed = sqlx::query("UPDATE setup_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() != 1 {
            return Ok(SetupTokenOutcome::AlreadyUsed);
        }
        let user = self.insert_user(&mut tx, NewUser { is_admin: true, ..admin }).await?;
        tx.commit().await?;
        Ok(SetupTokenOutcome::Created(user))
    }
}
