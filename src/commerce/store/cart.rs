//! Carts: one per user, persisted, lines from any number of shops.

use sqlx::Row;

use crate::store::{now_ms, Store, StoreResult};

/// A cart line joined with what pricing and checkout need to know.
#[derive(Clone, Debug)]
pub struct CartLine {
    pub variant_id: String,
    pub quantity: i64,
    pub sku: String,
    pub options: String,
    pub unit_price: i64,
    pub currency: String,
    pub weight_grams: i64,
    pub available: i64,
    pub product_id: String,
    pub product_title: String,
    pub product_published: bool,
    pub shop_id: String,
    pub shop_slug: String,
    pub shop_active: bool,
}

impl Store {
    /// Sets the quantity of a variant in the user's cart (adds the line if new).
    pub async fn set_cart_item(&self, user_id: &str, variant_id: &str, quantity: i64) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.writer().begin().await?;
        sqlx::query("INSERT INTO carts (user_id, updated_at) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET updated_at = excluded.updated_at")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO cart_items (user_id, variant_id, quantity, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, variant_id) DO UPDATE SET quantity = excluded.quantity",
        )
        .bind(user_id)
        .bind(variant_id)
        .bind(quantity)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a line; `false` if it was not in the cart.
    pub async fn remove_cart_item(&self, user_id: &str, variant_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM cart_items WHERE user_id = $1 AND variant_id = $2").bind(user_id).bind(variant_id).execute(self.writer()).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_cart_coupon(&self, user_id: &str, code: Option<&str>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO carts (user_id, coupon_code, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET coupon_code = excluded.coupon_code, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(code)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn cart_coupon(&self, user_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT coupon_code FROM carts WHERE user_id = $1").bind(user_id).fetch_optional(self.reader()).await?;
        Ok(match row {
            Some(r) => r.try_get("coupon_code")?,
            None => None,
        })
    }

    /// The user's cart lines, grouped by shop (then in the order they were added).
    pub async fn cart_lines(&self, user_id: &str) -> StoreResult<Vec<CartLine>> {
        let rows = sqlx::query(
            "SELECT ci.variant_id, ci.quantity, v.sku, v.options, v.price, v.currency, v.weight_grams, v.available, \
                    p.id AS product_id, p.title, p.status, s.id AS shop_id, s.slug, s.status AS shop_status \
             FROM cart_items ci JOIN variants v ON v.id = ci.variant_id JOIN products p ON p.id = v.product_id JOIN shops s ON s.id = v.shop_id \
             WHERE ci.user_id = $1 ORDER BY s.slug, ci.added_at, ci.variant_id",
        )
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CartLine {
                    variant_id: r.try_get("variant_id")?,
                    quantity: r.try_get("quantity")?,
                    sku: r.try_get("sku")?,
                    options: r.try_get("options")?,
                    unit_price: r.try_get("price")?,
                    currency: r.try_get("currency")?,
                    weight_grams: r.try_get("weight_grams")?,
                    available: r.try_get("available")?,
                    product_id: r.try_get("product_id")?,
                    product_title: r.try_get("title")?,
                    product_published: r.try_get::<String, _>("status")? == "published",
                    shop_id: r.try_get("shop_id")?,
                    shop_slug: r.try_get("slug")?,
                    shop_active: r.try_get::<String, _>("shop_status")? == "active",
                })
            })
            .collect()
    }
}
