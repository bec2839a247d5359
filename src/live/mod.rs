//! Live commerce engines: the rules of flash sales, auctions, stock bands and
//! update coalescing, as sans-IO state machines. Each takes `now` (unix ms) as
//! an input and returns effects; none reads a clock, sleeps, locks or does IO,
//! so every rule is tested by scripting inputs. Shells (the store for caps and
//! money, the hub for fan-out, a timer task driven by `next_deadline()`) live
//! elsewhere; the SQL store stays the arbiter of quantities and caps.

pub mod analytics;
pub mod analytics_http;
pub mod analytics_runtime;
pub mod analytics_store;
pub mod auction;
pub mod auction_http;
pub mod auction_store;
pub mod card_events;
pub mod card_events_http;
pub mod cards;
pub mod coalesce;
pub mod engage_http;
pub mod engage_store;
pub mod event_log;
pub mod flash_sale;
pub mod front;
pub mod giveaway;
pub mod http;
pub mod orders;
pub mod poll;
pub mod runtime;
pub mod stock_band;
pub mod store;

pub use analytics_runtime::Analytics;
pub use runtime::{Live, LiveConfig};

/// Unix milliseconds: the one representation of instants in the engines.
pub type Millis = i64;
