//! One `/rtc` connection: a LiveKit participant. Reads `SignalRequest`s, drives the
//! participant's two peer connections in the SFU (`crate::sfu::participant`), relays
//! its data packets through the roster, and every `SYNC_EVERY` tells the client who
//! else is in the room (`ParticipantUpdate`, `RoomUpdate`) and offers it the room's
//! published tracks on its subscriber connection.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use livekit_protocol as proto;
use livekit_protocol::{
    participant_info, signal_request, signal_response, DataPacket, ParticipantInfo, SignalRequest,
    SignalResponse, TrackInfo, TrackType,
};
use prost::Message as _;
use tokio::sync::mpsc;

use super::roster::Relay;
use super::view::{self, RoomView};
use super::{PROTOCOL, SERVER_VERSION};
use crate::app::AppState;
use crate::livekit::participants::participant_info as session_participant;
use crate::livekit::RoomGrant;
use crate::sfu::participant::{ParticipantEvent, ParticipantId};
use crate::sfu::RoomKey;
use crate::store::RoomRow;

/// How often the room's participants and tracks are compared with what the client knows.
const SYNC_EVERY: Duration = Duration::from_millis(300);
/// How many relayed data packets (and SFU events) a session may have waiting; beyond
/// that they are dropped rather than queued without bound.
const RELAY_QUEUE: usize = 1024;
/// At most this many tracks may be announced (`add_track`) and not yet negotiated.
const MAX_PENDING_TRACKS: usize = 16;
/// How often the room's metadata is read again from the store.
const SETTINGS_EVERY: Duration = Duration::from_secs(2);
/// What the client is told to ping with (seconds).
const PING_INTERVAL: i32 = 5;
const PING_TIMEOUT: i32 = 20;

pub struct Joined {
    pub grant: RoomGrant,
    pub room: RoomRow,
    pub auto_subscribe: bool,
}

struct Session {
    state: AppState,
    room: RoomRow,
    grant: RoomGrant,
    auto_subscribe: bool,
    me: ParticipantInfo,
    sfu: ParticipantId,
    /// Tracks announced by `AddTrackRequest`, by the client's id, until negotiated.
    pending: HashMap<String, TrackInfo>,
    /// What the client was last told of the room.
    view: RoomView,
    unsubscribed: HashSet<String>,
    publishing: bool,
    /// The room's LiveKit settings (metadata…) and when they were read.
    settings: (Option<std::time::Instant>, crate::livekit::RoomSettings),
}

pub async fn run(state: AppState, mut socket: WebSocket, joined: Joined) {
    let (events_tx, mut events) = mpsc::channel(RELAY_QUEUE);
    let key = RoomKey {
        id: joined.room.id.clone(),
        name: joined.room.name.clone(),
    };
    let Ok(sfu) = state.sfu.participant_join(key, events_tx).await else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let me = new_participant(&joined.grant);
    let (relay_tx, mut relays) = mpsc::channel(RELAY_QUEUE);
    let mut session = Session {
        state: state.clone(),
        room: joined.room,
        grant: joined.grant,
        auto_subscribe: joined.auto_subscribe,
        me,
        sfu,
        pending: HashMap::new(),
        view: RoomView::default(),
        unsubscribed: HashSet::new(),
        publishing: false,
        settings: (None, Default::default()),
    };
    let join = session.join_response().await;
    state
        .livekit_rooms
        .roster
        .join(&session.room.name, session.me.clone(), relay_tx);
    session.webhook("participant_joined", None).await;
    tracing::info!(
        room = session.room.name,
        identity = session.me.identity,
        "LiveKit participant joined"
    );
    let mut out = vec![signal_response::Message::Join(join)];
    let mut tick = tokio::time::interval(SYNC_EVERY);
    'session: loop {
        for message in out.drain(..) {
            let bytes = SignalResponse {
                message: Some(message),
            }
            .encode_to_vec();
            if socket.send(Message::Binary(bytes.into())).await.is_err() {
                break 'session;
            }
        }
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Binary(bytes))) => match SignalRequest::decode(bytes.as_ref()) {
                    Ok(SignalRequest { message: Some(request) }) => {
                        if !session.on_request(request, &mut out).await {
                            break 'session;
                        }
                    }
                    _ => tracing::debug!("undecodable signal request"),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break 'session,
                Some(Ok(_)) => {}
            },
            Some(event) = events.recv() => session.on_sfu_event(event, &mut out).await,
            Some(relay) = relays.recv() => match relay {
                Relay::Data { reliable, bytes } => {
                    let _ = state.sfu.participant_send(session.sfu, reliable, bytes).await;
                }
                Relay::Replaced | Relay::Removed => {
                    let reason = if relay == Relay::Replaced {
                        proto::DisconnectReason::DuplicateIdentity
                    } else {
                        proto::DisconnectReason::ParticipantRemoved
                    };
                    out.push(leave(reason));
                    for message in out.drain(..) {
                        let _ = socket.send(Message::Binary(SignalResponse { message: Some(message) }.encode_to_vec().into())).await;
                    }
                    break 'session;
                }
            },
            _ = tick.tick() => session.sync(&mut out).await,
        }
    }
    state
        .livekit_rooms
        .roster
        .leave(&session.room.name, &session.me.sid);
    for track in session.me.tracks.clone() {
        session.webhook("track_unpublished", Some(track)).await;
    }
    session.webhook("participant_left", None).await;
    let _ = state.sfu.participant_leave(session.sfu).await;
    let _ = socket.send(Message::Close(None)).await;
    tracing::info!(
        room = session.room.name,
        identity = session.me.identity,
        "LiveKit participant left"
    );
}

