//! The hub core: who is subscribed to which channel, each channel's log,
//! fan-out, the chat gate, reaction and presence aggregates. Sans-IO: every
//! method takes `now` (unix ms) where time matters and returns the frames to
//! deliver; the shell owns sockets, clocks, the store and the broker.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::channel::{ChannelLog, ChannelName, Recovery};
use super::protocol::{Disconnect, Event, Frame, Position, Publication, ServerMessage};
use super::rules::{ChatGate, ChatLimits, ChatRefusal, ChatVerdict, RoomRules};

pub type ConnId = u64;

#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Publications kept per channel for recovery.
    pub history_size: usize,
    pub chat: ChatLimits,
    /// Publications buffered for a subscriber while its snapshot loads.
    pub snapshot_buffer_max: usize,
    /// Channels with no subscriber and no publication for this long are dropped.
    pub channel_idle_ms: i64,
    /// Largest `count` one `react` frame may carry.
    pub max_reactions_per_frame: u32,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            history_size: 500,
            chat: ChatLimits::default(),
            snapshot_buffer_max: 1_000,
            channel_idle_ms: 10 * 60 * 1000,
            max_reactions_per_frame: 50,
        }
    }
}

/// What the shell must do.
#[derive(Debug, PartialEq)]
pub enum Output {
    /// One encoded frame for each of these connections.
    Send { conns: Vec<ConnId>, frame: Frame },
    /// Close this connection with this code.
    Kick { conn: ConnId, reason: Disconnect },
}

/// A refused request, in the HTTP API's code vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { code, message: message.into(), retry_after_ms: None }
    }

    pub fn to_message(&self, id: Option<u64>) -> ServerMessage {
        ServerMessage::Error { id, code: self.code.into(), message: self.message.clone(), retry_after_ms: self.retry_after_ms }
    }
}

impl From<ChatRefusal> for Refusal {
    fn from(r: ChatRefusal) -> Refusal {
        Refusal { code: r.code(), message: r.message(), retry_after_ms: r.retry_after_ms() }
    }
}

/// A subscription either needs its snapshot (the shell loads it from the
/// store and calls `complete_snapshot`) or is done.
#[derive(Debug, PartialEq)]
pub enum SubscribeStep {
    Done(Vec<Output>),
    NeedsSnapshot { position: Position },
}

/// Viewer counts of one room: concurrent now, the highest seen, distinct viewers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Presence {
    pub viewers: u64,
    pub peak: u64,
    pub unique: u64,
}

/// This node's share of a room's presence, for the shell to aggregate.
#[derive(Debug, PartialEq)]
pub struct LocalPresence {
    pub room: String,
    pub concurrent: u64,
    /// Viewer keys first seen since the last tick.
    pub new_viewers: Vec<String>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Tick {
    pub presence: Vec<LocalPresence>,
    /// `reactions` events to publish (one per room with taps since the last tick).
    pub reactions: Vec<(ChannelName, Event)>,
}

#[derive(Debug)]
struct Subscriber {
    /// `Some` while the snapshot loads: publications wait here, in order.
    pending: Option<(Position, Vec<Arc<Publication>>)>,
}

#[derive(Debug)]
struct Channel {
    log: ChannelLog,
    subscribers: BTreeMap<ConnId, Subscriber>,
    last_activity: i64,
}

#[derive(Debug)]
struct Conn {
    user_id: Option<String>,
    viewer_key: String,
    channels: BTreeSet<ChannelName>,
}

#[derive(Debug, Default)]
struct Room {
    rules: Option<RoomRules>,
    gate: ChatGate,
    reactions: BTreeMap<String, u64>,
    seen_viewers: HashSet<String>,
    new_viewers: Vec<String>,
    presence: Presence,
    published_presence: Option<Presence>,
}

pub struct HubCore {
    config: HubConfig,
    /// Epoch of channels whose offsets this node allocates (memory broker).
    local_epoch: String,
    channels: HashMap<ChannelName, Channel>,
    conns: HashMap<ConnId, Conn>,
    rooms: HashMap<String, Room>,
}

impl HubCore {
    pub fn new(config: HubConfig, local_epoch: String) -> HubCore {
        HubCore { config, local_epoch, channels: HashMap::new(), conns: HashMap::new(), rooms: HashMap::new() }
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn connect(&mut self, conn: ConnId, user_id: Option<String>, viewer_key: String) {
        self.conns.insert(conn, Conn { user_id, viewer_key, channels: BTreeSet::new() });
    }

    /// An anonymous connection signed in with a `connect` frame.
    pub fn authenticate(&mut self, conn: ConnId, user_id: String) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.viewer_key = user_id.clone();
            c.user_id = Some(user_id);
        }
    }

