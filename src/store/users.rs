//! Users: creation, lookup, listing and the admin flag.

use sqlx::{Any, Row, Transaction};

use super::{new_id, now_ms, Store, StoreError, StoreResult};

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub display_name: &'a str,
    pub is_admin: bool,
}

const COLUMNS: &str = "id, email, password_hash, display_name, is_admin, created_at, disabled_at";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        display_name: row.try_get("display_name")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

impl Store {
    /// Inserts a user; a taken email is `StoreError::UniqueViolation`.
    pub async fn insert_user(&self, tx: &mut Transaction<'_, Any>, user: NewUser<'_>) -> StoreResult<UserRow> {
        let row = UserRow {
            id: new_id(),
            email: user.email.to_string(),
            password_hash: user.password_hash.to_string(),
            display_name: user.display_name.to_string(),
            is_admin: user.is_admin,
            created_at: now_ms(),
            disabled_at: None,
        };
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, display_name, is_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.id)
        .bind(&row.email)
        .bind(&row.password_hash)
        .bind(&row.display_name)
        .bind(row.is_admin as i64)
        .bind(row.created_at)
        .execute(&mut **tx)
        .await?;
        Ok(row)
    }

    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
        let row = sqlx::query(&sql).bind(email).fetch_optional(self.reader()).await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Users ordered by id (UUIDv7, so by creation), `limit` after `after_id`.
    pub async fn list_users(&self, after_id: Option<&str>, limit: i64) -> StoreResult<Vec<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(after_id.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn any_admin_exists(&self) -> StoreResult<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE is_admin = 1")
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Sets or clears `disabled_at` and revokes every session of a disabled user.
    pub async fn set_user_disabled(&self, id: &str, disabled: bool) -> StoreResult<Option<UserRow>> {
        let mut tx = self.writer().begin().await?;
        let now = now_ms();
        let disabled_at = disabled.then_some(now);
        let done = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(disabled_at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if disabled {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_why = 'user_disabled' WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.user_by_id(id).await
    }

    pub async fn set_user_admin(&self, id: &str, is_admin: bool) -> StoreResult<Option<UserRow>> {
        let done = sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
            .bind(is_admin as i64)
            .bind(id)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.user_by_id(id).await
    }
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::UniqueViolation(_))
    }
}
