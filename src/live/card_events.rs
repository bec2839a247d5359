//! Product-card reports from viewers' pages (impressions, clicks, cart adds
//! from a pinned card), sans-IO: `CardTracker` rate-limits each viewer with a
//! token bucket and drops what was already counted for the viewer this
//! minute, so only new (viewer, product, kind, minute) facts reach the store, whose
//! primary key deduplicates them again across nodes. It takes `now` and never
//! reads a clock.

use std::collections::{HashMap, HashSet};

use super::analytics::minute_of;
use super::Millis;

/// Products one report may name.
pub const MAX_PRODUCTS_PER_REPORT: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardEventKind {
    Impression,
    Click,
    AddToCart,
}

impl CardEventKind {
    pub fn parse(raw: &str) -> Option<CardEventKind> {
        match raw {
            "impression" => Some(CardEventKind::Impression),
            "click" => Some(CardEventKind::Click),
            "add_to_cart" => Some(CardEventKind::AddToCart),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CardEventKind::Impression => "impression",
            CardEventKind::Click => "click",
            CardEventKind::AddToCart => "add_to_cart",
        }
    }
}

/// Reports per viewer: a burst, then one per `refill_ms`.
#[derive(Clone, Copy, Debug)]
pub struct TrackLimits {
    pub burst: u32,
    pub refill_ms: Millis,
}

impl Default for TrackLimits {
    fn default() -> Self {
        TrackLimits { burst: 20, refill_ms: 1_000 }
    }
}

/// Too many reports from this viewer: retry after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_ms: Millis,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    at: Millis,
}

#[derive(Debug, Default)]
pub struct CardTracker {
    limits: TrackLimits,
    buckets: HashMap<String, Bucket>,
    /// (room, kind, product, viewer) reported in `minute`.
    seen: HashSet<(String, CardEventKind, String, String)>,
    minute: Millis,
}

impl CardTracker {
    pub fn new(limits: TrackLimits) -> CardTracker {
        CardTracker { limits, ..Default::default() }
    }

    /// Admits one report of `viewer` in `room` (one token of its bucket):
    /// the products it names that this viewer has not had counted with this
    /// kind this minute (duplicates in the report itself once), or `Throttled`.
    pub fn admit(&mut self, room: &str, viewer: &str, kind: CardEventKind, products: &[String], now: Millis) -> Result<Vec<String>, Throttled> {
        let minute = minute_of(now);
        if minute != self.minute {
            self.minute = minute;
            self.seen.clear();
            let (burst, refill) = (self.limits.burst, self.limits.refill_ms.max(1));
            // Forget viewers whose bucket has refilled: they cost nothing to recreate.
            self.buckets.retain(|_, b| i64::from(burst - b.tokens.min(burst)) * refill > now - b.at);
        }
        self.take(viewer, now)?;
        let mut fresh: Vec<String> = Vec::new();
        for product in products {
            let key = (room.to_string(), kind, product.clone(), viewer.to_string());
            if !self.seen.contains(&key) && !fresh.contains(product) {
                fresh.push(product.clone());
            }
        }
        Ok(fresh)
    }

    /// Marks reports as counted this minute: repeats are dropped here, before the store.
    pub fn remember(&mut self, room: &str, viewer: &str, kind: CardEventKind, products: &[String], now: Millis) {
        if minute_of(now) != self.minute {
            return;
        }
        for product in products {
            self.seen.insert((room.to_string(), kind, product.clone(), viewer.to_string()));
        }
    }

    fn take(&mut self, viewer: &str, now: Millis) -> Result<(), Throttled> {
        let TrackLimits { burst, refill_ms } = self.limits;
        let refill_ms = refill_ms.max(1);
        let bucket = self.buckets.entry(viewer.to_string()).or_insert(Bucket { tokens: burst, at: now });
        let earned = (now - bucket.at).max(0) / refill_ms;
        if earned > 0 {
            bucket.tokens = u32::try_from(i64::from(bucket.tokens) + earned).unwrap_or(u32::MAX).min(burst);
            bucket.at += earned * refill_ms;
        }
        if bucket.tokens >= burst {
            bucket.at = now;
        }
        if bucket.tokens == 0 {
            return Err(Throttled { retry_after_ms: (bucket.at + refill_ms - now).max(1) });
        }
        bucket.tokens -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_040_000; // a minute boundary

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn tracker() -> CardTracker {
        CardTracker::new(TrackLimits { burst: 3, refill_ms: 1_000 })
    }

    #[test]
    fn a_viewer_s_second_report_of_a_counted_product_in_a_minute_adds_nothing() {
        let mut t = tracker();
        assert_eq!(t.admit("show", "u1", CardEventKind::Impression, &ids(&["p1", "p2", "p1"]), T0), Ok(ids(&["p1", "p2"])));
        t.remember("show", "u1", CardEventKind::Impression, &ids(&["p1"]), T0);
        assert_eq!(t.admit("show", "u1", CardEventKind::Impression, &ids(&["p1", "p2"]), T0 + 10_000), Ok(ids(&["p2"])), "p2 was not counted");
    }

    #[test]
    fn another_viewer_kind_room_or_minute_counts_again() {
        let mut t = tracker();
        t.admit("show", "u1", CardEventKind::Click, &ids(&["p1"]), T0).unwrap();
        t.remember("show", "u1", CardEventKind::Click, &ids(&["p1"]), T0);
        assert_eq!(t.admit("show", "u2", CardEventKind::Click, &ids(&["p1"]), T0), Ok(ids(&["p1"])));
        assert_eq!(t.admit("show", "u1", CardEventKind::Impression, &ids(&["p1"]), T0), Ok(ids(&["p1"])));
        assert_eq!(t.admit("other", "u1", CardEventKind::Click, &ids(&["p1"]), T0 + 1_000), Ok(ids(&["p1"])));
        assert_eq!(t.admit("show", "u1", CardEventKind::Click, &ids(&["p1"]), T0 + 60_000), Ok(ids(&["p1"])));
    }

    #[test]
    fn a_viewer_beyond_the_burst_is_throttled_until_a_token_comes_back() {
        let mut t = tracker();
        for _ in 0..3 {
            t.admit("show", "u1", CardEventKind::Click, &ids(&["p1"]), T0).unwrap();
        }
        assert_eq!(t.admit("show", "u1", CardEventKind::Click, &ids(&["p1"]), T0 + 400), Err(Throttled { retry_after_ms: 600 }));
        assert!(t.admit("show", "u2", CardEventKind::Click, &ids(&["p1"]), T0 + 400).is_ok(), "others are not throttled");
        assert!(t.admit("show", "u1", CardEventKind::Click, &ids(&["p1"]), T0 + 1_000).is_ok());
    }

    #[test]
    fn kinds_parse_from_their_wire_names_only() {
        for kind in [CardEventKind::Impression, CardEventKind::Click, CardEventKind::AddToCart] {
            assert_eq!(CardEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CardEventKind::parse("view"), None);
    }
}
