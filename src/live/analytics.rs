//! Per-minute live analytics of one room, sans-IO: the shell feeds it the
//! room's audience (concurrent and distinct viewers, from presence) and the
//! minute's commerce and card activity as the store counts them (orders, GMV,
//! one-tap reservations, card impressions, clicks and cart adds), with `now`;
//! it keeps the open minute, integrates the audience over time into watch
//! time, closes the minute when the clock passes its end, and says when a
//! running update is worth pushing (at most one per `push_interval_ms`, only
//! when something changed). It never reads a clock or does IO.

use serde::Serialize;
use utoipa::ToSchema;

use super::Millis;

pub const MINUTE_MS: Millis = 60_000;

/// The longest stretch between two audience samples that still counts as
/// watched: a shell that stalled does not credit the whole stall.
pub const MAX_SAMPLE_GAP_MS: Millis = 10_000;

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
    /// Distinct viewers of the room so far, as presence counted them at the minute's last sample.
    pub unique_viewers: i64,
    /// Viewer-milliseconds watched during the minute (concurrent viewers integrated over time).
    pub watch_ms: i64,
    /// Product-card impressions reported by viewers' pages (one per viewer, product and minute).
    pub impressions: i64,
    /// Product-card clicks (one per viewer, product and minute).
    pub clicks: i64,
    /// Cart adds made from the room's product cards plus its one-tap reservations.
    pub add_to_cart: i64,
    /// Paid orders of the room's shop placed during the minute.
    pub orders: i64,
    /// Their totals, minor units of the shop's currency.
    pub gmv: i64,
    /// One-tap reservations made in the room's flash sales during the minute.
    pub reservations: i64,
}

/// A minute with its rates, as the API and the pushes show it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
pub struct MinuteView {
    #[serde(flatten)]
    pub stats: MinuteStats,
    /// Clicks ÷ impressions; absent without impressions.
    pub ctr: Option<f64>,
    /// Orders ÷ the minute's peak concurrent viewers; absent without viewers.
    pub conversion: Option<f64>,
}

impl From<MinuteStats> for MinuteView {
    fn from(stats: MinuteStats) -> MinuteView {
        MinuteView { stats, ctr: ratio(stats.clicks, stats.impressions), conversion: ratio(stats.orders, stats.peak_viewers) }
    }
}

/// `n ÷ d`, or nothing when `d` is not positive.
pub fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// A minute's commerce and card activity as the store counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sales {
    pub orders: i64,
    pub gmv: i64,
    pub reservations: i64,
    pub cards: CardCounts,
}

/// Deduplicated card reports of one minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CardCounts {
    pub impressions: i64,
    pub clicks: i64,
    /// Cart adds attributed to the room's cards (reservations are added separately).
    pub cart_adds: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A presence sample: concurrent viewers now, distinct viewers so far.
    Audience { viewers: i64, unique: i64 },
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
    /// The last audience sample (when, concurrent viewers): watch time accrues from it.
    last: Option<(Millis, i64)>,
}

