//! The tokio shell around the live engines: one small task per room that
//! drives its flash sales (`FlashSale::handle(Tick)` at `next_deadline()`),
//! watches the stock of its pinned variants and pushes band changes through a
//! `Coalescer` (at most one `stock.bands` batch per interval), plus one
//! sweeper that releases expired one-tap reservations. The store stays the
//! arbiter: tasks only read counts from it and announce phases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod auctions;
mod engage;

use auctions::AuctionTimers;

use super::cards;
use super::coalesce::Coalescer;
use super::flash_sale::{Effect, FlashSale, Input, Phase};
use super::event_log::StreamTime;
use super::front::ReservationFront;
use crate::sfu::Sfu;
use super::stock_band::{StockBand, DEFAULT_LOW_THRESHOLD};
use super::store::SaleRow;
use super::Millis;
use crate::signaling::protocol::Event;
use crate::signaling::{ChannelName, Hub};
use crate::store::{now_ms, Store};

#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Products pinned at once per room.
    pub max_pins: i64,
    /// At most one `stock.bands` batch per room per this interval.
    pub band_interval_ms: Millis,
    pub low_threshold: u32,
    /// How long a one-tap reservation holds its units.
    pub reservation_ttl_ms: Millis,
    pub sweep_every: Duration,
    /// How long an auction's winner (or runner-up) has to pay its order.
    pub auction_payment_window_ms: Millis,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            max_pins: 3,
            band_interval_ms: 250,
            low_threshold: DEFAULT_LOW_THRESHOLD,
            reservation_ttl_ms: 5 * 60_000,
            sweep_every: Duration::from_secs(1),
            auction_payment_window_ms: 15 * 60_000,
        }
    }
}

enum RoomMsg {
    PinsChanged,
    SaleCreated(Box<SaleRow>),
    /// The store already marked it cancelled; the task stops it and announces it.
    SaleCancelled(String),
    /// A sale's sold count changed in the store; the task re-reads it.
    SoldChanged,
    /// An auction was created, bid on or cancelled; the task re-reads it and announces it.
    Auction { id: String, change: AuctionChange },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuctionChange {
    Started,
    Bid,
    Cancelled,
}

/// A room task's inbox and its handle.
type RoomHandle = (mpsc::UnboundedSender<RoomMsg>, JoinHandle<()>);

#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    front: ReservationFront,
    /// For stream time in the event log (absent in tests that build `Live` alone).
    sfu: Option<Sfu>,
    hub: Hub,
    config: LiveConfig,
    rooms: Mutex<HashMap<String, RoomHandle>>,
    sweeper: Mutex<Option<JoinHandle<()>>>,
    /// Polls and giveaways whose live count push is scheduled (`engage.rs`).
    engage_pending: Mutex<std::collections::HashSet<String>>,
}

impl Live {
    pub fn new(store: Store, hub: Hub, config: LiveConfig) -> Live {
        Live::with_services(store, hub, config, ReservationFront::disabled(), None)
    }

    /// With a reservation front (Redis) that refuses buyers who cannot win before SQL, and
    /// the SFU whose media clock stamps the event log with stream time.
    pub fn with_services(store: Store, hub: Hub, config: LiveConfig, front: ReservationFront, sfu: Option<Sfu>) -> Live {
        Live { inner: Arc::new(Inner { store, front, sfu, hub, config, rooms: Mutex::new(HashMap::new()), sweeper: Mutex::new(None), engage_pending: Mutex::new(Default::default()) }) }
    }

    /// Appends an event to the room's durable log with wall time and, if it is
    /// streaming, stream time. A failure is logged, never shown to the caller.
    pub async fn record(&self, room_id: &str, kind: &str, data: &serde_json::Value) {
        let at = now_ms();
        let stream = match &self.inner.sfu {
            Some(sfu) => sfu.media_clock(room_id.to_string()).await.ok().flatten().and_then(|clock| StreamTime::at(&clock, at)),
            None => None,
        };
        if let Err(e) = self.inner.store.append_room_event(room_id, kind, data, at, stream).await {
            tracing::warn!(kind, error = %e, "cannot append to the room's event log");
        }
    }

