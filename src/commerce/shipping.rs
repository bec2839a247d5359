//! Shipping, sans-IO: a shop's rate card (zones of countries × weight bands,
//! a free-shipping threshold), the quote for one parcel, and the `Carrier`
//! seam with the built-in manual carrier.

use serde::{Deserialize, Serialize};

/// A shop's shipping rates, stored as one document per shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RateCard {
    /// Orders whose subtotal after discount reaches this ship free; `null`: never free.
    pub free_shipping_from: Option<i64>,
    /// Looked up in order; the first zone listing the destination country wins, then a `*` zone.
    pub zones: Vec<Zone>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Zone {
    pub name: String,
    /// ISO 3166-1 alpha-2 codes such as `US`, or `*` for the rest of the world.
    pub countries: Vec<String>,
    /// Ascending by `up_to_grams`; a parcel pays the first band it fits.
    pub bands: Vec<WeightBand>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WeightBand {
    /// Inclusive upper bound of the parcel's weight.
    pub up_to_grams: i64,
    /// Minor units, in the shop's currency.
    pub price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateCardError {
    #[error("a rate card has 1 to 50 zones")]
    ZoneCount,
    #[error("zone names are 1 to 60 characters")]
    ZoneName,
    #[error("{0:?} is not a two-letter country code (or *)")]
    Country(String),
    #[error("{0} appears in two zones")]
    DuplicateCountry(String),
    #[error("each zone has 1 to 20 weight bands, ascending by up_to_grams, with prices and weights of 0 or more")]
    Bands,
    #[error("free_shipping_from cannot be negative")]
    Threshold,
}

impl RateCard {
    /// Checks the card and normalises country codes to upper case.
    pub fn validated(mut self) -> Result<RateCard, RateCardError> {
        if self.zones.is_empty() || self.zones.len() > 50 {
            return Err(RateCardError::ZoneCount);
        }
        if self.free_shipping_from.is_some_and(|f| f < 0) {
            return Err(RateCardError::Threshold);
        }
        let mut seen: Vec<String> = Vec::new();
        for zone in &mut self.zones {
            zone.name = zone.name.trim().to_string();
            if zone.name.is_empty() || zone.name.chars().count() > 60 || zone.name.chars().any(char::is_control) {
                return Err(RateCardError::ZoneName);
            }
            if zone.countries.is_empty() || zone.countries.len() > 250 {
                return Err(RateCardError::Country(String::new()));
            }
            for c in &mut zone.countries {
                *c = c.trim().to_ascii_uppercase();
                if !(c == "*" || c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) {
                    return Err(RateCardError::Country(c.clone()));
                }
                if seen.contains(c) {
                    return Err(RateCardError::DuplicateCountry(c.clone()));
                }
                seen.push(c.clone());
            }
            let ascending = zone.bands.windows(2).all(|w| w[0].up_to_grams < w[1].up_to_grams);
            let sane = zone.bands.iter().all(|b| b.up_to_grams >= 0 && (0..=100_000_000).contains(&b.price));
            if zone.bands.is_empty() || zone.bands.len() > 20 || !ascending || !sane {
                return Err(RateCardError::Bands);
            }
        }
        Ok(self)
    }
}

/// Why a parcel has no price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRate {
    #[error("choose a shipping country first")]
    CountryNeeded,
    #[error("this shop does not ship to {0}")]
    NotShippedTo(String),
    #[error("the parcel ({0} g) is heavier than this shop ships to that country")]
    TooHeavy(i64),
}

/// The price of one parcel of `weight_grams` to `country` under `card`.
pub fn quote(card: &RateCard, country: Option<&str>, weight_grams: i64, discounted_subtotal: i64) -> Result<i64, NoRate> {
    let zone = match country {
        Some(c) => card
            .zones
            .iter()
            .find(|z| z.countries.iter().any(|zc| zc.eq_ignore_ascii_case(c)))
            .or_else(|| card.zones.iter().find(|z| z.countries.iter().any(|zc| zc == "*")))
            .ok_or_else(|| NoRate::NotShippedTo(c.to_ascii_uppercase()))?,
        None => card.zones.iter().find(|z| z.countries.iter().any(|zc| zc == "*")).ok_or(NoRate::CountryNeeded)?,
    };
    let weight = weight_grams.max(0);
    let band = zone.bands.iter().find(|b| weight <= b.up_to_grams).ok_or(NoRate::TooHeavy(weight))?;
    if card.free_shipping_from.is_some_and(|from| discounted_subtotal >= from) {
        return Ok(0);
    }
    Ok(band.price)
}

/// A shipping company. Tracking numbers are checked by the carrier that will carry the parcel.
pub trait Carrier: Send + Sync {
    fn name(&self) -> &str;
    /// `None` when the number looks right for this carrier, else why not.
    fn check_tracking_number(&self, tracking: &str) -> Option<&'static str>;
}

/// The seller ships by any means and types in the carrier's name and
/// tracking number; tracking events are entered by the seller too.
pub struct ManualCarrier {
    pub label: String,
}

impl Carrier for ManualCarrier {
    fn name(&self) -> &str {
        &self.label
    }

    fn check_tracking_number(&self, tracking: &str) -> Option<&'static str> {
        let ok = (3..=64).contains(&tracking.len()) && tracking.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b' ');
        (!ok).then_some("a tracking number is 3 to 64 letters, digits, spaces or dashes")
    }
}

