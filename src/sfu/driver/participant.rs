//! The driver's side of two-PC participants (`crate::sfu::participant`): their
//! publisher connection (client offers: data channels, maybe the room's publish)
//! and subscriber connection (we offer the room's tracks; fed like a WHEP viewer).
//! Kept apart from the WHIP/WHEP paths: driver.rs only routes commands and
//! data-channel events here and leaves these peers out of session listings.

use std::collections::HashMap;
use std::time::Instant;

use str0m::bwe::Bitrate;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::{Candidate, Event, Rtc};
use tokio::sync::mpsc;

use super::{codec_error, codecs, lifecycle, Driver, Engine, Peer, Role, RoomSlot};
use crate::sfu::participant::{
    DownTrackSpec, ParticipantEvent, ParticipantId, ParticipantOp, ParticipantReply,
    PublisherAnswer,
};
use crate::sfu::room::{PeerId, Room};
use crate::sfu::{RoomKey, SfuError};

const RELIABLE: &str = "_reliable";
const LOSSY: &str = "_lossy";

#[derive(Default)]
pub(super) struct Participants {
    by_id: HashMap<ParticipantId, Part>,
    owner: HashMap<PeerId, ParticipantId>,
    next: u64,
    /// Whether each room's publisher is speaking, by room id.
    speaking: HashMap<String, Speaking>,
    /// How many participants each room has, by room id.
    per_room: HashMap<String, usize>,
}

/// A room publisher's voice activity from its audio levels, with a hold so short
/// pauses do not flap.
#[derive(Debug, Clone, Copy)]
struct Speaking {
    active: bool,
    level: f32,
    last_loud: Option<Instant>,
}

/// Louder than this (dBov, 0 loudest, 127 silence) counts as speech.
const SPEECH_DBOV: i8 = 50;
/// Silence for this long ends speaking.
const SPEECH_HOLD: std::time::Duration = std::time::Duration::from_millis(800);

struct Part {
    room: RoomKey,
    events: mpsc::Sender<ParticipantEvent>,
    publisher: Option<PeerId>,
    subscriber: Option<PeerId>,
    pending: Option<SdpPendingOffer>,
    /// The publisher connection's open data channels, by label.
    channels: HashMap<ChannelId, String>,
    /// Every m-section of the subscriber connection, with the track it was made for.
    down: Vec<(Mid, DownTrackSpec)>,
    /// Of those, the ones fed now.
    active: Vec<Mid>,
}

impl Participants {
    /// Whether `peer` is one of a participant's connections (not a WHIP/WHEP session).
    pub(super) fn owns(&self, peer: PeerId) -> bool {
        self.owner.contains_key(&peer)
    }

    /// `peer` was reaped.
    pub(super) fn forget(&mut self, peer: PeerId) {
        let Some(pid) = self.owner.remove(&peer) else {
            return;
        };
        let Some(part) = self.by_id.get_mut(&pid) else {
            return;
        };
        if part.publisher == Some(peer) {
            part.publisher = None;
            part.channels.clear();
            let _ = part.events.try_send(ParticipantEvent::PublishEnded);
        }
        if part.subscriber == Some(peer) {
            part.subscriber = None;
            part.pending = None;
            part.down.clear();
            part.active.clear();
        }
    }
}