fn leave(reason: proto::DisconnectReason) -> signal_response::Message {
    signal_response::Message::Leave(proto::LeaveRequest {
        can_reconnect: false,
        reason: reason as i32,
        action: proto::leave_request::Action::Disconnect as i32,
        ..Default::default()
    })
}

fn now_ms() -> i64 {
    crate::store::now_ms()
}

fn new_participant(grant: &RoomGrant) -> ParticipantInfo {
    let now = now_ms();
    let token = crate::auth::new_opaque_token();
    ParticipantInfo {
        sid: format!("PA_{}", token.get(..12).unwrap_or("0")),
        identity: grant.identity.clone(),
        name: grant.name.clone(),
        state: participant_info::State::Active as i32,
        joined_at: now / 1000,
        joined_at_ms: now,
        version: 1,
        permission: Some(proto::ParticipantPermission {
            can_subscribe: grant.can_subscribe,
            can_publish: grant.can_publish,
            can_publish_data: grant.can_publish_data,
            hidden: grant.hidden,
            can_update_metadata: true,
            ..Default::default()
        }),
        kind: participant_info::Kind::Standard as i32,
        ..Default::default()
    }
}

/// The track id the client gave the media section `mid` (`a=msid:<stream> <track>`).
pub fn msid_track(sdp: &str, mid: &str) -> Option<String> {
    let mut current: Option<&str> = None;
    let mut found = None;
    for line in sdp.lines().map(str::trim) {
        if line.starts_with("m=") {
            if current == Some(mid) && found.is_some() {
                break;
            }
            current = None;
            found = None;
        } else if let Some(m) = line.strip_prefix("a=mid:") {
            current = Some(m.trim());
        } else if let Some(msid) = line.strip_prefix("a=msid:") {
            found = msid.split_whitespace().nth(1).map(str::to_string);
        }
    }
    if current == Some(mid) {
        found
    } else {
        None
    }
}

impl Session {
    async fn room_info(&mut self, participants: usize, publishers: usize) -> proto::Room {
        let stale = self
            .settings
            .0
            .is_none_or(|at| at.elapsed() >= SETTINGS_EVERY);
        if stale {
            let settings = self
                .state
                .store
                .livekit_room_settings(&self.room.id)
                .await
                .unwrap_or_default();
            self.settings = (Some(std::time::Instant::now()), settings);
        }
        let settings = &self.settings.1;
        let mut room = crate::livekit::room_service::room_info(&self.room, settings, &[]);
        room.num_participants = participants as u32;
        room.num_publishers = publishers as u32;
        room.active_recording = false;
        room
    }

    /// Everyone else in the room: signalled participants and WHIP/WHEP sessions.
    async fn others(&self) -> Vec<ParticipantInfo> {
        let mut others: Vec<ParticipantInfo> = self
            .state
            .livekit_rooms
            .roster
            .others(&self.room.name, &self.me.sid)
            .into_iter()
            .filter(|p| !p.permission.as_ref().is_some_and(|p| p.hidden))
            .collect();
        let sessions = self
            .state
            .sfu
            .sessions(Some(self.room.id.clone()))
            .await
            .unwrap_or_default();
        let directory = &self.state.livekit_rooms.directory;
        others.extend(
            sessions
                .iter()
                .filter(|s| s.connected)
                .map(|s| session_participant(s, &directory.get(&s.session))),
        );
        others
    }

