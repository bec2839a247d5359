//! From cart lines to priced per-shop order drafts, sans-IO: the same plan
//! feeds the cart view (a preview) and the checkout (what gets placed).

use std::collections::{BTreeMap, HashMap};

use super::pricing::{parcel_weight, price_groups_with, shipping_quote, CouponRejection, CouponTerms, PricedLine, ShopGroup, Totals};
use super::shipping::{quote, NoRate, RateCard};
use super::store::{CartLine, DraftLine, OrderDraft};

/// One shop's part of a cart, priced.
#[derive(Debug, Clone)]
pub struct PlannedGroup {
    pub shop_id: String,
    pub shop_slug: String,
    pub currency: String,
    pub lines: Vec<CartLine>,
    pub totals: Totals,
    /// Why this shop cannot ship the parcel (its rate card has no price for it).
    pub shipping_problem: Option<NoRate>,
}

/// Where the parcels go and the rate cards of the shops that set one
/// (the others use `pricing::shipping_quote`).
#[derive(Debug, Clone, Default)]
pub struct ShippingTerms {
    pub country: Option<String>,
    pub cards: HashMap<String, RateCard>,
}

impl ShippingTerms {
    fn quote(&self, group: &ShopGroup, weight: i64, discounted: i64) -> Result<i64, NoRate> {
        match self.cards.get(&group.shop_id) {
            Some(card) => quote(card, self.country.as_deref(), weight, discounted),
            None => Ok(shipping_quote(weight, discounted)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the cart is empty")]
    EmptyCart,
    #[error("{sku} is no longer for sale; remove it from the cart")]
    Unavailable { sku: String },
    #[error("the shop {shop} is suspended and cannot take orders; remove its items from the cart")]
    ShopSuspended { shop: String },
    #[error("{shop}: {reason}")]
    NoShipping { shop: String, reason: NoRate },
}

/// Lines that can no longer be bought (unpublished product, suspended shop).
pub fn unavailable(line: &CartLine) -> bool {
    !line.product_published || !line.shop_active
}

/// Groups lines by shop (in the order given) and prices them with the coupon.
/// The coupon's rejection is returned beside the coupon-less plan, so a
/// preview can still show totals.
pub fn plan(lines: &[CartLine], coupon: Option<&CouponTerms>, now_ms: i64, shipping: &ShippingTerms) -> (Vec<PlannedGroup>, Option<CouponRejection>) {
    let mut order: Vec<String> = Vec::new();
    let mut by_shop: BTreeMap<String, Vec<CartLine>> = BTreeMap::new();
    for line in lines {
        if !by_shop.contains_key(&line.shop_id) {
            order.push(line.shop_id.clone());
        }
        by_shop.entry(line.shop_id.clone()).or_default().push(line.clone());
    }
    let groups: Vec<ShopGroup> = order
        .iter()
        .map(|shop| {
            let lines = &by_shop[shop];
            ShopGroup {
                shop_id: shop.clone(),
                currency: lines[0].currency.clone(),
                lines: lines
                    .iter()
                    .filter(|l| !unavailable(l))
                    .map(|l| PricedLine { variant_id: l.variant_id.clone(), unit_price: l.unit_price, quantity: l.quantity, weight_grams: l.weight_grams })
                    .collect(),
            }
        })
        .collect();
    let price = |g: &ShopGroup, weight: i64, discounted: i64| shipping.quote(g, weight, discounted).unwrap_or(0);
    let (totals, rejection) = match price_groups_with(&groups, coupon, now_ms, price) {
        Ok(t) => (t, None),
        Err(r) => (price_groups_with(&groups, None, now_ms, price).unwrap_or_default(), Some(r)),
    };
    let planned = order
        .into_iter()
        .zip(totals)
        .zip(&groups)
        .map(|((shop, totals), group)| {
            let shipping_problem =
                if group.lines.is_empty() { None } else { shipping.quote(group, parcel_weight(&group.lines), totals.subtotal - totals.discount).err() };
            let lines = by_shop.remove(&shop).unwrap_or_default();
            PlannedGroup { shop_slug: lines[0].shop_slug.clone(), currency: lines[0].currency.clone(), shop_id: shop, lines, totals, shipping_problem }
        })
        .collect();
    (planned, rejection)
}

/// The drafts to place, or why the cart cannot be checked out as it is.
pub fn drafts(groups: &[PlannedGroup]) -> Result<Vec<OrderDraft>, PlanError> {
    if groups.is_empty() {
        return Err(PlanError::EmptyCart);
    }
    if let Some(line) = groups.iter().flat_map(|g| &g.lines).find(|l| !l.shop_active) {
        return Err(PlanError::ShopSuspended { shop: line.shop_slug.clone() });
    }
    if let Some(line) = groups.iter().flat_map(|g| &g.lines).find(|l| unavailable(l)) {
        return Err(PlanError::Unavailable { sku: line.sku.clone() });
    }
    if let Some(g) = groups.iter().find(|g| g.shipping_problem.is_some()) {
        return Err(PlanError::NoShipping { shop: g.shop_slug.clone(), reason: g.shipping_problem.clone().unwrap_or(NoRate::CountryNeeded) });
    }
    Ok(groups
        .iter()
        .map(|g| OrderDraft {
            shop_id: g.shop_id.clone(),
            currency: g.currency.clone(),
            totals: g.totals,
            lines: g
                .lines
                .iter()
                .map(|l| DraftLine { variant_id: l.variant_id.clone(), sku: l.sku.clone(), title: l.product_title.clone(), unit_price: l.unit_price, quantity: l.quantity })
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(shop: &str, variant: &str, price: i64, published: bool) -> CartLine {
        CartLine {
            variant_id: variant.into(),
            quantity: 1,
            sku: format!("SKU-{variant}"),
            options: "{}".into(),
            unit_price: price,
            currency: "USD".into(),
            weight_grams: 100,
            available: 5,
            product_id: "p".into(),
            product_title: "Tee".into(),
            product_published: published,
            shop_id: shop.into(),
            shop_slug: shop.into(),
            shop_active: true,
        }
    }

    #[test]
    fn a_cart_with_two_shops_becomes_two_drafts() {
        let (groups, rejection) = plan(&[line("a", "1", 100, true), line("b", "2", 200, true), line("a", "3", 300, true)], None, 0, &ShippingTerms::default());
        assert_eq!(rejection, None);
        let drafts = drafts(&groups).unwrap();
        assert_eq!(drafts.len(), 2);
        assert_eq!((drafts[0].shop_id.as_str(), drafts[0].totals.subtotal), ("a", 400));
        assert_eq!((drafts[1].shop_id.as_str(), drafts[1].totals.subtotal), ("b", 200));
    }

    #[test]
    fn an_unpublished_line_blocks_checkout_but_not_the_preview() {
        let (groups, _) = plan(&[line("a", "1", 100, true), line("a", "2", 999, false)], None, 0, &ShippingTerms::default());
        assert_eq!(groups[0].totals.subtotal, 100);
        assert_eq!(drafts(&groups).unwrap_err(), PlanError::Unavailable { sku: "SKU-2".into() });
    }

    #[test]
    fn an_empty_cart_cannot_be_checked_out() {
        assert_eq!(drafts(&plan(&[], None, 0, &ShippingTerms::default()).0).unwrap_err(), PlanError::EmptyCart);
    }
}
