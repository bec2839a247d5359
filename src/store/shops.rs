//! Shops and who works for them. Sellers and moderators are scoped to shops:
//! a role here grants nothing outside its shop.

use std::fmt;

use sqlx::Row;

use super::{new_id, now_ms, Store, StoreResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShopRole {
    Seller,
    Moderator,
}

impl ShopRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ShopRole::Seller => "seller",
            ShopRole::Moderator => "moderator",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "seller" => Some(ShopRole::Seller),
            "moderator" => Some(ShopRole::Moderator),
            _ => None,
        }
    }
}

impl fmt::Display for ShopRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct ShopRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub currency: String,
    pub status: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct MembershipRow {
    pub shop_id: String,
    pub shop_slug: String,
    pub shop_name: String,
    pub role: ShopRole,
}

impl Store {
    /// Creates a shop and makes `owner_id` its seller, in one transaction.
    pub async fn create_shop(&self, slug: &str, name: &str, currency: &str, owner_id: &str) -> StoreResult<ShopRow> {
        let shop = ShopRow {
            id: new_id(),
            slug: slug.to_string(),
            name: name.to_string(),
            currency: currency.to_string(),
            status: "active".into(),
            created_at: now_ms(),
        };
        let mut tx = self.writer().begin().await?;
        sqlx::query("INSERT INTO shops (id, slug, name, currency, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&shop.id)
            .bind(&shop.slug)
            .bind(&shop.name)
            .bind(&shop.currency)
            .bind(&shop.status)
            .bind(shop.created_at)
            .execute(&mut *tx)
            .await?;
        add_member(&mut tx, &shop.id, owner_id, ShopRole::Seller).await?;
        tx.commit().await?;
        Ok(shop)
    }

    pub async fn add_shop_member(&self, shop_id: &str, user_id: &str, role: ShopRole) -> StoreResult<()> {
        let mut tx = self.writer().begin().await?;
        add_member(&mut tx, shop_id, user_id, role).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn shop_by_slug(&self, slug: &str) -> StoreResult<Option<ShopRow>> {
        self.shop_where("slug", slug).await
    }

    pub async fn shop_by_id(&self, id: &str) -> StoreResult<Option<ShopRow>> {
        self.shop_where("id", id).await
    }

    async fn shop_where(&self, column: &'static str, value: &str) -> StoreResult<Option<ShopRow>> {
        let sql = format!("SELECT id, slug, name, currency, status, created_at FROM shops WHERE {column} = $1");
        let row = sqlx::query(&sql).bind(value).fetch_optional(self.reader()).await?;
        row.map(|row| {
            Ok(ShopRow {
                id: row.try_get("id")?,
                slug: row.try_get("slug")?,
                name: row.try_get("name")?,
                currency: row.try_get("currency")?,
                status: row.try_get("status")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// The roles `user_id` holds in one shop.
    pub async fn shop_roles(&self, shop_id: &str, user_id: &str) -> StoreResult<Vec<ShopRole>> {
        let rows = sqlx::query("SELECT role FROM shop_members WHERE shop_id = $1 AND user_id = $2")
            .bind(shop_id)
            .bind(user_id)
            .fetch_all(self.reader())
            .await?;
        let mut roles = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(role) = ShopRole::parse(&row.try_get::<String, _>("role")?) {
                roles.push(role);
            }
        }
        Ok(roles)
    }

    /// Every shop role the user holds.
    pub async fn memberships(&self, user_id: &str) -> StoreResult<Vec<MembershipRow>> {
        let rows = sqlx::query(
            "SELECT m.shop_id, s.slug, s.name, m.role FROM shop_members m JOIN shops s ON s.id = m.shop_id \
             WHERE m.user_id = $1 ORDER BY s.slug, m.role",
        )
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let role: String = row.try_get("role")?;
            if let Some(role) = ShopRole::parse(&role) {
                out.push(MembershipRow {
                    shop_id: row.try_get("shop_id")?,
                    shop_slug: row.try_get("slug")?,
                    shop_name: row.try_get("name")?,
                    role,
                });
            }
        }
        Ok(out)
    }
}

async fn add_member(tx: &mut sqlx::Transaction<'_, sqlx::Any>, shop_id: &str, user_id: &str, role: ShopRole) -> StoreResult<()> {
    sqlx::query("INSERT INTO shop_members (shop_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(shop_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
