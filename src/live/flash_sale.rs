//! A flash sale's timeline: scheduled (countdown to a server deadline) → live
//! → sold out / ended. Quantities and per-buyer caps are enforced by the SQL
//! store; this engine only decides the phase, from the store's authoritative
//! sold count and the clock the shell passes in. Deadlines are absolute, so a
//! sale rebuilt after a restart resumes with its original countdown.

use serde::Serialize;

use super::Millis;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashSaleRules {
    /// Minor units.
    pub sale_price: i64,
    pub total_quantity: i64,
    pub per_buyer_cap: i64,
    pub starts_at: Millis,
    pub duration_ms: Millis,
}

impl FlashSaleRules {
    pub fn ends_at(&self) -> Millis {
        self.starts_at.saturating_add(self.duration_ms)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("sale_price must be positive")]
    NonPositivePrice,
    #[error("total_quantity must be positive")]
    NonPositiveQuantity,
    #[error("per_buyer_cap must be at least 1 and at most total_quantity")]
    InvalidCap,
    #[error("duration must be between 1 second and 24 hours")]
    InvalidDuration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scheduled,
    Live,
    SoldOut,
    Ended,
    Cancelled,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuyRefused {
    #[error("the sale has not started yet")]
    NotStarted { starts_at: Millis },
    #[error("the sale is sold out")]
    SoldOut,
    #[error("the sale has ended")]
    Ended,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Time passed; the shell calls this at `next_deadline()`.
    Tick,
    /// The store's committed count of units reserved or sold.
    Sold { total: i64 },
    Cancel,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    Started { ends_at: Millis },
    SoldOut,
    /// Reservations expired and units came back before the end.
    BackInStock { left: i64 },
    Ended { sold: i64 },
    Cancelled,
}

#[derive(Clone, Debug)]
pub struct FlashSale {
    rules: FlashSaleRules,
    phase: Phase,
    sold: i64,
}

impl FlashSale {
    pub fn new(rules: FlashSaleRules) -> Result<FlashSale, RuleError> {
        if rules.sale_price <= 0 {
            return Err(RuleError::NonPositivePrice);
        }
        if rules.total_quantity <= 0 {
            return Err(RuleError::NonPositiveQuantity);
        }
        if rules.per_buyer_cap < 1 || rules.per_buyer_cap > rules.total_quantity {
            return Err(RuleError::InvalidCap);
        }
        if !(1_000..=86_400_000).contains(&rules.duration_ms) {
            return Err(RuleError::InvalidDuration);
        }
        Ok(FlashSale { rules, phase: Phase::Scheduled, sold: 0 })
    }

    /// Rebuilds a sale from persisted state (after a restart); `Tick` catches up.
    pub fn restore(rules: FlashSaleRules, phase: Phase, sold: i64) -> FlashSale {
        FlashSale { rules, phase, sold }
    }

    pub fn rules(&self) -> &FlashSaleRules {
        &self.rules
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn left(&self) -> i64 {
        (self.rules.total_quantity - self.sold).max(0)
    }

    /// When the shell must call `handle(Tick)` next.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.phase {
            Phase::Scheduled => Some(self.rules.starts_at),
            Phase::Live | Phase::SoldOut => Some(self.rules.ends_at()),
            Phase::Ended | Phase::Cancelled => None,
        }
    }

    /// Whether a buy request may go to the store now (the store still enforces caps).
    pub fn check_buy(&self, now: Millis) -> Result<(), BuyRefused> {
        match self.phase {
            Phase::Scheduled if now < self.rules.starts_at => Err(BuyRefused::NotStarted { starts_at: self.rules.starts_at }),
            _ if now >= self.rules.ends_at() => Err(BuyRefused::Ended),
            Phase::Scheduled | Phase::Live => Ok(()),
            Phase::SoldOut => Err(BuyRefused::SoldOut),
            Phase::Ended | Phase::Cancelled => Err(BuyRefused::Ended),
        }
    }

