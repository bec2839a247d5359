//! Access-token verification, ours and LiveKit-format: any string is accepted
//! only if it is a valid, unexpired token signed with our key, and never panics.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use streamcart::auth::TokenKeys;
use streamcart::livekit::LiveKitKeys;

fuzz_target!(|token: &str| {
    let keys = TokenKeys::new("fuzz-signing-key-of-sufficient-length-0123456789abcdef", 900);
    let _ = keys.verify_access(token);
    let livekit = LiveKitKeys::new(BTreeMap::from([("APIfuzz".to_string(), "0123456789abcdef0123456789abcdef".to_string())]));
    let _ = livekit.room_grant(token, "show");
});
