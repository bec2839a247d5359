//! Categories, products and variants.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{placeholders, stock, CommerceResult};
use crate::store::{new_id, now_ms, Store, StoreResult};

#[derive(Clone, Debug)]
pub struct CategoryRow {
    pub id: String,
    pub shop_id: String,
    pub parent_id: Option<String>,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct ProductRow {
    pub id: String,
    pub shop_id: String,
    pub category_id: Option<String>,
    pub title: String,
    pub description: String,
    pub image_urls: Vec<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ProductRow {
    pub fn is_published(&self) -> bool {
        self.status == "published"
    }
}

#[derive(Clone, Debug)]
pub struct VariantRow {
    pub id: String,
    pub product_id: String,
    pub shop_id: String,
    pub sku: String,
    pub options: BTreeMap<String, String>,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub currency: String,
    pub weight_grams: i64,
    pub image_urls: Vec<String>,
    pub available: i64,
    pub reserved: i64,
    pub created_at: i64,
}

pub struct NewVariant {
    pub sku: String,
    /// JSON object text, from `domain::parse_options`.
    pub options_json: String,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub weight_grams: i64,
    pub image_urls: Vec<String>,
    /// Recorded as a `restock` movement.
    pub initial_stock: i64,
}

pub struct NewProduct {
    pub category_id: Option<String>,
    pub title: String,
    pub description: String,
    pub image_urls: Vec<String>,
    pub variants: Vec<NewVariant>,
}

#[derive(Default)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` clears the category.
    pub category_id: Option<Option<String>>,
    pub image_urls: Option<Vec<String>>,
}

#[derive(Default)]
pub struct VariantPatch {
    pub price: Option<i64>,
    /// `Some(None)` clears it.
    pub compare_at_price: Option<Option<i64>>,
    pub weight_grams: Option<i64>,
    pub options_json: Option<String>,
    pub image_urls: Option<Vec<String>>,
}

pub(crate) const PRODUCT_COLUMNS: &str = "p.id, p.shop_id, p.category_id, p.title, p.description, p.image_urls, p.status, p.created_at, p.updated_at";
const VARIANT_COLUMNS: &str =
    "id, product_id, shop_id, sku, options, price, compare_at_price, currency, weight_grams, image_urls, available, reserved, created_at";

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn product_from_row(row: &AnyRow) -> StoreResult<ProductRow> {
    Ok(ProductRow {
        id: row.try_get("id")?,
        shop_id: row.try_get("shop_id")?,
        category_id: row.try_get("category_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        image_urls: json_list(&row.try_get::<String, _>("image_urls")?),
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn variant_from_row(row: &AnyRow) -> StoreResult<VariantRow> {
    Ok(VariantRow {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        shop_id: row.try_get("shop_id")?,
        sku: row.try_get("sku")?,
        options: serde_json::from_str(&row.try_get::<String, _>("options")?).unwrap_or_default(),
        price: row.try_get("price")?,
        compare_at_price: row.try_get("compare_at_price")?,
        currency: row.try_get("currency")?,
        weight_grams: row.try_get("weight_grams")?,
        image_urls: json_list(&row.try_get::<String, _>("image_urls")?),
        available: row.try_get("available")?,
        reserved: row.try_get("reserved")?,
        created_at: row.try_get("created_at")?,
    })
}

fn category_from_row(row: &AnyRow) -> StoreResult<CategoryRow> {
    Ok(CategoryRow {
        id: row.try_get("id")?,
        shop_id: row.try_get("shop_id")?,
        parent_id: row.try_get("parent_id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn insert_variant(
    tx: &mut Transaction<'_, Any>,
    product_id: &str,
    shop_id: &str,
    currency: &str,
    v: &NewVariant,
    actor_id: &str,
) -> CommerceResult<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO variants (id, product_id, shop_id, sku, options, price, compare_at_price, currency, weight_grams, image_urls, available, reserved, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0, $11)",
    )
    .bind(&id)
    .bind(product_id)
    .bind(shop_id)
    .bind(&v.sku)
    .bind(&v.options_json)
    .bind(v.price)
    .bind(v.compare_at_price)
    .bind(currency)
    .bind(v.weight_grams)
    .bind(to_json(&v.image_urls))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    if v.initial_stock > 0 {
        stock::restock_in(tx, &id, v.initial_stock, "restock", Some("initial stock"), None, Some(actor_id)).await?;
    }
    Ok(id)
}

impl Store {
    pub async fn create_category(&self, shop_id: &str, parent_id: Option<&str>, slug: &str, name: &str) -> StoreResult<CategoryRow> {
        let row = CategoryRow {
            id: new_id(),
            shop_id: shop_id.into(),
            parent_id: parent_id.map(Into::into),
            slug: slug.into(),
            name: name.into(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO categories (id, shop_id, parent_id, slug, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&row.id)
            .bind(&row.shop_id)
            .bind(&row.parent_id)
            .bind(&row.slug)
            .bind(&row.name)
            .bind(row.created_at)
            .execute(self.writer())
            .await?;
        Ok(row)
    }

    pub async fn category_by_id(&self, id: &str) -> StoreResult<Option<CategoryRow>> {
        let row = sqlx::query("SELECT id, shop_id, parent_id, slug, name, created_at FROM categories WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(category_from_row).transpose()
    }

    /// A shop's categories in creation order, `limit + 1` rows after `after`.
    pub async fn list_categories(&self, shop_id: &str, after: Option<&str>, limit: i64) -> StoreResult<Vec<CategoryRow>> {
        let rows = sqlx::query(
            "SELECT id, shop_id, parent_id, slug, name, created_at FROM categories WHERE shop_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(shop_id)
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(category_from_row).collect()
    }

    /// Creates a draft product and its variants (with their initial stock
    /// recorded in the ledger) in one transaction. A SKU already used in the
    /// shop is `StoreError::UniqueViolation`.
    pub async fn create_product(&self, shop_id: &str, currency: &str, actor_id: &str, p: NewProduct) -> CommerceResult<String> {
        let id = new_id();
        let now = now_ms();
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO products (id, shop_id, category_id, title, description, image_urls, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $7)",
        )
        .bind(&id)
        .bind(shop_id)
        .bind(&p.category_id)
        .bind(&p.title)
        .bind(&p.description)
        .bind(to_json(&p.image_urls))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for v in &p.variants {
            insert_variant(&mut tx, &id, shop_id, currency, v, actor_id).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn add_variant(&self, product: &ProductRow, currency: &str, actor_id: &str, v: NewVariant) -> CommerceResult<String> {
        let mut tx = self.writer().begin().await?;
        let id = insert_variant(&mut tx, &product.id, &product.shop_id, currency, &v, actor_id).await?;
        sqlx::query("UPDATE products SET updated_at = $1 WHERE id = $2").bind(now_ms()).bind(&product.id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn update_product(&self, id: &str, patch: ProductPatch) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        if let Some(title) = &patch.title {
            sqlx::query("UPDATE products SET title = $1 WHERE id = $2").bind(title).bind(id).execute(&mut *tx).await?;
        }
        if let Some(description) = &patch.description {
            sqlx::query("UPDATE products SET description = $1 WHERE id = $2").bind(description).bind(id).execute(&mut *tx).await?;
        }
        if let Some(category) = &patch.category_id {
            sqlx::query("UPDATE products SET category_id = $1 WHERE id = $2").bind(category).bind(id).execute(&mut *tx).await?;
        }
        if let Some(urls) = &patch.image_urls {
            sqlx::query("UPDATE products SET image_urls = $1 WHERE id = $2").bind(to_json(urls)).bind(id).execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE products SET updated_at = $1 WHERE id = $2").bind(now_ms()).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_product_published(&self, id: &str, published: bool) -> StoreResult<()> {
        sqlx::query("UPDATE products SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(if published { "published" } else { "draft" })
            .bind(now_ms())
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn update_variant(&self, id: &str, patch: VariantPatch) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        if let Some(price) = patch.price {
            sqlx::query("UPDATE variants SET price = $1 WHERE id = $2").bind(price).bind(id).execute(&mut *tx).await?;
        }
        if let Some(compare_at) = patch.compare_at_price {
            sqlx::query("UPDATE variants SET compare_at_price = $1 WHERE id = $2").bind(compare_at).bind(id).execute(&mut *tx).await?;
        }
        if let Some(weight) = patch.weight_grams {
            sqlx::query("UPDATE variants SET weight_grams = $1 WHERE id = $2").bind(weight).bind(id).execute(&mut *tx).await?;
        }
        if let Some(options) = &patch.options_json {
            sqlx::query("UPDATE variants SET options = $1 WHERE id = $2").bind(options).bind(id).execute(&mut *tx).await?;
        }
        if let Some(urls) = &patch.image_urls {
            sqlx::query("UPDATE variants SET image_urls = $1 WHERE id = $2").bind(to_json(urls)).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn product_by_id(&self, id: &str) -> StoreResult<Option<ProductRow>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(product_from_row).transpose()
    }

    pub async fn variant_by_id(&self, id: &str) -> StoreResult<Option<VariantRow>> {
        let sql = format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(variant_from_row).transpose()
    }

    /// The variants of these products, oldest first.
    pub async fn variants_of(&self, product_ids: &[String]) -> StoreResult<Vec<VariantRow>> {
        if product_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE product_id IN ({}) ORDER BY id", placeholders(1, product_ids.len()));
        let mut query = sqlx::query(&sql);
        for id in product_ids {
            query = query.bind(id);
        }
        query.fetch_all(self.reader()).await?.iter().map(variant_from_row).collect()
    }

    /// A shop's products, oldest first, `limit + 1` rows after `after`.
    pub async fn list_shop_products(&self, shop_id: &str, published_only: bool, after: Option<&str>, limit: i64) -> StoreResult<Vec<ProductRow>> {
        let sql = format!(
            "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.shop_id = $1 AND p.id > $2 {} ORDER BY p.id LIMIT $3",
            if published_only { "AND p.status = 'published'" } else { "" }
        );
        let rows = sqlx::query(&sql).bind(shop_id).bind(after.unwrap_or("")).bind(limit + 1).fetch_all(self.reader()).await?;
        rows.iter().map(product_from_row).collect()
    }
}
