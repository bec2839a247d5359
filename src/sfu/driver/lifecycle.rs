//! Session changes after the first answer: a publisher replacing the room's
//! publisher (`streamcart.sfu.replace_publisher`) and ICE restarts (RFC 9725 §4.4).

use std::time::Instant;

use str0m::change::SdpOffer;

use super::{ice, Driver, Role};
use crate::sfu::room::PeerId;
use crate::sfu::{IceRestarted, RoomKey, SfuError};

/// A fresh, quoted entity tag for a session resource.
pub(super) fn new_etag() -> String {
    format!("\"{}\"", crate::auth::new_opaque_token().get(..16).unwrap_or("0"))
}

impl Driver {
    /// `new` takes over the live room `room`. The old publisher's session ends (the
    /// room stays live); viewers stay and get the newcomer's media from its first
    /// keyframe, unless it sends other codecs than theirs, in which case their sessions
    /// end too (a player reconnects and is answered with the new codecs).
    pub(super) fn replace(&mut self, room: &RoomKey, new: PeerId, same_codecs: bool) {
        let Some(slot) = self.rooms.get_mut(&room.id) else { return };
        let old = slot.core.replace_publisher(new);
        if let Some(peer) = old.and_then(|id| self.peers.get_mut(&id)) {
            // The room does not end with it: no "ended" status when it is reaped.
            peer.ended_by_client = true;
            peer.rtc.disconnect();
        }
        if !same_codecs {
            for viewer in self.peers.values_mut().filter(|p| p.room_id == room.id && p.role == Role::Viewer) {
                viewer.rtc.disconnect();
            }
        }
        metrics::counter!("sfu_publishers_replaced_total").increment(1);
        tracing::info!(room = room.name, keeps_viewers = same_codecs, "publisher replaced");
    }

    /// The client restarted ICE with new credentials `ufrag`/`pwd`: renegotiate its
    /// accepted offer with them (the engine then picks new local credentials and
    /// forgets the old candidate pairs) and hand back our new credentials.
    pub(super) fn ice_restart(&mut self, id: PeerId, ufrag: &str, pwd: &str) -> Result<IceRestarted, SfuError> {
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownSession)?;
        let offer_sdp = ice::with_credentials(&peer.offer_sdp, ufrag, pwd);
        let offer = SdpOffer::from_sdp_string(&offer_sdp).map_err(|e| SfuError::InvalidSdp(format!("the ICE credentials could not be used: {e}")))?;
        let rtc = peer.rtc.local().ok_or(SfuError::UnknownSession)?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::InvalidSdp(format!("the ICE restart was refused: {e}")))?;
        let fragment = ice::restart_answer_fragment(&answer.to_sdp_string())
            .ok_or_else(|| SfuError::InvalidSdp("the ICE restart produced no credentials".into()))?;
        peer.offer_sdp = offer_sdp;
        peer.remote_ufrag = Some(ufrag.to_string());
        peer.etag = new_etag();
        // A session that had lost its connection gets a fresh grace period from the restart.
        peer.lost_at = peer.lost_at.map(|_| Instant::now());
        metrics::counter!("sfu_ice_restarts_total").increment(1);
        tracing::info!(session = peer.short(), "ICE restarted");
        Ok(IceRestarted { fragment, etag: peer.etag.clone() })
    }
}

impl Driver {
    /// Tells every capped publisher its cap (REMB on each video layer) and disconnects
    /// one that stayed too far over it (`cap::CapWatch`). Called about twice a second.
    pub(super) fn enforce_caps(&mut self, now: Instant) {
        let Some(cap) = self.max_publisher_bitrate else { return };
        let mut told = Vec::new();
        for (room_id, slot) in self.rooms.iter_mut() {
            let Some(publisher) = slot.core.publisher() else { continue };
            let over = slot.core.poll_over_cap(now);
            let Some(peer) = self.peers.get_mut(&publisher) else { continue };
            if over {
                tracing::warn!(room_id, session = peer.short(), cap_bps = cap, "publisher kept sending over its bitrate cap; disconnecting it");
                metrics::counter!("sfu_publishers_over_cap_total").increment(1);
                peer.end_reason = "over_bitrate_cap";
                peer.rtc.disconnect();
                continue;
            }
            for (mid, layer) in slot.core.video_layers() {
                let Some(rtc) = peer.rtc.local() else { continue };
                if let Some(stream) = rtc.direct_api().stream_rx_by_mid(mid, layer) {
                    stream.request_remb(str0m::bwe::Bitrate::bps(cap));
                }
            }
            told.push(publisher);
        }
        for publisher in told {
            self.drain(publisher);
        }
    }
}

impl Driver {
    /// An ICE-TCP connection opened, carried a packet, or closed.
    pub(super) fn on_tcp(&mut self, event: crate::sfu::tcp::TcpEvent) {
        use crate::sfu::tcp::TcpEvent;
        match event {
            TcpEvent::Opened { peer, out } => {
                self.tcp_conns.insert(peer, out);
            }
            TcpEvent::Packet { peer, local, data } => {
                self.on_packet(str0m::net::Protocol::Tcp, peer, local, &data, Instant::now());
            }
            TcpEvent::Closed { peer } => {
                self.tcp_conns.remove(&peer);
                self.by_source.remove(&peer);
            }
        }
    }
}

/// Publishes the driver's stream events on each room's signaling channel, in order.
/// (Stalls and resumptions are also logged and counted by the driver.)
pub(super) async fn publish_stream_events(hub: crate::signaling::Hub, mut events: tokio::sync::mpsc::UnboundedReceiver<(String, &'static str, serde_json::Value)>) {
    use crate::signaling::{ChannelName, Event};
    while let Some((room, kind, data)) = events.recv().await {
        if let Err(err) = hub.publish(&ChannelName::room(&room), Event::new(kind, data)).await {
            tracing::warn!(room, kind, error = %err, "could not publish a stream event");
        }
    }
}

/// `<recordings>/<room>/<unix ms>-<session prefix>`: one directory per publish, sorted by
/// start. The room name is reduced to characters safe in a path.
pub(super) fn recording_dir(recordings: &std::path::Path, room: &str, session: &str) -> std::path::PathBuf {
    let room: String = room.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let session: String = session.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
    recordings.join(room).join(format!("{started}-{session}"))
}
