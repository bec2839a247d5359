//! LiveKit compatibility: LiveKit-format access tokens (verified against the
//! `keys:` of livekit.yaml, or the pair generated on first run) so LiveKit's
//! SDKs and server libraries can talk to streamcart.

mod token;

pub use token::{LiveKitKeys, LiveKitTokenError, RoomGrant};