/// What a tracking update says about a shipped parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    InTransit,
    OutForDelivery,
    Delivered,
}

impl TrackingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingStatus::InTransit => "in_transit",
            TrackingStatus::OutForDelivery => "out_for_delivery",
            TrackingStatus::Delivered => "delivered",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> RateCard {
        RateCard {
            free_shipping_from: Some(10_000),
            zones: vec![
                Zone { name: "Home".into(), countries: vec!["us".into(), "CA".into()], bands: vec![WeightBand { up_to_grams: 500, price: 400 }, WeightBand { up_to_grams: 2000, price: 900 }] },
                Zone { name: "World".into(), countries: vec!["*".into()], bands: vec![WeightBand { up_to_grams: 1000, price: 2500 }] },
            ],
        }
        .validated()
        .unwrap()
    }

    #[test]
    fn a_parcel_pays_the_first_band_it_fits_in_its_countrys_zone() {
        assert_eq!(quote(&card(), Some("US"), 300, 1000), Ok(400));
        assert_eq!(quote(&card(), Some("ca"), 501, 1000), Ok(900));
        assert_eq!(quote(&card(), Some("FR"), 800, 1000), Ok(2500), "the * zone takes the rest of the world");
    }

    #[test]
    fn shipping_is_free_from_the_threshold_but_an_unshippable_parcel_is_still_refused() {
        assert_eq!(quote(&card(), Some("US"), 300, 10_000), Ok(0));
        assert_eq!(quote(&card(), Some("US"), 5000, 10_000), Err(NoRate::TooHeavy(5000)));
    }

    #[test]
    fn without_a_rest_of_world_zone_other_countries_and_unknown_destinations_get_no_rate() {
        let mut c = card();
        c.zones.pop();
        assert_eq!(quote(&c, Some("FR"), 100, 0), Err(NoRate::NotShippedTo("FR".into())));
        assert_eq!(quote(&c, None, 100, 0), Err(NoRate::CountryNeeded));
    }

    #[test]
    fn invalid_cards_are_refused() {
        let mut c = card();
        c.zones[0].countries.push("USA".into());
        assert_eq!(c.validated(), Err(RateCardError::Country("USA".into())));
        let mut c = card();
        c.zones[1].countries.push("US".into());
        assert_eq!(c.validated(), Err(RateCardError::DuplicateCountry("US".into())));
        let mut c = card();
        c.zones[0].bands.reverse();
        assert_eq!(c.validated(), Err(RateCardError::Bands));
    }

    #[test]
    fn the_manual_carrier_accepts_plain_tracking_numbers_only() {
        let carrier = ManualCarrier { label: "ups".into() };
        assert_eq!(carrier.check_tracking_number("1Z999AA10123456784"), None);
        assert!(carrier.check_tracking_number("<script>").is_some());
    }
}
