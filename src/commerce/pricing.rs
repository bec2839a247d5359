//! Cart and order arithmetic, sans-IO: totals per shop, coupon discounts,
//! the shipping quote and the tax placeholder. Every amount is integer minor
//! units in the group's currency; nothing here reads a clock or a database.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub variant_id: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub weight_grams: i64,
}

/// The lines of one shop, priced in its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopGroup {
    pub shop_id: String,
    pub currency: String,
    pub lines: Vec<PricedLine>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponKind {
    /// `amount` percent (1..=100) off the subtotal.
    Percent,
    /// `amount` minor units off, in the coupon's currency.
    Fixed,
}

impl CouponKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CouponKind::Percent => "percent",
            CouponKind::Fixed => "fixed",
        }
    }
    pub fn parse(s: &str) -> Option<CouponKind> {
        match s {
            "percent" => Some(CouponKind::Percent),
            "fixed" => Some(CouponKind::Fixed),
            _ => None,
        }
    }
}

/// What the pricing rules need to know about a coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponTerms {
    pub kind: CouponKind,
    pub amount: i64,
    pub currency: Option<String>,
    /// `None`: platform-wide.
    pub shop_id: Option<String>,
    pub min_spend: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CouponRejection {
    #[error("this coupon has expired")]
    Expired,
    #[error("this coupon does not apply to any shop in the cart")]
    NotApplicable,
    #[error("the cart does not reach this coupon's minimum spend of {min_spend}")]
    BelowMinimum { min_spend: i64 },
}

/// Free shipping from this subtotal (after discount) up.
pub const FREE_SHIPPING_FROM: i64 = 10_000;
/// Flat rate for the first kilogram, then per started kilogram.
pub const SHIPPING_BASE: i64 = 499;
pub const SHIPPING_PER_EXTRA_KG: i64 = 150;

/// The shipping quote for one shop's parcel when the shop has set no rate
/// card of its own (`shipping::RateCard` otherwise).
pub fn shipping_quote(weight_grams: i64, discounted_subtotal: i64) -> i64 {
    if discounted_subtotal >= FREE_SHIPPING_FROM || weight_grams <= 0 && discounted_subtotal == 0 {
        return 0;
    }
    let extra_grams = (weight_grams.max(0) - 1000).max(0);
    let extra_kg = (extra_grams + 999) / 1000;
    SHIPPING_BASE + extra_kg * SHIPPING_PER_EXTRA_KG
}

/// Tax placeholder: prices are tax-inclusive until tax rules exist.
pub fn tax(_discounted_subtotal: i64, _currency: &str) -> i64 {
    0
}

pub fn parcel_weight(lines: &[PricedLine]) -> i64 {
    lines.iter().map(|l| l.weight_grams.saturating_mul(l.quantity)).fold(0i64, i64::saturating_add)
}

pub fn subtotal(lines: &[PricedLine]) -> i64 {
    lines.iter().map(|l| l.unit_price.saturating_mul(l.quantity)).fold(0i64, i64::saturating_add)
}

/// Totals for every group, with the coupon (if any) applied. Returns the
/// totals in the groups' order, or why the coupon cannot be used.
///
/// A shop coupon applies to its shop's group; a platform coupon applies, for
/// percent, to every group (in its currency, for fixed) reaching the minimum,
/// and for fixed amounts to the first such group only, so it is spent once.
pub fn price_groups(groups: &[ShopGroup], coupon: Option<&CouponTerms>, now_ms: i64) -> Result<Vec<Totals>, CouponRejection> {
    price_groups_with(groups, coupon, now_ms, |_, weight, discounted| shipping_quote(weight, discounted))
}

