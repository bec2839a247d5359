//! The tokio shell: one task owns the UDP socket, every peer's `Rtc` and every
//! room's core. One `select!` over commands from HTTP handlers, readable
//! datagrams and the earliest engine timeout; no locks.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::sync::Arc;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::PayloadParams;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Rtc};
use tokio::io::Interest;
use tokio::sync::mpsc;

use super::codecs::{self, CodecError};
use super::ice::{self, sdp_attribute};
use super::room::{FrameIn, PeerId, Room, RoomOutput, StreamEvent};
use super::{Command, IceRestarted, MediaClock, RoomKey, SessionCreated, SessionInfo, SfuError, TrackSummary};

mod engine;
mod lifecycle;
mod participant;
mod shard;
mod timers;

use engine::{Engine, Polled, Step, UdpOut};
use shard::{Forward, FromShard, Media, ShardLink};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct SfuSettings {
    pub bind: IpAddr,
    pub udp_port: u16,
    pub max_viewers_per_room: usize,
    /// A second WHIP publish replaces the room's publisher instead of a 409.
    pub replace_publisher: bool,
    /// Most a publisher may send (bits/s, all tracks); `None`: no cap.
    pub max_publisher_bitrate: Option<u64>,
    /// ICE-TCP port (`rtc.tcp_port`; 0 picks one); `None`: no ICE over TCP.
    pub tcp_port: Option<u16>,
    /// Where publishes are recorded (`record.rs`); `None`: not recorded.
    pub record_dir: Option<std::path::PathBuf>,
    /// Egress shards: threads besides the driver that encrypt and send to WHEP viewers.
    pub egress_shards: usize,
}

impl SfuSettings {
    pub fn from_settings(settings: &crate::config::Settings) -> SfuSettings {
        SfuSettings {
            bind: settings.bind_address,
            udp_port: settings.rtc_udp_port,
            max_viewers_per_room: settings.sfu_max_viewers_per_room,
            replace_publisher: settings.sfu_replace_publisher,
            max_publisher_bitrate: Some(u64::from(settings.sfu_max_publisher_bitrate_kbps) * 1000).filter(|bps| *bps > 0),
            tcp_port: Some(settings.rtc_tcp_port),
            record_dir: settings.sfu_record.then(|| settings.data_dir.join("recordings")),
            egress_shards: settings.sfu_egress_shards,
        }
    }
}

/// A session that has not connected by then is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a session whose connectivity was lost waits for an ICE restart before it ends.
const RECONNECT_GRACE: Duration = Duration::from_secs(10);
const RECV_BATCH: usize = 16;
const RECV_BUF: usize = 64 * 1024;

pub(super) async fn spawn(settings: SfuSettings, store: Store, hub: crate::signaling::Hub) -> anyhow::Result<(mpsc::Sender<Command>, SocketAddr, Vec<SocketAddr>)> {
    let std_socket = std::net::UdpSocket::bind((settings.bind, settings.udp_port))
        .with_context(|| format!("cannot bind the WebRTC UDP port {}:{}", settings.bind, settings.udp_port))?;
    std_socket.set_nonblocking(true)?;
    let udp = Arc::new(quinn_udp::UdpSocketState::new((&std_socket).into())?);
    let _ = udp.set_send_buffer_size((&std_socket).into(), 4 << 20);
    let _ = udp.set_recv_buffer_size((&std_socket).into(), 4 << 20);
    let out = UdpOut::new(&std_socket, udp.clone())?;
    let (from_shards_tx, from_shards) = mpsc::unbounded_channel();
    let shards = (1..=settings.egress_shards)
        .map(|index| shard::spawn(index, UdpOut::new(&std_socket, udp.clone())?, from_shards_tx.clone()))
        .collect::<anyhow::Result<Vec<ShardLink>>>()
        .context("cannot start the SFU's egress shards")?;
    let socket = tokio::net::UdpSocket::from_std(std_socket)?;
    let local_addr = socket.local_addr()?;
    let candidates = super::net::host_candidate_addrs(settings.bind, local_addr.port());
    let cert = str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
        .context("cannot generate the DTLS certificate")?;
    let (status_tx, status_rx) = mpsc::unbounded_channel();
    tokio::spawn(write_room_status(store, status_rx));
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(lifecycle::publish_stream_events(hub, events_rx));
    let (commands, command_rx) = mpsc::channel(64);
    let (tcp_tx, tcp_events) = mpsc::channel(1024);
    let tcp_port = match settings.tcp_port {
        Some(port) => match tokio::net::TcpListener::bind((settings.bind, port)).await {
            Ok(listener) => {
                let port = listener.local_addr()?.port();
                tokio::spawn(super::tcp::serve(listener, tcp_tx));
                Some(port)
            }
            // Media still flows over UDP; say loudly that the TCP fallback is off.
            Err(e) => {
                tracing::error!(port, error = %e, "cannot bind the ICE-TCP port; ICE over TCP is disabled");
                None
            }
        },
        None => None,
    };
    tracing::info!(%local_addr, ?tcp_port, ?candidates, egress_shards = shards.len(), "SFU listening");
    let driver = Driver {
        socket,
        udp,
        out,
        shards,
        parked: HashMap::new(),
        port: local_addr.port(),
        max_viewers: settings.max_viewers_per_room,
        replace_publisher: settings.replace_publisher,
        tcp_port,
        tcp_conns: HashMap::new(),
        record_dir: settings.record_dir,
        max_publisher_bitrate: settings.max_publisher_bitrate,
        next_stall_check: Instant::now(),
        candidates: candidates.clone(),
        cert,
        peers: HashMap::new(),
        sessions: HashMap::new(),
        by_source: HashMap::new(),
        rooms: HashMap::new(),
        next_peer: 1,
        status: status_tx,
        events: events_tx,
        changes: Default::default(),
        bufs: vec![vec![0u8; RECV_BUF]; RECV_BATCH],
        hot: HotPath::default(),
        participants: Default::default(),
    };
    tokio::spawn(driver.run(command_rx, tcp_events, from_shards));
    Ok((commands, local_addr, candidates))
}