impl RoomAnalytics {
    pub fn new(push_interval_ms: Millis) -> RoomAnalytics {
        RoomAnalytics { push_interval_ms, open: None, pushed: None, next_push: Millis::MIN, last: None }
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
                let end = open.minute + MINUTE_MS;
                self.accrue(end);
                let closed = self.open.unwrap_or(open);
                effects.push(Effect::Closed(closed));
                // The audience carries over; commerce and watch time start from zero.
                self.open = Some(MinuteStats {
                    minute,
                    viewers: closed.viewers,
                    peak_viewers: closed.viewers,
                    unique_viewers: closed.unique_viewers,
                    ..Default::default()
                });
                // Watching goes on across a boundary, not across a silent gap.
                self.last = self.last.filter(|_| end == minute).map(|(_, n)| (minute, n));
                self.pushed = self.open;
                self.next_push = now;
            }
            Some(_) => {}
            None => self.open = Some(MinuteStats { minute, ..Default::default() }),
        }
        self.accrue(now);
        let Some(open) = self.open.as_mut() else { return effects };
        match input {
            Input::Audience { viewers, unique } => {
                let n = viewers.max(0);
                open.viewers = n;
                open.peak_viewers = open.peak_viewers.max(n);
                open.unique_viewers = open.unique_viewers.max(unique);
                self.last = Some((now, n));
            }
            Input::Sales { minute: m, sales } if m == open.minute => {
                open.orders = sales.orders;
                open.gmv = sales.gmv;
                open.reservations = sales.reservations;
                open.impressions = sales.cards.impressions;
                open.clicks = sales.cards.clicks;
                open.add_to_cart = sales.cards.cart_adds + sales.reservations;
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

    /// Credits the open minute with the last sample's viewers from that
    /// sample until `until` (at most `MAX_SAMPLE_GAP_MS` of it).
    fn accrue(&mut self, until: Millis) {
        let (Some(open), Some((at, n))) = (self.open.as_mut(), self.last) else { return };
        if until <= at {
            return;
        }
        let watched = until.min(at + MAX_SAMPLE_GAP_MS) - at.max(open.minute);
        if watched > 0 {
            open.watch_ms += n * watched;
        }
        self.last = Some((until, n));
    }

    /// Ends tracking (the room went off air): the open minute, if any, closes.
    pub fn finish(&mut self) -> Option<MinuteStats> {
        self.pushed = None;
        self.last = None;
        self.open.take()
    }
}

/// The whole stream's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Totals {
    /// Minutes on air.
    pub minutes: i64,
    /// Highest concurrent viewers.
    pub peak_viewers: i64,
    /// Distinct viewers (the highest count presence reported).
    pub unique_viewers: i64,
    /// Viewer-milliseconds watched.
    pub watch_ms: i64,
    /// Average watch time per distinct viewer, ms.
    pub avg_watch_ms: Option<i64>,
    pub impressions: i64,
    pub clicks: i64,
    /// Clicks ÷ impressions.
    pub ctr: Option<f64>,
    pub add_to_cart: i64,
    pub orders: i64,
    pub gmv: i64,
    pub reservations: i64,
    /// Orders ÷ distinct viewers.
    pub conversion: Option<f64>,
}

/// The stream's totals; `unique_now` is presence's current distinct count
/// (it may be ahead of the last recorded minute).
pub fn totals(minutes: &[MinuteStats], unique_now: i64) -> Totals {
    let mut t = minutes.iter().fold(Totals { unique_viewers: unique_now.max(0), ..Default::default() }, |t, m| Totals {
        minutes: t.minutes + 1,
        peak_viewers: t.peak_viewers.max(m.peak_viewers),
        unique_viewers: t.unique_viewers.max(m.unique_viewers),
        watch_ms: t.watch_ms + m.watch_ms,
        impressions: t.impressions + m.impressions,
        clicks: t.clicks + m.clicks,
        add_to_cart: t.add_to_cart + m.add_to_cart,
        orders: t.orders + m.orders,
        gmv: t.gmv + m.gmv,
        reservations: t.reservations + m.reservations,
        ..t
    });
    t.avg_watch_ms = (t.unique_viewers > 0).then(|| t.watch_ms / t.unique_viewers);
    t.ctr = ratio(t.clicks, t.impressions);
    t.conversion = ratio(t.orders, t.unique_viewers);
    t
}

