//! Egress shards: threads that own WHEP viewers' `Rtc`s, so encrypting and sending
//! to viewers (the forwarding path's dominant cost) runs on every core.
//!
//! The driver keeps every decision: rooms, layer choice, sessions and what is known
//! about them. A shard only executes: it writes the frames the driver sends it to
//! the viewers named, feeds its peers the datagrams the driver routes to it and
//! their timeouts, sends what they transmit from a duplicate of the one UDP socket,
//! and hands back the events the driver acts on (connected, ICE state, keyframe
//! requests, bandwidth estimates) and the peers that died. A PATCH on a sharded
//! session recalls its `Rtc` to the driver, where it stays.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::PayloadParams;
use str0m::media::{Frequency, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, Input, Rtc};
use tokio::sync::mpsc;

use super::engine::{self, Polled, Step, UdpOut};
use super::timers::Timers;
use crate::sfu::room::PeerId;

/// Frames and datagrams waiting for one shard; beyond this they are dropped, as a
/// full socket buffer would.
const MEDIA_QUEUE: usize = 4096;

/// Changes of ownership: never dropped.
pub(super) enum Control {
    Adopt { id: PeerId, rtc: Box<Rtc> },
    Disconnect(PeerId),
    Recall(PeerId),
}

pub(super) enum Media {
    /// One publisher frame for some of this shard's viewers.
    Frame(Arc<Frame>, Vec<Forward>),
    /// A datagram (or ICE-TCP frame) from the network for `peer`, or, when the source
    /// is not known yet, for whichever of the shard's peers accepts it.
    Packet { peer: Option<PeerId>, proto: Protocol, source: SocketAddr, destination: SocketAddr, bytes: Vec<u8>, at: Instant },
}

/// A publisher's frame, shared by every shard it goes to.
pub(super) struct Frame {
    pub params: PayloadParams,
    pub network_time: Instant,
    pub frequency: Frequency,
    pub data: Arc<[u8]>,
}

/// The frame goes to `viewer`'s track `mid` at (rewritten) RTP time `time`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Forward {
    pub viewer: PeerId,
    pub mid: Mid,
    pub time: u64,
}

pub(super) enum FromShard {
    /// An event of a sharded peer the driver acts on.
    Event(PeerId, Event),
    /// Datagrams from `source` belong to the sharded peer.
    Claimed(SocketAddr, PeerId),
    Died(PeerId),
    Recalled(PeerId, Box<Rtc>),
    /// An ICE-TCP transmit: the connections live on the driver.
    Tcp { destination: SocketAddr, contents: Vec<u8> },
    /// The shard's thread ended (it should not, short of a bug): its peers are gone.
    Stopped(usize),
}

/// The driver's end of one shard.
#[derive(Clone)]
pub(super) struct ShardLink {
    pub index: usize,
    control: mpsc::UnboundedSender<Control>,
    media: mpsc::Sender<Media>,
    stopped: Arc<AtomicBool>,
}

impl ShardLink {
    /// False once its thread has ended: no new viewer goes there.
    pub fn running(&self) -> bool {
        !self.stopped.load(Ordering::Relaxed)
    }

    pub fn control(&self, message: Control) {
        // Only fails if the shard is gone, and then so are its peers.
        let _ = self.control.send(message);
    }

    pub fn media(&self, message: Media) {
        if self.media.try_send(message).is_err() {
            metrics::counter!("sfu_shard_media_dropped_total").increment(1);
        }
    }
}

/// Starts shard `index` on its own thread (one current-thread runtime).
pub(super) fn spawn(index: usize, udp: UdpOut, to_driver: mpsc::UnboundedSender<FromShard>) -> anyhow::Result<ShardLink> {
    let (control, control_rx) = mpsc::unbounded_channel();
    let (media, media_rx) = mpsc::channel(MEDIA_QUEUE);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    let stopped = Arc::new(AtomicBool::new(false));
    let on_exit = ThreadExit { index, stopped: stopped.clone(), to_driver: to_driver.clone() };
    let shard = Shard { peers: HashMap::new(), timers: Timers::default(), udp, to_driver, queue: Vec::new(), due: Vec::new(), forwarded: 0 };
    std::thread::Builder::new().name(format!("sfu-shard-{index}")).spawn(move || {
        let _on_exit = on_exit;
        runtime.block_on(shard.run(control_rx, media_rx))
    })?;
    Ok(ShardLink { index, control, media, stopped })
}

/// Marks the shard stopped and tells the driver when its thread ends, however it ends.
struct ThreadExit {
    index: usize,
    stopped: Arc<AtomicBool>,
    to_driver: mpsc::UnboundedSender<FromShard>,
}

impl Drop for ThreadExit {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        let _ = self.to_driver.send(FromShard::Stopped(self.index));
    }
}

struct ShardPeer {
    rtc: Box<Rtc>,
    timeout: Instant,
}

struct Shard {
    peers: HashMap<PeerId, ShardPeer>,
    timers: Timers,
    udp: UdpOut,
    to_driver: mpsc::UnboundedSender<FromShard>,
    queue: Vec<PeerId>,
    due: Vec<(PeerId, Instant)>,
    forwarded: u64,
}

