//! Coupons and their redemptions. A use is one conditional UPDATE of
//! `used_count` bounded by `usage_limit` plus one redemption row whose primary
//! key makes once-per-customer coupons single-use per user, both inside the
//! checkout transaction: neither limit can be oversold.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{CommerceError, CommerceResult};
use crate::commerce::pricing::{CouponKind, CouponTerms};
use crate::store::{new_id, now_ms, Store, StoreResult};

#[derive(Clone, Debug)]
pub struct CouponRow {
    pub id: String,
    pub code: String,
    pub shop_id: Option<String>,
    pub kind: CouponKind,
    pub amount: i64,
    pub currency: Option<String>,
    pub min_spend: i64,
    pub expires_at: Option<i64>,
    pub usage_limit: Option<i64>,
    pub used_count: i64,
    pub once_per_customer: bool,
    pub created_at: i64,
}

impl CouponRow {
    pub fn terms(&self) -> CouponTerms {
        CouponTerms {
            kind: self.kind,
            amount: self.amount,
            currency: self.currency.clone(),
            shop_id: self.shop_id.clone(),
            min_spend: self.min_spend,
            expires_at: self.expires_at,
        }
    }
}

pub struct NewCoupon {
    pub code: String,
    pub shop_id: Option<String>,
    pub kind: CouponKind,
    pub amount: i64,
    pub currency: Option<String>,
    pub min_spend: i64,
    pub expires_at: Option<i64>,
    pub usage_limit: Option<i64>,
    pub once_per_customer: bool,
}

const COLUMNS: &str = "id, code, shop_id, kind, amount, currency, min_spend, expires_at, usage_limit, used_count, once_per_customer, created_at";

fn from_row(r: &AnyRow) -> StoreResult<CouponRow> {
    Ok(CouponRow {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        shop_id: r.try_get("shop_id")?,
        kind: CouponKind::parse(&r.try_get::<String, _>("kind")?).unwrap_or(CouponKind::Fixed),
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        min_spend: r.try_get("min_spend")?,
        expires_at: r.try_get("expires_at")?,
        usage_limit: r.try_get("usage_limit")?,
        used_count: r.try_get("used_count")?,
        once_per_customer: r.try_get::<i64, _>("once_per_customer")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

/// Spends one use of `coupon` for `user_id`'s checkout, or fails leaving the
/// transaction to be rolled back.
pub async fn redeem_in(tx: &mut Transaction<'_, Any>, coupon: &CouponRow, user_id: &str, checkout_id: &str) -> CommerceResult<()> {
    let done = sqlx::query("UPDATE coupons SET used_count = used_count + 1 WHERE id = $1 AND (usage_limit IS NULL OR used_count < usage_limit)")
        .bind(&coupon.id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::CouponExhausted);
    }
    let customer_key = if coupon.once_per_customer { user_id } else { checkout_id };
    let inserted = sqlx::query(
        "INSERT INTO coupon_redemptions (coupon_id, customer_key, user_id, checkout_id, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&coupon.id)
    .bind(customer_key)
    .bind(user_id)
    .bind(checkout_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Err(CommerceError::CouponAlreadyUsed);
    }
    Ok(())
}

impl Store {
    /// A taken code is `StoreError::UniqueViolation`.
    pub async fn create_coupon(&self, c: NewCoupon) -> StoreResult<CouponRow> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO coupons (id, code, shop_id, kind, amount, currency, min_spend, expires_at, usage_limit, used_count, once_per_customer, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11)",
        )
        .bind(&id)
        .bind(&c.code)
        .bind(&c.shop_id)
        .bind(c.kind.as_str())
        .bind(c.amount)
        .bind(&c.currency)
        .bind(c.min_spend)
        .bind(c.expires_at)
        .bind(c.usage_limit)
        .bind(c.once_per_customer as i64)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        self.coupon_by_code_on(&c.code, true).await?.ok_or_else(|| sqlx::Error::RowNotFound.into())
    }

    pub async fn coupon_by_code(&self, code: &str) -> StoreResult<Option<CouponRow>> {
        self.coupon_by_code_on(code, false).await
    }

    async fn coupon_by_code_on(&self, code: &str, writer: bool) -> StoreResult<Option<CouponRow>> {
        let sql = format!("SELECT {COLUMNS} FROM coupons WHERE code = $1");
        let pool = if writer { self.writer() } else { self.reader() };
        let row = sqlx::query(&sql).bind(code).fetch_optional(pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Whether `user_id` has already used a once-per-customer coupon.
    pub async fn coupon_used_by(&self, coupon_id: &str, user_id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT coupon_id FROM coupon_redemptions WHERE coupon_id = $1 AND customer_key = $2")
            .bind(coupon_id)
            .bind(user_id)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }
}
