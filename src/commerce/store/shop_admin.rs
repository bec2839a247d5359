//! Shop suspension (by an admin) and the shop's profile (by its sellers).

use sqlx::Row;

use crate::store::{now_ms, Store, StoreResult};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShopProfile {
    pub description: String,
    pub logo_url: Option<String>,
    pub banner_url: Option<String>,
    /// `#rrggbb`.
    pub accent_color: Option<String>,
}

impl Store {
    /// Sets `shops.status` (`active` or `suspended`); `false` if no such shop.
    pub async fn set_shop_status(&self, shop_id: &str, status: &str, reason: Option<&str>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE shops SET status = $1, suspended_reason = $2 WHERE id = $3").bind(status).bind(reason).bind(shop_id).execute(self.writer()).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn shop_suspended_reason(&self, shop_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT suspended_reason FROM shops WHERE id = $1").bind(shop_id).fetch_optional(self.reader()).await?;
        Ok(match row {
            Some(r) => r.try_get("suspended_reason")?,
            None => None,
        })
    }

    /// The shop's profile (empty until a seller sets one).
    pub async fn shop_profile(&self, shop_id: &str) -> StoreResult<ShopProfile> {
        let row = sqlx::query("SELECT description, logo_url, banner_url, accent_color FROM shop_profiles WHERE shop_id = $1").bind(shop_id).fetch_optional(self.reader()).await?;
        Ok(match row {
            Some(r) => ShopProfile {
                description: r.try_get("description")?,
                logo_url: r.try_get("logo_url")?,
                banner_url: r.try_get("banner_url")?,
                accent_color: r.try_get("accent_color")?,
            },
            None => ShopProfile::default(),
        })
    }

    pub async fn set_shop_profile(&self, shop_id: &str, profile: &ShopProfile) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO shop_profiles (shop_id, description, logo_url, banner_url, accent_color, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (shop_id) DO UPDATE SET description = excluded.description, logo_url = excluded.logo_url, \
             banner_url = excluded.banner_url, accent_color = excluded.accent_color, updated_at = excluded.updated_at",
        )
        .bind(shop_id)
        .bind(&profile.description)
        .bind(&profile.logo_url)
        .bind(&profile.banner_url)
        .bind(&profile.accent_color)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(())
    }
}