/// Room status changes, written in order by one task so "live" never lands after "ended".
async fn write_room_status(store: Store, mut rx: mpsc::UnboundedReceiver<(String, &'static str)>) {
    while let Some((room_id, status)) = rx.recv().await {
        if let Err(err) = store.set_room_status(&room_id, status).await {
            tracing::warn!(room_id, status, error = %err, "could not record the room status");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Publisher,
    Viewer,
}

struct Peer {
    session: String,
    room_id: String,
    room_name: String,
    role: Role,
    rtc: Engine,
    created: Instant,
    connected: bool,
    joined: bool,
    timeout: Instant,
    tracks: Vec<(Mid, MediaKind)>,
    remote_ufrag: Option<String>,
    /// The remote offer as last accepted, with its current ICE credentials (an ICE
    /// restart renegotiates from it).
    offer_sdp: String,
    /// When ICE connectivity was lost; the session ends unless it is back (or restarted) in time.
    lost_at: Option<Instant>,
    /// Why it ended, for the `stream.ended` event: `connection_lost` unless set.
    end_reason: &'static str,
    /// Ended by DELETE (the handler records the room status) rather than by a lost connection.
    ended_by_client: bool,
    etag: String,
}

impl Peer {
    /// The session id's first characters: enough to follow a session in logs, too few to act on it.
    fn short(&self) -> &str {
        self.session.get(..8).unwrap_or_default()
    }
}

struct RoomSlot {
    name: String,
    /// The current publish's recording, when recording is on.
    recorder: Option<super::record::Recorder>,
    core: Room,
    codecs: Vec<PayloadParams>,
    clock: Option<MediaClock>,
    /// Published tracks muted through the LiveKit RoomService: their frames are dropped.
    muted: std::collections::HashSet<Mid>,
    /// The publisher sends simulcast layers: viewers need bandwidth estimates to be switched.
    simulcast: bool,
}

struct Driver {
    socket: tokio::net::UdpSocket,
    udp: Arc<quinn_udp::UdpSocketState>,
    out: UdpOut,
    /// Egress shards holding some WHEP viewers' engines (`shard.rs`).
    shards: Vec<ShardLink>,
    /// Commands waiting for a sharded peer's engine to come back to the driver.
    parked: HashMap<PeerId, Vec<Command>>,
    port: u16,
    next_stall_check: Instant,
    max_viewers: usize,
    replace_publisher: bool,
    max_publisher_bitrate: Option<u64>,
    tcp_port: Option<u16>,
    record_dir: Option<std::path::PathBuf>,
    /// Open ICE-TCP connections, by the client's address.
    tcp_conns: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    candidates: Vec<SocketAddr>,
    cert: DtlsCert,
    peers: HashMap<PeerId, Peer>,
    sessions: HashMap<String, PeerId>,
    by_source: HashMap<SocketAddr, PeerId>,
    rooms: HashMap<String, RoomSlot>,
    next_peer: u64,
    status: mpsc::UnboundedSender<(String, &'static str)>,
    /// `(room name, kind, data)` for the room's signaling channel.
    events: mpsc::UnboundedSender<(String, &'static str, serde_json::Value)>,
    /// Poked when a session connects or ends (`Sfu::changes`).
    changes: std::sync::Arc<tokio::sync::Notify>,
    bufs: Vec<Vec<u8>>,
    hot: HotPath,
    /// Two-PC (LiveKit) participants' connections: `participant.rs`.
    participants: participant::Participants,
}

/// The forwarding path's bookkeeping, kept off the per-packet cost: peers' timeouts in
/// order, reusable scratch vectors, and a reap only when a peer may have died.
#[derive(Default)]
struct HotPath {
    timers: timers::Timers,
    due: Vec<(PeerId, Instant)>,
    queue: Vec<PeerId>,
    outputs: Vec<RoomOutput>,
    /// Per shard, the viewers the frame being applied goes to there.
    sharded: Vec<Vec<Forward>>,
    /// A peer may have died (disconnected, failed, or a command ran): reap before sleeping.
    reap: bool,
    /// Frames written to viewers since the counter was last published.
    forwarded: u64,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut tcp_events: mpsc::Receiver<super::tcp::TcpEvent>, mut from_shards: mpsc::UnboundedReceiver<FromShard>) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => {
                        self.handle_command(command);
                        self.hot.reap = true;
                    }
                    None => break,
                },
                readable = self.socket.readable() => {
                    if readable.is_ok() {
                        self.receive_batch();
                    }
                }
                Some(event) = tcp_events.recv(), if self.tcp_port.is_some() => {
                    self.on_tcp(event);
                    self.hot.reap = true;
                }
                Some(message) = from_shards.recv() => self.on_shard(message),
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            self.handle_timeouts(Instant::now());
            if std::mem::take(&mut self.hot.reap) {
                self.reap();
            }
        }
        tracing::info!("SFU stopped");
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let mut deadline = (now + Duration::from_millis(500)).min(self.next_stall_check);
        if let Some(at) = self.hot.timers.next() {
            deadline = deadline.min(at);
        }
        deadline.max(now + Duration::from_millis(1))
    }

    // ---- commands from the HTTP edge ----

    fn handle_command(&mut self, command: Command) {
        if let Some(id) = self.needs_engine_back(&command) {
            self.recall(id, command);
            return;
        }
        match command {
            Command::Publish { room, offer, reply } => {
                let _ = reply.send(self.publish(room, &offer));
            }
            Command::View { room, offer, reply } => {
                let _ = reply.send(self.view(room, &offer));
            }
            Command::Trickle { room_name, session, if_match, fragment, reply } => {
                let _ = reply.send(self.trickle(&room_name, &session, if_match.as_deref(), &fragment));
            }
            Command::Clock { room_id, reply } => {
                let clock = match self.rooms.get(&room_id) {
                    Some(slot) if slot.core.publisher().is_some() => Ok(slot.clock),
                    _ => Err(SfuError::NotLive),
                };
                let _ = reply.send(clock);
            }
            Command::Sessions { room_id, reply } => {
                let _ = reply.send(Ok(self.session_infos(room_id.as_deref())));
            }
            Command::Changes { reply } => {
                let _ = reply.send(Ok(self.changes.clone()));
            }
            Command::Participant { id, op, reply } => {
                let _ = reply.send(self.participant_command(id, op));
            }
            Command::Mute { room_id, mid, muted, reply } => {
                let _ = reply.send(self.mute(&room_id, &mid, muted));
            }
            Command::End { room_name, session, reason, reply } => {
                let result = self.session_peer(&room_name, &session).map(|id| match self.peers.get_mut(&id) {
                    Some(peer) => {
                        peer.ended_by_client = true;
                        peer.end_reason = reason;
                        peer.rtc.disconnect();
                        peer.role == Role::Publisher
                    }
                    None => false,
                });
                self.reap();
                let _ = reply.send(result);
            }
        }
    }

    fn publish(&mut self, room: RoomKey, offer_sdp: &str) -> Result<SessionCreated, SfuError> {
        let live = self.rooms.get(&room.id).is_some_and(|r| r.core.publisher().is_some());
        if live && !self.replace_publisher {
            return Err(SfuError::PublisherExists);
        }
        let codecs = codecs::publisher_codecs(&self.cert, offer_sdp).map_err(codec_error)?;
        let rtc = codecs::room_config(&self.cert, &codecs).build(Instant::now());
        let (id, mut created) = self.open_session(rtc, &room, Role::Publisher, offer_sdp)?;
        if let Some(cap) = self.max_publisher_bitrate {
            created.answer_sdp = super::cap::announce_in_answer(&created.answer_sdp, cap);
        }
        let slot = self.rooms.entry(room.id.clone()).or_insert_with(|| RoomSlot { name: room.name.clone(), recorder: None, core: Room::default(), codecs: Vec::new(), clock: None, muted: Default::default(), simulcast: false });
        let same_codecs = codecs::same_codecs(&slot.codecs, &codecs);
        slot.codecs = codecs;
        slot.simulcast = codecs::offers_simulcast(offer_sdp);
        slot.clock = None;
        slot.muted.clear();
        slot.core.set_bitrate_cap(self.max_publisher_bitrate);
        slot.recorder = self.record_dir.as_ref().map(|dir| super::record::Recorder::start(lifecycle::recording_dir(dir, &room.name, &created.session)));
        if live {
            self.replace(&room, id, same_codecs);
        } else if let Some(slot) = self.rooms.get_mut(&room.id) {
            if slot.core.set_publisher(id).is_err() {
                self.peers.remove(&id);
                self.sessions.remove(&created.session);
                return Err(SfuError::PublisherExists);
            }
        }
        let Some(slot) = self.rooms.get_mut(&room.id) else { return Err(SfuError::Stopped) };
        if let Some(peer) = self.peers.get(&id) {
            for (mid, kind) in &peer.tracks {
                slot.core.add_receiver(*mid, *kind);
            }
        }
        self.drain(id);
        let _ = self.events.send((room.name.clone(), "stream.started", serde_json::json!({ "replaced": live })));
        tracing::info!(room = room.name, session = created.session.get(..8).unwrap_or_default(), "publisher joined");
        Ok(created)
    }

    fn view(&mut self, room: RoomKey, offer_sdp: &str) -> Result<SessionCreated, SfuError> {
        let slot = self.rooms.get(&room.id).filter(|r| r.core.publisher().is_some()).ok_or(SfuError::NotLive)?;
        let viewers = self.peers.values().filter(|p| p.role == Role::Viewer && p.room_id == room.id).count();
        if viewers >= self.max_viewers {
            return Err(SfuError::RoomFull);
        }
        codecs::check_viewer(&self.cert, offer_sdp, &slot.codecs).map_err(codec_error)?;
        // Bandwidth estimation (TWCC, and str0m's pacer with it) only serves simulcast layer
        // choice; without layers it would cost a pacer wake-up per packet for nothing.
        let bwe = slot.simulcast.then(|| Bitrate::kbps(1_500));
        let rtc = codecs::room_config(&self.cert, &slot.codecs).enable_bwe(bwe).build(Instant::now());
        let (id, created) = self.open_session(rtc, &room, Role::Viewer, offer_sdp)?;
        self.drain(id);
        let shard = self.place_viewer(id);
        tracing::info!(room = room.name, session = created.session.get(..8).unwrap_or_default(), shard, "viewer joined");
        Ok(created)
    }

    fn open_session(&mut self, mut rtc: Rtc, room: &RoomKey, role: Role, offer_sdp: &str) -> Result<(PeerId, SessionCreated), SfuError> {
        for addr in &self.candidates {
            if let Ok(candidate) = Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(candidate);
            }
            if let Some(candidate) = self.tcp_port.and_then(|port| super::tcp::passive_candidate(SocketAddr::new(addr.ip(), port))) {
                rtc.add_local_candidate(candidate);
            }
        }
        let offer = SdpOffer::from_sdp_string(offer_sdp).map_err(|e| SfuError::InvalidSdp(format!("the SDP offer could not be parsed: {e}")))?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::InvalidSdp(format!("the SDP offer was refused: {e}")))?;
        // Publisher: the media we receive; viewer: the media we send.
        let unwanted = if role == Role::Publisher { Direction::SendOnly } else { Direction::RecvOnly };
        let tracks: Vec<(Mid, MediaKind)> = codecs::negotiated_media(&rtc, offer_sdp)
            .into_iter()
            .filter(|(_, _, dir)| *dir != unwanted && *dir != Direction::Inactive)
            .map(|(mid, kind, _)| (mid, kind))
            .collect();
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        let session = crate::auth::new_opaque_token();
        let etag = lifecycle::new_etag();
        let now = Instant::now();
        self.peers.insert(
            id,
            Peer {
                session: session.clone(),
                room_id: room.id.clone(),
                room_name: room.name.clone(),
                role,
                rtc: Engine::here(rtc),
                created: now,
                connected: false,
                joined: false,
                timeout: now,
                tracks,
                remote_ufrag: sdp_attribute(offer_sdp, "ice-ufrag"),
                offer_sdp: offer_sdp.to_string(),
                end_reason: "connection_lost",
                lost_at: None,
                ended_by_client: false,
                etag: etag.clone(),
            },
        );
        self.sessions.insert(session.clone(), id);
        // Due at once, so the engine is polled at the next wake-up even if nothing drains it first.
        self.hot.timers.reschedule(id, None, now);
        self.record_gauges(0);
        Ok((id, SessionCreated { session, answer_sdp: answer.to_sdp_string(), etag }))
    }

    fn session_peer(&self, room_name: &str, session: &str) -> Result<PeerId, SfuError> {
        let id = *self.sessions.get(session).ok_or(SfuError::UnknownSession)?;
        match self.peers.get(&id) {
            Some(peer) if peer.room_name == room_name && peer.rtc.is_alive() => Ok(id),
            _ => Err(SfuError::UnknownSession),
        }
    }

    /// Trickled candidates (`Ok(None)`), or an ICE restart when the fragment carries new
    /// credentials (`Ok(Some)` with our new ones and the session's new ETag).
    fn trickle(&mut self, room_name: &str, session: &str, if_match: Option<&str>, fragment: &str) -> Result<Option<IceRestarted>, SfuError> {
        let id = self.session_peer(room_name, session)?;
        let Some(peer) = self.peers.get_mut(&id) else { return Err(SfuError::UnknownSession) };
        if if_match.is_some_and(|tag| tag.trim() != "*" && tag.trim() != peer.etag) {
            return Err(SfuError::EtagMismatch);
        }
        let fragment = ice::parse_fragment(fragment).map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        let restarted = match fragment.credentials {
            Some((ufrag, pwd)) if peer.remote_ufrag.as_deref() != Some(ufrag.as_str()) => Some(self.ice_restart(id, &ufrag, &pwd)?),
            _ => None,
        };
        if let Some(rtc) = self.peers.get_mut(&id).and_then(|p| p.rtc.local()) {
            for candidate in fragment.candidates {
                rtc.add_remote_candidate(candidate);
            }
        }
        self.drain(id);
        Ok(restarted)
    }

    // ---- network input ----

    fn receive_batch(&mut self) {
        for _ in 0..8 {
            let mut meta = [quinn_udp::RecvMeta::default(); RECV_BATCH];
            let result = {
                let mut slices: Vec<IoSliceMut<'_>> = self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                let (socket, udp) = (&self.socket, &self.udp);
                socket.try_io(Interest::READABLE, || udp.recv(socket.into(), &mut slices, &mut meta))
            };
            let count = match result {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive failed");
                    return;
                }
            };
            let now = Instant::now();
            for (i, m) in meta.iter().take(count).enumerate() {
                let buf = std::mem::take(&mut self.bufs[i]);
                let stride = m.stride.max(1);
                for datagram in buf[..m.len.min(buf.len())].chunks(stride) {
                    self.on_datagram(m.addr, m.dst_ip, datagram, now);
                }
                self.bufs[i] = buf;
            }
        }
    }

    fn on_datagram(&mut self, source: SocketAddr, dst_ip: Option<IpAddr>, bytes: &[u8], now: Instant) {
        let source = to_ipv4_mapped(source);
        let destination = match dst_ip {
            Some(ip) => SocketAddr::new(to_ipv4(ip), self.port),
            None => self.guess_destination(source),
        };
        self.on_packet(Protocol::Udp, source, destination, bytes, now);
    }

    /// One packet from the network (a UDP datagram or an ICE-TCP frame) for whichever
    /// peer `accepts` it.
    fn on_packet(&mut self, proto: Protocol, source: SocketAddr, destination: SocketAddr, bytes: &[u8], now: Instant) {
        // Garbage that is not STUN, DTLS, RTP or RTCP is dropped here.
        let Ok(receive) = Receive::new(proto, source, destination, bytes) else { return };
        let input = Input::Receive(now, receive);
        let known = self.by_source.get(&source).and_then(|id| Some((*id, self.peers.get(id)?)));
        if let Some((id, link)) = known.and_then(|(id, p)| Some((id, p.rtc.shard()?))) {
            link.media(Media::Packet { peer: Some(id), proto, source, destination, bytes: bytes.to_vec(), at: now });
            return;
        }
        let accepts = |p: &Peer| p.rtc.local_ref().is_some_and(|rtc| rtc.is_alive() && rtc.accepts(&input));
        let id = match known.filter(|(_, p)| accepts(p)) {
            Some((id, _)) => id,
            None => match self.peers.iter().find(|(_, p)| accepts(p)) {
                Some((id, _)) => {
                    self.by_source.insert(source, *id);
                    *id
                }
                None => {
                    // Not one of ours: perhaps a sharded viewer's first packet (it claims its source).
                    for link in &self.shards {
                        link.media(Media::Packet { peer: None, proto, source, destination, bytes: bytes.to_vec(), at: now });
                    }
                    return;
                }
            },
        };
        self.feed(id, input);
        self.drain(id);
    }

    /// Hands `input` to a peer's engine here; one that panics on it is dropped.
    fn feed(&mut self, id: PeerId, input: Input<'_>) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        let Some(rtc) = peer.rtc.local() else { return };
        if !engine::feed(rtc, input) {
            peer.rtc = Engine::Failed;
            self.hot.reap = true;
        }
    }

    fn guess_destination(&self, source: SocketAddr) -> SocketAddr {
        let wanted_loopback = source.ip().is_loopback();
        self.candidates
            .iter()
            .find(|c| c.ip().is_loopback() == wanted_loopback)
            .or(self.candidates.first())
            .copied()
            .unwrap_or(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), self.port))
    }

    /// Hands the engine timeout to the peers that are due (only those: `timers`), and
    /// about twice a second does the housekeeping that needs every peer or room.
    fn handle_timeouts(&mut self, now: Instant) {
        if now >= self.next_stall_check {
            self.next_stall_check = now + Duration::from_millis(500);
            self.check_stalls(now);
            self.drop_lost_sessions(now);
            metrics::counter!("sfu_frames_forwarded_total").increment(std::mem::take(&mut self.hot.forwarded));
            self.hot.reap = true;
        }
        let mut due = std::mem::take(&mut self.hot.due);
        self.hot.timers.take_due(now, &mut due);
        for (id, _) in due.drain(..) {
            self.feed(id, Input::Timeout(now));
            self.drain(id);
        }
        self.hot.due = due;
    }

    /// Ends sessions that never connected, or lost connectivity and were not restarted, in time.
    fn drop_lost_sessions(&mut self, now: Instant) {
        for peer in self.peers.values_mut() {
            let lost = peer.lost_at.is_some_and(|at| now.saturating_duration_since(at) > RECONNECT_GRACE);
            if peer.rtc.is_alive() && (lost || (!peer.connected && now.saturating_duration_since(peer.created) > CONNECT_TIMEOUT)) {
                tracing::info!(session = peer.short(), "session never connected or lost its connection; dropping it");
                peer.rtc.disconnect();
            }
        }
    }

    /// Stalls and resumptions are logged and counted (and will go to the room's
    /// signaling channel once the hub exists).
    fn check_stalls(&mut self, now: Instant) {
        self.enforce_caps(now);
        for (room_id, slot) in self.rooms.iter_mut() {
            let kind = match slot.core.poll_stream_event(now) {
                Some(StreamEvent::Stalled) => {
                    tracing::warn!(room_id, "stream stalled: no media from the publisher");
                    metrics::counter!("sfu_stream_stalls_total").increment(1);
                    "stream.stalled"
                }
                Some(StreamEvent::Resumed) => {
                    tracing::info!(room_id, "stream resumed");
                    "stream.resumed"
                }
                None => continue,
            };
            let _ = self.events.send((slot.name.clone(), kind, serde_json::json!({})));
        }
    }

    /// Removes dead peers. A publisher leaving ends its room's stream and its viewers' sessions.
    fn reap(&mut self) {
        let dead: Vec<PeerId> = self.peers.iter().filter(|(_, p)| !p.rtc.is_alive()).map(|(id, _)| *id).collect();
        if !dead.is_empty() {
            self.record_gauges(dead.len());
            self.changes.notify_one();
        }
        for id in dead {
            let Some(peer) = self.peers.remove(&id) else { continue };
            self.hot.timers.remove(id, peer.timeout);
            self.participants.forget(id);
            self.sessions.remove(&peer.session);
            self.by_source.retain(|_, p| *p != id);
            let Some(slot) = self.rooms.get_mut(&peer.room_id) else { continue };
            if slot.core.remove_peer(id) {
                slot.recorder = None;
                tracing::info!(room = peer.room_name, reason = peer.end_reason, "publisher left; ending the stream");
                if !peer.ended_by_client {
                    let _ = self.status.send((peer.room_id.clone(), "ended"));
                }
                let _ = self.events.send((peer.room_name.clone(), "stream.ended", serde_json::json!({ "reason": peer.end_reason })));
                let participants = &self.participants;
                for (_, viewer) in self.peers.iter_mut().filter(|(id, p)| p.room_id == peer.room_id && !participants.owns(**id)) {
                    viewer.rtc.disconnect();
                }
                self.hot.reap = true;
            }
            if slot.core.is_empty() && !self.peers.values().any(|p| p.room_id == peer.room_id) {
                self.rooms.remove(&peer.room_id);
            }
        }
    }

    /// Peers and live rooms, for `/metrics` (`gone` peers are about to be removed).
    fn record_gauges(&self, gone: usize) {
        metrics::gauge!("sfu_peers").set(self.peers.len().saturating_sub(gone) as f64);
        let live = self.rooms.values().filter(|r| r.core.publisher().is_some()).count();
        metrics::gauge!("sfu_rooms_live").set(live as f64);
        for (engine, count) in self.viewers_per_engine().into_iter().enumerate() {
            let engine = if engine == 0 { "driver".to_string() } else { format!("shard-{engine}") };
            metrics::gauge!("sfu_viewers", "engine" => engine).set(count as f64);
        }
    }

    // ---- engine output ----

    /// Polls `first` (and every peer its events write to) until each is waiting on a
    /// timeout in the future, and files that timeout in `timers`.
    fn drain(&mut self, first: PeerId) {
        let mut queue = std::mem::take(&mut self.hot.queue);
        let mut outputs = std::mem::take(&mut self.hot.outputs);
        queue.clear();
        queue.push(first);
        while let Some(id) = queue.pop() {
            let mut immediate = 0;
            loop {
                let Some(peer) = self.peers.get_mut(&id) else { break };
                let Some(rtc) = peer.rtc.local() else { break };
                let tcp_conns = &self.tcp_conns;
                let tcp = |destination, contents: &[u8]| send_tcp(tcp_conns, destination, contents.to_vec());
                let polled = Polled { id, rtc, timeout: &mut peer.timeout, immediate: &mut immediate };
                match engine::step(polled, &mut self.hot.timers, &mut self.out, tcp) {
                    Step::Event(event) => self.on_event(id, event, &mut outputs, &mut queue),
                    Step::Waiting => break,
                    Step::Dead => {
                        self.hot.reap = true;
                        break;
                    }
                    Step::Panicked => {
                        if let Some(peer) = self.peers.get_mut(&id) {
                            peer.rtc = Engine::Failed;
                        }
                        self.hot.reap = true;
                        break;
                    }
                }
            }
        }
        self.hot.queue = queue;
        self.hot.outputs = outputs;
    }

    fn on_event(&mut self, id: PeerId, event: Event, outputs: &mut Vec<RoomOutput>, queue: &mut Vec<PeerId>) {
        let now = Instant::now();
        let Some(event) = self.participant_event(id, event) else { return };
        let Some(peer) = self.peers.get_mut(&id) else { return };
        let Some(slot) = self.rooms.get_mut(&peer.room_id) else { return };
        outputs.clear();
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                peer.lost_at.get_or_insert(now);
            }
            Event::IceConnectionStateChange(IceConnectionState::Connected | IceConnectionState::Completed) => peer.lost_at = None,
            Event::Connected => {
                peer.connected = true;
                self.changes.notify_one();
                if peer.role == Role::Viewer && !peer.joined {
                    peer.joined = true;
                    outputs.extend(slot.core.add_viewer(id, &peer.tracks, now));
                }
            }
            Event::MediaData(data) if slot.core.publisher() == Some(id) && slot.muted.contains(&data.mid) => {}
            Event::MediaData(data) if slot.core.publisher() == Some(id) => {
                if let Some(info) = data.last_sender_info {
                    let video = data.params.spec().codec.is_video();
                    if video || slot.clock.is_none_or(|c| c.track == "audio") {
                        let ntp_unix_ms = info.ntp_time.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
                        slot.clock = Some(MediaClock {
                            track: if video { "video" } else { "audio" },
                            clock_rate: info.rtp_time.frequency().get(),
                            rtp_timestamp: info.rtp_time.numer(),
                            ntp_unix_ms,
                        });
                    }
                }
                let frame = FrameIn {
                    mid: data.mid,
                    layer: data.rid,
                    keyframe: data.is_keyframe(),
                    contiguous: data.contiguous,
                    time: data.time.numer(),
                    clock_rate: data.time.frequency().get(),
                    bytes: data.data.len(),
                };
                slot.core.on_frame(frame, now, outputs);
                if let Some(recorder) = &slot.recorder {
                    let top = frame.keyframe && slot.core.top_layer(data.mid, now) == Some(data.rid);
                    recorder.record(super::record::RecordFrame {
                        mid: data.mid,
                        codec: data.params.spec().codec,
                        layer: data.rid,
                        top,
                        keyframe: frame.keyframe,
                        time: frame.time,
                        clock_rate: frame.clock_rate,
                        data: data.data.clone(),
                    });
                }
                let publisher = slot.core.publisher();
                self.apply(outputs, publisher, Some(&data), queue);
                return;
            }
            Event::KeyframeRequest(request) if peer.role == Role::Viewer => {
                outputs.extend(slot.core.on_keyframe_request(id, request.mid, now));
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. } | BweKind::Remb { estimate, .. }) if peer.role == Role::Viewer => {
                slot.core.on_bandwidth_estimate(id, estimate.as_u64());
            }
            _ => {}
        }
        let publisher = slot.core.publisher();
        let pending = std::mem::take(outputs);
        self.apply(&pending, publisher, None, queue);
        *outputs = pending;
    }

    /// Carries out a room's decisions: frames to viewers (here, or through their
    /// shards, one message per shard), keyframe requests to the publisher.
    fn apply(&mut self, outputs: &[RoomOutput], publisher: Option<PeerId>, data: Option<&MediaData>, queue: &mut Vec<PeerId>) {
        let mut frame: Option<Arc<shard::Frame>> = None;
        let mut sharded = std::mem::take(&mut self.hot.sharded);
        sharded.resize_with(self.shards.len(), Vec::new);
        for output in outputs {
            match output {
                RoomOutput::Forward { viewer, mid, time } => {
                    let (Some(data), Some(peer)) = (data, self.peers.get_mut(viewer)) else { continue };
                    let frame = frame.get_or_insert_with(|| Arc::new(shard::Frame { params: data.params, network_time: data.network_time, frequency: data.time.frequency(), data: data.data.clone() }));
                    let forward = Forward { viewer: *viewer, mid: *mid, time: *time };
                    if let Some(link) = peer.rtc.shard() {
                        if let Some(batch) = sharded.get_mut(link.index - 1) {
                            batch.push(forward);
                        }
                        continue;
                    }
                    let Some(rtc) = peer.rtc.local() else { continue };
                    match shard::write_frame(rtc, forward, frame) {
                        Some(true) => self.hot.forwarded += 1,
                        Some(false) => {}
                        None => {
                            peer.rtc = Engine::Failed;
                            self.hot.reap = true;
                            continue;
                        }
                    }
                    // One output per viewer track: a viewer drained twice costs one poll, so
                    // no O(viewers) search of the queue per frame.
                    if queue.last() != Some(viewer) {
                        queue.push(*viewer);
                    }
                }
                RoomOutput::RequestKeyframe { mid, layer } => {
                    let Some(publisher) = publisher else { continue };
                    let Some(rtc) = self.peers.get_mut(&publisher).and_then(|p| p.rtc.local()) else { continue };
                    if let Some(mut writer) = rtc.writer(*mid) {
                        let _ = writer.request_keyframe(*layer, KeyframeRequestKind::Pli);
                    }
                    if !queue.contains(&publisher) {
                        queue.push(publisher);
                    }
                }
            }
        }
        if let Some(frame) = frame {
            for (link, batch) in self.shards.iter().zip(sharded.iter_mut()) {
                if !batch.is_empty() {
                    link.media(Media::Frame(frame.clone(), std::mem::take(batch)));
                }
            }
        }
        self.hot.sharded = sharded;
    }
}