/// [`price_groups`] with the shipping price of each group's parcel from
/// `shipping(group, weight_grams, discounted_subtotal)` (a shop's rate card).
pub fn price_groups_with(
    groups: &[ShopGroup],
    coupon: Option<&CouponTerms>,
    now_ms: i64,
    shipping: impl Fn(&ShopGroup, i64, i64) -> i64,
) -> Result<Vec<Totals>, CouponRejection> {
    let subtotals: Vec<i64> = groups.iter().map(|g| subtotal(&g.lines)).collect();
    let mut discounts = vec![0i64; groups.len()];
    if let Some(c) = coupon {
        if c.expires_at.is_some_and(|at| at <= now_ms) {
            return Err(CouponRejection::Expired);
        }
        let matching: Vec<usize> = (0..groups.len())
            .filter(|&i| c.shop_id.as_ref().is_none_or(|s| *s == groups[i].shop_id))
            .filter(|&i| c.kind == CouponKind::Percent || c.currency.as_deref() == Some(groups[i].currency.as_str()))
            .collect();
        if matching.is_empty() {
            return Err(CouponRejection::NotApplicable);
        }
        let eligible: Vec<usize> = matching.iter().copied().filter(|&i| subtotals[i] >= c.min_spend).collect();
        if eligible.is_empty() {
            return Err(CouponRejection::BelowMinimum { min_spend: c.min_spend });
        }
        match c.kind {
            CouponKind::Percent => {
                for &i in &eligible {
                    discounts[i] = subtotals[i].saturating_mul(c.amount.clamp(0, 100)) / 100;
                }
            }
            CouponKind::Fixed => {
                let i = eligible[0];
                discounts[i] = c.amount.clamp(0, subtotals[i]);
            }
        }
    }
    Ok(groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let discounted = subtotals[i] - discounts[i];
            let tax = tax(discounted, &g.currency);
            let shipping = if g.lines.is_empty() { 0 } else { shipping(g, parcel_weight(&g.lines), discounted) };
            Totals { subtotal: subtotals[i], discount: discounts[i], tax, shipping, total: discounted + tax + shipping }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(shop: &str, currency: &str, price: i64, qty: i64) -> ShopGroup {
        ShopGroup {
            shop_id: shop.into(),
            currency: currency.into(),
            lines: vec![PricedLine { variant_id: format!("v-{shop}"), unit_price: price, quantity: qty, weight_grams: 500 }],
        }
    }

    fn coupon(kind: CouponKind, amount: i64, shop: Option<&str>) -> CouponTerms {
        CouponTerms { kind, amount, currency: Some("USD".into()), shop_id: shop.map(Into::into), min_spend: 0, expires_at: None }
    }

    #[test]
    fn totals_add_shipping_below_the_free_threshold() {
        let t = price_groups(&[group("a", "USD", 1000, 2)], None, 0).unwrap();
        assert_eq!(t[0], Totals { subtotal: 2000, discount: 0, tax: 0, shipping: SHIPPING_BASE, total: 2000 + SHIPPING_BASE });
    }

    #[test]
    fn shipping_is_free_from_the_threshold_and_grows_per_started_kilogram() {
        assert_eq!(shipping_quote(5000, FREE_SHIPPING_FROM), 0);
        assert_eq!(shipping_quote(1000, 100), SHIPPING_BASE);
        assert_eq!(shipping_quote(1001, 100), SHIPPING_BASE + SHIPPING_PER_EXTRA_KG);
    }

    #[test]
    fn a_percent_coupon_of_one_shop_discounts_only_that_shop() {
        let groups = [group("a", "USD", 1000, 1), group("b", "USD", 1000, 1)];
        let t = price_groups(&groups, Some(&coupon(CouponKind::Percent, 10, Some("b"))), 0).unwrap();
        assert_eq!((t[0].discount, t[1].discount), (0, 100));
    }

    #[test]
    fn a_fixed_coupon_never_discounts_more_than_the_subtotal_and_is_spent_once() {
        let groups = [group("a", "USD", 300, 1), group("b", "USD", 300, 1)];
        let t = price_groups(&groups, Some(&coupon(CouponKind::Fixed, 500, None)), 0).unwrap();
        assert_eq!((t[0].discount, t[1].discount), (300, 0));
    }

    #[test]
    fn an_expired_or_unreached_coupon_is_rejected() {
        let mut c = coupon(CouponKind::Percent, 10, None);
        c.expires_at = Some(50);
        assert_eq!(price_groups(&[group("a", "USD", 100, 1)], Some(&c), 50), Err(CouponRejection::Expired));
        c.expires_at = None;
        c.min_spend = 1000;
        assert_eq!(price_groups(&[group("a", "USD", 100, 1)], Some(&c), 50), Err(CouponRejection::BelowMinimum { min_spend: 1000 }));
    }

    #[test]
    fn a_fixed_coupon_in_another_currency_does_not_apply() {
        let r = price_groups(&[group("a", "EUR", 1000, 1)], Some(&coupon(CouponKind::Fixed, 100, None)), 0);
        assert_eq!(r, Err(CouponRejection::NotApplicable));
    }
}
