//! Text frames into the hub's decoder: JSON, then the typed client message and
//! the channel names it carries. Anything gives a message or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamcart::signaling::channel::ChannelName;
use streamcart::signaling::protocol::ClientMessage;

fuzz_target!(|text: &str| {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(ClientMessage::Subscribe { channel, .. } | ClientMessage::Unsubscribe { channel, .. }) = serde_json::from_value::<ClientMessage>(value) {
            let _ = ChannelName::parse(&channel).map(|c| c.room_name().map(str::len));
        }
    }
});