impl Driver {
    pub(super) fn participant_command(
        &mut self,
        id: ParticipantId,
        op: ParticipantOp,
    ) -> Result<ParticipantReply, SfuError> {
        match op {
            ParticipantOp::Join { room, events } => {
                self.participants.next += 1;
                let pid = ParticipantId(self.participants.next);
                self.room_slot(&room);
                *self
                    .participants
                    .per_room
                    .entry(room.id.clone())
                    .or_default() += 1;
                let part = Part {
                    room,
                    events,
                    publisher: None,
                    subscriber: None,
                    pending: None,
                    channels: HashMap::new(),
                    down: Vec::new(),
                    active: Vec::new(),
                };
                self.participants.by_id.insert(pid, part);
                Ok(ParticipantReply::Joined(pid))
            }
            ParticipantOp::Offer { sdp } => self
                .participant_offer(id, &sdp)
                .map(ParticipantReply::Answer),
            ParticipantOp::Candidate {
                subscriber,
                candidate,
            } => {
                let part = self
                    .participants
                    .by_id
                    .get(&id)
                    .ok_or(SfuError::UnknownSession)?;
                let peer_id = if subscriber {
                    part.subscriber
                } else {
                    part.publisher
                };
                let candidate =
                    Candidate::from_sdp_string(candidate.trim().trim_start_matches("a="))
                        .map_err(|e| SfuError::InvalidSdp(format!("bad ICE candidate: {e}")))?;
                if let Some(rtc) = peer_id.and_then(|p| self.peers.get_mut(&p)).and_then(|p| p.rtc.local()) {
                    rtc.add_remote_candidate(candidate);
                }
                if let Some(peer_id) = peer_id {
                    self.drain(peer_id);
                }
                Ok(ParticipantReply::Done)
            }
            ParticipantOp::Subscribe { tracks } => self
                .participant_subscribe(id, tracks)
                .map(ParticipantReply::Offer),
            ParticipantOp::Answer { sdp } => self
                .participant_answer(id, &sdp)
                .map(|_| ParticipantReply::Done),
            ParticipantOp::Send { reliable, bytes } => {
                let part = self
                    .participants
                    .by_id
                    .get(&id)
                    .ok_or(SfuError::UnknownSession)?;
                let label = if reliable { RELIABLE } else { LOSSY };
                let channel = part
                    .channels
                    .iter()
                    .find(|(_, l)| l.as_str() == label)
                    .map(|(c, _)| *c);
                let Some(peer_id) = part.publisher else {
                    return Ok(ParticipantReply::Done);
                };
                if let (Some(cid), Some(peer)) = (channel, self.peers.get_mut(&peer_id)) {
                    if let Some(mut ch) = peer.rtc.local().and_then(|rtc| rtc.channel(cid)) {
                        if let Err(e) = ch.write(true, &bytes) {
                            tracing::debug!(error = %e, "data channel write failed");
                        }
                    }
                }
                self.drain(peer_id);
                Ok(ParticipantReply::Done)
            }
            ParticipantOp::Leave => {
                if let Some(part) = self.participants.by_id.remove(&id) {
                    let count = self
                        .participants
                        .per_room
                        .entry(part.room.id.clone())
                        .or_insert(1);
                    *count -= 1;
                    if *count == 0 {
                        self.participants.per_room.remove(&part.room.id);
                        self.participants.speaking.remove(&part.room.id);
                    }
                    for peer_id in [part.publisher, part.subscriber].into_iter().flatten() {
                        if let Some(peer) = self.peers.get_mut(&peer_id) {
                            peer.end_reason = "publisher_ended";
                            peer.rtc.disconnect();
                        }
                    }
                }
                self.reap();
                Ok(ParticipantReply::Done)
            }
        }
    }

    /// Data-channel events of participants' publisher connections; every other event
    /// is handed back for the usual handling.
    pub(super) fn participant_event(&mut self, peer: PeerId, event: Event) -> Option<Event> {
        if let Event::MediaData(data) = &event {
            if let Some(dbov) = data.ext_vals.audio_level {
                self.note_audio_level(peer, dbov);
            }
        }
        let Some(pid) = self.participants.owner.get(&peer).copied() else {
            return Some(event);
        };
        let Some(part) = self.participants.by_id.get_mut(&pid) else {
            return Some(event);
        };
        match event {
            Event::ChannelOpen(cid, label) => {
                part.channels.insert(cid, label);
                None
            }
            Event::ChannelClose(cid) => {
                part.channels.remove(&cid);
                None
            }
            Event::ChannelData(data) => {
                let label = part.channels.get(&data.id).map(String::as_str);
                if matches!(label, Some(RELIABLE) | Some(LOSSY)) && data.binary {
                    let _ = part.events.try_send(ParticipantEvent::Data {
                        reliable: label == Some(RELIABLE),
                        bytes: data.data,
                    });
                }
                None
            }
            other => Some(other),
        }
    }

