//! `streamcart --demo`: a demo shop with a seller, a moderator and a viewer,
//! each with a random password printed once, so a newcomer can sign in at once.

use crate::auth::{hash_opaque_token, hash_password, new_opaque_token};
use crate::commerce::store::{NewProduct, NewVariant};
use crate::secrets::random_alphanumeric;
use crate::store::{NewRoom, NewUser, ShopRole, Store};

pub const DEMO_SHOP_SLUG: &str = "demo";
pub const DEMO_ROOM: &str = "demo-live";

pub struct DemoAccount {
    pub role: &'static str,
    pub email: String,
    pub password: String,
}

/// Seeds the demo once. Returns `None` when it already exists (its passwords
/// were printed on that first run and are not stored anywhere in clear).
pub async fn seed(store: &Store, currency: &str) -> anyhow::Result<Option<Vec<DemoAccount>>> {
    if store.shop_by_slug(DEMO_SHOP_SLUG).await?.is_some() {
        return Ok(None);
    }
    let mut accounts = Vec::new();
    let mut ids = Vec::new();
    for (role, local, name) in [("seller", "seller", "Demo Seller"), ("moderator", "moderator", "Demo Moderator"), ("viewer", "viewer", "Demo Viewer")] {
        let password = random_alphanumeric(16);
        let hash = hash_password(password.clone()).await?;
        let email = format!("{local}@demo.streamcart.local");
        let mut tx = store.writer().begin().await?;
        let user = store
            .insert_user(&mut tx, NewUser { email: &email, password_hash: &hash, display_name: name, is_admin: false })
            .await?;
        tx.commit().await?;
        ids.push(user.id);
        accounts.push(DemoAccount { role, email, password });
    }
    let shop = store.create_shop(DEMO_SHOP_SLUG, "Demo Shop", currency, &ids[0]).await?;
    store.add_shop_member(&shop.id, &ids[1], ShopRole::Moderator).await?;
    store
        .create_room(NewRoom {
            name: DEMO_ROOM,
            shop_id: &shop.id,
            title: "Demo live shopping",
            visibility: "public",
            scheduled_at: None,
            stream_key_hash: &hash_opaque_token(&new_opaque_token()),
        })
        .await?;
    for (title, sku, price, compare_at) in [("Linen shirt", "DEMO-SHIRT", 3_900, Some(5_900)), ("Canvas tote", "DEMO-TOTE", 1_500, None)] {
        let variant = NewVariant {
            sku: sku.into(),
            options_json: "{}".into(),
            price,
            compare_at_price: compare_at,
            weight_grams: 300,
            image_urls: Vec::new(),
            initial_stock: 25,
        };
        let product = NewProduct { category_id: None, title: title.into(), description: String::new(), image_urls: Vec::new(), variants: vec![variant] };
        let id = store.create_product(&shop.id, currency, &ids[0], product).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        store.set_product_published(&id, true).await?;
    }
    Ok(Some(accounts))
}
