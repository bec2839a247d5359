//! Participants signalled over a WebSocket with two peer connections (LiveKit's
//! two-PC flow): a *publisher* connection the client offers (its data channels and
//! any media it publishes) and a *subscriber* connection the server offers (the
//! room's published tracks). The driver owns both `Rtc`s like any other session;
//! this is the handle the signaling edge (`crate::livekit::rtc`) drives.
//!
//! A participant's publisher connection that carries media becomes the room's
//! publisher (the SFU has one per room), so WHEP viewers and other participants
//! watch it; its subscriber connection is fed like a WHEP viewer.

use tokio::sync::{mpsc, oneshot};

use super::{Command, RoomKey, Sfu, SfuError};

/// A participant's handle inside the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParticipantId(pub u64);

/// What the driver tells a participant's signaling session.
#[derive(Debug, Clone, PartialEq)]
pub enum ParticipantEvent {
    /// A message on one of the client's data channels (`reliable` false: `_lossy`).
    Data { reliable: bool, bytes: Vec<u8> },
    /// Its publisher connection stopped being the room's publisher (or died).
    PublishEnded,
    /// The room's publisher started or stopped speaking (RFC 6464 audio levels):
    /// `level` is 0.0 (silence) to 1.0 (loudest).
    Speaking { active: bool, level: f32 },
}

/// One track the subscriber connection should carry: `stream_id` and `track_id`
/// become the m-section's `a=msid` (LiveKit: `PA_…|TR_…` and `TR_…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownTrackSpec {
    /// `audio` or `video`.
    pub kind: &'static str,
    pub stream_id: String,
    pub track_id: String,
}

/// The answer to a publisher offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherAnswer {
    pub sdp: String,
    /// The audio/video the client sends, `(mid, kind)`, in SDP order.
    pub tracks: Vec<(String, &'static str)>,
    /// Its media is the room's publish (false when another session already publishes).
    pub publishing: bool,
}

pub(crate) enum ParticipantOp {
    Join {
        room: RoomKey,
        events: mpsc::Sender<ParticipantEvent>,
    },
    Offer {
        sdp: String,
    },
    Candidate {
        subscriber: bool,
        candidate: String,
    },
    Subscribe {
        tracks: Vec<DownTrackSpec>,
    },
    Answer {
        sdp: String,
    },
    Send {
        reliable: bool,
        bytes: Vec<u8>,
    },
    Leave,
}

pub(crate) enum ParticipantReply {
    Joined(ParticipantId),
    Answer(PublisherAnswer),
    Offer(Option<String>),
    Done,
}

impl Sfu {
    /// Registers a participant of `room`; nothing is negotiated yet.
    pub async fn participant_join(
        &self,
        room: RoomKey,
        events: mpsc::Sender<ParticipantEvent>,
    ) -> Result<ParticipantId, SfuError> {
        match self
            .participant_op(ParticipantId(0), ParticipantOp::Join { room, events })
            .await?
        {
            ParticipantReply::Joined(id) => Ok(id),
            _ => Err(SfuError::Stopped),
        }
    }

    /// Answers an offer on the participant's publisher connection (first or renegotiated).
    pub async fn participant_offer(
        &self,
        id: ParticipantId,
        sdp: String,
    ) -> Result<PublisherAnswer, SfuError> {
        match self
            .participant_op(id, ParticipantOp::Offer { sdp })
            .await?
        {
            ParticipantReply::Answer(answer) => Ok(answer),
            _ => Err(SfuError::Stopped),
        }
    }

    /// A trickled candidate (`candidate:…`) for the publisher or the subscriber connection.
    pub async fn participant_candidate(
        &self,
        id: ParticipantId,
        subscriber: bool,
        candidate: String,
    ) -> Result<(), SfuError> {
        self.participant_op(
            id,
            ParticipantOp::Candidate {
                subscriber,
                candidate,
            },
        )
        .await
        .map(|_| ())
    }

    /// The tracks the subscriber connection should carry. Returns an offer to send
    /// when that needs (re)negotiation; `None` when nothing changed or an offer is
    /// still waiting for its answer (call again later).
    pub async fn participant_subscribe(
        &self,
        id: ParticipantId,
        tracks: Vec<DownTrackSpec>,
    ) -> Result<Option<String>, SfuError> {
        match self
            .participant_op(id, ParticipantOp::Subscribe { tracks })
            .await?
        {
            ParticipantReply::Offer(offer) => Ok(offer),
            _ => Err(SfuError::Stopped),
        }
    }

    /// The client's answer to the last subscriber offer.
    pub async fn participant_answer(&self, id: ParticipantId, sdp: String) -> Result<(), SfuError> {
        self.participant_op(id, ParticipantOp::Answer { sdp })
            .await
            .map(|_| ())
    }

    /// Sends `bytes` on the participant's `_reliable` (or `_lossy`) data channel;
    /// dropped when it is not open.
    pub async fn participant_send(
        &self,
        id: ParticipantId,
        reliable: bool,
        bytes: Vec<u8>,
    ) -> Result<(), SfuError> {
        self.participant_op(id, ParticipantOp::Send { reliable, bytes })
            .await
            .map(|_| ())
    }

    /// Closes both connections and forgets the participant.
    pub async fn participant_leave(&self, id: ParticipantId) -> Result<(), SfuError> {
        self.participant_op(id, ParticipantOp::Leave)
            .await
            .map(|_| ())
    }

    async fn participant_op(
        &self,
        id: ParticipantId,
        op: ParticipantOp,
    ) -> Result<ParticipantReply, SfuError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Participant { id, op, reply })
            .await
            .map_err(|_| SfuError::Stopped)?;
        answer.await.map_err(|_| SfuError::Stopped)?
    }
}
