//! A live auction: starting price, a bid-increment table, proxy (maximum)
//! bids, anti-sniping or sudden death, an optional reserve, and a runner-up for
//! a second-chance offer. Bids are judged in arrival order against the state
//! the engine holds; the shell persists each accepted bid before acknowledging
//! it and can rebuild the engine by replaying them (`Auction::replay`).
//!
//! Proxy bidding works as on eBay: each bidder states the most they will pay;
//! the price is the lowest that keeps the highest maximum ahead, i.e. one
//! increment over the runner-up's maximum, capped at the leader's maximum.
//! Equal maximums go to the earlier bid.

use serde::Serialize;

use super::Millis;

pub type BidderId = String;

/// Increment by current price: `[(from_price, increment), ...]`, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncrementTable(Vec<(i64, i64)>);

impl IncrementTable {
    pub fn new(steps: Vec<(i64, i64)>) -> Result<Self, AuctionRuleError> {
        let ascending = steps.windows(2).all(|w| w[0].0 < w[1].0);
        if steps.is_empty() || steps[0].0 != 0 || !ascending || steps.iter().any(|&(_, inc)| inc <= 0) {
            return Err(AuctionRuleError::InvalidIncrements);
        }
        Ok(IncrementTable(steps))
    }

    /// A common table in minor units: 1.00 under 20.00, 2.50 under 100.00, 5.00 above.
    pub fn standard() -> Self {
        IncrementTable(vec![(0, 100), (2_000, 250), (10_000, 500)])
    }

    pub fn steps(&self) -> &[(i64, i64)] {
        &self.0
    }