/// Joins the minutes the room was on air (audience samples, the open minute
/// last) with the store's commerce and card counts per minute. Orders count
/// only in minutes the room was on air (they are the shop's orders,
/// attributed to the stream by time); reservations and card reports belong to
/// the room and always count.
pub fn join(on_air: &[MinuteStats], orders: &[(Millis, i64, i64)], reservations: &[(Millis, i64)], cards: &[(Millis, CardCounts)]) -> Vec<MinuteStats> {
    let mut minutes: std::collections::BTreeMap<Millis, MinuteStats> = std::collections::BTreeMap::new();
    for m in on_air {
        let entry = minutes.entry(m.minute).or_insert(MinuteStats { minute: m.minute, ..Default::default() });
        entry.viewers = m.viewers;
        entry.peak_viewers = entry.peak_viewers.max(m.peak_viewers);
        entry.unique_viewers = entry.unique_viewers.max(m.unique_viewers);
        entry.watch_ms = entry.watch_ms.max(m.watch_ms);
    }
    for &(minute, n, gmv) in orders {
        if let Some(entry) = minutes.get_mut(&minute) {
            entry.orders = n;
            entry.gmv = gmv;
        }
    }
    for &(minute, n) in reservations {
        let entry = minutes.entry(minute).or_insert(MinuteStats { minute, ..Default::default() });
        entry.reservations = n;
        entry.add_to_cart += n;
    }
    for &(minute, c) in cards {
        let entry = minutes.entry(minute).or_insert(MinuteStats { minute, ..Default::default() });
        entry.impressions = c.impressions;
        entry.clicks = c.clicks;
        entry.add_to_cart += c.cart_adds;
    }
    minutes.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_040_000; // a minute boundary

    fn sales(orders: i64, gmv: i64, reservations: i64) -> Sales {
        Sales { orders, gmv, reservations, ..Default::default() }
    }

    fn audience(viewers: i64) -> Input {
        Input::Audience { viewers, unique: viewers }
    }

    #[test]
    fn the_first_sample_opens_a_minute_and_is_pushed_at_once() {
        let mut a = RoomAnalytics::new(2_000);
        let effects = a.handle(audience(3), T0 + 5_000);
        assert_eq!(effects, vec![Effect::Update(MinuteStats { minute: T0, viewers: 3, peak_viewers: 3, unique_viewers: 3, ..Default::default() })]);
    }

    #[test]
    fn updates_are_pushed_at_most_once_per_interval_and_only_when_something_changed() {
        let mut a = RoomAnalytics::new(2_000);
        a.handle(Input::Audience { viewers: 0, unique: 0 }, T0);
        assert!(a.handle(Input::Audience { viewers: 0, unique: 4 }, T0 + 1_000).is_empty(), "inside the interval");
        assert_eq!(a.next_deadline(), Some(T0 + 2_000));
        let effects = a.handle(Input::Tick, T0 + 2_000);
        assert!(matches!(effects[..], [Effect::Update(MinuteStats { unique_viewers: 4, .. })]));
        assert!(a.handle(Input::Audience { viewers: 0, unique: 4 }, T0 + 5_000).is_empty(), "nothing changed");
    }

    #[test]
    fn the_peak_is_the_highest_sample_and_viewers_the_last() {
        let mut a = RoomAnalytics::new(0);
        for (i, n) in [2, 9, 5].into_iter().enumerate() {
            a.handle(audience(n), T0 + i as Millis * 1_000);
        }
        let m = a.current().unwrap();
        assert_eq!((m.viewers, m.peak_viewers), (5, 9));
    }

    #[test]
    fn watch_time_is_the_audience_integrated_over_time() {
        let mut a = RoomAnalytics::new(0);
        a.handle(audience(2), T0);
        a.handle(audience(4), T0 + 5_000);
        a.handle(Input::Tick, T0 + 10_000);
        assert_eq!(a.current().unwrap().watch_ms, 2 * 5_000 + 4 * 5_000);
    }

    #[test]
    fn watch_time_is_split_at_the_minute_boundary() {
        let mut a = RoomAnalytics::new(0);
        a.handle(audience(3), T0 + MINUTE_MS - 2_000);
        let effects = a.handle(audience(3), T0 + MINUTE_MS + 1_000);
        assert!(matches!(effects[0], Effect::Closed(MinuteStats { minute: T0, watch_ms: 6_000, .. })), "{effects:?}");
        assert_eq!(a.current().unwrap().watch_ms, 3_000);
    }

    #[test]
    fn a_stalled_shell_credits_at_most_the_longest_sample_gap() {
        let mut a = RoomAnalytics::new(0);
        a.handle(audience(1), T0);
        a.handle(audience(1), T0 + 40_000);
        assert_eq!(a.current().unwrap().watch_ms, MAX_SAMPLE_GAP_MS);
    }

    #[test]
    fn commerce_and_card_counts_replace_the_open_minutes_and_ignore_other_minutes() {
        let mut a = RoomAnalytics::new(0);
        a.handle(Input::Sales { minute: T0, sales: sales(1, 3900, 2) }, T0 + 1_000);
        let cards = CardCounts { impressions: 10, clicks: 3, cart_adds: 1 };
        a.handle(Input::Sales { minute: T0, sales: Sales { cards, ..sales(2, 7800, 2) } }, T0 + 2_000);
        a.handle(Input::Sales { minute: T0 - MINUTE_MS, sales: sales(9, 9, 9) }, T0 + 3_000);
        let m = a.current().unwrap();
        assert_eq!((m.orders, m.gmv, m.reservations), (2, 7800, 2));
        assert_eq!((m.impressions, m.clicks, m.add_to_cart), (10, 3, 1 + 2), "add-to-cart counts card adds and reservations");
    }

    #[test]
    fn passing_the_minute_closes_it_and_the_audience_carries_over() {
        let mut a = RoomAnalytics::new(0);
        a.handle(audience(7), T0 + 55_000);
        a.handle(Input::Sales { minute: T0, sales: sales(1, 500, 1) }, T0 + 56_000);
        assert_eq!(a.next_deadline(), Some(T0 + MINUTE_MS));
        let effects = a.handle(Input::Tick, T0 + MINUTE_MS);
        assert_eq!(effects.len(), 1);
        assert_eq!(
            effects[0],
            Effect::Closed(MinuteStats {
                minute: T0,
                viewers: 7,
                peak_viewers: 7,
                unique_viewers: 7,
                watch_ms: 7 * 5_000,
                orders: 1,
                gmv: 500,
                reservations: 1,
                add_to_cart: 1,
                ..Default::default()
            })
        );
        assert_eq!(a.current(), Some(MinuteStats { minute: T0 + MINUTE_MS, viewers: 7, peak_viewers: 7, unique_viewers: 7, ..Default::default() }));
    }

    #[test]
    fn a_silent_gap_closes_only_the_last_open_minute() {
        let mut a = RoomAnalytics::new(0);
        a.handle(audience(1), T0);
        let effects = a.handle(Input::Tick, T0 + 5 * MINUTE_MS + 1);
        assert!(matches!(effects[..], [Effect::Closed(MinuteStats { minute: T0, .. })]));
        assert_eq!(a.current().unwrap().minute, T0 + 5 * MINUTE_MS);
        assert_eq!(a.current().unwrap().watch_ms, 0, "the gap is not watch time");
    }

    #[test]
    fn finishing_hands_back_the_open_minute_once() {
        let mut a = RoomAnalytics::new(0);
        a.handle(audience(2), T0);
        assert_eq!(a.finish().map(|m| m.viewers), Some(2));
        assert_eq!(a.finish(), None);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn totals_sum_activity_keep_the_highest_peak_and_derive_the_rates() {
        let minutes = [
            MinuteStats { minute: T0, viewers: 3, peak_viewers: 8, unique_viewers: 8, watch_ms: 120_000, impressions: 20, clicks: 4, add_to_cart: 3, orders: 1, gmv: 100, reservations: 2 },
            MinuteStats { minute: T0 + MINUTE_MS, viewers: 5, peak_viewers: 6, unique_viewers: 10, watch_ms: 180_000, impressions: 20, clicks: 6, add_to_cart: 1, orders: 1, gmv: 250, reservations: 0 },
        ];
        let t = totals(&minutes, 9);
        assert_eq!((t.minutes, t.peak_viewers, t.unique_viewers, t.orders, t.gmv, t.reservations), (2, 8, 10, 2, 350, 2));
        assert_eq!((t.watch_ms, t.avg_watch_ms), (300_000, Some(30_000)));
        assert_eq!((t.impressions, t.clicks, t.ctr, t.add_to_cart), (40, 10, Some(0.25), 4));
        assert_eq!(t.conversion, Some(0.2));
    }

    #[test]
    fn rates_are_absent_without_a_denominator() {
        let t = totals(&[], 0);
        assert_eq!((t.avg_watch_ms, t.ctr, t.conversion), (None, None, None));
        let view = MinuteView::from(MinuteStats { clicks: 2, orders: 1, ..Default::default() });
        assert_eq!((view.ctr, view.conversion), (None, None));
    }

    #[test]
    fn a_minute_s_conversion_is_its_orders_per_peak_viewer() {
        let view = MinuteView::from(MinuteStats { peak_viewers: 4, orders: 1, impressions: 8, clicks: 2, ..Default::default() });
        assert_eq!((view.ctr, view.conversion), (Some(0.25), Some(0.25)));
    }

    #[test]
    fn joined_orders_count_only_in_minutes_on_air_but_reservations_and_cards_always_do() {
        let on_air = [MinuteStats { minute: T0, viewers: 4, peak_viewers: 4, unique_viewers: 4, watch_ms: 9_000, ..Default::default() }];
        let cards = [(T0, CardCounts { impressions: 5, clicks: 2, cart_adds: 1 })];
        let joined = join(&on_air, &[(T0, 1, 3900), (T0 + 9 * MINUTE_MS, 5, 1)], &[(T0, 1), (T0 - MINUTE_MS, 2)], &cards);
        assert_eq!(
            joined,
            vec![
                MinuteStats { minute: T0 - MINUTE_MS, reservations: 2, add_to_cart: 2, ..Default::default() },
                MinuteStats {
                    minute: T0,
                    viewers: 4,
                    peak_viewers: 4,
                    unique_viewers: 4,
                    watch_ms: 9_000,
                    impressions: 5,
                    clicks: 2,
                    add_to_cart: 2,
                    orders: 1,
                    gmv: 3900,
                    reservations: 1
                },
            ]
        );
    }

    #[test]
    fn minutes_are_aligned_to_the_epoch() {
        assert_eq!(minute_of(T0 + 59_999), T0);
        assert_eq!(minute_of(T0 + 60_000), T0 + MINUTE_MS);
    }
}
