//! `Hub`: the thin shell around `HubCore`. It owns each connection's bounded
//! send queue, the broker and the once-a-second ticker, and is the publish
//! API the rest of the binary calls:
//!
//! ```ignore
//! // live commerce pins a product in a room: every viewer gets it, in order,
//! // with an offset, and a reconnecting viewer recovers it.
//! state.hub.publish(&ChannelName::room("spring-drop"), Event::new("product.pinned", json!({"sku": "TEE-1"}))).await?;
//! // an order update for one user, on every device they are connected from.
//! state.hub.push_to_user(&user_id, Event::new("order.updated", json!({"order_id": id, "status": "paid"}))).await?;
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::broker::{Broker, BrokerMessage};
use super::channel::ChannelName;
use super::core::{ConnId, HubConfig, HubCore, Output};
use super::protocol::{Disconnect, Event, Frame, Publication, ServerMessage};
use crate::kv::KvError;
use crate::store::{now_ms, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the broker did not accept the publication: {0}")]
    Broker(#[from] KvError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<redis::RedisError> for HubError {
    fn from(e: redis::RedisError) -> Self {
        HubError::Broker(KvError::Redis(e))
    }
}

/// Limits of the shell (the core has its own `HubConfig`).
#[derive(Clone, Debug)]
pub struct ShellConfig {
    /// Bytes queued for one connection before it is disconnected as slow.
    pub queue_max_bytes: usize,
    /// Frames queued for one connection before it is disconnected as slow.
    pub queue_max_frames: usize,
    /// A frame the client does not take within this time ends the connection.
    pub write_timeout: Duration,
    pub ping_interval: Duration,
    /// No frame from the client for this long ends the connection.
    pub idle_timeout: Duration,
    /// Largest text frame the hub reads; bigger ones get an error frame.
    pub max_frame_bytes: usize,
    pub snapshot_chat_messages: i64,
    pub tick_interval: Duration,
    /// How often a signed-in connection's session is checked again.
    pub session_recheck: Duration,
}

impl Default for ShellConfig {
    fn default() -> Self {
        ShellConfig {
            queue_max_bytes: 1024 * 1024,
            queue_max_frames: 4096,
            write_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            max_frame_bytes: 16 * 1024,
            snapshot_chat_messages: 50,
            tick_interval: Duration::from_secs(1),
            session_recheck: Duration::from_secs(60),
        }
    }
}

/// The shell's side of one connection.
struct ConnHandle {
    queue: mpsc::Sender<Frame>,
    queued_bytes: Arc<AtomicUsize>,
    kick: Option<oneshot::Sender<Disconnect>>,
}

/// What the WebSocket task gets when it registers.
pub struct ConnLink {
    pub id: ConnId,
    pub queue: mpsc::Receiver<Frame>,
    pub queued_bytes: Arc<AtomicUsize>,
    pub kicked: oneshot::Receiver<Disconnect>,
}

struct Shared {
    core: HubCore,
    conns: HashMap<ConnId, ConnHandle>,
    queue_max_bytes: usize,
}

struct Inner {
    shared: Mutex<Shared>,
    broker: Broker,
    store: Store,
    node_id: String,
    next_conn: AtomicU64,
    shell: ShellConfig,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// Builds the hub; with Redis, returns once this node's subscription is
    /// live (so nothing published after `start` returns is missed). Spawns
    /// the ticker and, with Redis, the subscriber.
    pub async fn start(store: Store, broker: Broker, config: HubConfig, shell: ShellConfig) -> Result<Hub, HubError> {
        let node_id = uuid::Uuid::new_v4().simple().to_string();
        let local_epoch = node_id[..8].to_string();
        let hub = Hub {
            inner: Arc::new(Inner {
                shared: Mutex::new(Shared { core: HubCore::new(config, local_epoch), conns: HashMap::new(), queue_max_bytes: shell.queue_max_bytes }),
                broker,
                store,
                node_id,
                next_conn: AtomicU64::new(1),
                shell,
            }),
        };
        if let Broker::Redis(redis) = &hub.inner.broker {
            let weak = Arc::downgrade(&hub.inner);
            redis
                .run_subscriber(move |message| {
                    if let Some(inner) = weak.upgrade() {
                        Hub { inner }.on_broker_message(message);
                    }
                })
                .await?;
        }
        let weak = Arc::downgrade(&hub.inner);
        let interval = hub.inner.shell.tick_interval;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                Hub { inner }.tick().await;
            }
        });
        Ok(hub)
    }

    pub fn shell_config(&self) -> &ShellConfig {
        &self.inner.shell
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Publishes an event on a channel: it gets the channel's next offset,
    /// enters its history and reaches every subscriber on every node.
    ///
    /// With Redis unreachable the event still reaches this node's subscribers,
    /// outside history (no offset is allocated, so none can collide with
    /// Redis's when it returns); other nodes miss it, and clients recover
    /// durable state (chat, sales) from the SQL-backed snapshot.
    pub async fn publish(&self, channel: &ChannelName, event: Event) -> Result<(), HubError> {
        match &self.inner.broker {
            Broker::Memory => self.with_core(|core| ((), core.publish_local(channel, event, now_ms()))),
            Broker::Redis(redis) => {
                if let Err(e) = redis.publish(channel, &event).await {
                    self.local_fallback(channel, event, &e);
                }
            }
        }
        Ok(())
    }

    /// Delivers on this node only, because Redis did not take the event.
    fn local_fallback(&self, channel: &ChannelName, event: Event, error: &KvError) {
        tracing::warn!(error = %error, %channel, "Redis unavailable: delivering on this node only");
        metrics::counter!("streamcart_hub_local_fallback_total").increment(1);
        self.with_core(|core| ((), core.on_ephemeral(channel, event)));
    }

    /// Publishes on `user:{id}`: every connection of that user that
    /// subscribed to its own channel receives it, recoverable like any other.
    pub async fn push_to_user(&self, user_id: &str, event: Event) -> Result<(), HubError> {
        self.publish(&ChannelName::user(user_id), event).await
    }

    /// An event outside history, to current subscribers on every node
    /// (aggregates that the next one supersedes).
    pub async fn publish_ephemeral(&self, channel: &ChannelName, event: Event) -> Result<(), HubError> {
        match &self.inner.broker {
            Broker::Memory => self.with_core(|core| ((), core.on_ephemeral(channel, event))),
            Broker::Redis(redis) => {
                if let Err(e) = redis.broadcast(&BrokerMessage::Ephemeral { ch: channel.to_string(), ev: event.clone() }).await {
                    self.local_fallback(channel, event, &e);
                }
            }
        }
        Ok(())
    }

    /// Before a first subscription on this node: with Redis, learn the
    /// channel's shared epoch and offset so snapshots and publications agree.
    pub async fn prepare_channel(&self, channel: &ChannelName) -> Result<(), HubError> {
        let Broker::Redis(redis) = &self.inner.broker else { return Ok(()) };
        if self.with_core(|core| (core.has_channel(channel), Vec::new())) {
            return Ok(());
        }
        // Redis unreachable: follow the channel from a local epoch; the first
        // publication from Redis later starts its own epoch (history dropped,
        // subscribers told by the new epoch) rather than colliding offsets.
        let (epoch, offset) = match redis.position(channel).await {
            Ok(position) => position,
            Err(e) => {
                tracing::warn!(error = %e, %channel, "Redis unavailable: following the channel locally");
                (format!("local-{}", uuid::Uuid::new_v4().simple()), 0)
            }
        };
        self.with_core(|core| (core.open_channel(channel, epoch, offset, now_ms()), Vec::new()));
        Ok(())
    }

    /// Reloads a room's rules into this node's core and tells other nodes to.
    pub async fn rules_changed(&self, room: &str, room_id: &str) -> Result<(), HubError> {
        self.reload_rules(room, room_id).await?;
        if let Broker::Redis(redis) = &self.inner.broker {
            // Committed and applied here; other nodes re-read the rules when Redis returns or their room reloads.
            if let Err(e) = redis.broadcast(&BrokerMessage::RulesChanged { room: room.into(), room_id: room_id.into() }).await {
                tracing::warn!(error = %e, room, "Redis unavailable: chat rules changed on this node only");
            }
        }
        Ok(())
    }

    pub async fn reload_rules(&self, room: &str, room_id: &str) -> Result<(), HubError> {
        let rules = self.inner.store.room_rules(room_id).await?;
        let now = now_ms();
        self.with_core(|core| ((), core.set_rules(room, rules, now)));
        Ok(())
    }

    /// Runs `f` on the core under the lock and delivers its outputs before
    /// releasing it, so every connection sees frames in core order.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut HubCore) -> (R, Vec<Output>)) -> R {
        let mut shared = self.lock();
        let (result, outputs) = f(&mut shared.core);
        deliver(&mut shared, outputs);
        result
    }

    /// Registers a connection with its bounded queue.
    pub fn register(&self, user_id: Option<String>, viewer_key: String) -> ConnLink {
        let id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let (queue_tx, queue_rx) = mpsc::channel(self.inner.shell.queue_max_frames);
        let (kick_tx, kick_rx) = oneshot::channel();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let mut shared = self.lock();
        shared.core.connect(id, user_id, viewer_key);
        shared.conns.insert(id, ConnHandle { queue: queue_tx, queued_bytes: queued_bytes.clone(), kick: Some(kick_tx) });
        ConnLink { id, queue: queue_rx, queued_bytes, kicked: kick_rx }
    }

    pub fn unregister(&self, conn: ConnId) {
        let mut shared = self.lock();
        shared.conns.remove(&conn);
        shared.core.disconnect(conn, now_ms());
    }

    /// Queues one frame for one connection (replies, acks, errors).
    pub fn send_to(&self, conn: ConnId, message: &ServerMessage) {
        let frame = message.encode();
        let mut shared = self.lock();
        deliver(&mut shared, vec![Output::Send { conns: vec![conn], frame }]);
    }

    pub fn kick(&self, conn: ConnId, reason: Disconnect) {
        let mut shared = self.lock();
        deliver(&mut shared, vec![Output::Kick { conn, reason }]);
    }

    /// Closes every connection (the server is stopping).
    pub fn close_all(&self, reason: Disconnect) {
        let mut shared = self.lock();
        let conns: Vec<ConnId> = shared.conns.keys().copied().collect();
        deliver(&mut shared, conns.into_iter().map(|conn| Output::Kick { conn, reason }).collect());
    }

    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock cannot leave the core half-updated in
        // a way later calls depend on, so a poisoned lock is still usable.
        self.inner.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn on_broker_message(&self, message: BrokerMessage) {
        let now = now_ms();
        match message {
            BrokerMessage::Publication { o, e, ch, ev } => {
                let Some(channel) = ChannelName::parse(&ch) else { return };
                let publication = Publication { channel: ch, offset: o, epoch: e, event: ev, ephemeral: false };
                self.with_core(|core| ((), core.on_publication(&channel, publication, now)));
            }
            BrokerMessage::Ephemeral { ch, ev } => {
                let Some(channel) = ChannelName::parse(&ch) else { return };
                self.with_core(|core| ((), core.on_ephemeral(&channel, ev)));
            }
            BrokerMessage::RulesChanged { room, room_id } => {
                if self.with_core(|core| (core.has_rules(&room), Vec::new())) {
                    let hub = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = hub.reload_rules(&room, &room_id).await {
                            tracing::warn!(error = %e, room, "cannot reload a room's chat rules");
                        }
                    });
                }
            }
        }
    }

    /// Once a second: reaction windows out, presence aggregated and published.
    async fn tick(&self) {
        let now = now_ms();
        let tick = self.with_core(|core| (core.tick(now), Vec::new()));
        for (channel, event) in tick.reactions {
            if let Err(e) = self.publish_ephemeral(&channel, event).await {
                tracing::warn!(error = %e, "cannot publish reactions");
            }
        }
        for local in tick.presence {
            let presence = match &self.inner.broker {
                Broker::Memory => self.with_core(|core| (core.local_presence(&local), Vec::new())),
                Broker::Redis(redis) => match redis.aggregate_presence(&self.inner.node_id, &local, now).await {
                    Ok(presence) => presence,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot aggregate presence in Redis; counting this node only");
                        self.with_core(|core| (core.local_presence(&local), Vec::new()))
                    }
                },
            };
            self.with_core(|core| ((), core.apply_presence(&local.room, presence)));
        }
    }
}

