//! Per-minute live analytics of one room, sans-IO: the shell feeds it the
//! room's concurrent viewers (from presence) and the minute's commerce as the
//! store counts it (orders, GMV, one-tap reservations), with `now`; it keeps
//! the open minute, closes it when the clock passes its end, and says when a
//! running update is worth pushing (at most one per `push_interval_ms`, only
//! when something changed). It never reads a clock or does IO.

use serde::Serialize;
use utoipa::ToSchema;

use super::Millis;

pub const MINUTE_MS: Millis = 60_000;

/// The start (unix ms) of the minute holding `at`.
pub fn minute_of(at: Millis) -> Millis {
    at.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// One minute of a room on air.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct MinuteStats {
    /// Start of the minute, unix ms.
    pub minute: i64,
    /// Concurrent viewers at the last sample of the minute.
    pub viewers: i64,
    /// Highest concurrent viewers sampled during the minute.
    pub peak_viewers: i64,
    /// Paid orders of the room's shop placed during the minute.
    pub orders: i64,
    /// Their totals, minor units of the shop's currency.
    pub gmv: i64,
    /// One-tap reservations made in the room's flash sales during the minute.
    pub reservations: i64,
}

/// A minute's commerce as the store counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sales {
    pub orders: i64,
    pub gmv: i64,
    pub reservations: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A presence sample: concurrent viewers now.
    Viewers(i64),
    /// The store's count for the minute starting at `minute`.
    Sales { minute: Millis, sales: Sales },
    /// Time passed.
    Tick,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The running figures of the open minute changed: push them.
    Update(MinuteStats),
    /// A minute is over: persist it and push it.
    Closed(MinuteStats),
}

#[derive(Debug)]
pub struct RoomAnalytics {
    push_interval_ms: Millis,
    open: Option<MinuteStats>,
    pushed: Option<MinuteStats>,
    next_push: Millis,
}

impl RoomAnalytics {
    pub fn new(push_interval_ms: Millis) -> RoomAnalytics {
        RoomAnalytics { push_interval_ms, open: None, pushed: None, next_push: Millis::MIN }
    }

    /// The open minute's figures so far.
    pub fn current(&self) -> Option<MinuteStats> {
        self.open
    }

    /// When the shell should call `handle(Tick)` next: the end of the open
    /// minute, or sooner if an update is waiting for its push slot.
    pub fn next_deadline(&self) -> Option<Millis> {
        let open = self.open?;
        let end = open.minute + MINUTE_MS;
        Some(if self.pushed != Some(open) { end.min(self.next_push.max(open.minute)) } else { end })
    }

    pub fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut effects = Vec::new();
        let minute = minute_of(now);
        match self.open {
            Some(open) if open.minute < minute => {
                effects.push(Effect::Closed(open));
                // The audience carries over; commerce starts from zero.
                self.open = Some(MinuteStats { minute, viewers: open.viewers, peak_viewers: open.viewers, ..Default::default() });
                self.pushed = self.open;
                self.next_push = now;
            }
            Some(_) => {}
            None => self.open = Some(MinuteStats { minute, ..Default::default() }),
        }
        let Some(open) = self.open.as_mut() else { return effects };
        match input {
            Input::Viewers(n) => {
                let n = n.max(0);
                open.viewers = n;
                open.peak_viewers = open.peak_viewers.max(n);
            }
            Input::Sales { minute: m, sales } if m == open.minute => {
                open.orders = sales.orders;
                open.gmv = sales.gmv;
                open.reservations = sales.reservations;
            }
            Input::Sales { .. } | Input::Tick => {}
        }
        let open = *open;
        if self.pushed != Some(open) && now >= self.next_push {
            effects.push(Effect::Update(open));
            self.pushed = Some(open);
            self.next_push = now + self.push_interval_ms;
        }
        effects
    }

    /// Ends tracking (the room went off air): the open minute, if any, closes.
    pub fn finish(&mut self) -> Option<MinuteStats> {
        self.pushed = None;
        self.open.take()
    }
}

/// The whole stream's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Totals {
    /// Minutes on air.
    pub minutes: i64,
    /// Highest concurrent viewers.
    pub peak_viewers: i64,
    pub orders: i64,
    pub gmv: i64,
    pub reservations: i64,
}

pub fn totals(minutes: &[MinuteStats]) -> Totals {
    minutes.iter().fold(Totals::default(), |t, m| Totals {
        minutes: t.minutes + 1,
        peak_viewers: t.peak_viewers.max(m.peak_viewers),
        orders: t.orders + m.orders,
        gmv: t.gmv + m.gmv,
        reservations: t.reservations + m.reservations,
    })
}