    pub fn disconnect(&mut self, conn: ConnId, now: i64) {
        if let Some(c) = self.conns.remove(&conn) {
            for name in c.channels {
                if let Some(channel) = self.channels.get_mut(&name) {
                    channel.subscribers.remove(&conn);
                    channel.last_activity = now;
                }
            }
        }
    }

    pub fn is_subscribed(&self, conn: ConnId, channel: &ChannelName) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.channels.contains(channel))
    }

    pub fn has_rules(&self, room: &str) -> bool {
        self.rooms.get(room).is_some_and(|r| r.rules.is_some())
    }

    pub fn slow_mode_secs(&self, room: &str) -> u64 {
        self.rooms.get(room).and_then(|r| r.rules.as_ref()).map(|r| r.slow_mode_secs).unwrap_or(0)
    }

    pub fn presence(&self, room: &str) -> Presence {
        self.rooms.get(room).map(|r| r.presence).unwrap_or_default()
    }

    pub fn has_channel(&self, name: &ChannelName) -> bool {
        self.channels.contains_key(name)
    }

    /// Opens a channel at a position the broker reports (Redis), unless this
    /// node already follows it.
    pub fn open_channel(&mut self, name: &ChannelName, epoch: String, offset: u64, now: i64) {
        let capacity = self.config.history_size;
        self.channels.entry(name.clone()).or_insert_with(|| Channel {
            log: ChannelLog::new(epoch, offset, capacity),
            subscribers: BTreeMap::new(),
            last_activity: now,
        });
    }

    fn channel_mut(&mut self, name: &ChannelName, epoch: &str, now: i64) -> &mut Channel {
        let capacity = self.config.history_size;
        self.channels.entry(name.clone()).or_insert_with(|| Channel {
            log: ChannelLog::new(epoch.to_string(), 0, capacity),
            subscribers: BTreeMap::new(),
            last_activity: now,
        })
    }

    /// Subscribes `conn`: recovers from `recover` when history covers it,
    /// otherwise asks the shell for a snapshot. Sends the ack itself so that
    /// it precedes every publication on this subscription.
    pub fn subscribe(&mut self, conn: ConnId, name: &ChannelName, recover: Option<Position>, request_id: Option<u64>, now: i64) -> Result<SubscribeStep, Refusal> {
        let Some(c) = self.conns.get(&conn) else {
            return Err(Refusal::new("not_connected", "the connection is closing"));
        };
        if c.channels.contains(name) {
            return Err(Refusal::new("already_subscribed", "this connection is already subscribed to the channel"));
        }
        if let (Some(room), Some(user)) = (name.room_name(), c.user_id.as_deref()) {
            if self.rooms.get(room).and_then(|r| r.rules.as_ref()).is_some_and(|rules| rules.is_banned(user, now)) {
                return Err(Refusal::new("banned", "you are banned from this room"));
            }
        }
        let viewer_key = c.viewer_key.clone();
        let epoch = self.local_epoch.clone();
        let channel = self.channel_mut(name, &epoch, now);
        channel.last_activity = now;
        let position = channel.log.position();
        let recovery = recover.map(|since| channel.log.recover(&since));
        let step = match recovery {
            Some(Recovery::Missed(missed)) => {
                channel.subscribers.insert(conn, Subscriber { pending: None });
                let ack = ServerMessage::Ack { id: request_id, result: subscribed_result(name, &position, true) };
                let mut outputs = vec![Output::Send { conns: vec![conn], frame: ack.encode() }];
                outputs.extend(missed.iter().map(|p| Output::Send { conns: vec![conn], frame: ServerMessage::Pub((**p).clone()).encode() }));
                SubscribeStep::Done(outputs)
            }
            _ => {
                channel.subscribers.insert(conn, Subscriber { pending: Some((position.clone(), Vec::new())) });
                SubscribeStep::NeedsSnapshot { position }
            }
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.channels.insert(name.clone());
        }
        if let Some(room) = name.room_name() {
            let room = self.rooms.entry(room.to_string()).or_default();
            if room.seen_viewers.insert(viewer_key.clone()) {
                room.new_viewers.push(viewer_key);
            }
        }
        Ok(step)
    }

    /// The snapshot for a pending subscription: ack, snapshot, then whatever
    /// was published meanwhile. Nothing if the subscription ended meanwhile.
    pub fn complete_snapshot(&mut self, conn: ConnId, name: &ChannelName, request_id: Option<u64>, mut state: Value) -> Vec<Output> {
        if let (Some(room), Value::Object(map)) = (name.room_name(), &mut state) {
            let presence = self.presence(room);
            map.insert("presence".into(), json!(presence));
        }
        let Some(channel) = self.channels.get_mut(name) else { return Vec::new() };
        let Some(subscriber) = channel.subscribers.get_mut(&conn) else { return Vec::new() };
        let Some((position, buffered)) = subscriber.pending.take() else { return Vec::new() };
        let ack = ServerMessage::Ack { id: request_id, result: subscribed_result(name, &position, false) };
        let snapshot = ServerMessage::Snapshot { channel: name.to_string(), offset: position.offset, epoch: position.epoch.clone(), state };
        let mut outputs = vec![Output::Send { conns: vec![conn], frame: ack.encode() }, Output::Send { conns: vec![conn], frame: snapshot.encode() }];
        outputs.extend(buffered.iter().map(|p| Output::Send { conns: vec![conn], frame: ServerMessage::Pub((**p).clone()).encode() }));
        outputs
    }

    pub fn unsubscribe(&mut self, conn: ConnId, name: &ChannelName, now: i64) -> bool {
        let removed = self.conns.get_mut(&conn).is_some_and(|c| c.channels.remove(name));
        if let Some(channel) = self.channels.get_mut(name) {
            channel.subscribers.remove(&conn);
            channel.last_activity = now;
        }
        removed
    }

    /// Memory broker: allocates the next offset here, then delivers.
    pub fn publish_local(&mut self, name: &ChannelName, event: Event, now: i64) -> Vec<Output> {
        let epoch = self.local_epoch.clone();
        let publication = self.channel_mut(name, &epoch, now).log.next(name, event);
        self.on_publication(name, publication, now)
    }

    /// A publication with its offset, from the broker: log it, fan it out.
    pub fn on_publication(&mut self, name: &ChannelName, publication: Publication, now: i64) -> Vec<Output> {
        let max_buffer = self.config.snapshot_buffer_max;
        let channel = self.channel_mut(name, &publication.epoch, now);
        channel.last_activity = now;
        if publication.event.kind == "chat.deleted" {
            if let Some(id) = publication.event.data.get("id").and_then(Value::as_str) {
                let tombstone = publication.event.clone();
                channel.log.redact(|e| e.kind == "chat.message" && e.data.get("id").and_then(Value::as_str) == Some(id), &tombstone);
            }
        }
        let publication = Arc::new(publication);
        if !channel.log.append(publication.clone()) {
            return Vec::new();
        }
        let mut live = Vec::new();
        let mut outputs = Vec::new();
        for (conn, subscriber) in channel.subscribers.iter_mut() {
            match &mut subscriber.pending {
                None => live.push(*conn),
                Some((_, buffer)) if buffer.len() < max_buffer => buffer.push(publication.clone()),
                Some(_) => outputs.push(Output::Kick { conn: *conn, reason: Disconnect::Slow }),
            }
        }
        if !live.is_empty() {
            outputs.insert(0, Output::Send { conns: live, frame: ServerMessage::Pub((*publication).clone()).encode() });
        }
        outputs
    }

    /// An event outside history (aggregates): to current subscribers only,
    /// at the channel's current position.
    pub fn on_ephemeral(&mut self, name: &ChannelName, event: Event) -> Vec<Output> {
        self.ephemeral_to(name, event, |_| true)
    }

    /// An ephemeral event for one user's connections on a channel (the echo
    /// of a shadow-banned user's message).
    pub fn send_to_user_on(&mut self, user_id: &str, name: &ChannelName, event: Event) -> Vec<Output> {
        let users: HashMap<ConnId, bool> =
            self.conns.iter().map(|(id, c)| (*id, c.user_id.as_deref() == Some(user_id))).collect();
        self.ephemeral_to(name, event, |conn| users.get(&conn).copied().unwrap_or(false))
    }

    fn ephemeral_to(&mut self, name: &ChannelName, event: Event, include: impl Fn(ConnId) -> bool) -> Vec<Output> {
        let Some(channel) = self.channels.get(name) else { return Vec::new() };
        let conns: Vec<ConnId> =
            channel.subscribers.iter().filter(|(conn, s)| s.pending.is_none() && include(**conn)).map(|(conn, _)| *conn).collect();
        if conns.is_empty() {
            return Vec::new();
        }
        let publication = Publication { channel: name.to_string(), offset: channel.log.offset, epoch: channel.log.epoch.clone(), event, ephemeral: true };
        vec![Output::Send { conns, frame: ServerMessage::Pub(publication).encode() }]
    }

    /// Installs a room's rules (loaded or changed); banned users lose their
    /// subscription at once.
    pub fn set_rules(&mut self, room: &str, rules: RoomRules, now: i64) -> Vec<Output> {
        let name = ChannelName::room(room);
        let banned: Vec<ConnId> = self
            .channels
            .get(&name)
            .map(|channel| {
                channel
                    .subscribers
                    .keys()
                    .filter(|conn| {
                        let user = self.conns.get(conn).and_then(|c| c.user_id.as_deref());
                        user.is_some_and(|u| rules.is_banned(u, now))
                    })
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        self.rooms.entry(room.to_string()).or_default().rules = Some(rules);
        let mut outputs = Vec::new();
        for conn in banned {
            self.unsubscribe(conn, &name, now);
            let frame = ServerMessage::Unsubscribed { channel: name.to_string(), code: "banned".into(), reason: "a moderator banned you from this room".into() }.encode();
            outputs.push(Output::Send { conns: vec![conn], frame });
        }
        outputs
    }

    /// Passes a chat message through the room's gate; on success the shell
    /// persists it, then publishes it (or echoes it to its author if shadow).
    pub fn check_chat(&mut self, conn: ConnId, room: &str, text: &str, staff: bool, now: i64) -> Result<(String, ChatVerdict), Refusal> {
        let user = self.conns.get(&conn).and_then(|c| c.user_id.clone()).ok_or_else(|| Refusal::new("login_required", "sign in to chat"))?;
        let limits = self.config.chat;
        let subscribed = self.is_subscribed(conn, &ChannelName::room(room));
        let Some(Room { rules: Some(rules), gate, .. }) = self.rooms.get_mut(room) else {
            return Err(Refusal::new("not_subscribed", "subscribe to the room before chatting"));
        };
        if rules.is_banned(&user, now) && !staff {
            return Err(ChatRefusal::Banned.into());
        }
        if !subscribed {
            return Err(Refusal::new("not_subscribed", "subscribe to the room before chatting"));
        }
        let verdict = gate.check(rules, &limits, &user, staff, text, now)?;
        Ok((user, verdict))
    }

    /// Counts taps; they leave as one `reactions` aggregate per tick.
    pub fn react(&mut self, conn: ConnId, room: &str, kind: &str, count: u32) -> Result<(), Refusal> {
        if !self.is_subscribed(conn, &ChannelName::room(room)) {
            return Err(Refusal::new("not_subscribed", "subscribe to the room before reacting"));
        }
        let valid_kind = !kind.is_empty() && kind.len() <= 16 && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if !valid_kind {
            return Err(Refusal::new("invalid_reaction", "a reaction kind is 1 to 16 of a-z and '_'"));
        }
        if count == 0 || count > self.config.max_reactions_per_frame {
            return Err(Refusal::new("invalid_reaction", format!("count must be 1 to {}", self.config.max_reactions_per_frame)));
        }
        let room = self.rooms.entry(room.to_string()).or_default();
        *room.reactions.entry(kind.to_string()).or_default() += u64::from(count);
        Ok(())
    }

    /// Periodic work (the shell calls it about once a second): this node's
    /// presence per room, reaction windows to publish, idle channels dropped.
    pub fn tick(&mut self, now: i64) -> Tick {
        let mut tick = Tick::default();
        let idle_ms = self.config.channel_idle_ms;
        self.channels.retain(|_, c| !c.subscribers.is_empty() || now - c.last_activity < idle_ms);
        for (name, room) in self.rooms.iter_mut() {
            let channel = ChannelName::room(name);
            let concurrent = self.channels.get(&channel).map(|c| c.subscribers.len() as u64).unwrap_or(0);
            if concurrent > 0 || !room.new_viewers.is_empty() || room.published_presence.is_some_and(|p| p.viewers > 0) {
                tick.presence.push(LocalPresence { room: name.clone(), concurrent, new_viewers: std::mem::take(&mut room.new_viewers) });
            }
            if !room.reactions.is_empty() {
                let counts = std::mem::take(&mut room.reactions);
                tick.reactions.push((channel, Event::new("reactions", json!({ "counts": counts }))));
            }
            room.gate.forget_idle(now, 10 * 60 * 1000);
        }
        tick
    }

    /// This node's presence alone (memory broker): the peak and unique
    /// counts it has seen.
    pub fn local_presence(&mut self, local: &LocalPresence) -> Presence {
        let room = self.rooms.entry(local.room.clone()).or_default();
        Presence { viewers: local.concurrent, peak: room.presence.peak.max(local.concurrent), unique: room.seen_viewers.len() as u64 }
    }

    /// Records a room's aggregate presence and publishes it to this node's
    /// subscribers when it changed.
    pub fn apply_presence(&mut self, room: &str, presence: Presence) -> Vec<Output> {
        let state = self.rooms.entry(room.to_string()).or_default();
        state.presence = presence;
        if state.published_presence == Some(presence) {
            return Vec::new();
        }
        state.published_presence = Some(presence);
        self.on_ephemeral(&ChannelName::room(room), Event::new("presence", json!(presence)))
    }
}

fn subscribed_result(name: &ChannelName, position: &Position, recovered: bool) -> Value {
    json!({ "channel": name.to_string(), "offset": position.offset, "epoch": position.epoch, "recovered": recovered })
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