    /// An audio level from `peer`: when it is its room's publisher and its voice
    /// activity changes, every participant of the room is told.
    fn note_audio_level(&mut self, peer: PeerId, dbov: i8) {
        let Some(room_id) = self.peers.get(&peer).map(|p| &p.room_id) else {
            return;
        };
        // Only rooms with participants to tell keep a state (removed as the last leaves).
        if !self.participants.per_room.contains_key(room_id) {
            return;
        }
        let room_id = room_id.clone();
        if self.rooms.get(&room_id).and_then(|r| r.core.publisher()) != Some(peer) {
            return;
        }
        let now = Instant::now();
        let state = self
            .participants
            .speaking
            .entry(room_id.clone())
            .or_insert(Speaking {
                active: false,
                level: 0.0,
                last_loud: None,
            });
        let loud = dbov.unsigned_abs() < SPEECH_DBOV as u8;
        if loud {
            state.last_loud = Some(now);
            state.level = 10f32.powf(-f32::from(dbov.unsigned_abs()) / 20.0);
        }
        let active = state
            .last_loud
            .is_some_and(|at| now.duration_since(at) < SPEECH_HOLD);
        if active == state.active {
            return;
        }
        state.active = active;
        let event = ParticipantEvent::Speaking {
            active,
            level: if active { state.level } else { 0.0 },
        };
        for part in self
            .participants
            .by_id
            .values()
            .filter(|p| p.room.id == room_id)
        {
            let _ = part.events.try_send(event.clone());
        }
    }

    fn room_slot(&mut self, room: &RoomKey) -> &mut RoomSlot {
        self.rooms
            .entry(room.id.clone())
            .or_insert_with(|| RoomSlot {
                name: room.name.clone(),
                recorder: None,
                core: Room::default(),
                codecs: Vec::new(),
                clock: None,
                muted: Default::default(),
                simulcast: false,
            })
    }

