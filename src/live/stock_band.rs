//! What a viewer sees instead of an exact stock count.

use serde::Serialize;

/// `in_stock`, `low` ("only 7 left") or `sold_out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "band", rename_all = "snake_case")]
pub enum StockBand {
    InStock,
    Low { left: u32 },
    SoldOut,
}

/// Shown as "only N left" at or below this many units.
pub const DEFAULT_LOW_THRESHOLD: u32 = 10;

impl StockBand {
    pub fn of(available: i64, low_threshold: u32) -> StockBand {
        match available {
            n if n <= 0 => StockBand::SoldOut,
            n if n <= i64::from(low_threshold) => StockBand::Low { left: n as u32 },
            _ => StockBand::InStock,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plenty_of_stock_shows_in_stock() {
        assert_eq!(StockBand::of(500, 10), StockBand::InStock);
        assert_eq!(StockBand::of(11, 10), StockBand::InStock);
    }

    #[test]
    fn a_few_units_show_how_many_are_left() {
        assert_eq!(StockBand::of(10, 10), StockBand::Low { left: 10 });
        assert_eq!(StockBand::of(1, 10), StockBand::Low { left: 1 });
    }

    #[test]
    fn zero_or_negative_is_sold_out() {
        assert_eq!(StockBand::of(0, 10), StockBand::SoldOut);
        assert_eq!(StockBand::of(-3, 10), StockBand::SoldOut);
    }

    #[test]
    fn the_band_serializes_for_the_wire() {
        assert_eq!(serde_json::to_string(&StockBand::Low { left: 7 }).unwrap(), r#"{"band":"low","left":7}"#);
        assert_eq!(serde_json::to_string(&StockBand::SoldOut).unwrap(), r#"{"band":"sold_out"}"#);
    }
}