    async fn join_response(&mut self) -> proto::JoinResponse {
        let others = self.others().await;
        let publishers = others.iter().filter(|p| !p.tracks.is_empty()).count();
        let room = self.room_info(others.len() + 1, publishers).await;
        self.view.joined(&room, &others);
        proto::JoinResponse {
            room: Some(room),
            participant: Some(self.me.clone()),
            other_participants: others,
            server_version: SERVER_VERSION.into(),
            ice_servers: Vec::new(),
            subscriber_primary: false,
            ping_timeout: PING_TIMEOUT,
            ping_interval: PING_INTERVAL,
            server_info: Some(proto::ServerInfo {
                edition: proto::server_info::Edition::Standard as i32,
                version: SERVER_VERSION.into(),
                protocol: PROTOCOL,
                node_id: "streamcart".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Handles one request; false when the client leaves.
    #[allow(deprecated)] // TrackInfo.simulcast/layers: still read by SDKs of protocol 17/18
    async fn on_request(
        &mut self,
        request: signal_request::Message,
        out: &mut Vec<signal_response::Message>,
    ) -> bool {
        use signal_request::Message as M;
        match request {
            M::Offer(offer) => match self
                .state
                .sfu
                .participant_offer(self.sfu, offer.sdp.clone())
                .await
            {
                Ok(answer) => {
                    out.push(signal_response::Message::Answer(
                        proto::SessionDescription {
                            r#type: "answer".into(),
                            sdp: answer.sdp,
                            id: offer.id,
                            ..Default::default()
                        },
                    ));
                    if answer.publishing {
                        self.on_published(&offer.sdp, &answer.tracks).await;
                    } else if !answer.tracks.is_empty() {
                        tracing::info!(room = self.room.name, identity = self.me.identity, "another session publishes in this room; this participant's media is not forwarded");
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, identity = self.me.identity, "publisher offer refused")
                }
            },
            M::Answer(answer) => {
                if let Err(e) = self
                    .state
                    .sfu
                    .participant_answer(self.sfu, answer.sdp)
                    .await
                {
                    tracing::info!(error = %e, "subscriber answer refused");
                }
            }
            M::Trickle(trickle) => {
                let candidate = serde_json::from_str::<serde_json::Value>(&trickle.candidate_init)
                    .ok()
                    .and_then(|v| {
                        v.get("candidate")
                            .and_then(|c| c.as_str())
                            .map(str::to_string)
                    })
                    .filter(|c| !c.is_empty());
                if let Some(candidate) = candidate {
                    let subscriber = trickle.target == proto::SignalTarget::Subscriber as i32;
                    let _ = self
                        .state
                        .sfu
                        .participant_candidate(self.sfu, subscriber, candidate)
                        .await;
                }
            }
            M::AddTrack(add) => {
                let source =
                    proto::TrackSource::try_from(add.source).unwrap_or(proto::TrackSource::Unknown);
                let source_name = source.as_str_name().to_ascii_lowercase();
                let allowed = self.grant.can_publish
                    && self.pending.len() < MAX_PENDING_TRACKS
                    && (source == proto::TrackSource::Unknown
                        || self.grant.may_publish_source(&source_name));
                if !allowed {
                    tracing::info!(
                        identity = self.me.identity,
                        source = source_name,
                        "add_track refused: no publish grant for that source, or too many tracks pending"
                    );
                    out.push(signal_response::Message::RequestResponse(
                        proto::RequestResponse {
                            reason: proto::request_response::Reason::NotAllowed as i32,
                            message: "this token may not publish that source".into(),
                            ..Default::default()
                        },
                    ));
                    return true;
                }
                let token = crate::auth::new_opaque_token();
                let track = TrackInfo {
                    sid: format!("TR_{}", token.get(..12).unwrap_or("0")),
                    r#type: add.r#type,
                    name: add.name.clone(),
                    muted: add.muted,
                    width: add.width,
                    height: add.height,
                    simulcast: add.layers.len() > 1,
                    source: add.source,
                    layers: add.layers.clone(),
                    stream: add.stream.clone(),
                    ..Default::default()
                };
                self.pending.insert(add.cid.clone(), track.clone());
                out.push(signal_response::Message::TrackPublished(
                    proto::TrackPublishedResponse {
                        cid: add.cid,
                        track: Some(track),
                    },
                ));
            }
            M::Mute(mute) => {
                let Some(track) = self.me.tracks.iter_mut().find(|t| t.sid == mute.sid) else {
                    return true;
                };
                track.muted = mute.muted;
                let mid = track.mid.clone();
                self.bump();
                if self.publishing && !mid.is_empty() {
                    let _ = self
                        .state
                        .sfu
                        .mute_track(self.room.id.clone(), mid, mute.muted)
                        .await;
                }
            }
            M::Subscription(update) => {
                let sids = update.track_sids.iter().chain(
                    update
                        .participant_tracks
                        .iter()
                        .flat_map(|p| p.track_sids.iter()),
                );
                for sid in sids {
                    if update.subscribe {
                        self.unsubscribed.remove(sid);
                    } else {
                        self.unsubscribed.insert(sid.clone());
                    }
                }
            }
            M::UpdateMetadata(update) => {
                if !update.metadata.is_empty() {
                    self.me.metadata = update.metadata;
                }
                if !update.name.is_empty() {
                    self.me.name = update.name;
                }
                for (k, v) in update.attributes {
                    if v.is_empty() {
                        self.me.attributes.remove(&k);
                    } else {
                        self.me.attributes.insert(k, v);
                    }
                }
                self.bump();
                out.push(signal_response::Message::Update(proto::ParticipantUpdate {
                    participants: vec![self.me.clone()],
                }));
                if update.request_id != 0 {
                    out.push(signal_response::Message::RequestResponse(
                        proto::RequestResponse {
                            request_id: update.request_id,
                            ..Default::default()
                        },
                    ));
                }
            }
            M::PingReq(ping) => out.push(signal_response::Message::PongResp(proto::Pong {
                last_ping_timestamp: ping.timestamp,
                timestamp: now_ms(),
            })),
            M::Ping(ts) => out.push(signal_response::Message::Pong(ts)),
            M::Leave(_) => return false,
            _ => {}
        }
        true
    }

    /// The client's publisher offer made it the room's publisher: its announced
    /// tracks get their media sections.
    async fn on_published(&mut self, offer_sdp: &str, tracks: &[(String, &'static str)]) {
        for (mid, kind) in tracks {
            if self.me.tracks.iter().any(|t| &t.mid == mid) {
                continue;
            }
            let wanted = if *kind == "audio" {
                TrackType::Audio
            } else {
                TrackType::Video
            } as i32;
            let cid = msid_track(offer_sdp, mid).filter(|cid| self.pending.contains_key(cid));
            let cid = cid.or_else(|| {
                self.pending
                    .iter()
                    .find(|(_, t)| t.r#type == wanted)
                    .map(|(cid, _)| cid.clone())
            });
            let mut track = cid
                .and_then(|cid| self.pending.remove(&cid))
                .unwrap_or_else(|| TrackInfo {
                    sid: format!(
                        "TR_{}",
                        crate::auth::new_opaque_token().get(..12).unwrap_or("0")
                    ),
                    r#type: wanted,
                    ..Default::default()
                });
            track.mid = mid.clone();
            self.me.tracks.push(track.clone());
            self.webhook("track_published", Some(track)).await;
        }
        self.me.is_publisher = !self.me.tracks.is_empty();
        if !self.publishing {
            self.publishing = true;
            if let Err(e) = self
                .state
                .store
                .set_room_status(&self.room.id, "live")
                .await
            {
                tracing::warn!(error = %e, "could not record the room as live");
            }
        }
        self.bump();
    }

    /// A LiveKit chat message also goes to the room's `/ws` channel, as an ephemeral
    /// `livekit.chat` event (our chat's history and moderation do not apply to it).
    async fn announce_chat(&self, chat: &livekit_protocol::ChatMessage) {
        let event = crate::signaling::Event::new(
            "livekit.chat",
            serde_json::json!({
                "id": chat.id,
                "identity": self.me.identity,
                "name": self.me.name,
                "message": chat.message,
                "timestamp": chat.timestamp,
                "deleted": chat.deleted,
            }),
        );
        let channel = crate::signaling::ChannelName::Room(self.room.name.clone());
        if let Err(e) = self.state.hub.publish_ephemeral(&channel, event).await {
            tracing::debug!(error = %e, "LiveKit chat not announced on the room's channel");
        }
    }

    /// A LiveKit webhook about this participant (and `track`), when webhooks are configured.
    async fn webhook(&self, event: &str, track: Option<TrackInfo>) {
        let webhooks = &self.state.livekit_rooms.webhooks;
        if !webhooks.enabled() {
            return;
        }
        let settings = self
            .state
            .store
            .livekit_room_settings(&self.room.id)
            .await
            .unwrap_or_default();
        let room = crate::livekit::room_service::room_info(&self.room, &settings, &[]);
        webhooks
            .send(event, Some(room), Some(self.me.clone()), track)
            .await;
    }

    fn bump(&mut self) {
        self.me.version += 1;
        self.state
            .livekit_rooms
            .roster
            .update(&self.room.name, &self.me);
    }

    async fn on_sfu_event(
        &mut self,
        event: ParticipantEvent,
        out: &mut Vec<signal_response::Message>,
    ) {
        match event {
            ParticipantEvent::Data { reliable, bytes } => {
                if !self.grant.can_publish_data {
                    return;
                }
                let Ok(packet) = DataPacket::decode(bytes.as_slice()) else {
                    return;
                };
                if let Some(livekit_protocol::data_packet::Value::ChatMessage(chat)) = &packet.value
                {
                    self.announce_chat(chat).await;
                }
                self.state
                    .livekit_rooms
                    .roster
                    .relay(&self.room.name, &self.me, packet, reliable);
            }
            ParticipantEvent::PublishEnded => {
                if self.publishing {
                    self.publishing = false;
                    for track in std::mem::take(&mut self.me.tracks) {
                        out.push(signal_response::Message::TrackUnpublished(
                            proto::TrackUnpublishedResponse {
                                track_sid: track.sid.clone(),
                            },
                        ));
                        self.webhook("track_unpublished", Some(track)).await;
                    }
                    self.me.is_publisher = false;
                    self.bump();
                }
            }
            ParticipantEvent::Speaking { active, level } => {
                // The speaker is the room's one publisher: this participant or another.
                let sid = if self.publishing {
                    Some(self.me.sid.clone())
                } else {
                    self.others()
                        .await
                        .into_iter()
                        .find(|p| !p.tracks.is_empty())
                        .map(|p| p.sid)
                };
                if let Some(sid) = sid {
                    let speaker = proto::SpeakerInfo { sid, level, active };
                    out.push(signal_response::Message::SpeakersChanged(
                        proto::SpeakersChanged {
                            speakers: vec![speaker],
                        },
                    ));
                }
            }
        }
    }

    /// Tells the client what changed in the room and offers it tracks to receive.
    async fn sync(&mut self, out: &mut Vec<signal_response::Message>) {
        let others = self.others().await;
        let changed = self.view.participants(&others);
        if !changed.is_empty() {
            out.push(signal_response::Message::Update(proto::ParticipantUpdate {
                participants: changed,
            }));
        }
        let publishers =
            others.iter().filter(|p| !p.tracks.is_empty()).count() + usize::from(self.publishing);
        let room = self.room_info(others.len() + 1, publishers).await;
        if let Some(room) = self.view.room(room) {
            out.push(signal_response::Message::RoomUpdate(proto::RoomUpdate {
                room: Some(room),
            }));
        }
        if !(self.grant.can_subscribe && self.auto_subscribe) {
            return;
        }
        let wanted = view::down_tracks(&others, &self.unsubscribed);
        match self.state.sfu.participant_subscribe(self.sfu, wanted).await {
            Ok(Some(sdp)) => out.push(signal_response::Message::Offer(proto::SessionDescription {
                r#type: "offer".into(),
                sdp,
                ..Default::default()
            })),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "subscription not negotiated"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_track_id_of_a_media_section_is_read_from_its_msid() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=msid:stream-a TR_cid1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=msid:s b-track\r\na=mid:2\r\n";
        assert_eq!(msid_track(sdp, "1").as_deref(), Some("TR_cid1"));
        assert_eq!(msid_track(sdp, "2").as_deref(), Some("b-track"));
        assert_eq!(msid_track(sdp, "0"), None);
    }
}
