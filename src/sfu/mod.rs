//! The embedded SFU: WHIP ingest and WHEP playback over ONE UDP socket.
//!
//! It never decodes or transcodes. Each peer connection is a str0m `Rtc`
//! (ICE-lite, DTLS with one shared ECDSA certificate, SRTP); the `driver` task
//! owns the socket and every `Rtc`, demultiplexes datagrams with
//! `Rtc::accepts`, and feeds each room's sans-IO core (`room::Room`, with a
//! `forwarder::Forwarder` per viewer video track) which decides what goes to
//! whom. `http` is the WHIP/WHEP edge.
//!
//! What str0m does for us, per peer: NACK handling both ways (it asks the
//! publisher to resend, and answers viewers' NACKs from its send buffer),
//! jitter/reorder buffering into whole frames, RTCP reports, TWCC bandwidth
//! estimation for viewers, and packetization with per-viewer sequence numbers.

pub mod cap;
pub mod codecs;
mod driver;
pub mod forwarder;
pub mod http;
pub mod ice;
pub mod keyframe;
pub mod net;
pub mod participant;
pub mod record;
pub mod room;
mod tcp;

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use crate::store::Store;

pub use driver::SfuSettings;

/// A room as the SFU knows it: its store id (for status) and its public name (for URLs).
#[derive(Debug, Clone)]
pub struct RoomKey {
    pub id: String,
    pub name: String,
}

/// A new WHIP/WHEP session: the answer and the handle the client PATCHes/DELETEs.
#[derive(Debug, Clone)]
pub struct SessionCreated {
    pub session: String,
    pub answer_sdp: String,
    pub etag: String,
}

/// An accepted ICE restart: the `trickle-ice-sdpfrag` with our new credentials, and
/// the session's new ETag.
#[derive(Debug, Clone)]
pub struct IceRestarted {
    pub fragment: String,
    pub etag: String,
}

/// A live stream's media clock: RTP time `rtp_timestamp` (at `clock_rate` Hz) of the
/// publisher's `track` was wall-clock `ntp_unix_ms` by the publisher's own clock, from
/// its latest RTCP sender report. Lets events be stamped with stream time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaClock {
    pub track: &'static str,
    pub clock_rate: u32,
    pub rtp_timestamp: u64,
    pub ntp_unix_ms: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SfuError {
    #[error("{0}")]
    InvalidSdp(String),
    #[error("{0}")]
    UnsupportedCodec(String),
    #[error("the room already has a publisher")]
    PublisherExists,
    #[error("nobody is publishing in this room right now")]
    NotLive,
    #[error("this room has as many viewers as it accepts")]
    RoomFull,
    #[error("no such session")]
    UnknownSession,
    #[error("If-Match does not match the session's ETag")]
    EtagMismatch,
    #[error("the media server is not running")]
    Stopped,
}