    fn participant_offer(
        &mut self,
        id: ParticipantId,
        sdp: &str,
    ) -> Result<PublisherAnswer, SfuError> {
        let part = self
            .participants
            .by_id
            .get(&id)
            .ok_or(SfuError::UnknownSession)?;
        let room = part.room.clone();
        let existing = part
            .publisher
            .filter(|p| self.peers.get(p).is_some_and(|peer| peer.rtc.is_alive()));
        let offers_media = sdp
            .lines()
            .any(|l| l.starts_with("m=audio") || l.starts_with("m=video"));
        let (peer_id, answer_sdp) = match existing {
            Some(peer_id) => {
                let peer = self
                    .peers
                    .get_mut(&peer_id)
                    .ok_or(SfuError::UnknownSession)?;
                let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| {
                    SfuError::InvalidSdp(format!("the SDP offer could not be parsed: {e}"))
                })?;
                let rtc = peer.rtc.local().ok_or(SfuError::UnknownSession)?;
                let answer =
                    rtc.sdp_api().accept_offer(offer).map_err(|e| {
                        SfuError::InvalidSdp(format!("the SDP offer was refused: {e}"))
                    })?;
                peer.offer_sdp = sdp.to_string();
                peer.remote_ufrag = super::ice::sdp_attribute(sdp, "ice-ufrag");
                (peer_id, answer.to_sdp_string())
            }
            None => {
                let config = if offers_media {
                    codecs::room_config(
                        &self.cert,
                        &codecs::publisher_codecs(&self.cert, sdp).map_err(codec_error)?,
                    )
                } else {
                    codecs::base_config(&self.cert)
                };
                let (peer_id, created) =
                    self.open_session(config.build(Instant::now()), &room, Role::Viewer, sdp)?;
                // Not a viewer until it subscribes to nothing: never joins the room's viewers.
                if let Some(peer) = self.peers.get_mut(&peer_id) {
                    peer.joined = true;
                    peer.tracks.clear();
                }
                self.participants.owner.insert(peer_id, id);
                if let Some(part) = self.participants.by_id.get_mut(&id) {
                    part.publisher = Some(peer_id);
                }
                (peer_id, created.answer_sdp)
            }
        };
        let media: Vec<(Mid, MediaKind)> = self
            .peers
            .get(&peer_id)
            .and_then(|peer| peer.rtc.local_ref())
            .map(|rtc| {
                codecs::negotiated_media(rtc, sdp)
                    .into_iter()
                    .filter(|(_, _, dir)| matches!(dir, Direction::RecvOnly | Direction::SendRecv))
                    .map(|(mid, kind, _)| (mid, kind))
                    .collect()
            })
            .unwrap_or_default();
        let publishing =
            !media.is_empty() && self.participant_publish(&room, peer_id, sdp, &media)?;
        self.drain(peer_id);
        let tracks = media
            .iter()
            .map(|(mid, kind)| (mid.to_string(), kind_name(*kind)))
            .collect();
        Ok(PublisherAnswer {
            sdp: answer_sdp,
            tracks,
            publishing,
        })
    }

    /// Makes `peer` the room's publisher with `media` (or adds its new tracks). False
    /// when another session publishes in the room.
    fn participant_publish(
        &mut self,
        room: &RoomKey,
        peer_id: PeerId,
        sdp: &str,
        media: &[(Mid, MediaKind)],
    ) -> Result<bool, SfuError> {
        let already = self.rooms.get(&room.id).and_then(|r| r.core.publisher());
        match already {
            Some(p) if p != peer_id => return Ok(false),
            Some(_) => {}
            None => {
                let chosen = codecs::publisher_codecs(&self.cert, sdp).map_err(codec_error)?;
                let cap = self.max_publisher_bitrate;
                let slot = self.room_slot(room);
                slot.codecs = chosen;
                slot.clock = None;
                slot.muted.clear();
                slot.simulcast = codecs::offers_simulcast(sdp);
                slot.core.set_bitrate_cap(cap);
                if slot.core.set_publisher(peer_id).is_err() {
                    return Ok(false);
                }
                let _ = self.events.send((
                    room.name.clone(),
                    "stream.started",
                    serde_json::json!({ "replaced": false }),
                ));
                self.changes.notify_one();
                tracing::info!(room = room.name, "participant publishing");
            }
        }
        if let Some(peer) = self.peers.get_mut(&peer_id) {
            peer.role = Role::Publisher;
            peer.tracks = media.to_vec();
        }
        let slot = self.room_slot(room);
        for (mid, kind) in media {
            slot.core.add_receiver(*mid, *kind);
        }
        Ok(true)
    }

    fn participant_subscribe(
        &mut self,
        id: ParticipantId,
        tracks: Vec<DownTrackSpec>,
    ) -> Result<Option<String>, SfuError> {
        let part = self
            .participants
            .by_id
            .get(&id)
            .ok_or(SfuError::UnknownSession)?;
        if part.pending.is_some() {
            return Ok(None);
        }
        let room = part.room.clone();
        let subscriber = part
            .subscriber
            .filter(|p| self.peers.get(p).is_some_and(|peer| peer.rtc.is_alive()));
        let new: Vec<DownTrackSpec> = tracks
            .iter()
            .filter(|t| !part.down.iter().any(|(_, d)| d.track_id == t.track_id))
            .cloned()
            .collect();
        let active: Vec<Mid> = part
            .down
            .iter()
            .filter(|(_, d)| tracks.iter().any(|t| t.track_id == d.track_id))
            .map(|(m, _)| *m)
            .collect();
        if new.is_empty() {
            if active != part.active {
                self.participant_feed(id, active);
            }
            return Ok(None);
        }
        let peer_id = match subscriber {
            Some(peer_id) => peer_id,
            None => {
                let Some(slot) = self
                    .rooms
                    .get(&room.id)
                    .filter(|s| s.core.publisher().is_some())
                else {
                    return Ok(None);
                };
                // As for WHEP viewers: bandwidth estimation (and str0m's pacer) only
                // serves simulcast layer choice.
                let bwe = slot.simulcast.then(|| Bitrate::kbps(1_500));
                let mut rtc: Rtc = codecs::room_config(&self.cert, &slot.codecs)
                    .enable_bwe(bwe)
                    .build(Instant::now());
                for addr in &self.candidates {
                    if let Ok(candidate) = Candidate::host(*addr, "udp") {
                        rtc.add_local_candidate(candidate);
                    }
                }
                let peer_id = PeerId(self.next_peer);
                self.next_peer += 1;
                let session = crate::auth::new_opaque_token();
                let now = Instant::now();
                self.peers.insert(
                    peer_id,
                    Peer {
                        session: session.clone(),
                        room_id: room.id.clone(),
                        room_name: room.name.clone(),
                        role: Role::Viewer,
                        rtc: Engine::here(rtc),
                        created: now,
                        connected: false,
                        joined: false,
                        timeout: now,
                        tracks: Vec::new(),
                        remote_ufrag: None,
                        offer_sdp: String::new(),
                        lost_at: None,
                        end_reason: "connection_lost",
                        ended_by_client: false,
                        etag: lifecycle::new_etag(),
                    },
                );
                self.sessions.insert(session, peer_id);
                // Due at once, so the engine is polled at the next wake-up.
                self.hot.timers.reschedule(peer_id, None, now);
                self.participants.owner.insert(peer_id, id);
                if let Some(part) = self.participants.by_id.get_mut(&id) {
                    part.subscriber = Some(peer_id);
                }
                peer_id
            }
        };
        let peer = self
            .peers
            .get_mut(&peer_id)
            .ok_or(SfuError::UnknownSession)?;
        let mut api = peer.rtc.local().ok_or(SfuError::UnknownSession)?.sdp_api();
        let mut added = Vec::new();
        for spec in new {
            let kind = if spec.kind == "audio" {
                MediaKind::Audio
            } else {
                MediaKind::Video
            };
            let mid = api.add_media(
                kind,
                Direction::SendOnly,
                Some(spec.stream_id.clone()),
                Some(spec.track_id.clone()),
                None,
            );
            added.push((mid, spec));
        }
        let Some((offer, pending)) = api.apply() else {
            return Ok(None);
        };
        if let Some(part) = self.participants.by_id.get_mut(&id) {
            part.down.extend(added);
            part.pending = Some(pending);
        }
        self.drain(peer_id);
        Ok(Some(offer.to_sdp_string()))
    }

    fn participant_answer(&mut self, id: ParticipantId, sdp: &str) -> Result<(), SfuError> {
        let part = self
            .participants
            .by_id
            .get_mut(&id)
            .ok_or(SfuError::UnknownSession)?;
        let (Some(pending), Some(peer_id)) = (part.pending.take(), part.subscriber) else {
            return Ok(());
        };
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| {
            SfuError::InvalidSdp(format!("the SDP answer could not be parsed: {e}"))
        })?;
        let peer = self
            .peers
            .get_mut(&peer_id)
            .ok_or(SfuError::UnknownSession)?;
        peer.rtc
            .local()
            .ok_or(SfuError::UnknownSession)?
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| SfuError::InvalidSdp(format!("the SDP answer was refused: {e}")))?;
        let active: Vec<Mid> = part.down.iter().map(|(m, _)| *m).collect();
        self.participant_feed(id, active);
        self.drain(peer_id);
        Ok(())
    }

    /// Feeds the subscriber connection's `active` sections (rejoins the room's viewers
    /// with them once connected).
    fn participant_feed(&mut self, id: ParticipantId, active: Vec<Mid>) {
        let Some(part) = self.participants.by_id.get_mut(&id) else {
            return;
        };
        let Some(peer_id) = part.subscriber else {
            return;
        };
        let tracks: Vec<(Mid, MediaKind)> = part
            .down
            .iter()
            .filter(|(m, _)| active.contains(m))
            .map(|(m, d)| {
                (
                    *m,
                    if d.kind == "audio" {
                        MediaKind::Audio
                    } else {
                        MediaKind::Video
                    },
                )
            })
            .collect();
        part.active = active;
        let room_id = part.room.id.clone();
        let Some(peer) = self.peers.get_mut(&peer_id) else {
            return;
        };
        peer.tracks = tracks.clone();
        // Before it connects, the driver joins it to the room's viewers on `Connected`.
        if !peer.joined {
            return;
        }
        let Some(slot) = self.rooms.get_mut(&room_id) else {
            return;
        };
        slot.core.remove_peer(peer_id);
        let outputs = slot.core.add_viewer(peer_id, &tracks, Instant::now());
        let publisher = slot.core.publisher();
        let mut queue = vec![peer_id];
        self.apply(&outputs, publisher, None, &mut queue);
        for peer in queue {
            self.drain(peer);
        }
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    if kind == MediaKind::Audio {
        "audio"
    } else {
        "video"
    }
}