impl Shard {
    async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>, mut media: mpsc::Receiver<Media>) {
        let mut next_report = Instant::now();
        loop {
            let now = Instant::now();
            let deadline = self.timers.next().unwrap_or(now + Duration::from_millis(500)).max(now + Duration::from_millis(1));
            tokio::select! {
                biased;
                message = control.recv() => match message {
                    Some(message) => self.on_control(message),
                    None => break,
                },
                Some(message) = media.recv() => self.on_media(message),
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            self.handle_timeouts(now);
            if now >= next_report {
                next_report = now + Duration::from_millis(500);
                metrics::counter!("sfu_frames_forwarded_total").increment(std::mem::take(&mut self.forwarded));
            }
        }
    }

    fn on_control(&mut self, message: Control) {
        match message {
            Control::Adopt { id, rtc } => {
                let now = Instant::now();
                self.peers.insert(id, ShardPeer { rtc, timeout: now });
                self.timers.reschedule(id, None, now);
            }
            Control::Disconnect(id) => {
                if let Some(mut peer) = self.forget(id) {
                    peer.rtc.disconnect();
                }
            }
            Control::Recall(id) => {
                let message = match self.forget(id) {
                    Some(peer) => FromShard::Recalled(id, peer.rtc),
                    None => FromShard::Died(id),
                };
                let _ = self.to_driver.send(message);
            }
        }
    }

    fn forget(&mut self, id: PeerId) -> Option<ShardPeer> {
        let peer = self.peers.remove(&id)?;
        self.timers.remove(id, peer.timeout);
        Some(peer)
    }

    fn on_media(&mut self, message: Media) {
        match message {
            Media::Frame(frame, forwards) => {
                let mut queue = std::mem::take(&mut self.queue);
                queue.clear();
                for forward in forwards {
                    let Some(peer) = self.peers.get_mut(&forward.viewer) else { continue };
                    match write_frame(&mut peer.rtc, forward, &frame) {
                        Some(true) => self.forwarded += 1,
                        Some(false) => {}
                        None => {
                            self.drop_failed(forward.viewer);
                            continue;
                        }
                    }
                    if queue.last() != Some(&forward.viewer) {
                        queue.push(forward.viewer);
                    }
                }
                for id in queue.drain(..) {
                    self.drain(id);
                }
                self.queue = queue;
            }
            Media::Packet { peer, proto, source, destination, bytes, at } => {
                let Ok(receive) = Receive::new(proto, source, destination, &bytes) else { return };
                let input = Input::Receive(at, receive);
                let accepting = peer
                    .filter(|id| self.peers.get(id).is_some_and(|p| p.rtc.accepts(&input)))
                    .or_else(|| self.peers.iter().find(|(_, p)| p.rtc.is_alive() && p.rtc.accepts(&input)).map(|(id, _)| *id));
                let Some(id) = accepting else { return };
                if peer != Some(id) {
                    let _ = self.to_driver.send(FromShard::Claimed(source, id));
                }
                if self.peers.get_mut(&id).is_some_and(|peer| !engine::feed(&mut peer.rtc, input)) {
                    self.drop_failed(id);
                    return;
                }
                self.drain(id);
            }
        }
    }

    fn handle_timeouts(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.timers.take_due(now, &mut due);
        for (id, _) in due.drain(..) {
            if self.peers.get_mut(&id).is_some_and(|peer| !engine::feed(&mut peer.rtc, Input::Timeout(now))) {
                self.drop_failed(id);
                continue;
            }
            self.drain(id);
        }
        self.due = due;
    }

    /// Polls one peer until it waits; its events go to the driver, and a dead peer is
    /// dropped and reported.
    fn drain(&mut self, id: PeerId) {
        let mut immediate = 0;
        loop {
            let Some(peer) = self.peers.get_mut(&id) else { return };
            let to_driver = &self.to_driver;
            let polled = Polled { id, rtc: &mut peer.rtc, timeout: &mut peer.timeout, immediate: &mut immediate };
            let tcp = |destination, contents: &[u8]| {
                let _ = to_driver.send(FromShard::Tcp { destination, contents: contents.to_vec() });
            };
            match engine::step(polled, &mut self.timers, &mut self.udp, tcp) {
                Step::Event(event) => {
                    if wanted_by_driver(&event) {
                        let _ = self.to_driver.send(FromShard::Event(id, event));
                    }
                }
                Step::Waiting => return,
                Step::Dead | Step::Panicked => {
                    self.drop_failed(id);
                    return;
                }
            }
        }
    }

    /// Drops a peer that died or panicked, and tells the driver.
    fn drop_failed(&mut self, id: PeerId) {
        self.forget(id);
        let _ = self.to_driver.send(FromShard::Died(id));
    }
}

/// The viewer events the driver's room logic uses; the rest stay here.
fn wanted_by_driver(event: &Event) -> bool {
    matches!(event, Event::Connected | Event::IceConnectionStateChange(_) | Event::KeyframeRequest(_) | Event::EgressBitrateEstimate(_))
}

