//! Access-token verification: any string is accepted only if it is a valid,
//! unexpired token signed with our key, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamcart::auth::TokenKeys;

fuzz_target!(|token: &str| {
    let keys = TokenKeys::new("fuzz-signing-key-of-sufficient-length-0123456789abcdef", 900);
    let _ = keys.verify_access(token);
});