/// Queues frames without ever waiting: a connection whose queue is full (in
/// frames or bytes) is kicked as slow instead of slowing anyone else.
fn deliver(shared: &mut Shared, outputs: Vec<Output>) {
    let max_bytes = shared.queue_max_bytes;
    let mut kicks = Vec::new();
    for output in outputs {
        match output {
            Output::Send { conns, frame } => {
                for conn in conns {
                    let Some(handle) = shared.conns.get(&conn) else { continue };
                    let len = frame.len();
                    let queued = handle.queued_bytes.fetch_add(len, Ordering::AcqRel) + len;
                    if queued > max_bytes || handle.queue.try_send(frame.clone()).is_err() {
                        handle.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                        kicks.push((conn, Disconnect::Slow));
                    }
                }
            }
            Output::Kick { conn, reason } => kicks.push((conn, reason)),
        }
    }
    for (conn, reason) in kicks {
        if reason == Disconnect::Slow {
            metrics::counter!("streamcart_hub_slow_disconnects_total").increment(1);
        }
        if let Some(mut handle) = shared.conns.remove(&conn) {
            if let Some(kick) = handle.kick.take() {
                let _ = kick.send(reason);
            }
        }
        shared.core.disconnect(conn, now_ms());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn memory_hub() -> (Hub, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).await.unwrap();
        let hub = Hub::start(store, Broker::Memory, HubConfig::default(), ShellConfig::default()).await.unwrap();
        (hub, dir)
    }

    fn subscribe_user_channel(hub: &Hub, conn: ConnId, user: &str) {
        let channel = ChannelName::user(user);
        hub.with_core(|core| {
            core.subscribe(conn, &channel, None, None, 0).unwrap();
            ((), core.complete_snapshot(conn, &channel, None, json!({})))
        });
    }

    async fn frames(link: &mut ConnLink) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(frame) = link.queue.try_recv() {
            out.push(serde_json::from_str(frame.as_str()).unwrap());
        }
        out
    }

    #[tokio::test]
    async fn push_to_user_reaches_every_device_of_that_user_and_nobody_else() {
        let (hub, _dir) = memory_hub().await;
        let mut phone = hub.register(Some("u1".into()), "u1".into());
        let mut laptop = hub.register(Some("u1".into()), "u1".into());
        let mut other = hub.register(Some("u2".into()), "u2".into());
        subscribe_user_channel(&hub, phone.id, "u1");
        subscribe_user_channel(&hub, laptop.id, "u1");
        subscribe_user_channel(&hub, other.id, "u2");
        for link in [&mut phone, &mut laptop, &mut other] {
            frames(link).await;
        }
        hub.push_to_user("u1", Event::new("order.updated", json!({"status": "paid"}))).await.unwrap();
        for link in [&mut phone, &mut laptop] {
            let got = frames(link).await;
            assert_eq!(got.len(), 1);
            assert_eq!(got[0]["channel"], "user:u1");
            assert_eq!(got[0]["offset"], 1);
            assert_eq!(got[0]["event"]["kind"], "order.updated");
        }
        assert!(frames(&mut other).await.is_empty());
    }

    #[tokio::test]
    async fn a_connection_whose_queue_overflows_is_kicked_as_slow_and_the_others_still_receive() {
        let shell = ShellConfig { queue_max_frames: 4, ..ShellConfig::default() };
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).await.unwrap();
        let hub = Hub::start(store, Broker::Memory, HubConfig::default(), shell).await.unwrap();
        let mut stalled = hub.register(None, "a".into());
        let mut reader = hub.register(None, "b".into());
        let room = ChannelName::room("show");
        for link in [&stalled, &reader] {
            hub.with_core(|core| {
                core.subscribe(link.id, &room, None, None, 0).unwrap();
                ((), core.complete_snapshot(link.id, &room, None, json!({})))
            });
        }
        for i in 0..10 {
            frames(&mut reader).await;
            hub.publish(&room, Event::new("x", json!(i))).await.unwrap();
        }
        assert_eq!(stalled.kicked.try_recv(), Ok(Disconnect::Slow));
        assert_eq!(hub.connection_count(), 1);
        assert_eq!(frames(&mut reader).await.len(), 1, "the reader got the last one too");
    }
}