impl Driver {
    /// What the LiveKit RoomService lists as participants: live sessions, optionally of one room.
    fn session_infos(&self, room_id: Option<&str>) -> Vec<SessionInfo> {
        let now = Instant::now();
        let now_ms = crate::store::now_ms();
        let mut infos: Vec<SessionInfo> = self
            .peers
            .iter()
            .filter(|(id, p)| p.rtc.is_alive() && room_id.is_none_or(|r| r == p.room_id) && !self.participants.owns(**id))
            .map(|(_, p)| {
                let muted = self.rooms.get(&p.room_id).map(|r| &r.muted);
                SessionInfo {
                    session: p.session.clone(),
                    room_id: p.room_id.clone(),
                    room_name: p.room_name.clone(),
                    publisher: p.role == Role::Publisher,
                    connected: p.connected,
                    created_unix_ms: now_ms - now.saturating_duration_since(p.created).as_millis() as i64,
                    tracks: p
                        .tracks
                        .iter()
                        .map(|(mid, kind)| TrackSummary {
                            mid: mid.to_string(),
                            kind: if *kind == MediaKind::Audio { "audio" } else { "video" },
                            muted: p.role == Role::Publisher && muted.is_some_and(|m| m.contains(mid)),
                        })
                        .collect(),
                }
            })
            .collect();
        infos.sort_by(|a, b| (a.created_unix_ms, &a.session).cmp(&(b.created_unix_ms, &b.session)));
        infos
    }