    pub fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut effects = Vec::new();
        match input {
            Input::Tick => {}
            Input::Sold { total } => self.sold = total.max(0),
            Input::Cancel => {
                if matches!(self.phase, Phase::Scheduled | Phase::Live | Phase::SoldOut) {
                    self.phase = Phase::Cancelled;
                    effects.push(Effect::Cancelled);
                }
                return effects;
            }
        }
        if self.phase == Phase::Scheduled && now >= self.rules.starts_at {
            self.phase = Phase::Live;
            effects.push(Effect::Started { ends_at: self.rules.ends_at() });
        }
        if matches!(self.phase, Phase::Live | Phase::SoldOut) && now >= self.rules.ends_at() {
            self.phase = Phase::Ended;
            effects.push(Effect::Ended { sold: self.sold.min(self.rules.total_quantity) });
            return effects;
        }
        match self.phase {
            Phase::Live if self.left() == 0 => {
                self.phase = Phase::SoldOut;
                effects.push(Effect::SoldOut);
            }
            Phase::SoldOut if self.left() > 0 => {
                self.phase = Phase::Live;
                effects.push(Effect::BackInStock { left: self.left() });
            }
            _ => {}
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> FlashSaleRules {
        FlashSaleRules { sale_price: 1_999, total_quantity: 50, per_buyer_cap: 2, starts_at: 10_000, duration_ms: 60_000 }
    }

    #[test]
    fn a_scheduled_sale_counts_down_to_its_start_deadline() {
        let sale = FlashSale::new(rules()).unwrap();
        assert_eq!(sale.phase(), Phase::Scheduled);
        assert_eq!(sale.next_deadline(), Some(10_000));
        assert_eq!(sale.check_buy(9_999), Err(BuyRefused::NotStarted { starts_at: 10_000 }));
    }

    #[test]
    fn reaching_the_start_deadline_starts_the_sale_with_its_end_deadline() {
        let mut sale = FlashSale::new(rules()).unwrap();
        assert_eq!(sale.handle(Input::Tick, 10_000), vec![Effect::Started { ends_at: 70_000 }]);
        assert_eq!(sale.next_deadline(), Some(70_000));
        assert_eq!(sale.check_buy(10_001), Ok(()));
    }

    #[test]
    fn selling_the_last_unit_announces_sold_out_once() {
        let mut sale = FlashSale::new(rules()).unwrap();
        sale.handle(Input::Tick, 10_000);
        assert_eq!(sale.handle(Input::Sold { total: 49 }, 11_000), vec![]);
        assert_eq!(sale.handle(Input::Sold { total: 50 }, 11_001), vec![Effect::SoldOut]);
        assert_eq!(sale.handle(Input::Sold { total: 50 }, 11_002), vec![]);
        assert_eq!(sale.check_buy(11_003), Err(BuyRefused::SoldOut));
    }

    #[test]
    fn released_reservations_bring_a_sold_out_sale_back() {
        let mut sale = FlashSale::new(rules()).unwrap();
        sale.handle(Input::Tick, 10_000);
        sale.handle(Input::Sold { total: 50 }, 11_000);
        assert_eq!(sale.handle(Input::Sold { total: 47 }, 12_000), vec![Effect::BackInStock { left: 3 }]);
        assert_eq!(sale.check_buy(12_001), Ok(()));
    }

    #[test]
    fn the_end_deadline_ends_the_sale_and_refuses_buyers() {
        let mut sale = FlashSale::new(rules()).unwrap();
        sale.handle(Input::Tick, 10_000);
        sale.handle(Input::Sold { total: 12 }, 20_000);
        assert_eq!(sale.handle(Input::Tick, 70_000), vec![Effect::Ended { sold: 12 }]);
        assert_eq!(sale.next_deadline(), None);
        assert_eq!(sale.check_buy(70_001), Err(BuyRefused::Ended));
    }

    #[test]
    fn a_tick_after_a_long_outage_starts_and_ends_in_order() {
        let mut sale = FlashSale::new(rules()).unwrap();
        assert_eq!(sale.handle(Input::Tick, 100_000), vec![Effect::Started { ends_at: 70_000 }, Effect::Ended { sold: 0 }]);
    }

    #[test]
    fn a_restored_sale_keeps_its_original_deadline() {
        let sale = FlashSale::restore(rules(), Phase::Live, 20);
        assert_eq!(sale.next_deadline(), Some(70_000));
        assert_eq!(sale.left(), 30);
    }

    #[test]
    fn buying_is_refused_after_the_end_even_before_the_tick_arrives() {
        let mut sale = FlashSale::new(rules()).unwrap();
        sale.handle(Input::Tick, 10_000);
        assert_eq!(sale.check_buy(70_000), Err(BuyRefused::Ended));
    }

    #[test]
    fn cancelling_stops_the_sale() {
        let mut sale = FlashSale::new(rules()).unwrap();
        assert_eq!(sale.handle(Input::Cancel, 5_000), vec![Effect::Cancelled]);
        assert_eq!(sale.next_deadline(), None);
        assert_eq!(sale.check_buy(20_000), Err(BuyRefused::Ended));
    }

    #[test]
    fn invalid_rules_are_refused() {
        assert_eq!(FlashSale::new(FlashSaleRules { sale_price: 0, ..rules() }).unwrap_err(), RuleError::NonPositivePrice);
        assert_eq!(FlashSale::new(FlashSaleRules { per_buyer_cap: 51, ..rules() }).unwrap_err(), RuleError::InvalidCap);
        assert_eq!(FlashSale::new(FlashSaleRules { duration_ms: 10, ..rules() }).unwrap_err(), RuleError::InvalidDuration);
    }
}
