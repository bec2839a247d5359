//! The signaling hub: one ordered channel per live room (`room:{name}`) and
//! one per user (`user:{id}`), over `GET /ws`. Chat, presence counts,
//! reactions, moderation and recovery; docs/PROTOCOL.md is the wire contract.
//!
//! - `protocol`: the only serde types of the wire protocol.
//! - `channel`: channel names and a channel's log (epoch, offsets, bounded history).
//! - `rules`: the chat gate (sanctions, slow mode, blocked words, rate and length limits).
//! - `core`: sans-IO hub (subscriptions, fan-out, snapshots, aggregates).
//! - `hub`: the shell and the publish API other modules call (`Hub::publish`, `Hub::push_to_user`).
//! - `broker`: memory or Redis fan-out between nodes.
//! - `ws`, `session`: the WebSocket connection and its requests.
//! - `store`: chat, rules and moderation log in the SQL store.
//! - `http`: the moderation log and server-side publish routes.

pub mod broker;
pub mod channel;
pub mod core;
pub mod http;
pub mod hub;
pub mod protocol;
pub mod rules;
pub mod session;
pub mod store;
pub mod ws;

pub use broker::Broker;
pub use channel::ChannelName;
pub use hub::{Hub, HubError};
pub use protocol::Event;