/// Joins the minutes the room was on air (viewer samples, the open minute
/// last) with the store's commerce per minute. Orders count only in minutes
/// the room was on air (they are the shop's orders, attributed to the stream
/// by time); reservations belong to the room and always count.
pub fn join(on_air: &[MinuteStats], orders: &[(Millis, i64, i64)], reservations: &[(Millis, i64)]) -> Vec<MinuteStats> {
    let mut minutes: std::collections::BTreeMap<Millis, MinuteStats> = std::collections::BTreeMap::new();
    for m in on_air {
        let entry = minutes.entry(m.minute).or_insert(MinuteStats { minute: m.minute, ..Default::default() });
        entry.viewers = m.viewers;
        entry.peak_viewers = entry.peak_viewers.max(m.peak_viewers);
    }
    for &(minute, n, gmv) in orders {
        if let Some(entry) = minutes.get_mut(&minute) {
            entry.orders = n;
            entry.gmv = gmv;
        }
    }
    for &(minute, n) in reservations {
        minutes.entry(minute).or_insert(MinuteStats { minute, ..Default::default() }).reservations = n;
    }
    minutes.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_040_000; // a minute boundary

    fn sales(orders: i64, gmv: i64, reservations: i64) -> Sales {
        Sales { orders, gmv, reservations }
    }

    #[test]
    fn the_first_sample_opens_a_minute_and_is_pushed_at_once() {
        let mut a = RoomAnalytics::new(2_000);
        let effects = a.handle(Input::Viewers(3), T0 + 5_000);
        assert_eq!(effects, vec![Effect::Update(MinuteStats { minute: T0, viewers: 3, peak_viewers: 3, ..Default::default() })]);
    }

    #[test]
    fn updates_are_pushed_at_most_once_per_interval_and_only_when_something_changed() {
        let mut a = RoomAnalytics::new(2_000);
        a.handle(Input::Viewers(3), T0);
        assert!(a.handle(Input::Viewers(4), T0 + 1_000).is_empty(), "inside the interval");
        assert_eq!(a.next_deadline(), Some(T0 + 2_000));
        let effects = a.handle(Input::Tick, T0 + 2_000);
        assert!(matches!(effects[..], [Effect::Update(MinuteStats { viewers: 4, peak_viewers: 4, .. })]));
        assert!(a.handle(Input::Viewers(4), T0 + 5_000).is_empty(), "nothing changed");
    }

    #[test]
    fn the_peak_is_the_highest_sample_and_viewers_the_last() {
        let mut a = RoomAnalytics::new(0);
        for (i, n) in [2, 9, 5].into_iter().enumerate() {
            a.handle(Input::Viewers(n), T0 + i as Millis * 1_000);
        }
        let m = a.current().unwrap();
        assert_eq!((m.viewers, m.peak_viewers), (5, 9));
    }

    #[test]
    fn commerce_counts_replace_the_open_minutes_and_ignore_other_minutes() {
        let mut a = RoomAnalytics::new(0);
        a.handle(Input::Sales { minute: T0, sales: sales(1, 3900, 2) }, T0 + 1_000);
        a.handle(Input::Sales { minute: T0, sales: sales(2, 7800, 2) }, T0 + 2_000);
        a.handle(Input::Sales { minute: T0 - MINUTE_MS, sales: sales(9, 9, 9) }, T0 + 3_000);
        let m = a.current().unwrap();
        assert_eq!((m.orders, m.gmv, m.reservations), (2, 7800, 2));
    }

    #[test]
    fn passing_the_minute_closes_it_and_the_audience_carries_over() {
        let mut a = RoomAnalytics::new(2_000);
        a.handle(Input::Viewers(7), T0 + 10_000);
        a.handle(Input::Sales { minute: T0, sales: sales(1, 500, 1) }, T0 + 50_000);
        assert_eq!(a.next_deadline(), Some(T0 + MINUTE_MS));
        let effects = a.handle(Input::Tick, T0 + MINUTE_MS);
        assert_eq!(effects.len(), 1);
        assert_eq!(effects[0], Effect::Closed(MinuteStats { minute: T0, viewers: 7, peak_viewers: 7, orders: 1, gmv: 500, reservations: 1 }));
        assert_eq!(a.current(), Some(MinuteStats { minute: T0 + MINUTE_MS, viewers: 7, peak_viewers: 7, ..Default::default() }));
    }

    #[test]
    fn a_silent_gap_closes_only_the_last_open_minute() {
        let mut a = RoomAnalytics::new(0);
        a.handle(Input::Viewers(1), T0);
        let effects = a.handle(Input::Tick, T0 + 5 * MINUTE_MS + 1);
        assert!(matches!(effects[..], [Effect::Closed(MinuteStats { minute: T0, .. })]));
        assert_eq!(a.current().unwrap().minute, T0 + 5 * MINUTE_MS);
    }

    #[test]
    fn finishing_hands_back_the_open_minute_once() {
        let mut a = RoomAnalytics::new(0);
        a.handle(Input::Viewers(2), T0);
        assert_eq!(a.finish().map(|m| m.viewers), Some(2));
        assert_eq!(a.finish(), None);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn totals_sum_commerce_and_keep_the_highest_peak() {
        let minutes = [
            MinuteStats { minute: T0, viewers: 3, peak_viewers: 8, orders: 1, gmv: 100, reservations: 2 },
            MinuteStats { minute: T0 + MINUTE_MS, viewers: 5, peak_viewers: 6, orders: 2, gmv: 250, reservations: 0 },
        ];
        assert_eq!(totals(&minutes), Totals { minutes: 2, peak_viewers: 8, orders: 3, gmv: 350, reservations: 2 });
    }

    #[test]
    fn joined_orders_count_only_in_minutes_on_air_but_reservations_always_do() {
        let on_air = [MinuteStats { minute: T0, viewers: 4, peak_viewers: 4, ..Default::default() }];
        let joined = join(&on_air, &[(T0, 1, 3900), (T0 + 9 * MINUTE_MS, 5, 1)], &[(T0, 1), (T0 - MINUTE_MS, 2)]);
        assert_eq!(
            joined,
            vec![
                MinuteStats { minute: T0 - MINUTE_MS, reservations: 2, ..Default::default() },
                MinuteStats { minute: T0, viewers: 4, peak_viewers: 4, orders: 1, gmv: 3900, reservations: 1 },
            ]
        );
    }

    #[test]
    fn minutes_are_aligned_to_the_epoch() {
        assert_eq!(minute_of(T0 + 59_999), T0);
        assert_eq!(minute_of(T0 + 60_000), T0 + MINUTE_MS);
    }
}
