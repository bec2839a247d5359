//! What a viewer sees of a pinned product: live price, compare-at price and a
//! stock band per variant (never an exact count).

use serde::Serialize;

use super::stock_band::StockBand;
use crate::store::{Store, StoreResult};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PinnedVariant {
    pub variant_id: String,
    pub sku: String,
    /// Minor units.
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub currency: String,
    /// `{"band":"in_stock"}`, `{"band":"low","left":7}` or `{"band":"sold_out"}`.
    #[schema(value_type = Object)]
    pub stock: StockBand,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PinnedCard {
    pub product_id: String,
    pub title: String,
    pub image_url: Option<String>,
    pub variants: Vec<PinnedVariant>,
}

/// The card of one product, or `None` if it no longer exists.
pub async fn card(store: &Store, product_id: &str, low_threshold: u32) -> StoreResult<Option<PinnedCard>> {
    let Some(product) = store.product_by_id(product_id).await? else { return Ok(None) };
    let variants = store.variants_of(std::slice::from_ref(&product.id)).await?;
    Ok(Some(PinnedCard {
        product_id: product.id,
        title: product.title,
        image_url: product.image_urls.first().cloned(),
        variants: variants
            .into_iter()
            .map(|v| PinnedVariant {
                stock: StockBand::of(v.available, low_threshold),
                variant_id: v.id,
                sku: v.sku,
                price: v.price,
                compare_at_price: v.compare_at_price,
                currency: v.currency,
            })
            .collect(),
    }))
}

/// Every pinned card of a room, oldest pin first.
pub async fn room_cards(store: &Store, room_id: &str, low_threshold: u32) -> StoreResult<Vec<PinnedCard>> {
    let mut cards = Vec::new();
    for product_id in store.pinned_products(room_id).await? {
        if let Some(c) = card(store, &product_id, low_threshold).await? {
            cards.push(c);
        }
    }
    Ok(cards)
}