/// Writes one publisher frame to a viewer's track; `Some(false)` when the viewer cannot
/// take it (no such track, no matching payload type, or the engine refused), `None`
/// when the engine panicked (its owner drops it).
pub(super) fn write_frame(rtc: &mut Rtc, forward: Forward, frame: &Frame) -> Option<bool> {
    engine::guarded(|| {
        let Some(writer) = rtc.writer(forward.mid) else { return false };
        let Some(pt) = writer.match_params(frame.params) else { return false };
        let time = MediaTime::new(forward.time, frame.frequency);
        match writer.write(pt, frame.network_time, time, frame.data.clone()) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "write to viewer failed");
                false
            }
        }
    })
}

// ---- the driver's side: placing viewers, recalling them, and what shards report ----

use super::{Command, Driver, Engine, Role};

impl Driver {
    /// Hands a new WHEP viewer to the least loaded of the driver and its shards (the
    /// driver also receives every datagram and runs the rooms, so it wins ties).
    /// Returns where it went: 0 for the driver.
    pub(super) fn place_viewer(&mut self, id: PeerId) -> usize {
        if self.shards.is_empty() {
            return 0;
        }
        let mut load = self.viewers_per_engine();
        for link in self.shards.iter().filter(|link| !link.running()) {
            load[link.index] = usize::MAX;
        }
        let Some(peer) = self.peers.get_mut(&id) else { return 0 };
        load[0] = load[0].saturating_sub(1); // not counting the newcomer itself
        let Some((index, _)) = load.iter().enumerate().min_by_key(|(i, n)| (**n, *i)) else { return 0 };
        let Some(link) = index.checked_sub(1).and_then(|i| self.shards.get(i)) else { return 0 };
        let engine = std::mem::replace(&mut peer.rtc, Engine::Sharded { id, link: link.clone(), alive: true });
        let Engine::Here(rtc) = engine else {
            peer.rtc = engine;
            return 0;
        };
        self.hot.timers.remove(id, peer.timeout);
        link.control(Control::Adopt { id, rtc });
        self.record_gauges(0);
        index
    }

    /// Live viewer connections per engine: the driver's at 0, shard `n`'s at `n`.
    pub(super) fn viewers_per_engine(&self) -> Vec<usize> {
        let mut viewers = vec![0usize; self.shards.len() + 1];
        for peer in self.peers.values().filter(|p| p.role == Role::Viewer && p.rtc.is_alive()) {
            viewers[peer.rtc.shard().map_or(0, |link| link.index)] += 1;
        }
        viewers
    }

    /// The sharded peer a command needs the engine of (a PATCH: trickle or ICE restart).
    pub(super) fn needs_engine_back(&self, command: &Command) -> Option<PeerId> {
        let Command::Trickle { session, .. } = command else { return None };
        let id = self.sessions.get(session)?;
        self.peers.get(id)?.rtc.shard().map(|_| *id)
    }

    /// Parks `command` until `id`'s engine is back from its shard.
    pub(super) fn recall(&mut self, id: PeerId, command: Command) {
        let parked = self.parked.entry(id).or_default();
        parked.push(command);
        if parked.len() == 1 {
            if let Some(link) = self.peers.get(&id).and_then(|p| p.rtc.shard()) {
                link.control(Control::Recall(id));
            }
        }
    }

    pub(super) fn on_shard(&mut self, message: FromShard) {
        match message {
            FromShard::Event(id, event) => {
                let mut queue = Vec::new();
                let mut outputs = Vec::new();
                self.on_event(id, event, &mut outputs, &mut queue);
                for id in queue {
                    self.drain(id);
                }
            }
            FromShard::Claimed(source, id) => {
                if self.peers.contains_key(&id) {
                    self.by_source.insert(source, id);
                }
            }
            FromShard::Died(id) => {
                if let Some(Engine::Sharded { alive, .. }) = self.peers.get_mut(&id).map(|p| &mut p.rtc) {
                    *alive = false;
                }
                self.hot.reap = true;
                self.unpark(id);
            }
            FromShard::Recalled(id, rtc) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    if matches!(peer.rtc, Engine::Sharded { alive: true, .. }) {
                        peer.rtc = Engine::Here(rtc);
                        let now = Instant::now();
                        peer.timeout = now;
                        self.hot.timers.reschedule(id, None, now);
                        self.drain(id);
                    }
                }
                self.unpark(id);
            }
            FromShard::Stopped(index) => {
                tracing::error!(shard = index, "an SFU egress shard stopped; its viewers' sessions end");
                for peer in self.peers.values_mut() {
                    if let Engine::Sharded { link, alive, .. } = &mut peer.rtc {
                        if link.index == index {
                            *alive = false;
                        }
                    }
                }
                self.hot.reap = true;
            }
            FromShard::Tcp { destination, contents } => super::send_tcp(&self.tcp_conns, destination, contents),
        }
    }

    /// Runs the commands that waited for `id`'s engine (they fail cleanly if it died).
    fn unpark(&mut self, id: PeerId) {
        for command in self.parked.remove(&id).unwrap_or_default() {
            self.handle_command(command);
        }
    }
}
