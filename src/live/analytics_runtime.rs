//! The tokio shell around `RoomAnalytics`: once a second it lists the rooms on
//! air, samples each one's presence from the hub and counts its minute's
//! commerce and card reports in the store, feeds the engine, and carries out its effects:
//! a closed minute is recorded, and every update is pushed as
//! `analytics.minute` to the shop's sellers and moderators on their own
//! `user:{id}` channels (viewers never see the shop's figures).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use super::analytics::{minute_of, Effect, Input, MinuteStats, MinuteView, RoomAnalytics, MINUTE_MS};
use super::analytics_store::TrackedRoom;
use super::card_events::{CardEventKind, CardTracker, Throttled, TrackLimits};
use super::Millis;
use crate::signaling::{ChannelName, Event, Hub};
use crate::store::{now_ms, Store};

/// At most one running update per room per this interval.
const PUSH_INTERVAL_MS: Millis = 2_000;
const TICK: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Analytics {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    hub: Hub,
    rooms: Mutex<HashMap<String, Tracked>>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Rate limits and this node's deduplication of card reports.
    cards: Mutex<CardTracker>,
}

struct Tracked {
    room: TrackedRoom,
    engine: RoomAnalytics,
    /// Who gets the pushes; re-read every minute.
    staff: Vec<String>,
}

impl Analytics {
    pub fn new(store: Store, hub: Hub) -> Analytics {
        Analytics { inner: Arc::new(Inner { store, hub, rooms: Mutex::new(HashMap::new()), task: Mutex::new(None), cards: Mutex::new(CardTracker::new(TrackLimits::default())) }) }
    }

    /// Admits a viewer's card report (see `CardTracker::admit`): the products
    /// it names that are new this minute, or `Throttled`.
    pub fn admit_cards(&self, room: &str, viewer: &str, kind: CardEventKind, products: &[String], now: Millis) -> Result<Vec<String>, Throttled> {
        match self.inner.cards.lock() {
            Ok(mut tracker) => tracker.admit(room, viewer, kind, products, now),
            Err(_) => Ok(products.to_vec()),
        }
    }

    /// Remembers counted card reports so repeats stop before the store.
    pub fn remember_cards(&self, room: &str, viewer: &str, kind: CardEventKind, products: &[String], now: Millis) {
        if let Ok(mut tracker) = self.inner.cards.lock() {
            tracker.remember(room, viewer, kind, products, now);
        }
    }

    pub fn start(&self) {
        let me = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tick.tick().await;
                me.tick(now_ms()).await;
            }
        });
        if let Ok(mut slot) = self.inner.task.lock() {
            *slot = Some(task);
        }
    }

    pub fn stop(&self) {
        if let Ok(mut slot) = self.inner.task.lock() {
            if let Some(task) = slot.take() {
                task.abort();
            }
        }
    }

    /// The open minute of a room this node is tracking.
    pub fn current(&self, room_id: &str) -> Option<MinuteStats> {
        self.inner.rooms.lock().ok()?.get(room_id).and_then(|t| t.engine.current())
    }

    /// One round: every room on air sampled, rooms gone off air finished.
    pub async fn tick(&self, now: Millis) {
        let on_air = match self.inner.store.on_air_rooms().await {
            Ok(rooms) => rooms,
            Err(e) => {
                tracing::debug!(error = %e, "analytics cannot list the rooms on air");
                return;
            }
        };
        let gone: Vec<(TrackedRoom, Vec<String>, MinuteStats)> = match self.inner.rooms.lock() {
            Ok(mut rooms) => {
                let ids: Vec<String> = rooms.keys().filter(|id| !on_air.iter().any(|r| &r.id == *id)).cloned().collect();
                ids.into_iter()
                    .filter_map(|id| rooms.remove(&id))
                    .filter_map(|mut t| t.engine.finish().map(|m| (t.room, t.staff, m)))
                    .collect()
            }
            Err(_) => return,
        };
        for (room, staff, minute) in gone {
            self.carry_out(&room, &staff, vec![Effect::Closed(minute)]).await;
        }
        for room in on_air {
            self.sample(room, now).await;
        }
    }

    async fn sample(&self, room: TrackedRoom, now: Millis) {
        let store = &self.inner.store;
        let (open, known) = match self.inner.rooms.lock() {
            Ok(rooms) => match rooms.get(&room.id) {
                Some(t) => (t.engine.current(), true),
                None => (None, false),
            },
            Err(_) => return,
        };
        let minute = minute_of(now);
        let refresh_staff = !known || open.is_some_and(|m| m.minute < minute);
        let staff = if refresh_staff { store.shop_staff(&room.shop_id).await.ok() } else { None };
        // A minute about to close gets its final count first.
        let closing = match open.filter(|m| m.minute < minute) {
            Some(m) => store.minute_sales(&room, m.minute).await.ok().map(|s| (m.minute, s)),
            None => None,
        };
        let sales = match store.minute_sales(&room, minute).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(room = %room.name, error = %e, "analytics cannot count the minute's sales");
                None
            }
        };
        let presence = self.inner.hub.with_core(|core| (core.presence(&room.name), Vec::new()));
        let viewers = i64::try_from(presence.viewers).unwrap_or(i64::MAX);
        let unique = i64::try_from(presence.unique).unwrap_or(i64::MAX);
        let (effects, staff) = {
            let Ok(mut rooms) = self.inner.rooms.lock() else { return };
            let tracked = rooms.entry(room.id.clone()).or_insert_with(|| Tracked { room: room.clone(), engine: RoomAnalytics::new(PUSH_INTERVAL_MS), staff: Vec::new() });
            if let Some(staff) = staff {
                tracked.staff = staff;
            }
            let mut effects = Vec::new();
            if let Some((m, s)) = closing {
                effects.extend(tracked.engine.handle(Input::Sales { minute: m, sales: s }, m + MINUTE_MS - 1));
            }
            effects.extend(tracked.engine.handle(Input::Audience { viewers, unique }, now));
            if let Some(s) = sales {
                effects.extend(tracked.engine.handle(Input::Sales { minute, sales: s }, now));
            }
            (effects, tracked.staff.clone())
        };
        self.carry_out(&room, &staff, effects).await;
    }

    async fn carry_out(&self, room: &TrackedRoom, staff: &[String], effects: Vec<Effect>) {
        for effect in effects {
            let (minute, closed) = match effect {
                Effect::Closed(m) => {
                    if let Err(e) = self.inner.store.record_analytics_minute(&room.id, &m).await {
                        tracing::warn!(room = %room.name, error = %e, "cannot record an analytics minute");
                    }
                    (m, true)
                }
                Effect::Update(m) => (m, false),
            };
            let data = json!({ "room": room.name, "currency": room.currency, "closed": closed, "minute": MinuteView::from(minute) });
            for user in staff {
                if let Err(e) = self.inner.hub.publish_ephemeral(&ChannelName::user(user), Event::new("analytics.minute", data.clone())).await {
                    tracing::debug!(error = %e, "cannot push analytics");
                }
            }
        }
    }
}