    pub fn front(&self) -> &ReservationFront {
        &self.inner.front
    }

    pub fn config(&self) -> &LiveConfig {
        &self.inner.config
    }

    /// Restores every room with pins or open sales (their original deadlines
    /// come from the store) and starts the reservation sweeper.
    pub async fn start(&self) {
        match self.inner.store.all_open_flash_sales().await {
            Ok(sales) => sales.into_iter().for_each(|(room, _)| self.room(&room)),
            Err(e) => tracing::warn!(error = %e, "cannot restore flash sales"),
        }
        match self.inner.store.running_auctions().await {
            Ok(auctions) => auctions.iter().for_each(|a| self.room(&a.room)),
            Err(e) => tracing::warn!(error = %e, "cannot restore auctions"),
        }
        match self.inner.store.rooms_with_pins().await {
            Ok(rooms) => rooms.iter().for_each(|room| self.room(room)),
            Err(e) => tracing::warn!(error = %e, "cannot restore pinned products"),
        }
        let live = self.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(live.inner.config.sweep_every);
            loop {
                tick.tick().await;
                live.sweep(now_ms()).await;
                live.close_due_engagements(now_ms()).await;
            }
        });
        if let Ok(mut slot) = self.inner.sweeper.lock() {
            *slot = Some(sweeper);
        }
    }

    /// Stops every task this component started.
    pub fn stop(&self) {
        if let Ok(mut rooms) = self.inner.rooms.lock() {
            rooms.drain().for_each(|(_, (_, task))| task.abort());
        }
        if let Ok(mut slot) = self.inner.sweeper.lock() {
            if let Some(task) = slot.take() {
                task.abort();
            }
        }
    }

    /// Releases expired reservations and tells their rooms; returns how many.
    pub async fn sweep(&self, now: Millis) -> usize {
        let released = match self.inner.store.release_expired_sale_reservations(now).await {
            Ok(mut released) => match self.inner.store.release_abandoned_sale_orders().await {
                Ok(more) => {
                    released.extend(more);
                    Ok(released)
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match released {
            Ok(released) => {
                for r in &released {
                    self.sold_changed(&r.room);
                }
                released.len()
            }
            Err(e) => {
                tracing::warn!(error = %e, "releasing expired sale reservations failed; will retry");
                0
            }
        }
    }

    pub fn pins_changed(&self, room: &str) {
        self.send(room, RoomMsg::PinsChanged);
    }

    pub fn sale_created(&self, room: &str, sale: SaleRow) {
        self.send(room, RoomMsg::SaleCreated(Box::new(sale)));
    }

    pub fn sale_cancelled(&self, room: &str, sale_id: &str) {
        self.send(room, RoomMsg::SaleCancelled(sale_id.to_string()));
    }

    pub fn auction_changed(&self, room: &str, id: &str, change: AuctionChange) {
        self.send(room, RoomMsg::Auction { id: id.to_string(), change });
    }

    pub fn sold_changed(&self, room: &str) {
        self.send(room, RoomMsg::SoldChanged);
    }

    fn send(&self, room: &str, msg: RoomMsg) {
        self.room(room);
        if let Ok(rooms) = self.inner.rooms.lock() {
            if let Some((tx, _)) = rooms.get(room) {
                let _ = tx.send(msg);
            }
        }
    }

    /// Makes sure the room's task runs.
    fn room(&self, room: &str) {
        let Ok(mut rooms) = self.inner.rooms.lock() else { return };
        if rooms.get(room).is_some_and(|(_, task)| !task.is_finished()) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(RoomTask::new(self.clone(), room.to_string()).run(rx));
        rooms.insert(room.to_string(), (tx, task));
    }
}

struct RoomTask {
    live: Live,
    room: String,
    channel: ChannelName,
    room_id: Option<String>,
    variants: Vec<String>,
    bands: HashMap<String, StockBand>,
    coalescer: Coalescer<String, StockBand>,
    sales: HashMap<String, FlashSale>,
    auctions: AuctionTimers,
}

impl RoomTask {
    fn new(live: Live, room: String) -> RoomTask {
        let interval = live.inner.config.band_interval_ms;
        RoomTask {
            channel: ChannelName::room(&room),
            live,
            room,
            room_id: None,
            variants: Vec::new(),
            bands: HashMap::new(),
            coalescer: Coalescer::new(interval),
            sales: HashMap::new(),
            auctions: AuctionTimers::default(),
        }
    }

    fn store(&self) -> &Store {
        &self.live.inner.store
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RoomMsg>) {
        if let Err(e) = self.load().await {
            tracing::warn!(room = %self.room, error = %e, "live room task cannot load its state");
        }
        loop {
            let now = now_ms();
            self.tick_sales(now).await;
            self.tick_auctions(now).await;
            if !self.variants.is_empty() {
                self.watch_stock().await;
            }
            if let Some(batch) = self.coalescer.flush(now) {
                let bands: Vec<_> = batch.into_iter().map(|(variant_id, band)| json!({"variant_id": variant_id, "stock": band})).collect();
                self.publish("stock.bands", json!({ "bands": bands })).await;
            }
            let mut wake = self.sales.values().filter_map(FlashSale::next_deadline).chain(self.auctions.next_deadline()).min();
            if !self.variants.is_empty() {
                let poll = now + self.live.inner.config.band_interval_ms;
                let next = self.coalescer.next_deadline().map_or(poll, |d| d.max(now).min(poll));
                wake = Some(wake.map_or(next, |w| w.min(next)));
            }
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep(Duration::from_millis((at - now_ms()).clamp(0, 60_000) as u64)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { return };
                    let mut sold_changed = false;
                    let mut pins_changed = false;
                    let mut next = Some(msg);
                    while let Some(msg) = next {
                        match msg {
                            RoomMsg::PinsChanged => pins_changed = true,
                            RoomMsg::SoldChanged => sold_changed = true,
                            RoomMsg::SaleCreated(sale) => self.add_sale(*sale).await,
                            RoomMsg::SaleCancelled(id) => {
                                self.sales.remove(&id);
                                self.publish("sale.cancelled", json!({"sale_id": id})).await;
                            }
                            RoomMsg::Auction { id, change } => self.auction_changed(&id, change).await,
                        }
                        next = rx.try_recv().ok();
                    }
                    if pins_changed {
                        if let Err(e) = self.load_pins().await {
                            tracing::warn!(room = %self.room, error = %e, "cannot reload pins");
                        }
                    }
                    if sold_changed {
                        self.refresh_sold().await;
                    }
                }
                _ = sleep => {}
            }
        }
    }

    async fn load(&mut self) -> Result<(), crate::store::StoreError> {
        let Some(room) = self.store().room_by_name(&self.room).await? else { return Ok(()) };
        self.room_id = Some(room.id.clone());
        self.load_pins().await?;
        for sale in self.store().open_flash_sales(&room.id).await? {
            let id = sale.id.clone();
            self.sales.insert(id, FlashSale::restore(sale.rules(), sale.phase(), sale.sold));
        }
        for auction in self.store().running_auctions().await?.into_iter().filter(|a| a.room_id == room.id) {
            self.auctions.track(&auction);
        }
        Ok(())
    }

    /// Reloads the pinned variants; bands already known are kept so only changes are pushed.
    async fn load_pins(&mut self) -> Result<(), crate::store::StoreError> {
        let Some(room_id) = self.room_id.clone() else { return Ok(()) };
        let mut variants = Vec::new();
        for product_id in self.store().pinned_products(&room_id).await? {
            variants.extend(self.store().variants_of(&[product_id]).await?.into_iter().map(|v| {
                self.bands.entry(v.id.clone()).or_insert(StockBand::of(v.available, self.live.inner.config.low_threshold));
                v.id
            }));
        }
        self.bands.retain(|id, _| variants.contains(id));
        self.variants = variants;
        Ok(())
    }

    /// Reads the pinned variants' stock; changed bands go to the coalescer.
    async fn watch_stock(&mut self) {
        let threshold = self.live.inner.config.low_threshold;
        for id in self.variants.clone() {
            match self.store().stock_level(&id).await {
                Ok(Some(level)) => {
                    let band = StockBand::of(level.available, threshold);
                    if self.bands.insert(id.clone(), band) != Some(band) {
                        self.coalescer.update(id, band);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "cannot read stock of a pinned variant"),
            }
        }
    }

    async fn add_sale(&mut self, sale: SaleRow) {
        let Ok(engine) = FlashSale::new(sale.rules()) else { return };
        self.publish(
            "sale.scheduled",
            json!({
                "sale_id": sale.id, "variant_id": sale.variant_id, "sale_price": sale.sale_price, "currency": sale.currency,
                "total_quantity": sale.total_quantity, "per_buyer_cap": sale.per_buyer_cap,
                "starts_at": sale.starts_at, "ends_at": sale.ends_at, "server_now": now_ms(),
            }),
        )
        .await;
        self.sales.insert(sale.id, engine);
    }

    async fn tick_sales(&mut self, now: Millis) {
        let due: Vec<String> = self.sales.iter().filter(|(_, s)| s.next_deadline().is_some_and(|d| d <= now)).map(|(id, _)| id.clone()).collect();
        for id in due {
            if let Some(sale) = self.sales.get_mut(&id) {
                let before = sale.phase();
                let effects = sale.handle(Input::Tick, now);
                self.apply(&id, before, effects).await;
            }
        }
        self.sales.retain(|_, s| !matches!(s.phase(), Phase::Ended | Phase::Cancelled));
    }

    /// Feeds every open sale the store's authoritative sold count.
    async fn refresh_sold(&mut self) {
        let ids: Vec<String> = self.sales.keys().cloned().collect();
        for id in ids {
            let total = match self.store().flash_sale(&id).await {
                Ok(Some(row)) => row.sold,
                _ => continue,
            };
            if let Some(sale) = self.sales.get_mut(&id) {
                let before = sale.phase();
                let effects = sale.handle(Input::Sold { total }, now_ms());
                self.apply(&id, before, effects).await;
            }
        }
    }

    /// Persists the transition and announces it, unless another node (sharing
    /// the store after a restart or in a cluster) already moved the sale on.
    async fn apply(&mut self, sale_id: &str, before: Phase, effects: Vec<Effect>) {
        let Some(after) = self.sales.get(sale_id).map(FlashSale::phase) else { return };
        if effects.is_empty() || after == before {
            return;
        }
        match self.store().advance_flash_sale_phase(sale_id, before, after).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(error = %e, "cannot persist a flash sale's phase; announcing anyway"),
        }
        for effect in effects {
            let (kind, data) = match effect {
                Effect::Started { ends_at } => ("sale.started", json!({"sale_id": sale_id, "ends_at": ends_at, "server_now": now_ms()})),
                Effect::SoldOut => ("sale.sold_out", json!({"sale_id": sale_id})),
                Effect::BackInStock { left } => ("sale.back_in_stock", json!({"sale_id": sale_id, "left": left})),
                Effect::Ended { sold } => ("sale.ended", json!({"sale_id": sale_id, "sold": sold})),
                Effect::Cancelled => ("sale.cancelled", json!({"sale_id": sale_id})),
            };
            self.publish(kind, data).await;
        }
    }

    async fn publish(&self, kind: &str, data: serde_json::Value) {
        if let (Some(room_id), false) = (&self.room_id, kind == "stock.bands") {
            self.live.record(room_id, kind, &data).await;
        }
        if let Err(e) = self.live.inner.hub.publish(&self.channel, Event::new(kind, data)).await {
            tracing::warn!(room = %self.room, kind, error = %e, "cannot publish a live event");
        }
    }
}

/// The pinned cards of a room, for snapshots and the pins route.
pub async fn pinned_cards(live: &Live, store: &Store, room_id: &str) -> crate::store::StoreResult<Vec<cards::PinnedCard>> {
    cards::room_cards(store, room_id, live.inner.config.low_threshold).await
}