    fn mute(&mut self, room_id: &str, mid: &str, muted: bool) -> Result<(), SfuError> {
        let slot = self.rooms.get_mut(room_id).ok_or(SfuError::NotLive)?;
        let publisher = slot.core.publisher().ok_or(SfuError::NotLive)?;
        let peer = self.peers.get_mut(&publisher).ok_or(SfuError::NotLive)?;
        let mid = peer.tracks.iter().map(|(m, _)| *m).find(|m| m.to_string() == mid).ok_or(SfuError::UnknownSession)?;
        if muted {
            slot.muted.insert(mid);
        } else if slot.muted.remove(&mid) {
            if let Some(mut writer) = peer.rtc.local().and_then(|rtc| rtc.writer(mid)) {
                let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
            }
            self.drain(publisher);
        }
        Ok(())
    }
}

/// One ICE-TCP transmit onto its connection; dropped (and counted) if the
/// connection is gone or its queue is full.
fn send_tcp(conns: &HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>, destination: SocketAddr, contents: Vec<u8>) {
    if !conns.get(&destination).is_some_and(|out| out.try_send(contents).is_ok()) {
        metrics::counter!("sfu_tcp_send_dropped_total").increment(1);
    }
}

fn codec_error(e: CodecError) -> SfuError {
    match e {
        CodecError::InvalidSdp(m) | CodecError::Refused(m) => SfuError::InvalidSdp(m),
        CodecError::Unsupported(m) => SfuError::UnsupportedCodec(m),
    }
}


fn to_ipv4(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

pub(super) fn to_ipv4_mapped(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(to_ipv4(addr.ip()), addr.port())
}