    pub fn increment_at(&self, price: i64) -> i64 {
        self.0.iter().rev().find(|&&(from, _)| price >= from).map_or(self.0[0].1, |&(_, inc)| inc)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuctionRules {
    pub starting_price: i64,
    pub increments: IncrementTable,
    pub starts_at: Millis,
    pub duration_ms: Millis,
    /// A bid within this window before the deadline pushes the deadline to
    /// `now + window`. `None` is sudden death: the deadline never moves.
    pub anti_snipe_ms: Option<Millis>,
    /// Below this the item is not sold.
    pub reserve_price: Option<i64>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuctionRuleError {
    #[error("increments must start at price 0, ascend, and be positive")]
    InvalidIncrements,
    #[error("starting_price must be positive")]
    NonPositiveStart,
    #[error("duration must be between 10 seconds and 24 hours")]
    InvalidDuration,
    #[error("anti-sniping window must be between 1 and 120 seconds")]
    InvalidAntiSnipe,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum BidRejected {
    #[error("the auction has not started")]
    NotStarted,
    #[error("the auction is over")]
    Closed,
    #[error("the bid must be at least {minimum}")]
    TooLow { minimum: i64 },
    #[error("you are already the highest bidder with a higher maximum")]
    NotAboveOwnMaximum { current_maximum: i64 },
    #[error("the seller cannot bid in their own auction")]
    SellerBid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scheduled,
    Open,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    Opened { deadline: Millis },
    /// The public state after an accepted bid (maximums stay secret).
    PriceChanged { price: i64, leader: BidderId, bids: u32 },
    Outbid { bidder: BidderId, price: i64 },
    DeadlineExtended { deadline: Millis },
    Closed { outcome: Outcome },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Won { winner: BidderId, price: i64, runner_up: Option<RunnerUp> },
    ReserveNotMet { highest: i64 },
    NoBids,
}

/// Who the seller may offer the item to if the winner does not pay, and at what price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunnerUp {
    pub bidder: BidderId,
    pub maximum: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Leader {
    bidder: BidderId,
    maximum: i64,
}

/// Everything an open auction remembers besides its rules: what the shell
/// persists after each accepted bid so that `Auction::resume` continues
/// exactly there, without replaying every bid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuctionState {
    pub phase: Phase,
    pub deadline: Millis,
    pub price: i64,
    /// The leader and their secret maximum.
    pub leader: Option<(BidderId, i64)>,
    pub runner_up: Option<RunnerUp>,
    pub accepted_bids: u32,
}

#[derive(Clone, Debug)]
pub struct Auction {
    rules: AuctionRules,
    seller: BidderId,
    phase: Phase,
    deadline: Millis,
    price: i64,
    leader: Option<Leader>,
    runner_up: Option<RunnerUp>,
    accepted_bids: u32,
}

impl Auction {
    pub fn new(rules: AuctionRules, seller: BidderId) -> Result<Auction, AuctionRuleError> {
        if rules.starting_price <= 0 {
            return Err(AuctionRuleError::NonPositiveStart);
        }
        if !(10_000..=86_400_000).contains(&rules.duration_ms) {
            return Err(AuctionRuleError::InvalidDuration);
        }
        if rules.anti_snipe_ms.is_some_and(|w| !(1_000..=120_000).contains(&w)) {
            return Err(AuctionRuleError::InvalidAntiSnipe);
        }
        let deadline = rules.starts_at.saturating_add(rules.duration_ms);
        let price = rules.starting_price;
        Ok(Auction { rules, seller, phase: Phase::Scheduled, deadline, price, leader: None, runner_up: None, accepted_bids: 0 })
    }

    /// Rebuilds an auction from its accepted bids `(bidder, maximum, at)` in arrival order.
    pub fn replay(rules: AuctionRules, seller: BidderId, bids: &[(BidderId, i64, Millis)]) -> Result<Auction, AuctionRuleError> {
        let mut auction = Auction::new(rules, seller)?;
        for (bidder, maximum, at) in bids {
            let _ = auction.bid(bidder.clone(), *maximum, *at);
        }
        Ok(auction)
    }

    /// Continues an auction from its persisted state.
    pub fn resume(rules: AuctionRules, seller: BidderId, state: AuctionState) -> Result<Auction, AuctionRuleError> {
        let mut auction = Auction::new(rules, seller)?;
        auction.phase = state.phase;
        auction.deadline = state.deadline;
        auction.price = state.price;
        auction.leader = state.leader.map(|(bidder, maximum)| Leader { bidder, maximum });
        auction.runner_up = state.runner_up;
        auction.accepted_bids = state.accepted_bids;
        Ok(auction)
    }

    /// What to persist so that `resume` continues from here.
    pub fn state(&self) -> AuctionState {
        AuctionState {
            phase: self.phase,
            deadline: self.deadline,
            price: self.price,
            leader: self.leader.as_ref().map(|l| (l.bidder.clone(), l.maximum)),
            runner_up: self.runner_up.clone(),
            accepted_bids: self.accepted_bids,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The outcome if the auction closed now.
    pub fn outcome_now(&self) -> Outcome {
        self.outcome()
    }

    /// True when the reserve is met (or there is none) by the current price and a leader.
    pub fn reserve_met(&self) -> bool {
        self.leader.is_some() && self.rules.reserve_price.is_none_or(|r| self.price >= r)
    }

    pub fn price(&self) -> i64 {
        self.price
    }

    pub fn deadline(&self) -> Millis {
        self.deadline
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_ref().map(|l| l.bidder.as_str())
    }

    /// The least a new bidder must offer now.
    pub fn minimum_bid(&self) -> i64 {
        match self.leader {
            None => self.rules.starting_price,
            Some(_) => self.price + self.rules.increments.increment_at(self.price),
        }
    }

    /// When the shell must call `tick` next.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.phase {
            Phase::Scheduled => Some(self.rules.starts_at),
            Phase::Open => Some(self.deadline),
            Phase::Closed => None,
        }
    }

    /// Opens or closes the auction when their time has come.
    pub fn tick(&mut self, now: Millis) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.phase == Phase::Scheduled && now >= self.rules.starts_at {
            self.phase = Phase::Open;
            effects.push(Effect::Opened { deadline: self.deadline });
        }
        if self.phase == Phase::Open && now >= self.deadline {
            self.phase = Phase::Closed;
            effects.push(Effect::Closed { outcome: self.outcome() });
        }
        effects
    }

    /// Judges a bid of at most `maximum` from `bidder`, arriving at `now`.
    pub fn bid(&mut self, bidder: BidderId, maximum: i64, now: Millis) -> Result<Vec<Effect>, BidRejected> {
        let mut effects = self.tick(now);
        match self.phase {
            Phase::Scheduled => return Err(BidRejected::NotStarted),
            Phase::Closed => return Err(BidRejected::Closed),
            Phase::Open => {}
        }
        if bidder == self.seller {
            return Err(BidRejected::SellerBid);
        }
        let minimum = self.minimum_bid();
        match self.leader.take() {
            None => {
                if maximum < minimum {
                    return Err(BidRejected::TooLow { minimum });
                }
                self.price = self.rules.starting_price;
                self.leader = Some(Leader { bidder, maximum });
            }
            Some(leader) if leader.bidder == bidder => {
                if maximum <= leader.maximum {
                    let current_maximum = leader.maximum;
                    self.leader = Some(leader);
                    return Err(BidRejected::NotAboveOwnMaximum { current_maximum });
                }
                self.leader = Some(Leader { bidder, maximum });
            }
            Some(leader) => {
                if maximum < minimum {
                    self.leader = Some(leader);
                    return Err(BidRejected::TooLow { minimum });
                }
                let inc = |p: i64| self.rules.increments.increment_at(p);
                if maximum > leader.maximum {
                    self.price = maximum.min(leader.maximum + inc(leader.maximum));
                    effects.push(Effect::Outbid { bidder: leader.bidder.clone(), price: self.price });
                    self.runner_up = Some(RunnerUp { bidder: leader.bidder, maximum: leader.maximum });
                    self.leader = Some(Leader { bidder, maximum });
                } else {
                    // The standing proxy bid answers at once; equal maximums keep the earlier bidder.
                    self.price = leader.maximum.min(maximum + inc(maximum));
                    effects.push(Effect::Outbid { bidder: bidder.clone(), price: self.price });
                    if self.runner_up.as_ref().is_none_or(|r| maximum > r.maximum) {
                        self.runner_up = Some(RunnerUp { bidder, maximum });
                    }
                    self.leader = Some(leader);
                }
            }
        }
        self.apply_reserve();
        self.accepted_bids += 1;
        let leader = self.leader.as_ref().map(|l| l.bidder.clone()).unwrap_or_default();
        effects.push(Effect::PriceChanged { price: self.price, leader, bids: self.accepted_bids });
        if let Some(window) = self.rules.anti_snipe_ms {
            if self.deadline - now < window {
                self.deadline = now + window;
                effects.push(Effect::DeadlineExtended { deadline: self.deadline });
            }
        }
        Ok(effects)
    }

    /// A leader whose maximum covers the reserve pays at least the reserve.
    fn apply_reserve(&mut self) {
        if let (Some(reserve), Some(leader)) = (self.rules.reserve_price, &self.leader) {
            if leader.maximum >= reserve && self.price < reserve {
                self.price = reserve;
            }
        }
    }

    fn outcome(&self) -> Outcome {
        match &self.leader {
            None => Outcome::NoBids,
            Some(_) if self.rules.reserve_price.is_some_and(|r| self.price < r) => Outcome::ReserveNotMet { highest: self.price },
            Some(leader) => Outcome::Won { winner: leader.bidder.clone(), price: self.price, runner_up: self.runner_up.clone() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AuctionRules {
        AuctionRules {
            starting_price: 1_000,
            increments: IncrementTable::standard(),
            starts_at: 0,
            duration_ms: 60_000,
            anti_snipe_ms: Some(10_000),
            reserve_price: None,
        }
    }

    fn open(rules: AuctionRules) -> Auction {
        let mut a = Auction::new(rules, "seller".into()).unwrap();
        a.tick(0);
        a
    }

    fn price_of(effects: &[Effect]) -> Option<i64> {
        effects.iter().rev().find_map(|e| match e {
            Effect::PriceChanged { price, .. } => Some(*price),
            _ => None,
        })
    }

    #[test]
    fn the_first_bid_leads_at_the_starting_price_whatever_its_maximum() {
        let mut a = open(rules());
        let effects = a.bid("ann".into(), 5_000, 1_000).unwrap();
        assert_eq!(price_of(&effects), Some(1_000));
        assert_eq!(a.leader(), Some("ann"));
        assert_eq!(a.minimum_bid(), 1_100);
    }

    #[test]
    fn a_bid_below_the_minimum_is_rejected_with_the_minimum() {
        let mut a = open(rules());
        assert_eq!(a.bid("ann".into(), 999, 1_000), Err(BidRejected::TooLow { minimum: 1_000 }));
        a.bid("ann".into(), 1_000, 1_000).unwrap();
        assert_eq!(a.bid("bob".into(), 1_050, 2_000), Err(BidRejected::TooLow { minimum: 1_100 }));
        assert_eq!(a.leader(), Some("ann"), "a rejected bid changes nothing");
    }

    #[test]
    fn a_proxy_bid_outbids_up_to_its_maximum_by_one_increment() {
        let mut a = open(rules());
        a.bid("ann".into(), 3_000, 1_000).unwrap();
        let effects = a.bid("bob".into(), 1_500, 2_000).unwrap();
        assert_eq!(price_of(&effects), Some(1_600), "ann's proxy answers bob's 15.00 with 15.00 + 1.00");
        assert_eq!(a.leader(), Some("ann"));
        assert!(effects.contains(&Effect::Outbid { bidder: "bob".into(), price: 1_600 }));
        let effects = a.bid("bob".into(), 2_900, 3_000).unwrap();
        assert_eq!(price_of(&effects), Some(3_000), "capped at ann's maximum");
        assert_eq!(a.leader(), Some("ann"));
    }

    #[test]
    fn a_higher_maximum_takes_the_lead_one_increment_above_the_old_maximum() {
        let mut a = open(rules());
        a.bid("ann".into(), 2_000, 1_000).unwrap();
        let effects = a.bid("bob".into(), 9_000, 2_000).unwrap();
        assert_eq!(a.leader(), Some("bob"));
        assert_eq!(price_of(&effects), Some(2_250), "2_000 + the 2.50 increment at 20.00");
        assert!(effects.contains(&Effect::Outbid { bidder: "ann".into(), price: 2_250 }));
    }

    #[test]
    fn equal_maximums_go_to_the_earlier_bid() {
        let mut a = open(rules());
        a.bid("ann".into(), 2_000, 1_000).unwrap();
        let effects = a.bid("bob".into(), 2_000, 2_000).unwrap();
        assert_eq!(a.leader(), Some("ann"));
        assert_eq!(price_of(&effects), Some(2_000));
    }

    #[test]
    fn the_leader_may_raise_their_maximum_without_raising_the_price() {
        let mut a = open(rules());
        a.bid("ann".into(), 2_000, 1_000).unwrap();
        assert_eq!(a.bid("ann".into(), 1_500, 2_000), Err(BidRejected::NotAboveOwnMaximum { current_maximum: 2_000 }));
        let effects = a.bid("ann".into(), 5_000, 3_000).unwrap();
        assert_eq!(price_of(&effects), Some(1_000));
        a.bid("bob".into(), 4_000, 4_000).unwrap();
        assert_eq!(a.leader(), Some("ann"));
    }

    #[test]
    fn a_bid_in_the_last_seconds_extends_the_deadline() {
        let mut a = open(rules());
        a.bid("ann".into(), 1_000, 1_000).unwrap();
        let effects = a.bid("bob".into(), 2_000, 55_000).unwrap();
        assert!(effects.contains(&Effect::DeadlineExtended { deadline: 65_000 }));
        assert_eq!(a.next_deadline(), Some(65_000));
        assert!(a.tick(60_000).is_empty(), "the original deadline no longer closes it");
        assert!(matches!(a.tick(65_000).as_slice(), [Effect::Closed { .. }]));
    }

    #[test]
    fn an_early_bid_does_not_move_the_deadline() {
        let mut a = open(rules());
        let effects = a.bid("ann".into(), 1_000, 20_000).unwrap();
        assert!(!effects.iter().any(|e| matches!(e, Effect::DeadlineExtended { .. })));
        assert_eq!(a.deadline(), 60_000);
    }

    #[test]
    fn sudden_death_never_extends_and_refuses_late_bids() {
        let mut a = open(AuctionRules { anti_snipe_ms: None, ..rules() });
        a.bid("ann".into(), 1_000, 59_999).unwrap();
        assert_eq!(a.deadline(), 60_000);
        assert_eq!(a.bid("bob".into(), 5_000, 60_000), Err(BidRejected::Closed));
        assert_eq!(a.leader(), Some("ann"));
    }

    #[test]
    fn the_close_names_the_winner_the_price_and_the_runner_up() {
        let mut a = open(rules());
        a.bid("ann".into(), 2_000, 1_000).unwrap();
        a.bid("bob".into(), 3_000, 2_000).unwrap();
        let effects = a.tick(60_000);
        assert_eq!(
            effects,
            vec![Effect::Closed {
                outcome: Outcome::Won {
                    winner: "bob".into(),
                    price: 2_250,
                    runner_up: Some(RunnerUp { bidder: "ann".into(), maximum: 2_000 })
                }
            }]
        );
    }

    #[test]
    fn a_reserve_below_the_highest_maximum_lifts_the_price_to_the_reserve() {
        let mut a = open(AuctionRules { reserve_price: Some(4_000), ..rules() });
        let effects = a.bid("ann".into(), 5_000, 1_000).unwrap();
        assert_eq!(price_of(&effects), Some(4_000));
        assert!(matches!(a.tick(60_000).as_slice(), [Effect::Closed { outcome: Outcome::Won { price: 4_000, .. } }]));
    }

    #[test]
    fn an_unmet_reserve_sells_nothing() {
        let mut a = open(AuctionRules { reserve_price: Some(4_000), ..rules() });
        a.bid("ann".into(), 3_000, 1_000).unwrap();
        assert_eq!(a.tick(60_000), vec![Effect::Closed { outcome: Outcome::ReserveNotMet { highest: 1_000 } }]);
    }

    #[test]
    fn an_auction_without_bids_closes_with_no_bids() {
        let mut a = open(rules());
        assert_eq!(a.tick(60_000), vec![Effect::Closed { outcome: Outcome::NoBids }]);
    }

    #[test]
    fn bids_before_the_start_and_from_the_seller_are_refused() {
        let mut a = Auction::new(AuctionRules { starts_at: 5_000, ..rules() }, "seller".into()).unwrap();
        assert_eq!(a.bid("ann".into(), 2_000, 4_999), Err(BidRejected::NotStarted));
        assert_eq!(a.bid("seller".into(), 2_000, 5_000), Err(BidRejected::SellerBid));
    }

    #[test]
    fn replaying_accepted_bids_rebuilds_the_same_state_and_deadline() {
        let mut live = open(rules());
        let bids = vec![("ann".to_string(), 2_000, 1_000), ("bob".to_string(), 3_000, 56_000), ("ann".to_string(), 4_000, 60_000)];
        for (b, m, t) in &bids {
            live.bid(b.clone(), *m, *t).unwrap();
        }
        let rebuilt = Auction::replay(rules(), "seller".into(), &bids).unwrap();
        assert_eq!((rebuilt.price(), rebuilt.leader(), rebuilt.deadline()), (live.price(), live.leader(), live.deadline()));
        assert_eq!(rebuilt.deadline(), 70_000);
    }

    #[test]
    fn a_resumed_auction_continues_from_its_persisted_state() {
        let mut live = open(rules());
        live.bid("ann".into(), 3_000, 1_000).unwrap();
        live.bid("bob".into(), 2_000, 55_000).unwrap();
        let mut resumed = Auction::resume(rules(), "seller".into(), live.state()).unwrap();
        assert_eq!(resumed.state(), live.state());
        let (a, b) = (live.bid("cat".into(), 5_000, 56_000).unwrap(), resumed.bid("cat".into(), 5_000, 56_000).unwrap());
        assert_eq!(a, b);
        assert_eq!((resumed.price(), resumed.leader(), resumed.deadline()), (3_250, Some("cat"), 66_000));
    }

    #[test]
    fn the_increment_table_picks_the_step_for_the_current_price() {
        let t = IncrementTable::standard();
        assert_eq!((t.increment_at(0), t.increment_at(1_999), t.increment_at(2_000), t.increment_at(50_000)), (100, 100, 250, 500));
        assert!(IncrementTable::new(vec![(100, 10)]).is_err(), "must start at 0");
        assert!(IncrementTable::new(vec![(0, 10), (0, 20)]).is_err(), "must ascend");
    }
}