pub(crate) enum Command {
    Publish { room: RoomKey, offer: String, reply: oneshot::Sender<Result<SessionCreated, SfuError>> },
    View { room: RoomKey, offer: String, reply: oneshot::Sender<Result<SessionCreated, SfuError>> },
    Trickle { room_name: String, session: String, if_match: Option<String>, fragment: String, reply: oneshot::Sender<Result<Option<IceRestarted>, SfuError>> },
    End { room_name: String, session: String, reason: &'static str, reply: oneshot::Sender<Result<bool, SfuError>> },
    Clock { room_id: String, reply: oneshot::Sender<Result<Option<MediaClock>, SfuError>> },
    Sessions { room_id: Option<String>, reply: oneshot::Sender<Result<Vec<SessionInfo>, SfuError>> },
    Mute { room_id: String, mid: String, muted: bool, reply: oneshot::Sender<Result<(), SfuError>> },
    Changes { reply: oneshot::Sender<Result<std::sync::Arc<tokio::sync::Notify>, SfuError>> },
    Participant { id: participant::ParticipantId, op: participant::ParticipantOp, reply: oneshot::Sender<Result<participant::ParticipantReply, SfuError>> },
}

/// One live WHIP/WHEP session as the LiveKit RoomService reports it (a participant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session: String,
    pub room_id: String,
    pub room_name: String,
    /// The WHIP publisher (else a WHEP viewer).
    pub publisher: bool,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// When the session was created (Unix milliseconds).
    pub created_unix_ms: i64,
    /// The media it publishes (publisher) or receives (viewer), in SDP order.
    pub tracks: Vec<TrackSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSummary {
    pub mid: String,
    /// `audio` or `video`.
    pub kind: &'static str,
    /// Muted by `mute_track`: its frames are dropped before any viewer sees them.
    pub muted: bool,
}

/// The handle handlers use; cheap to clone. The driver task lives as long as one handle does.
#[derive(Clone)]
pub struct Sfu {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    candidates: std::sync::Arc<Vec<SocketAddr>>,
}

impl Sfu {
    /// Binds the UDP socket (port 0 picks one) and spawns the driver task. Stream
    /// events (`stream.started`, `.stalled`, `.resumed`, `.ended`) go to each room's
    /// channel on `hub`.
    pub async fn start(settings: SfuSettings, store: Store, hub: crate::signaling::Hub) -> anyhow::Result<Sfu> {
        let (commands, local_addr, candidates) = driver::spawn(settings, store, hub).await?;
        Ok(Sfu { commands, local_addr, candidates: std::sync::Arc::new(candidates) })
    }

    /// The bound UDP address (its port is the one in every SDP candidate).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The host candidates every answer carries.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    pub async fn publish(&self, room: RoomKey, offer: String) -> Result<SessionCreated, SfuError> {
        self.ask(|reply| Command::Publish { room, offer, reply }).await
    }

    pub async fn view(&self, room: RoomKey, offer: String) -> Result<SessionCreated, SfuError> {
        self.ask(|reply| Command::View { room, offer, reply }).await
    }

    /// Adds trickled candidates, or restarts ICE when `fragment` carries new credentials
    /// (`Some`). `if_match` is the request's `If-Match` (an ETag or `*`).
    pub async fn trickle(&self, room_name: String, session: String, if_match: Option<String>, fragment: String) -> Result<Option<IceRestarted>, SfuError> {
        self.ask(|reply| Command::Trickle { room_name, session, if_match, fragment, reply }).await
    }

    /// Ends a session; true when it was the room's publisher.
    pub async fn end(&self, room_name: String, session: String) -> Result<bool, SfuError> {
        self.end_because(room_name, session, "publisher_ended").await
    }

    /// Ends a session, giving `reason` in the room's `stream.ended` event if it was the
    /// publisher (e.g. `shop_suspended`); true when it was.
    pub async fn end_because(&self, room_name: String, session: String, reason: &'static str) -> Result<bool, SfuError> {
        self.ask(|reply| Command::End { room_name, session, reason, reply }).await
    }

    /// The room's media clock: `Err(NotLive)` without a publisher, `Ok(None)` before its first sender report.
    pub async fn media_clock(&self, room_id: String) -> Result<Option<MediaClock>, SfuError> {
        self.ask(|reply| Command::Clock { room_id, reply }).await
    }

    /// Every live session, or those of one room (by store id).
    pub async fn sessions(&self, room_id: Option<String>) -> Result<Vec<SessionInfo>, SfuError> {
        self.ask(|reply| Command::Sessions { room_id, reply }).await
    }

    /// Mutes (drops) or unmutes one published track of a room; unmuting asks for a keyframe.
    pub async fn mute_track(&self, room_id: String, mid: String, muted: bool) -> Result<(), SfuError> {
        self.ask(|reply| Command::Mute { room_id, mid, muted, reply }).await
    }

    /// Notified whenever a session connects or ends, so observers of `sessions` need not poll fast.
    pub async fn changes(&self) -> Result<std::sync::Arc<tokio::sync::Notify>, SfuError> {
        self.ask(|reply| Command::Changes { reply }).await
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, SfuError>>) -> Command) -> Result<T, SfuError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| SfuError::Stopped)?;
        answer.await.map_err(|_| SfuError::Stopped)?
    }
}
