//! The wire protocol (version 1): the only serde types of the hub. Every frame
//! is one JSON text message with a `type`. See docs/PROTOCOL.md.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const PROTOCOL_VERSION: u32 = 1;

/// An encoded text frame; cloning it shares the bytes.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// A position in a channel's stream: the last offset a client has seen, and
/// the epoch those offsets belong to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub offset: u64,
    pub epoch: String,
}

/// Something published on a channel: `kind` says what (`chat.message`,
/// `presence`, or a kind another module owns such as `product.pinned`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: String,
    #[serde(default)]
    pub data: Value,
}

impl Event {
    pub fn new(kind: impl Into<String>, data: Value) -> Event {
        Event { kind: kind.into(), data }
    }
}

/// Frames a client sends. `id`, when present, is echoed in the `ack` or `error`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum ClientMessage {
    #[serde(rename = "connect")]
    Connect { id: Option<u64>, token: String },
    #[serde(rename = "subscribe")]
    Subscribe { id: Option<u64>, channel: String, recover: Option<Position> },
    #[serde(rename = "unsubscribe")]
    Unsubscribe { id: Option<u64>, channel: String },
    #[serde(rename = "chat.send")]
    ChatSend { id: Option<u64>, room: String, text: String },
    #[serde(rename = "react")]
    React { id: Option<u64>, room: String, kind: String, count: Option<u32> },
    #[serde(rename = "moderate")]
    Moderate {
        id: Option<u64>,
        room: String,
        #[serde(flatten)]
        action: ModerationAction,
    },
    #[serde(rename = "moderation.log")]
    ModerationLog { id: Option<u64>, room: String },
    #[serde(rename = "moderation.held")]
    HeldMessages { id: Option<u64>, room: String },
    /// One-tap buy now in a room's flash sale (the same store path as
    /// `POST /api/v1/rooms/{room}/sales/{id}/reserve`).
    #[serde(rename = "sale.reserve")]
    SaleReserve { id: Option<u64>, room: String, sale_id: String, quantity: Option<i64> },
    /// A viewer's product-card report (the same path as
    /// `POST /api/v1/rooms/{room}/card-events`).
    #[serde(rename = "card.track")]
    CardTrack { id: Option<u64>, room: String, kind: String, product_ids: Vec<String> },
    /// A vote in the room's poll (as `POST /api/v1/rooms/{room}/polls/{id}/votes`).
    #[serde(rename = "poll.vote")]
    PollVote { id: Option<u64>, room: String, poll_id: String, answer: i64 },
    /// An entry to the room's giveaway (as `POST /api/v1/rooms/{room}/giveaways/{id}/entries`).
    #[serde(rename = "giveaway.enter")]
    GiveawayEnter { id: Option<u64>, room: String, giveaway_id: String },
    #[serde(rename = "ping")]
    Ping { id: Option<u64> },
    #[serde(rename = "pong")]
    Pong {},
}

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ModerationAction {
    DeleteMessage { message_id: String },
    Timeout { user_id: String, seconds: u64 },
    Ban { user_id: String },
    Unban { user_id: String },
    ShadowBan { user_id: String },
    Unshadow { user_id: String },
    SlowMode { seconds: u64 },
    BlockedWords { words: Vec<String>, mode: Option<String> },
    ApproveMessage { message_id: String },
    PinMessage { message_id: String },
    UnpinMessage {},
}

/// Frames the server sends.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    #[serde(rename = "connected")]
    Connected { v: u32, client: String, user_id: Option<String>, ping_interval_ms: u64 },
    #[serde(rename = "ack")]
    Ack {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        result: Value,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        code: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    #[serde(rename = "snapshot")]
    Snapshot { channel: String, offset: u64, epoch: String, state: Value },
    #[serde(rename = "pub")]
    Pub(Publication),
    #[serde(rename = "unsubscribed")]
    Unsubscribed { channel: String, code: String, reason: String },
    #[serde(rename = "ping")]
    Ping {},
    #[serde(rename = "pong")]
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
}

/// One event on one channel at one position. Ephemeral publications
/// (periodic aggregates, shadow-banned echoes) carry the channel's current
/// position but are not in its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    pub channel: String,
    pub offset: u64,
    pub epoch: String,
    pub event: Event,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
}

impl ServerMessage {
    pub fn error(id: Option<u64>, code: impl Into<String>, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error { id, code: code.into(), message: message.into(), retry_after_ms: None }
    }

    /// The text frame, encoded once however many connections receive it.
    pub fn encode(&self) -> Frame {
        // Serializing these types cannot fail: every map key is a string.
        let text = serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","code":"internal","message":"encoding failed"}"#.into());
        Frame::from(text)
    }
}

/// Close codes. 3000–3499: reconnect (with recovery); 3500–3999: do not
/// reconnect without changing something first. Mirrors Centrifugo's split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disconnect {
    /// The server is shutting down or restarting: reconnect elsewhere.
    Shutdown,
    /// The client did not read fast enough; its queue overflowed. Reconnect and recover.
    Slow,
    /// No frame from the client within the heartbeat window. Reconnect.
    NoPong,
    /// The access token is invalid, expired or revoked. Refresh it, then reconnect.
    InvalidToken,
    /// The client keeps sending frames the server cannot accept. Fix the client.
    BadRequest,
}

impl Disconnect {
    pub fn code(self) -> u16 {
        match self {
            Disconnect::Shutdown => 3001,
            Disconnect::Slow => 3004,
            Disconnect::NoPong => 3005,
            Disconnect::InvalidToken => 3500,
            Disconnect::BadRequest => 3501,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Disconnect::Shutdown => "shutdown",
            Disconnect::Slow => "slow_consumer",
            Disconnect::NoPong => "no_pong",
            Disconnect::InvalidToken => "invalid_token",
            Disconnect::BadRequest => "bad_request",
        }
    }

    pub fn should_reconnect(self) -> bool {
        self.code() < 3500
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moderation_frame_parses_its_flattened_action() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"moderate","id":3,"room":"r","action":"timeout","user_id":"u","seconds":5}"#).unwrap();
        assert!(matches!(msg, ClientMessage::Moderate { id: Some(3), action: ModerationAction::Timeout { seconds: 5, .. }, .. }));
    }

    #[test]
    fn reconnect_codes_are_below_3500() {
        assert!(Disconnect::Slow.should_reconnect());
        assert!(!Disconnect::InvalidToken.should_reconnect());
    }
}
